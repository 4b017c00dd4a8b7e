"""The dashboard on 1,000 finished runs, in a real terminal (tmux 160x48).

    .venv/bin/python benchmarks/dashboard_scale.py [--runs 1000] [--idle 600]

Makes two real runs (cartpole-reinforce, breast-cancer-attributions), copies them into `--runs`
run folders (each with its own id, seed and start time), opens `lab` on them and measures:
  - first paint: from starting the process until the screen shows the runs' rows;
  - key press to screen, from tmux send-keys until capture-pane shows what the key does: moves
    (Down/Up) in the runs table, the experiment list and the form, a letter typed in the filter
    (until the screen changes), and help, the live view and compare opened and closed (until the
    screen opened shows, or the home screen is back); p50, p95 and max;
  - CPU while idle on the home screen, in % of one core (/proc/PID/stat), over `--idle` seconds;
  - resident memory at the start and the end of that idle window, and its largest value.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def screen(session: str, escapes: bool = False) -> str:
    cmd = ["tmux", "capture-pane", "-p", "-t", session] + (["-e"] if escapes else [])
    return subprocess.run(cmd, capture_output=True, text=True).stdout


def make_runs(root: Path, n: int) -> str:
    """n run folders copied from two real ones; the id of the newest."""
    import lab

    real = root.parent / "real"
    sources = [lab.run(lab.load_experiment("cartpole-reinforce", {"agent.total_steps": 3000, "eval.every": 1500}), runs_dir=real),
               lab.run(lab.load_experiment("breast-cancer-attributions", {"model.epochs": 20, "explain.samples": 2,
                                                                          "explain.methods": ["saliency"]}), runs_dir=real)]
    root.mkdir(parents=True)
    newest = ""
    for i in range(n):
        src = sources[i % 2]
        run_id = f"20261101-{i // 60 // 60:02d}{i // 60 % 60:02d}{i % 60:02d}-{src.experiment}-{i:04x}"
        dst = root / run_id
        shutil.copytree(src.path, dst)
        summary = json.loads((dst / "summary.json").read_text())
        summary.update(id=run_id, seed=i, started=summary["started"] - (n - i) * 60, ended=summary["ended"] - (n - i) * 60)
        (dst / "summary.json").write_text(json.dumps(summary))
        newest = run_id
    return newest


def press(session: str, key: str, shown=None, timeout: float = 5.0) -> float:
    """Seconds from `tmux send-keys KEY` until the pane shows what the key does: a different
    screen, or (`shown`, a test of the captured text) the screen the key opens or closes."""
    before = screen(session, escapes=True)
    t0 = time.perf_counter()
    subprocess.run(["tmux", "send-keys", "-t", session, key])
    while time.perf_counter() - t0 < timeout:
        if (screen(session, escapes=True) != before) if shown is None else shown(screen(session)):
            return time.perf_counter() - t0
    sys.exit(f"dashboard_scale: {key!r} did not show in {timeout:.0f} s:\n{screen(session)}")


def p95(latencies: list[float]) -> float:
    latencies = sorted(latencies)
    return latencies[int(0.95 * (len(latencies) - 1))]


HOME = "filter experiments"  # the home screen's filter placeholder


def key_latencies(session: str, presses: int) -> dict[str, list[float]]:
    """Key to screen for each kind of key (moves in tables and lists, typing, screens opened and closed)."""
    out: dict[str, list[float]] = {}

    def moves(name: str, focus: str, n: int) -> None:
        subprocess.run(["tmux", "send-keys", "-t", session, focus])
        time.sleep(1)
        out[name] = []
        for i in range(n):
            out[name].append(press(session, "Down" if i % 40 < 20 else "Up"))
            time.sleep(0.2)

    moves("runs table: Down/Up", "C-r", presses)
    moves("experiment list: Down/Up", "C-e", presses)
    moves("form: Down/Up between fields", "C-f", presses)
    subprocess.run(["tmux", "send-keys", "-t", session, "Escape"])
    time.sleep(1)
    out["filter: a typed letter"] = []
    for _ in range(max(1, presses // 12)):
        subprocess.run(["tmux", "send-keys", "-t", session, "/"])
        time.sleep(0.5)
        for letter in "cartpole-ppo":
            out["filter: a typed letter"].append(press(session, letter))
            time.sleep(0.2)
        for _ in range(12):
            subprocess.run(["tmux", "send-keys", "-t", session, "BSpace"])
        subprocess.run(["tmux", "send-keys", "-t", session, "Escape"])
        time.sleep(1)
    subprocess.run(["tmux", "send-keys", "-t", session, "C-r"])
    time.sleep(1)
    # a screen is open once its first frame shows: help's title (the home screen stays under it),
    # the home screen gone for the others; closed once the home screen is back alone
    screens = {"help": ("?", "Keys on the"), "live view": ("Enter", None), "compare": ("c", None)}
    for name, (key, marker) in screens.items():
        opening = f"open {name} ({key}{', two runs marked' if key == 'c' else ''})"
        out[opening], out[f"close {name} (Escape)"] = [], []
        if key == "c":  # two RL runs marked (the rows alternate attribution and RL runs, newest first)
            for k in ("Down", "Space", "Down", "Down", "Space"):
                subprocess.run(["tmux", "send-keys", "-t", session, k])
            time.sleep(1)
        opened = (lambda text: marker in text) if marker else (lambda text: HOME not in text)
        closed = lambda text: HOME in text and (marker is None or marker not in text)  # noqa: E731
        for _ in range(max(1, presses // 6)):
            out[opening].append(press(session, key, opened))
            time.sleep(1.5)
            out[f"close {name} (Escape)"].append(press(session, "Escape", closed))
            time.sleep(1)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=1000)
    p.add_argument("--idle", type=float, default=600.0, help="seconds of the idle window (CPU and memory); 0 skips it")
    p.add_argument("--presses", type=int, default=60, help="presses of each moving key (and a sixth as many screens opened)")
    args = p.parse_args()
    if shutil.which("tmux") is None:
        sys.exit("dashboard_scale: needs tmux")
    tmp = Path(tempfile.mkdtemp(prefix="lab-scale-"))
    root = tmp / "runs"
    newest = make_runs(root, args.runs)
    session = f"lab-scale-{os.getpid()}"
    cmd = f"cd {REPO} && env -u COLUMNS -u LINES COLORTERM=truecolor {sys.executable} -m lab --runs-dir {root}"
    started = time.perf_counter()
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "48", cmd], check=True)
    try:
        pid = int(subprocess.run(["tmux", "display", "-p", "-t", session, "#{pane_pid}"], capture_output=True, text=True).stdout)
        while "completed" not in screen(session):  # the runs' rows (the table shows no run as it loads)
            if time.perf_counter() - started > 60:
                sys.exit(f"dashboard_scale: no run row after 60 s:\n{screen(session)}")
            time.sleep(0.01)
        first_paint = time.perf_counter() - started
        time.sleep(3)
        latencies = key_latencies(session, args.presses)
        time.sleep(2)
        rss = [rss_mb(pid)]
        c0, w0 = cpu_seconds(pid), time.time()
        while time.time() - w0 < args.idle:
            time.sleep(min(10.0, args.idle))
            rss.append(rss_mb(pid))
        idle_cpu = (cpu_seconds(pid) - c0) / max(time.time() - w0, 1e-9)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{args.runs} finished runs (copies of a real cartpole-reinforce and breast-cancer-attributions run); "
          f"tmux 160x48; {os.cpu_count()} cores\n")
    print("| measure | value | target |")
    print("|---|---|---|")
    print(f"| first paint (process start to the runs' rows on screen) | {first_paint:.2f} s | <= 1 s |")
    for name, values in latencies.items():
        target = 100 if name.startswith(("open", "close")) else 50
        print(f"| key to screen, {name}: p50 / p95 / max over {len(values)} | {statistics.median(values) * 1000:.0f} / "
              f"{p95(values) * 1000:.0f} / {max(values) * 1000:.0f} ms | p95 <= {target} ms |")
    if args.idle > 0:
        print(f"| CPU while idle on the home screen, {args.idle:.0f} s | {100 * idle_cpu:.1f}% of a core | <= 3% |")
        print(f"| resident memory: start, end, largest of the idle window | {rss[0]:.0f} / {rss[-1]:.0f} / {max(rss):.0f} MB | flat |")


if __name__ == "__main__":
    main()
