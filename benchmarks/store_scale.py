"""The run store at scale: `lab show` on a run of a million episodes, `lab runs` over 1,000 folders.

    .venv/bin/python benchmarks/store_scale.py [--episodes 1000000] [--folders 1000] [--keep DIR]

Builds, under a temporary directory (or DIR with --keep, which is then left in place):
  - two finished cartpole-ppo run folders of the same N episodes at 1,000 episodes per
    simulated second: one written by lab's own EventWriter with a simulated clock (the new
    format, which aggregates each 0.25 s into one `episodes` line) and one with every episode
    on its own line (the format of lab 0.1), both from the same stream of events;
  - a runs root of 1,000 folders, copies of a few short real runs (`lab run ... --set
    agent.total_steps=5000`), each copy's summary.json id set to its new folder name.
Then times each command, 3 times, from spawn to exit in a small timer process: the median wall
time and the largest peak RSS (os.wait4's ru_maxrss). Output goes to a pipe, not a terminal.
Prints a markdown table; with the default sizes also writes it to results-store-scale.md.
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
from collections import deque
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from lab.events import EventWriter  # noqa: E402
from lab.store import create_run_folder  # noqa: E402
from lab.summary import Summary  # noqa: E402

EPISODES_PER_SECOND = 1000
REAL_RUNS = ["cartpole-reinforce", "taxi-qlearning", "frozenlake-qlearning"]


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# Times one command and reports its peak RSS. It runs in a small process of its own because a
# child's ru_maxrss starts at its parent's peak RSS (Linux keeps the high-water mark across
# fork and exec), and this script's own peak, a million episodes in memory, would hide the child's.
TIMER = """import os, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE)
proc.stdout.read()  # drain it, so a long listing cannot block the child
_, status, usage = os.wait4(proc.pid, 0)
print(time.perf_counter() - start, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def measure(cmd: list[str], repeats: int = 3) -> tuple[float, float]:
    """(median wall seconds, max peak RSS in MB) of `cmd` run `repeats` times, stdout to a pipe."""
    times, peaks = [], []
    for _ in range(repeats):
        with tempfile.TemporaryFile() as err:
            out = subprocess.run([sys.executable, "-c", TIMER, *cmd], stdout=subprocess.PIPE, stderr=err,
                                 cwd=REPO, check=True, text=True).stdout.split()
            if out[2] != "0":
                err.seek(0)
                sys.exit(f"{' '.join(cmd)} exited {out[2]}:\n{err.read().decode(errors='replace')}")
        times.append(float(out[0]))
        peaks.append(int(out[1]) / 1024)  # KiB on Linux
    return statistics.median(times), max(peaks)


def write_long_runs(root: Path, n: int) -> tuple[Path, Path]:
    """Two cartpole-ppo run folders of the same n episodes: (new format, per-episode format)."""
    rng = np.random.default_rng(0)
    i = np.arange(n)
    curve = 20 + 480 * (1 - np.exp(-5 * i / n))  # returns rising from 20 to 500
    returns = np.clip(np.round(curve + rng.normal(0, 40, n)), 8, 500)
    lengths = returns.astype(int)
    steps = np.cumsum(lengths)
    sums = np.concatenate([[0], np.cumsum(returns)])
    rolling = np.round((sums[i + 1] - sums[np.maximum(i - 99, 0)]) / np.minimum(i + 1, 100), 2)
    total, t0 = int(steps[-1]), time.time() - n / EPISODES_PER_SECOND
    now = [t0]
    new, old = create_run_folder(root, "cartpole-ppo"), create_run_folder(root, "cartpole-ppo")
    spec = (REPO / "experiments" / "cartpole-ppo.toml").read_text()
    with open(old / "events.jsonl", "w", encoding="utf-8") as old_events:
        def per_episode(event: dict) -> None:  # every event, as lab 0.1 wrote it
            old_events.write(json.dumps(event, separators=(",", ":")) + "\n")

        w = EventWriter(new / "events.jsonl", on_event=per_episode, clock=lambda: now[0])
        w.emit("status", state="running")
        recent = deque(maxlen=10)
        for k, (step, length, r100, ret) in enumerate(zip(steps.tolist(), lengths.tolist(),
                                                          rolling.tolist(), returns.tolist()), 1):
            now[0] += 1 / EPISODES_PER_SECOND
            w.emit("episode", step=step, length=length, rolling_return=r100, **{"return": ret})
            recent.append(ret)
            if k % 5000 == 0:
                elapsed = now[0] - t0
                w.emit("eval", step=step, mean=float(np.mean(recent)), std=float(np.std(recent)), episodes=10, best=False)
                w.emit("metric", step=step, values={"loss": round(1 / (1 + k / 1e4), 4), "entropy": round(0.69 - 0.5 * k / n, 4)})
                w.emit("progress", step=step, total=total, fraction=step / total, steps_per_second=round(step / elapsed, 1),
                       eta_seconds=round((total - step) / (step / elapsed), 1), elapsed=round(elapsed, 1))
            if k % 200_000 == 0:
                say(f"  {k:,} / {n:,} episodes written")
        w.emit("log", level="info", message=f"training done: {n:,} episodes, {total:,} steps")
        w.emit("status", state="completed")
        w.close()
    duration = now[0] - t0
    summary = Summary(experiment="cartpole-ppo", kind="rl", state="completed", started=t0, ended=now[0],
                      duration_seconds=duration, algo="ppo", env="CartPole-v1", seed=0, device="cpu",
                      device_reason="auto: no CUDA device visible to torch", threads=1,
                      progress={"step": total, "total": total, "fraction": 1.0},
                      results={"final_eval_return_mean": 500.0, "final_eval_return_std": 0.0, "final_eval_episodes": 20,
                               "best_eval_return_mean": 500.0, "best_eval_step": total, "episodes": n,
                               "steps_per_second": round(total / duration, 1), "total_steps": total})
    for folder in (new, old):
        (folder / "spec.toml").write_text(spec)
        summary.id = folder.name
        (folder / "summary.json").write_text(summary.to_json())
    return new, old


def copy_real_runs(root: Path, src: Path, n: int) -> None:
    """n run folders under root, copied in turn from a few short real runs in src."""
    for name in REAL_RUNS:
        say(f"  lab run {name} (5,000 steps)")
        subprocess.run([sys.executable, "-m", "lab", "run", name, "--set", "agent.total_steps=5000",
                        "--set", "eval.every=2500", "--runs-dir", str(src)],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    sources = sorted(p for p in src.iterdir() if p.is_dir())
    for k in range(n):
        source = sources[k % len(sources)]
        target = root / f"{source.name.rsplit('-', 1)[0]}-{k:04x}"  # new_run_id's pattern, a counter as suffix
        shutil.copytree(source, target)
        data = json.loads((target / "summary.json").read_text())
        data["id"] = target.name
        (target / "summary.json").write_text(json.dumps(data, indent=2) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--episodes", type=int, default=1_000_000)
    p.add_argument("--folders", type=int, default=1000)
    p.add_argument("--keep", metavar="DIR", help="build under DIR (new or empty) and leave it there")
    args = p.parse_args()
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="lab-store-scale-"))
    lab = [sys.executable, "-m", "lab"]
    try:
        say(f"writing two runs of {args.episodes:,} episodes under {base / 'show'}")
        new, old = write_long_runs(base / "show", args.episodes)
        say(f"making {args.folders:,} run folders under {base / 'runs'}")
        copy_real_runs(base / "runs", base / "src", args.folders)
        rows = []
        for folder, label, target in ((new, "new format", "<= 1 s, <= 200 MB"), (old, "per-episode format", "<= 2 s")):
            mb = (folder / "events.jsonl").stat().st_size / 1e6
            say(f"timing lab show ({label}, {mb:.3g} MB of events)")
            t, rss = measure(lab + ["show", folder.name, "--runs-dir", str(base / "show")])
            rows.append((f"`lab show`, {args.episodes:,} episodes, {label} ({mb:.3g} MB events)", t, rss, target))
        say("timing lab runs")
        t, rss = measure(lab + ["runs", "--runs-dir", str(base / "runs")])
        rows.append((f"`lab runs`, {args.folders:,} run folders", t, rss, "<= 0.5 s"))
        say("timing lab --help")
        t, rss = measure(lab + ["--help"])
        rows.append(("`lab --help`", t, rss, ""))
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    argv = " ".join(sys.argv[1:])
    lines = [f"Machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}. "
             f"Command: `.venv/bin/python benchmarks/store_scale.py{' ' + argv if argv else ''}` "
             "(median wall time of 3 runs, from spawn to exit; largest peak RSS of the 3).", "",
             "| measure | value | target |", "|---|---|---|"]
    lines += [f"| {label} | {t:.2f} s, {rss:.0f} MB | {target} |" for label, t, rss, target in rows]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.episodes == 1_000_000 and args.folders == 1000:
        (REPO / "benchmarks" / "results-store-scale.md").write_text(text)


if __name__ == "__main__":
    main()
