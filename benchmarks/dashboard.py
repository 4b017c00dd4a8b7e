"""Dashboard responsiveness with 4 runs streaming, in a real terminal (tmux at 160x48).

    .venv/bin/python benchmarks/dashboard.py [--window 40] [--play] [--eval-every N]

Measures, in one run of this script:
  - key-press latency: 'm' on a run's live view (the loss plot switches metric); from tmux
    send-keys until capture-pane shows the new title; p50 and p95 over 30 presses;
  - the dashboard's CPU use while it watches that live view, in % of one core (/proc/PID/stat);
  - training steps/s of the 4 runs with the dashboard open, against the same 4 runs headless.
Each run is `lab run cartpole-ppo` with 1 torch thread and no evaluation during the window
(`--eval-every` to evaluate), started the way the dashboard starts runs (detached, at nice 10;
`--nice 0` for normal priority).

--play turns the live view's play pane on (key p) before measuring: the watched run's newest
best policy playing in CartPole, drawn by a helper process. The runs then evaluate every 10,000
steps (unless --eval-every says otherwise), so that there is a best policy to play and new ones
to switch to; compare with a run without --play at the same --eval-every. It also reports the
pane's frame rate (from its caption) and the helper's CPU.
"""

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lab.events import read_events  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")


def start_runs(root: Path, n: int, nice: int, eval_every: int) -> list[int]:
    from lab.launch import start_detached

    args = ["--set", "agent.total_steps=100000000", "--set", f"eval.every={eval_every}"]
    return [start_detached("cartpole-ppo", args, root, nice=nice) for _ in range(n)]


def stop(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    time.sleep(1)


def steps_per_second(root: Path, t0: float, t1: float) -> float:
    """Sum over runs of (steps at t1 - steps at t0) / (t1 - t0), from their progress events."""
    total = 0.0
    for events in root.glob("*/events.jsonl"):
        points = [(e["t"], e["step"]) for e in read_events(events, {"progress"})]
        before = [s for t, s in points if t <= t0]
        after = [s for t, s in points if t <= t1]
        if before and after:
            total += (after[-1] - before[-1]) / (t1 - t0)
    return total


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def screen(session: str) -> str:
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout


def metric_title(text: str) -> str | None:
    """The metric the live view shows large: its title reads 'loss  (1 of 10; m: next, M: previous)'."""
    match = re.search(r"(\w+)\s+\(\d+ of \d+; m: next", text)
    return match.group(1) if match else None


def pane_fps(text: str) -> float | None:
    """The play pane's frame rate, from its caption ('episode 3  step 120  return 120.0  15 fps')."""
    match = re.search(r"return -?[\d.]+(?:  \(done\))?  (\d+) fps", text)
    return float(match.group(1)) if match else None


def player_pid(dashboard: int) -> int | None:
    """The play pane's helper process: the dashboard's child running lab.tui.player."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            if ppid == dashboard and b"lab.tui.player" in (stat.parent / "cmdline").read_bytes():
                return int(stat.parent.name)
        except (OSError, ValueError, IndexError):
            continue
    return None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--window", type=float, default=40.0, help="seconds each measurement window lasts")
    p.add_argument("--runs", type=int, default=4)
    p.add_argument("--nice", type=int, default=10, help="niceness of the training runs (the dashboard's default: 10)")
    p.add_argument("--play", action="store_true", help="turn the live view's play pane on (p) before measuring")
    p.add_argument("--eval-every", type=int, default=None,
                   help="the runs' eval.every (default: none in the window; 10,000 with --play)")
    args = p.parse_args()
    eval_every = args.eval_every or (10_000 if args.play else 100_000_000)
    if shutil.which("tmux") is None:
        sys.exit("dashboard benchmark: needs tmux")
    tmp = Path(tempfile.mkdtemp(prefix="lab-dash-"))

    # 1. headless
    root = tmp / "headless"
    procs = start_runs(root, args.runs, args.nice, eval_every)
    time.sleep(15)
    t0 = time.time()
    time.sleep(args.window)
    headless = steps_per_second(root, t0, time.time()) or float("nan")
    stop(procs)

    # 2. the same runs with the dashboard open on one run's live view
    root = tmp / "dashboard"
    procs = start_runs(root, args.runs, args.nice, eval_every)
    session = f"lab-bench-{os.getpid()}"
    cmd = f"cd {REPO} && env -u COLUMNS -u LINES COLORTERM=truecolor {sys.executable} -m lab --runs-dir {root}"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "48", cmd], check=True)
    try:
        pid = int(subprocess.run(["tmux", "display", "-p", "-t", session, "#{pane_pid}"], capture_output=True, text=True).stdout)
        while "valid (defaults)" not in screen(session):
            time.sleep(0.2)
        time.sleep(10)
        subprocess.run(["tmux", "send-keys", "-t", session, "v"])
        while metric_title(screen(session)) is None:  # m: one metric, large, its title naming it (once the view has read the run)
            time.sleep(1)
            subprocess.run(["tmux", "send-keys", "-t", session, "m"])
            time.sleep(0.5)
        player = None
        if args.play:
            subprocess.run(["tmux", "send-keys", "-t", session, "p"])
            deadline = time.time() + 120
            while pane_fps(screen(session)) is None:  # the helper started, a best policy exists, frames arrive
                if time.time() > deadline:
                    sys.exit("dashboard benchmark: the play pane drew nothing in 2 minutes:\n" + screen(session))
                time.sleep(0.5)
            player = player_pid(pid)
        time.sleep(5)
        # CPU while watching (no keys)
        c0, w0 = cpu_seconds(pid), time.time()
        p0 = cpu_seconds(player) if player else 0.0
        t0 = w0
        fps = []
        while time.time() < w0 + args.window:
            time.sleep(2)
            if args.play:
                fps.append(pane_fps(screen(session)))
        watching_cpu = (cpu_seconds(pid) - c0) / (time.time() - w0)
        player_cpu = (cpu_seconds(player) - p0) / (time.time() - w0) if player else None
        with_dashboard = steps_per_second(root, t0, time.time())
        # key-press latency
        latencies = []
        for _ in range(30):
            before = metric_title(screen(session))
            start = time.perf_counter()
            subprocess.run(["tmux", "send-keys", "-t", session, "m"])
            while metric_title(screen(session)) == before:
                if time.perf_counter() - start > 5:
                    break
            latencies.append(time.perf_counter() - start)
            time.sleep(0.3)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        stop(procs)
    latencies.sort()
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    evaluating = f"evaluating every {eval_every:,} steps" if eval_every < 100_000_000 else "no evaluation"
    print(f"{args.runs} runs of cartpole-ppo streaming (1 torch thread each, nice {args.nice}, {evaluating}) on "
          f"{os.cpu_count()} cores; tmux 160x48" + ("; the live view's play pane on" if args.play else "") + "\n")
    print("| measure | value | target |")
    print("|---|---|---|")
    print(f"| key press to screen ('m' on a live view), p50 | {statistics.median(latencies) * 1000:.0f} ms | |")
    print(f"| key press to screen, p95 | {p95 * 1000:.0f} ms | < 100 ms |")
    print(f"| dashboard CPU while watching a live view | {100 * watching_cpu:.1f}% of a core | < 15% |")
    print(f"| training steps/s, {args.runs} runs, headless | {headless:,.0f} | |")
    print(f"| training steps/s, {args.runs} runs, dashboard open{' with the play pane' if args.play else ''} "
          f"| {with_dashboard:,.0f} ({100 * with_dashboard / headless:.1f}% of headless) | >= 95% |")
    if args.play:
        seen = [f for f in fps if f is not None]
        print(f"| play pane frame rate (its caption, every 2 s) | {statistics.median(seen) if seen else float('nan'):.0f} fps median,"
              f" {min(seen) if seen else float('nan'):.0f} lowest | cap 15 |")
        print(f"| play helper CPU (nice 19) | {100 * player_cpu:.1f}% of a core | |" if player_cpu is not None
              else "| play helper CPU | its process was not found | |")


if __name__ == "__main__":
    main()
