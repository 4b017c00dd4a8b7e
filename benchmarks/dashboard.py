"""Dashboard responsiveness with 4 runs streaming, in a real terminal (tmux at 160x48), side by
side: training headless, the dashboard watching a run, the dashboard with its play pane on.

    .venv/bin/python benchmarks/dashboard.py [--reps 3] [--window 30] [--conditions headless,dashboard,play]
                                             [--raw FILE.json] [--shot DIR]

Three conditions, measured in one run of this script, interleaved: each repetition measures every
condition once, in a rotated order (rep 1: headless, dashboard, play; rep 2: dashboard, play,
headless; ...), so that the load of other processes, which changes over minutes, falls on all of
them alike. Per condition, the median over the repetitions and their spread (lowest-highest):
  - key-press latency: 'm' on a run's live view (the loss plot switches metric); from tmux
    send-keys until capture-pane shows the new title; p50 and p95 over all presses;
  - the dashboard's CPU use while it watches that live view, in % of one core (/proc/PID/stat);
  - training steps/s of the 4 runs, and each repetition's steps/s against that repetition's
    headless measurement; the CPU the runs got;
  - with the play pane: its frame rate (from its caption) and its helper's CPU;
  - the CPU other processes (not this benchmark's) used in each window: above a few % of a core
    the steps/s of that window say more about them than about the dashboard.
Each run is `lab run cartpole-ppo` with 1 torch thread, evaluating every 5,000 steps (so that the
play pane has a best policy to play and new ones to switch to; the same in every condition),
started the way the dashboard starts runs (detached, at nice 10; `--nice 0` for normal priority).
Each measurement has its own 4 runs, measured over the same span after they started (`--start`):
the runs are seeded alike and deterministic, so each measures the same stretch of training (its
speed changes as the policy learns: evaluating a policy that balances the pole for 500 steps costs
more than one that drops it at once). The machine's load average is printed before and after.
"""

import argparse
import json
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
    """The play pane's frame rate, from its caption ('episode 3  step 120  return 120.0  10 fps')."""
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


CONDITIONS = {"headless": "headless", "dashboard": "dashboard", "play": "dashboard + play pane"}


def measure(condition: str, root: Path, args) -> dict:
    """One measurement of one condition, with its own runs (and dashboard): the window's figures
    and, with a dashboard, the key-press latencies."""
    procs = start_runs(root, args.runs, args.nice, args.eval_every)
    started = time.time()
    if condition == "headless":
        try:
            time.sleep(max(started + args.start - time.time(), 0.0))
            return Window(root, procs, {"runs": procs}).measure(args.window)
        finally:
            stop(procs)
    session = f"lab-bench-{os.getpid()}"
    cmd = f"cd {REPO} && env -u COLUMNS -u LINES COLORTERM=truecolor {sys.executable} -m lab --runs-dir {root}"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "48", cmd], check=True)
    try:
        pid = int(subprocess.run(["tmux", "display", "-p", "-t", session, "#{pane_pid}"], capture_output=True, text=True).stdout)
        ours, watched = procs + [pid, tmux_server_pid(session) or pid], {"runs": procs, "dashboard": pid}
        while "valid (defaults)" not in screen(session):
            wait_for_screen(session, started)
            time.sleep(0.2)
        while metric_title(text := screen(session)) is None:  # m: one metric, large, its title naming it
            wait_for_screen(session, started)
            # v (the newest run) again while the home screen shows: the runs table may not have had the runs yet
            subprocess.run(["tmux", "send-keys", "-t", session, "v" if "valid (defaults)" in text else "m"])
            time.sleep(1.5)
        if condition == "play":
            subprocess.run(["tmux", "send-keys", "-t", session, "p"])
            while pane_fps(screen(session)) is None:  # the helper started, a best policy exists, frames arrive
                wait_for_screen(session, started)
                time.sleep(0.5)
            watched["player"] = player_pid(pid)
            ours += [watched["player"]] if watched["player"] else []
        if time.time() > started + args.start:
            print(f"(a {CONDITIONS[condition]} window starts {time.time() - started:.0f} s after its runs, not "
                  f"{args.start:.0f}: a slow start; compare its steps/s with care)", file=sys.stderr)
        time.sleep(max(started + args.start - time.time(), 0.0))
        column = Window(root, ours, watched).measure(
            args.window, sample=(lambda: pane_fps(screen(session))) if "player" in watched else None)
        column["latencies"] = key_latencies(session, args.presses)
        if args.shot:
            subprocess.run([sys.executable, str(REPO.parent / "shared/tools/tmux-shot.py"), session,
                            str(Path(args.shot) / f"{condition}.png")], capture_output=True)
        return column
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        stop(procs)


def wait_for_screen(session: str, started: float, limit: float = 180.0) -> None:
    """Give up (with the screen) when the dashboard has not got where it should within `limit` s of the runs' start."""
    if time.time() > started + limit:
        text = screen(session)
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        sys.exit(f"dashboard benchmark: the dashboard did not get there in {limit:.0f} s; its screen:\n{text}")


def spread(values: list[float], fmt) -> str:
    """The median, and the lowest-highest where there are several."""
    values = [v for v in values if v == v]  # not NaN
    if not values:
        return "n/a"
    if len(values) == 1:
        return fmt(values[0])
    return f"{fmt(statistics.median(values))} ({fmt(min(values))}-{fmt(max(values))})"


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[int(q * (len(values) - 1))]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=3, help="repetitions: each measures every condition once")
    p.add_argument("--window", type=float, default=30.0, help="seconds each measurement window lasts")
    p.add_argument("--start", type=float, default=75.0,
                   help="seconds from the runs' start to the window's, the same in every measurement: the runs (seed 0, "
                        "deterministic) are then at the same point of their training, whose speed changes as it learns")
    p.add_argument("--runs", type=int, default=4)
    p.add_argument("--nice", type=int, default=10, help="niceness of the training runs (the dashboard's default: 10)")
    p.add_argument("--eval-every", type=int, default=5_000, help="the runs' eval.every (the same in every condition)")
    p.add_argument("--presses", type=int, default=30, help="key presses per dashboard measurement")
    p.add_argument("--conditions", default="headless,dashboard,play",
                   help="which of headless, dashboard, play (the dashboard with its play pane on), comma-separated")
    p.add_argument("--raw", metavar="FILE", help="also write every measurement as JSON (--table FILE prints its table again)")
    p.add_argument("--table", metavar="FILE", nargs="+",
                   help="print the table of earlier runs' --raw files (their repetitions together), measure nothing")
    p.add_argument("--shot", metavar="DIR", help="a picture of the dashboard (PNG, via ../shared/tools/tmux-shot.py) per condition")
    args = p.parse_args()
    if args.table:
        return report(*combined(args.table))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a timeout's TERM still stops the runs and the dashboard
    conditions = args.conditions.split(",")
    if unknown := [c for c in conditions if c not in CONDITIONS]:
        sys.exit(f"dashboard benchmark: --conditions: unknown {', '.join(unknown)}; allowed: {', '.join(CONDITIONS)}")
    if shutil.which("tmux") is None:
        sys.exit("dashboard benchmark: needs tmux")
    tmp = Path(tempfile.mkdtemp(prefix="lab-dash-"))
    load_before = os.getloadavg()

    results: dict[str, list[dict]] = {c: [] for c in conditions}
    for rep in range(args.reps):
        order = conditions[rep % len(conditions):] + conditions[:rep % len(conditions)]
        for condition in order:
            column = measure(condition, tmp / f"{rep}-{condition}", args)
            column["rep"] = rep
            results[condition].append(column)
            print(f"rep {rep + 1}/{args.reps} {CONDITIONS[condition]}: {column['steps']:,.0f} steps/s, others "
                  f"{100 * column['foreign']:.0f}% of a core"
                  + (f", p50 {1000 * statistics.median(column['latencies']):.0f} ms" if "latencies" in column else ""),
                  file=sys.stderr)
    load_after = os.getloadavg()
    shutil.rmtree(tmp, ignore_errors=True)
    if args.raw:
        Path(args.raw).write_text(json.dumps({"args": vars(args), "load": [load_before, load_after], "results": results}))
    report(results, conditions, args, load_before, load_after)


def combined(paths: list[str]):
    """report's arguments for the measurements of several --raw files, as one run's repetitions."""
    results, reps, loads = {}, 0, []
    for path in paths:
        raw = json.loads(Path(path).read_text())
        for condition, measurements in raw["results"].items():
            results.setdefault(condition, []).extend({**m, "rep": m["rep"] + reps} for m in measurements)
        reps += raw["args"]["reps"]
        loads.append(raw["load"])
    args = argparse.Namespace(**{**raw["args"], "reps": reps})
    return results, list(results), args, loads[0][0], loads[-1][1]


def report(results: dict[str, list[dict]], conditions: list[str], args, load_before, load_after) -> None:
    """The table: per condition, the median over the repetitions and their spread."""
    print(f"{args.runs} runs of cartpole-ppo streaming (1 torch thread each, nice {args.nice}, evaluating every "
          f"{args.eval_every:,} steps) on {os.cpu_count()} cores; tmux 160x48; {args.reps} repetitions, conditions "
          f"interleaved (order rotated each repetition), each measurement its own runs, measured {args.window:.0f} s "
          f"from {args.start:.0f} s after they started; load average (1, 5, 15 min) before "
          f"{' '.join(f'{x:.2f}' for x in load_before)}, after {' '.join(f'{x:.2f}' for x in load_after)}.\n"
          "Cells: the median over the repetitions (lowest-highest); latencies: over all presses (each repetition's lowest-highest).\n")
    names = [CONDITIONS[c] for c in conditions]
    columns = [results[c] for c in conditions]
    headless = {m["rep"]: m["steps"] for m in results.get("headless", [])}

    def row(measure, cells, target=""):
        print(f"| {measure} | " + " | ".join(cells) + f" | {target} |")

    def latency(ms, q):
        pressed = [x for m in ms for x in m.get("latencies", [])]
        if not pressed:
            return ""
        per_rep = [1000 * percentile(m["latencies"], q) for m in ms]
        return f"{1000 * percentile(pressed, q):.0f} ms" + (f" (per rep {min(per_rep):.0f}-{max(per_rep):.0f})" if len(ms) > 1 else "")

    print("| measure | " + " | ".join(names) + " | target |")
    print("|---|" + "---|" * len(names) + "---|")
    row("key press to screen ('m' on a live view), p50", [latency(ms, 0.5) for ms in columns])
    row("key press to screen, p95", [latency(ms, 0.95) for ms in columns], "< 100 ms")
    row("dashboard CPU while watching a live view",
        [spread([100 * m["dashboard"] for m in ms], lambda x: f"{x:.1f}%") + " of a core" if "dashboard" in ms[0] else ""
         for ms in columns], "< 15%")
    row(f"training steps/s, {args.runs} runs", [spread([m["steps"] for m in ms], lambda x: f"{x:,.0f}") for ms in columns])
    if headless:
        row("training steps/s, % of the same repetition's headless",
            ["" if c == "headless" else spread([100 * m["steps"] / headless[m["rep"]] for m in results[c]],
                                               lambda x: f"{x:.1f}%") for c in conditions], ">= 95%")
    row("training steps per CPU-second the runs got (what the load leaves aside)",
        [spread([m["steps"] / m["runs"] for m in ms], lambda x: f"{x:,.0f}") for ms in columns])
    row(f"training runs' CPU, {args.runs} runs", [spread([m["runs"] for m in ms], lambda x: f"{x:.2f}") + " cores" for ms in columns])
    row("other processes' CPU in the window (should be ~0)",
        [spread([100 * m["foreign"] for m in ms], lambda x: f"{x:.0f}%") + " of a core" for ms in columns])
    if "play" in results:
        ms = results["play"]
        seen = [f for m in ms for f in m["samples"] if f is not None]
        row("play pane frame rate (its caption, every 2 s), median / lowest",
            [(f"{statistics.median(seen):.0f} / {min(seen):.0f} fps" if seen else "no frames") if c == "play" else ""
             for c in conditions], f"cap {PLAY_FPS:.0f}")
        row("play helper CPU (nice 19)",
            [spread([100 * m["player"] for m in ms if "player" in m], lambda x: f"{x:.1f}%") + " of a core" if c == "play" else ""
             for c in conditions])

if __name__ == "__main__":
    main()
