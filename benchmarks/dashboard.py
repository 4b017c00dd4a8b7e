"""Dashboard responsiveness with 4 runs streaming, in a real terminal (tmux at 160x48).

    .venv/bin/python benchmarks/dashboard.py [--window 40] [--play] [--eval-every N]

Measures, in one run of this script:
  - key-press latency: 'm' on a run's live view (the loss plot switches metric); from tmux
    send-keys until capture-pane shows the new title; p50 and p95 over 30 presses;
  - the dashboard's CPU use while it watches that live view, in % of one core (/proc/PID/stat);
  - training steps/s of the 4 runs with the dashboard open, against 4 runs headless, and the
    CPU the runs got;
  - the CPU other processes (not this benchmark's) used in each window: above a few % of a core
    the steps/s of that window say more about them than about the dashboard.
Each run is `lab run cartpole-ppo` with 1 torch thread and no evaluation during the window
(`--eval-every` to evaluate), started the way the dashboard starts runs (detached, at nice 10;
`--nice 0` for normal priority). Each column has its own 4 runs, measured over the same span
after they started (`--start`): the runs are seeded alike and deterministic, so each column
measures the same stretch of training (its speed changes as the policy learns: evaluating a
policy that balances the pole for 500 steps costs more than one that drops it at once).

--play adds a third column: the live view with its play pane on (key p; the watched run's
newest best policy playing CartPole, drawn by a helper process), with the pane's frame rate
(from its caption) and the helper's CPU. The runs then evaluate every 10,000 steps (unless
--eval-every says otherwise), in every column, so that there is a best policy to play and new
ones to switch to.
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
from lab.tui.player import FPS as PLAY_FPS  # noqa: E402

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


def busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all cores; /proc/stat)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / TICK


class Window:
    """A measurement window: steps/s of the runs, CPU of given processes, and of everyone else."""

    def __init__(self, root: Path, ours: list[int], watched: dict[str, int | list[int] | None]):
        self.root, self.ours, self.watched = root, ours, watched

    @staticmethod
    def _cpu(pids) -> float:
        return sum(cpu_seconds(pid) for pid in (pids if isinstance(pids, list) else [pids]))

    def _own(self) -> float:
        total = 0.0
        for pid in self.ours + [os.getpid()]:
            try:
                total += cpu_seconds(pid)
            except OSError:
                pass
        return total

    def measure(self, seconds: float, sample=None) -> dict:
        t0, busy0, own0 = time.time(), busy_seconds(), self._own()
        cpu0 = {name: self._cpu(pid) for name, pid in self.watched.items() if pid}
        samples = []
        while time.time() < t0 + seconds:
            left = max(t0 + seconds - time.time(), 0.0)
            time.sleep(min(2.0, left) if sample else left)
            if sample:
                samples.append(sample())
        elapsed = time.time() - t0
        out = {name: (self._cpu(pid) - cpu0[name]) / elapsed for name, pid in self.watched.items() if pid}
        out["steps"] = steps_per_second(self.root, t0, time.time()) or float("nan")
        out["foreign"] = max(busy_seconds() - busy0 - (self._own() - own0), 0.0) / elapsed
        out["samples"] = samples
        return out


def screen(session: str) -> str:
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout


def metric_title(text: str) -> str | None:
    """The metric the live view shows large: its title reads 'loss  (1 of 10; m: next, M: previous)'."""
    match = re.search(r"(\w+)\s+\(\d+ of \d+; m: next", text)
    return match.group(1) if match else None


def pane_fps(text: str) -> float | None:
    """The play pane's frame rate, from its caption ('episode 3  step 120  return 120.0  12 fps')."""
    match = re.search(r"return -?[\d.]+(?:  \(done\))?  (\d+) fps", text)
    return float(match.group(1)) if match else None


def tmux_server_pid(session: str) -> int | None:
    out = subprocess.run(["tmux", "display", "-p", "-t", session, "#{pid}"], capture_output=True, text=True).stdout
    return int(out) if out.strip().isdigit() else None


def key_latencies(session: str, presses: int = 30) -> list[float]:
    """Seconds from 'm' to the new metric title on screen, sorted."""
    latencies = []
    for _ in range(presses):
        before = metric_title(screen(session))
        start = time.perf_counter()
        subprocess.run(["tmux", "send-keys", "-t", session, "m"])
        while metric_title(screen(session)) == before:
            if time.perf_counter() - start > 5:
                break
        latencies.append(time.perf_counter() - start)
        time.sleep(0.3)
    return sorted(latencies)


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
    p.add_argument("--start", type=float, default=30.0,
                   help="seconds from the runs' start to the window's, the same in every column: the runs (seed 0, "
                        "deterministic) are then at the same point of their training, whose speed changes as it learns")
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

    columns, latencies = {}, {}
    for name in ["headless", "dashboard"] + (["dashboard + play pane"] if args.play else []):
        root = tmp / name.replace(" + ", "-").replace(" ", "-")
        procs = start_runs(root, args.runs, args.nice, eval_every)
        started = time.time()
        if name == "headless":
            time.sleep(max(started + args.start - time.time(), 0.0))
            columns[name] = Window(root, procs, {"runs": procs}).measure(args.window)
            stop(procs)
            continue
        session = f"lab-bench-{os.getpid()}"
        cmd = f"cd {REPO} && env -u COLUMNS -u LINES COLORTERM=truecolor {sys.executable} -m lab --runs-dir {root}"
        subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "48", cmd], check=True)
        try:
            pid = int(subprocess.run(["tmux", "display", "-p", "-t", session, "#{pane_pid}"], capture_output=True, text=True).stdout)
            ours, watched = procs + [pid, tmux_server_pid(session) or pid], {"runs": procs, "dashboard": pid}
            while "valid (defaults)" not in screen(session):
                time.sleep(0.2)
            time.sleep(3)
            subprocess.run(["tmux", "send-keys", "-t", session, "v"])
            while metric_title(screen(session)) is None:  # m: one metric, large, its title naming it (once the view has read the run)
                time.sleep(1)
                subprocess.run(["tmux", "send-keys", "-t", session, "m"])
                time.sleep(0.5)
            if name == "dashboard + play pane":
                subprocess.run(["tmux", "send-keys", "-t", session, "p"])
                while pane_fps(screen(session)) is None:  # the helper started, a best policy exists, frames arrive
                    if time.time() > started + 120:
                        sys.exit("dashboard benchmark: the play pane drew nothing in 2 minutes:\n" + screen(session))
                    time.sleep(0.5)
                watched["player"] = player_pid(pid)
                ours += [watched["player"]] if watched["player"] else []
            if time.time() > started + args.start:
                print(f"(the {name} window starts {time.time() - started:.0f} s after its runs, not {args.start:.0f}: "
                      "a slow start; compare its steps/s with care)", file=sys.stderr)
            time.sleep(max(started + args.start - time.time(), 0.0))
            columns[name] = Window(root, ours, watched).measure(
                args.window, sample=(lambda: pane_fps(screen(session))) if "player" in watched else None)
            latencies[name] = key_latencies(session)
        finally:
            subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
            stop(procs)

    evaluating = f"evaluating every {eval_every:,} steps" if eval_every < 100_000_000 else "no evaluation"
    print(f"{args.runs} runs of cartpole-ppo streaming (1 torch thread each, nice {args.nice}, {evaluating}) on "
          f"{os.cpu_count()} cores; tmux 160x48; each column its own runs, measured {args.window:.0f} s from "
          f"{args.start:.0f} s after they started\n")
    names = list(columns)
    headless = columns["headless"]["steps"]

    def row(measure, cells, target=""):
        print(f"| {measure} | " + " | ".join(cells) + f" | {target} |")

    print("| measure | " + " | ".join(names) + " | target |")
    print("|---|" + "---|" * len(names) + "---|")
    row("key press to screen ('m' on a live view), p50",
        [f"{statistics.median(latencies[n]) * 1000:.0f} ms" if n in latencies else "" for n in names])
    row("key press to screen, p95",
        [f"{latencies[n][int(0.95 * (len(latencies[n]) - 1))] * 1000:.0f} ms" if n in latencies else "" for n in names], "< 100 ms")
    row("dashboard CPU while watching a live view",
        [f"{100 * columns[n]['dashboard']:.1f}% of a core" if "dashboard" in columns[n] else "" for n in names], "< 15%")
    row(f"training steps/s, {args.runs} runs",
        [f"{columns[n]['steps']:,.0f}" + ("" if n == "headless" else f" ({100 * columns[n]['steps'] / headless:.1f}% of headless)")
         for n in names], ">= 95% of headless")
    row(f"training runs' CPU, {args.runs} runs", [f"{columns[n]['runs']:.2f} cores" for n in names])
    row("other processes' CPU in the window (should be ~0)", [f"{100 * columns[n]['foreign']:.0f}% of a core" for n in names])
    if args.play:
        column = columns["dashboard + play pane"]
        seen = [f for f in column["samples"] if f is not None]
        row("play pane frame rate (its caption, every 2 s), median / lowest",
            ["" for n in names[:-1]] + [f"{statistics.median(seen):.0f} / {min(seen):.0f} fps" if seen else "no frames"],
            f"cap {PLAY_FPS:.0f}")
        row("play helper CPU (nice 19)", ["" for n in names[:-1]] + [f"{100 * column['player']:.1f}% of a core" if "player" in column
                                                                      else "its process was not found"])

if __name__ == "__main__":
    main()
