#!/usr/bin/env python3
"""Dashboard cases (tmux): the dashboard over a runs root full of hostile folders.

    python3 benchmarks/hostile/dashboard.py [--heavy]

Builds ROOT/cases/dashboard/runs (ROOT: $LAB_REDTEAM_DIR, default /tmp/redteam; the base runs
+ ~30 corrupt or hostile folders), opens `lab --runs-dir` in tmux (160x48), and checks: it starts
and lists the good runs; corrupt ones are shown 'corrupt'; no marker file (no code ran); no traceback; the pane title is not set by a folder;
opening every row (enter, then a, m, p in a run's screen, escape) does not end the dashboard;
idle CPU over 20 s; q quits with exit 0; nothing in the runs root changed. --heavy adds a 400 MB
events file of tiny lines and 300 MB artifacts to the root.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.modules.setdefault("harness", __import__("harness"))
import harness as H  # noqa: E402
import assets as A  # noqa: E402

LAB = H.LAB
SESSION = "rt"


def tmux(*args, check=True):
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=check)


def capture() -> str:
    return tmux("capture-pane", "-p", "-t", SESSION, check=False).stdout


def keys(*k, wait=1.0):
    tmux("send-keys", "-t", SESSION, *k)
    time.sleep(wait)


def build(ctx: H.Ctx, heavy: bool) -> list[str]:
    """Hostile folders beside the base runs; returns the ids of the good ones."""
    runs = ctx.runs
    good = [v for k, v in H.IDS.items()]

    def clone(key, name):
        dst = runs / name
        shutil.copytree(ctx.run(key), dst, symlinks=True)
        return dst

    def summ(d, **kw):
        p = d / "summary.json"
        x = json.loads(p.read_text())
        x.update(kw)
        p.write_text(json.dumps(x))

    d = clone("PPO", "20261207-000001-nan-started-0001")
    (d / "summary.json").write_text((d / "summary.json").read_text().replace('"started": ', '"started": NaN, "x": ', 1))
    d = clone("PPO", "20261207-000002-escapes-0002")
    summ(d, state="failed", error=H.HOSTILE * 50, experiment=H.HOSTILE, env=H.HOSTILE, algo=H.HOSTILE, device=H.HOSTILE)
    with open(d / "events.jsonl", "a") as f:
        f.write(json.dumps({"t": 1, "kind": "log", "level": "error", "message": H.HOSTILE * 20}) + "\n")
        f.write(json.dumps({"t": 1, "kind": "metric", "step": 10, "values": {H.HOSTILE: 1.0, "[b]markup[/b]": 2.0}}) + "\n")
    d = clone("PPO", "20261207-000003-evil\x1b]0;PWNED\x07\x1b[2J-0003")
    d = clone("PPO", "20261207-000004-events-fifo-0004")
    os.unlink(d / "events.jsonl"); os.mkfifo(d / "events.jsonl")
    d = clone("PPO", "20261207-000005-events-devzero-0005")
    os.unlink(d / "events.jsonl"); os.symlink("/dev/zero", d / "events.jsonl")
    d = clone("PPO", "20261207-000006-summary-fifo-0006")
    os.unlink(d / "summary.json"); os.mkfifo(d / "summary.json")
    d = clone("PPO", "20261207-000007-deep-0007")
    A.deep_json(d / "summary.json")
    d = clone("PPO", "20261207-000008-evilmod-0008")
    (d / "spec.toml").write_text((d / "spec.toml").read_text().replace('id = "CartPole-v1"', 'id = "evilmod:CartPole-v1"'))
    d = clone("PPO", "20261207-000009-huge-int-step-0009")
    with open(d / "events.jsonl", "ab") as f:
        f.write(b'{"t":1,"kind":"eval","step":' + b"9" * 400 + b',"mean":1,"std":0,"episodes":1}\n')
        f.write(b'{"t":1,"kind":"episode","step":3000,"return":1,"length":1,"rolling_return":' + b"9" * 400 + b'}\n')
        f.write(b'{"t":1,"kind":"metric","step":3000,"values":{"loss":' + b"9" * 400 + b'}}\n')
    d = clone("PPO", "20261207-000010-nan-events-0010")
    with open(d / "events.jsonl", "ab") as f:
        f.write(b'{"t":1,"kind":"eval","step":3000,"mean":NaN,"std":Infinity,"episodes":1}\n'
                b'{"t":1,"kind":"metric","step":3100,"values":{"loss":NaN,"x":1e999}}\n'
                b'{"t":1,"kind":"episode","step":3100,"return":-Infinity,"length":1,"rolling_return":NaN}\n')
    d = clone("WINE", "20261207-000011-wine-huge-int-0011")
    c = json.loads((d / "artifacts/comparison.json").read_text())
    c["methods"][next(iter(c["methods"]))]["seconds_per_sample"] = int("9" * 400)
    c["methods"][H.HOSTILE] = dict(c["methods"][next(iter(c["methods"]))])
    (d / "artifacts/comparison.json").write_text(json.dumps(c))
    (d / "artifacts/robustness.json").write_text(json.dumps({"epsilons": [int("9" * 400)], "unit": H.HOSTILE, "models": {}}))
    summ(d, id="x")
    d = clone("WINE", "20261207-000012-wine-npz-pickle-0012")
    subprocess.run([H.PY, "-c", f"""
import numpy as np, os
class M:
    def __reduce__(self): return (os.system, ("touch {ctx.marks}/npz-pickle",))
np.savez("{d}/artifacts/attributions", inputs=np.array([M()], dtype=object), feature_names=np.array(["\\x1b]0;PWNED\\x07"]))"""],
                   check=True)
    d = clone("WINE", "20261207-000013-wine-npz-weird-0013")
    subprocess.run([H.PY, "-c", f"""
import numpy as np
np.savez("{d}/artifacts/attributions", inputs=np.zeros((3, 13)), feature_names=np.array(["\\x1b]0;PWNED\\x07"] * 13),
         class_names=np.array(["[b]x[/b]"] * 3), **{{"saliency": np.full((3, 13), np.nan), "bad id!": np.zeros((3, 13)),
         "integrated_gradients": np.zeros((2, 2, 2, 2))}})"""], check=True)
    d = clone("PPO", "20261207-000014-members-0014")
    summ(d, results={"population": 3, "best_member": "x", "members": [1, "a", {"member": [1], "seed": {"a": 1},
                                                                            "final_eval_return_mean": "x"}]})
    d = clone("SPPO", "20261207-000015-running-forged-0015")
    summ(d, state="running", pid=1, pid_start=Path("/proc/1/stat").read_text().rsplit(")", 1)[1].split()[19],
         host=__import__("socket").gethostname())
    d = clone("PPO", "20261207-000016-events-dir-0016")
    os.unlink(d / "events.jsonl"); os.mkdir(d / "events.jsonl")
    d = clone("PPO", "20261207-000017-summary-200mb-error-0017")
    os.unlink(d / "summary.json"); A.link("summary-error-200mb.json", A.summary_error_200mb, d / "summary.json")
    d = clone("PPO", "20261207-000018-huge-line-0018")
    os.unlink(d / "events.jsonl"); A.link("huge-line-events.jsonl", A.huge_line_events, d / "events.jsonl")
    d = clone("PPO", "20261207-000019-sparse-events-0019")
    os.unlink(d / "events.jsonl"); subprocess.run(["truncate", "-s", "100G", str(d / "events.jsonl")], check=True)
    # sweeps
    d = clone("LOCSW", "20261207-000020-sweep-dotdot-0020")
    x = json.loads((d / "sweep.json").read_text()); x["id"] = "../evil"; (d / "sweep.json").write_text(json.dumps(x))
    d = clone("LOCSW", "20261207-000021-sweep-escape-0021")
    x = json.loads((d / "sweep.json").read_text()); x["id"] = d.name; x["error"] = H.HOSTILE; x["state"] = "failed"
    x["trials"][0]["params"] = {H.HOSTILE: 1}; (d / "sweep.json").write_text(json.dumps(x))
    d = clone("LOCSW", "20261207-000022-sweep-deep-param-0022")
    x = json.loads((d / "sweep.json").read_text()); x["id"] = d.name
    x["trials"][0]["params"]["agent.learning_rate"] = json.loads("[" * 900 + "]" * 900)
    (d / "sweep.json").write_text(json.dumps(x))
    d = clone("STOPSW", "20261207-000023-study-garbage-0023")
    x = json.loads((d / "sweep.json").read_text()); x["id"] = d.name; (d / "sweep.json").write_text(json.dumps(x))
    (d / "study.db").write_bytes(b"SQLite format 3\x00" + os.urandom(50000))
    d = clone("STOPSW", "20261207-000024-sweep-toml-bomb-0024")
    x = json.loads((d / "sweep.json").read_text()); x["id"] = d.name; (d / "sweep.json").write_text(json.dumps(x))
    with open(d / "sweep.toml", "a") as f:
        f.write("\n" + ".".join(["a"] * 30000) + " = 1\n")
    d = clone("STOPSW", "20261207-000025-sweep-running-forged-0025")
    x = json.loads((d / "sweep.json").read_text()); x["id"] = d.name; x["state"] = "running"; x["pid"] = 1
    x["pid_start"] = Path("/proc/1/stat").read_text().rsplit(")", 1)[1].split()[19]; x["host"] = __import__("socket").gethostname()
    (d / "sweep.json").write_text(json.dumps(x))
    for i in range(2000):  # folders that are not runs
        (runs / f"junk-{i:05d}").mkdir()
    if heavy:
        d = clone("PPO", "20261207-000030-tiny-lines-0030")
        os.unlink(d / "events.jsonl"); A.link("tiny-lines-events.jsonl", A.tiny_lines_events, d / "events.jsonl")
        d = clone("WINE", "20261207-000031-comparison-300mb-0031")
        os.unlink(d / "artifacts/comparison.json"); A.link("comparison-dicts.json", A.comparison_dicts, d / "artifacts/comparison.json")
    return good


def main():
    heavy = "--heavy" in sys.argv
    name = "dashboard-heavy" if heavy else "dashboard"
    d = H.CASES_DIR / name
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    shutil.copytree(H.BASE, d / "runs", symlinks=True)
    case = H.Case(name, "dashboard", None)
    ctx = H.Ctx(case, d)
    H.write_markers(ctx)
    good = build(ctx, heavy)
    before = H.snapshot(ctx.runs)
    problems = []
    env = ctx.env()
    envs = " ".join(f"{k}={json.dumps(v)}" for k, v in env.items() if k in ("HOME", "PYTHONPATH", "PATH", "TERM"))
    tmux("kill-session", "-t", SESSION, check=False)
    cmd = f"cd {d} && env {envs} {LAB} --runs-dir {ctx.runs}; echo EXITED $? > {d}/exit.txt; sleep 900"
    tmux("new-session", "-d", "-s", SESSION, "-x", "160", "-y", "48", cmd)
    t0 = time.time()
    time.sleep(20)
    screen = capture()
    (d / "screen-start.txt").write_text(screen)
    if (d / "exit.txt").exists():
        problems.append(f"dashboard exited at start: {(d / 'exit.txt').read_text()} {capture()[-2500:]}")
    title = tmux("display", "-p", "-t", SESSION, "#{pane_title}", check=False).stdout
    if "PWNED" in title:
        problems.append(f"pane title set by a folder: {title!r}")
    if "corrupt" not in screen:
        problems.append("no row shown 'corrupt' on the first screen")
    if "Traceback" in screen:
        problems.append("traceback on screen at start")
    # the app's pid
    pane_pid = tmux("display", "-p", "-t", SESSION, "#{pane_pid}").stdout.strip()
    lab_pid = None
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                cmdline = Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")
                if any(b"/lab" in a for a in cmdline[:2]) and b"--runs-dir" in cmdline and str(ctx.runs).encode() in cmdline:
                    lab_pid = int(p)
            except OSError:
                pass

    def cpu(pid):
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

    def rss(pid):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
        return 0

    if lab_pid:
        c0 = cpu(lab_pid); time.sleep(20); c1 = cpu(lab_pid)
        idle = (c1 - c0) / 20
        print(f"idle CPU: {idle:.1%} of a core; peak RSS so far {rss(lab_pid)} MB")
        if idle > 0.10:
            problems.append(f"idle CPU {idle:.0%} of a core")
    else:
        problems.append("could not find the dashboard's process")
    # walk every row of the runs table: enter, a few keys, escape
    keys("C-r", wait=1)
    keys("Home", wait=1)
    crashed = False
    for i in range(45):
        keys("Enter", wait=3)
        scr = capture()
        (d / f"screen-row{i:02d}.txt").write_text(scr)
        for k in ("a", "m", "p"):
            keys(k, wait=2)
        scr2 = capture()
        (d / f"screen-row{i:02d}-keys.txt").write_text(scr2)
        if (d / "exit.txt").exists():
            problems.append(f"dashboard ended while opening row {i}: exit {(d / 'exit.txt').read_text().strip()}; "
                            f"screen {capture()[-2500:]!r}")
            crashed = True
            break
        keys("Escape", wait=1)
        keys("Escape", wait=1)
        keys("C-r", wait=0.5)
        keys("Down", wait=0.5)
    if lab_pid and not crashed:
        try:
            print(f"peak RSS {rss(lab_pid)} MB")
            if rss(lab_pid) > 4096:
                problems.append(f"dashboard peak RSS {rss(lab_pid)} MB")
        except OSError:
            pass
    if not crashed:
        keys("q", wait=4)
        if not (d / "exit.txt").exists():
            keys("q", wait=4)
        if (d / "exit.txt").exists():
            code = (d / "exit.txt").read_text().split()[1]
            if code != "0":
                problems.append(f"dashboard exit {code}: {capture()[-2500:]!r}")
        else:
            problems.append("q did not quit the dashboard")
    err = tmux("capture-pane", "-p", "-t", SESSION, "-S", "-300", check=False).stdout
    (d / "stderr.txt").write_text(err)
    if "Traceback" in err:
        problems.append("traceback on stderr: " + err[-1500:])
    tmux("kill-session", "-t", SESSION, check=False)
    marks = sorted(os.listdir(ctx.marks))
    if marks:
        problems.append(f"CODE EXECUTED: {marks}")
    problems += [f"runs root: {p}" for p in H.diff(before, H.snapshot(ctx.runs), [], False)][:10]
    print("PASS" if not problems else "FAIL", name)
    for p in problems:
        print("   -", p[:2000])
    res = H.RT / "results-dashboard.json"
    old = json.loads(res.read_text()) if res.exists() else {}
    old[name] = {"ok": not problems, "problems": problems}
    res.write_text(json.dumps(old, indent=1))


if __name__ == "__main__":
    main()
