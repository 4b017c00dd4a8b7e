#!/usr/bin/env python3
"""Red-team harness for lab (issue 24: nothing in a run folder, a sweep folder or a command can
run code, ruin a run or take the machine).

Usage (ROOT is $LAB_REDTEAM_DIR, default /tmp/redteam):
    python3 benchmarks/hostile/build_base.py        # once: ROOT/files and the base runs root ROOT/base/runs
    python3 benchmarks/hostile/build_assets.py      # once: the large files, 3.8 GB under ROOT/assets (else
                                                    # each is built the first time a case needs it)
    python3 benchmarks/hostile/harness.py                 # every case
    python3 benchmarks/hostile/harness.py -k summary      # cases whose name contains 'summary'
    python3 benchmarks/hostile/harness.py --list          # names and classes
    python3 benchmarks/hostile/harness.py --keep          # keep each case's folder (ROOT/cases/NAME)

Each case: a fresh copy of the base runs root (ROOT/base/runs: tiny completed, stopped,
attribution runs and three sweeps, built by build_base.py) in ROOT/cases/NAME/runs, a mutation,
one lab command (`timeout 90`, under /usr/bin/time -v), then checks:
  exit code in the case's set; on a non-zero exit, stderr is one line starting 'lab';
  no 'Traceback (most recent call last)'; no raw ESC / C1 / bidi control bytes in the output;
  output under 256 KB; no marker file written by an imported module (modules named by folders on
  PYTHONPATH, shadow modules named like lab's dependencies in the current directory);
  the runs root unchanged (entries, kinds, link targets, sizes, hashes or inode+mtime of large
  files) except the paths a case lets change; the case's 'outside' folder unchanged;
  every good run and sweep still listed by `lab runs`, with its state;
  wall time < 60 s; max RSS (GNU time) < 4 GB, and the summed RSS of the process tree < 4 GB
  (sampled every 0.1 s; the tree is killed at 6 GB).
Results: ROOT/results.json (--out) and a table on stdout.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
import zlib
from pathlib import Path

RT = Path(os.environ.get("LAB_REDTEAM_DIR", "/tmp/redteam"))
BASE = RT / "base" / "runs"
ASSETS = RT / "assets"
CASES_DIR = RT / "cases"
LAB = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "lab")
PY = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "python")
FILES = RT / "files"
LIMIT_S, LIMIT_RSS = 60.0, 4 << 30
KILL_RSS = 6 << 30
HOSTILE = "\x1b]0;PWNED\x07\x1b[2J\x1b[31mRED\u202eevil\x9b31m"


# ------------------------------------------------------------------------------ base runs

def base_ids() -> dict[str, str]:
    """The base runs the cases name, by what they are: the experiment or sweep name in the id
    (YYYYMMDD-HHMMSS-NAME-XXXX) and the state in its summary.json or sweep.json. Where two
    runs fit (the local sweep's two), they come in the sweep's trial order."""
    if not BASE.is_dir():
        sys.exit(f"harness: no base runs root at {BASE}: python3 benchmarks/hostile/build_base.py builds it "
                 f"(LAB_REDTEAM_DIR picks the root)")
    found: dict[tuple[str, str], list[str]] = {}
    records: dict[str, dict] = {}
    for rid in sorted(os.listdir(BASE)):
        m = re.fullmatch(r"\d{8}-\d{6}-(.+)-[0-9a-f]{4}", rid)
        if m is None:
            continue
        for record in ("summary.json", "sweep.json"):
            if (BASE / rid / record).is_file():
                records[rid] = json.loads((BASE / rid / record).read_text())
                found.setdefault((m.group(1), records[rid].get("state")), []).append(rid)
                break

    def one(name, state, nth=0, total=1):
        ids = found.get((name, state), [])
        if len(ids) != total:
            sys.exit(f"harness: {BASE} holds {len(ids)} {state} {name} (wanted {total}): "
                     f"python3 benchmarks/hostile/build_base.py --force rebuilds it")
        return ids[nth]

    ids = {
        "PPO": one("cartpole-ppo-torch", "completed"), "DQN": one("cartpole-dqn", "completed"),
        "FL": one("frozenlake-qlearning", "completed"), "TAXI": one("taxi-qlearning", "completed"),
        "WINE": one("wine-linear-attributions", "completed"), "REINF": one("cartpole-reinforce", "completed"),
        "SPPO": one("cartpole-ppo-torch", "stopped"), "SDQN": one("cartpole-dqn", "stopped"),
        "STAXI": one("taxi-qlearning", "stopped"), "POPSW": one("tiny-pop-sweep", "completed"),
        "POPRUN": one("tiny-ppo-torch", "completed"), "LOCSW": one("tiny-local-sweep", "completed"),
        "LOCRUN1": one("tiny-taxi", "completed", 0, 2), "LOCRUN2": one("tiny-taxi", "completed", 1, 2),
        "STOPSW": one("stop-sweep", "stopped"), "MIDRUN": one("mid-taxi", "stopped"),
    }
    trial_runs = [j["run"] for t in records[ids["LOCSW"]].get("trials", []) for j in t.get("jobs", [])]
    if sorted(trial_runs) == sorted([ids["LOCRUN1"], ids["LOCRUN2"]]):
        ids["LOCRUN1"], ids["LOCRUN2"] = trial_runs
    return ids


IDS = base_ids()
SWEEP_KEYS = ("POPSW", "LOCSW", "STOPSW")


def baseline_states() -> dict[str, str]:
    out = subprocess.run([LAB, "runs", "--runs-dir", str(BASE)], capture_output=True, text=True, timeout=60).stdout
    states = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and re.match(r"\d{8}-\d{6}-", parts[0]):
            states[parts[0]] = parts[2]
    return states


# ------------------------------------------------------------------------------ snapshots

def snapshot(root: Path) -> dict:
    out = {}
    if not root.exists():
        return out
    for top, dirs, files in os.walk(root, followlinks=False):
        for name in dirs + files:
            p = Path(top, name)
            try:
                st = p.lstat()
            except OSError:
                continue
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_dir():
                out[rel] = ("dir",)
            elif p.is_file():
                if st.st_size <= 32 << 20:
                    out[rel] = ("file", st.st_size, hashlib.sha256(p.read_bytes()).hexdigest())
                else:
                    out[rel] = ("bigfile", st.st_size, st.st_ino, st.st_mtime_ns)
            else:
                out[rel] = ("special", st.st_mode)
    return out


def diff(before: dict, after: dict, allowed: list[str], new_ok: bool) -> list[str]:
    def ok(rel):
        return any(rel == a or rel.startswith(a.rstrip("/") + "/") for a in allowed)

    problems = []
    for rel in sorted(set(before) | set(after)):
        if ok(rel):
            continue
        if rel not in after:
            problems.append(f"lost {rel}")
        elif rel not in before:
            top = rel.split("/")[0]
            if not (new_ok and top not in {r.split("/")[0] for r in before}):
                problems.append(f"new {rel}")
        elif before[rel] != after[rel]:
            problems.append(f"changed {rel}")
    return problems


# ------------------------------------------------------------------------------ running

def tree_rss(sid: int) -> int:
    total = 0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text()
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[3]) != sid:  # session id (field 6: after state, ppid, pgrp, session)
                continue
            for line in Path(f"/proc/{d}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            continue
    return total


class Result:
    def __init__(self, **kw):
        self.__dict__.update(kw)


def run_cmd(argv: list[str], cwd: Path, env: dict, timeout: int = 90, stdin=None) -> Result:
    tfile = cwd / ".time.txt"
    full = ["/usr/bin/time", "-v", "-o", str(tfile), "timeout", "-k", "5", str(timeout), *argv]
    t0 = time.monotonic()
    p = subprocess.Popen(full, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=stdin if stdin is not None else subprocess.DEVNULL, start_new_session=True)
    peak, killed = [0], [False]

    def watch():
        while p.poll() is None:
            rss = tree_rss(p.pid)
            peak[0] = max(peak[0], rss)
            if rss > KILL_RSS:
                killed[0] = True
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except OSError:
                    pass
                return
            time.sleep(0.1)

    w = threading.Thread(target=watch, daemon=True)
    w.start()
    out, err = p.communicate()
    wall = time.monotonic() - t0
    w.join(1)
    maxrss = 0
    try:
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", tfile.read_text())
        maxrss = int(m.group(1)) * 1024 if m else 0
        tfile.unlink()
    except OSError:
        pass
    return Result(rc=p.returncode, out=out, err=err, wall=wall, maxrss=maxrss, tree_peak=peak[0], killed=killed[0])


def check_output(res: Result, case) -> list[str]:
    problems = []
    both = res.out + res.err
    if b"Traceback (most recent call last)" in both:
        tb = res.err.decode("utf-8", "replace").strip().splitlines()
        problems.append("traceback: " + " | ".join(tb[-3:])[:400])
    if res.rc not in case.rc:
        problems.append(f"exit {res.rc} (expected {sorted(case.rc)})")
    if res.rc not in (0, 130) and case.one_line:
        err = res.err.decode("utf-8", "replace")
        if err.count("\n") != 1 or not err.startswith("lab"):
            problems.append(f"stderr not one 'lab...' line: {err[:300]!r}")
    if not case.allow_esc:
        if b"\x1b" in both:
            problems.append("raw ESC in output")
        if re.search(rb"\xc2[\x80-\x9f]", both):
            problems.append("raw C1 control in output")
        if "\u202e".encode() in both:
            problems.append("raw bidi override in output")
    if len(both) > case.max_output:
        problems.append(f"output flood: {len(both):,} bytes")
    if res.wall > LIMIT_S:
        problems.append(f"wall {res.wall:.1f} s > 60 s")
    if res.killed:
        problems.append(f"killed at {res.tree_peak / 2**30:.1f} GB")
    if max(res.maxrss, res.tree_peak) > LIMIT_RSS:
        problems.append(f"memory {max(res.maxrss, res.tree_peak) / 2**30:.2f} GB > 4 GB")
    if res.rc in (124, 137) or res.rc < 0:
        problems.append(f"timed out / killed (rc {res.rc})")
    return problems


# ------------------------------------------------------------------------------ the case

class Ctx:
    """What a case's setup and command see."""

    def __init__(self, case, d: Path):
        self.case, self.dir = case, d
        self.runs = d / "runs"
        self.outside = d / "outside"
        self.marks = d / "MARKS"
        self.pp = d / "pp"
        self.ids = IDS
        self.procs: list[subprocess.Popen] = []

    def run(self, key: str) -> Path:
        return self.runs / self.ids[key]

    def id(self, key: str) -> str:
        return self.ids[key]

    def env(self, **extra) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LAB_") and k not in ("XDG_CONFIG_HOME",)}
        env.update(HOME=str(self.dir / "home"), PYTHONPATH=str(self.pp), COLUMNS="160", TERM="xterm-256color",
                   PYTHONDONTWRITEBYTECODE="1")
        env.update(extra)
        return env

    def lab(self, *args, timeout=90, env=None, stdin=None) -> Result:
        argv = [LAB, *map(str, args)]
        if args and str(args[0]) not in ("import", "list") and "--runs-dir" not in args:
            argv += ["--runs-dir", str(self.runs)]
        return run_cmd(argv, self.dir, env or self.env(), timeout, stdin)

    # --- editing helpers
    def jload(self, path: Path):
        return json.loads(path.read_text())

    def jedit(self, path: Path, fn):
        data = self.jload(path)
        out = fn(data)
        path.write_text(json.dumps(data if out is None else out))

    def summary(self, key: str, **fields):
        p = self.run(key) / "summary.json"
        self.jedit(p, lambda d: d.update(fields))

    def results(self, key: str, **fields):
        p = self.run(key) / "summary.json"
        self.jedit(p, lambda d: d["results"].update(fields))

    def spec_replace(self, key: str, old: str, new: str):
        p = self.run(key) / "spec.toml"
        text = p.read_text()
        assert old in text, (old, p)
        p.write_text(text.replace(old, new, 1))

    def spawn(self, argv, **kw) -> subprocess.Popen:
        p = subprocess.Popen(argv, cwd=self.dir, start_new_session=True, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, **kw)
        self.procs.append(p)
        return p

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except OSError:
                    pass
                p.wait()


MARK_MODULES = {  # PYTHONPATH: modules a folder may name
    "evilmod": "", "evilpkg/__init__": "", "evilpkg/sub": "",
}
SHADOWS = ["numpy", "torch", "gymnasium", "optuna", "yaml", "rich", "textual", "PIL", "ray", "tomli_w", "pydantic",
           "stable_baselines3", "sklearn", "captum", "shap", "lime", "imageio", "pygame", "lab", "site", "sitecustomize",
           "usercustomize", "tensorboard", "sqlite3", "json", "tomllib", "zipfile", "socket", "subprocess", "platform"]


def write_markers(ctx: Ctx):
    ctx.pp.mkdir(parents=True, exist_ok=True)
    ctx.marks.mkdir(exist_ok=True)
    (ctx.dir / "home").mkdir(exist_ok=True)
    (ctx.pp / "evilpkg").mkdir(exist_ok=True)
    body = ("import pathlib, os\npathlib.Path({mark!r}).write_text('imported by pid %d' % os.getpid())\n"
            "import gymnasium\n"
            "try:\n    gymnasium.register(id='Evil-v0', entry_point='gymnasium.envs.classic_control:CartPoleEnv',"
            " max_episode_steps=10)\nexcept Exception:\n    pass\n"
            "class Agent: pass\nclass Env: pass\n")
    for mod in MARK_MODULES:
        (ctx.pp / f"{mod}.py").write_text(body.format(mark=str(ctx.marks / mod.replace('/', '.'))))
    for mod in SHADOWS:
        (ctx.dir / f"{mod}.py").write_text(f"import pathlib\npathlib.Path({str(ctx.marks / ('shadow.' + mod))!r}).write_text('x')\n")
    ctx.outside.mkdir(exist_ok=True)
    (ctx.outside / "precious.txt").write_text("do not touch\n")
    (ctx.outside / "victim.pt").write_bytes(b"not a checkpoint")


class Case:
    def __init__(self, name, cls, command, setup=None, rc=(2,), one_line=True, may_change=(), new_ok=False,
                 allow_esc=False, max_output=256 << 10, target=(), custom=None, note="", check_listing=True):
        self.name, self.cls, self.command, self.setup = name, cls, command, setup
        self.rc, self.one_line, self.may_change, self.new_ok = set(rc), one_line, list(may_change), new_ok
        self.allow_esc, self.max_output, self.target = allow_esc, max_output, set(target)
        self.custom, self.note, self.check_listing = custom, note, check_listing


CASES: list[Case] = []


def case(name, cls, command, **kw):
    CASES.append(Case(name, cls, command, **kw))


def run_case(c: Case, states: dict, keep: bool) -> dict:
    d = CASES_DIR / c.name
    if d.exists():
        shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    shutil.copytree(BASE, d / "runs", symlinks=True)
    ctx = Ctx(c, d)
    write_markers(ctx)
    problems, res = [], None
    try:
        if c.setup:
            c.setup(ctx)
        allowed = [ctx.id(k) if k in IDS else k for k in c.may_change]
        before, before_out = snapshot(ctx.runs), snapshot(ctx.outside)
        res = c.command(ctx)
        if isinstance(res, list):  # a custom multi-step case returns its own problems
            problems += res
            res = None
        else:
            problems += check_output(res, c)
        if c.custom:
            problems += c.custom(ctx, res) or []
        ctx.cleanup()
        problems += [f"runs root: {p}" for p in diff(before, snapshot(ctx.runs), allowed, c.new_ok)][:8]
        problems += [f"outside: {p}" for p in diff(before_out, snapshot(ctx.outside), [], False)][:4]
        marks = sorted(os.listdir(ctx.marks))
        if marks:
            problems.append(f"CODE EXECUTED: markers {marks}")
        if c.check_listing:
            lr = run_cmd([LAB, "runs", "--runs-dir", str(ctx.runs)], d, ctx.env(), 90)
            text = lr.out.decode("utf-8", "replace")
            if lr.rc != 0 or b"Traceback" in lr.out + lr.err:
                problems.append(f"lab runs afterwards: exit {lr.rc} {lr.err.decode('utf-8', 'replace')[-200:]!r}")
            targets = {ctx.id(k) for k in c.target}
            for key, rid in IDS.items():
                if rid in targets:
                    continue
                want = states.get(rid)
                m = re.search(rf"^{re.escape(rid)}\s+\S+\s+(\S+)", text, re.M)
                if m is None:
                    problems.append(f"lab runs afterwards: {key} ({rid}) not listed")
                elif want and m.group(1) != want:
                    problems.append(f"lab runs afterwards: {key} is {m.group(1)}, was {want}")
    except Exception as e:  # the harness's own failure
        import traceback
        problems.append(f"HARNESS ERROR {type(e).__name__}: {e} {traceback.format_exc()[-500:]}")
    finally:
        ctx.cleanup()
        if not keep:
            shutil.rmtree(d, ignore_errors=True)
    out = {"name": c.name, "class": c.cls, "ok": not problems, "problems": problems, "note": c.note}
    if res is not None:
        out.update(rc=res.rc, wall=round(res.wall, 2), maxrss_mb=round(max(res.maxrss, res.tree_peak) / 2**20),
                   stdout=res.out.decode("utf-8", "replace")[-600:], stderr=res.err.decode("utf-8", "replace")[-900:])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-k", action="append", default=[])
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--out", default=str(RT / "results.json"))
    args = ap.parse_args()
    import cases  # noqa: F401  (registers CASES)

    chosen = [c for c in CASES if not args.k or any(k in c.name for k in args.k)]
    if args.list:
        for c in chosen:
            print(f"{c.cls:10} {c.name}")
        print(len(chosen), "cases")
        return
    states = baseline_states()
    results = []
    old = {}
    if Path(args.out).exists() and args.k:
        old = {r["name"]: r for r in json.loads(Path(args.out).read_text())}
    for c in chosen:
        r = run_case(c, states, args.keep)
        results.append(r)
        flag = "PASS" if r["ok"] else "FAIL"
        print(f"{flag} {c.cls:9} {c.name:55} rc={r.get('rc')} {r.get('wall', '-')}s {r.get('maxrss_mb', '-')}MB", flush=True)
        for p in r["problems"]:
            print(f"      - {p}", flush=True)
    old.update({r["name"]: r for r in results})
    Path(args.out).write_text(json.dumps(list(old.values()), indent=1))
    passed = sum(r["ok"] for r in results)
    print(f"\n{passed}/{len(results)} passed")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    sys.modules["harness"] = sys.modules["__main__"]
    main()
