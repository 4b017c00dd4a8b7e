"""Each built-in RL experiment's result and wall time on this machine: the table in docs/rl.md.

    .venv/bin/python benchmarks/builtins.py [--jobs 2] [--only cartpole-ppo cartpole-dqn]

cartpole-ppo and cartpole-dqn run seeds 0, 1 and 2; the continuous-control ones (pendulum-sac,
pendulum-td3, mountaincar-continuous-sac) seeds 0 and 1; the others seed 0. Each run is a real
`lab run` process with its spec's thread count (1); `--jobs` of them go at once. Prints a
Markdown table of final evaluation (mean +/- std over the final episodes), best periodic
evaluation, steps trained and wall time, and flags runs that miss their target.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

# experiment -> (seeds, target final_eval_return_mean: the anchor the experiment should reach)
PLAN = {
    "cartpole-ppo": ([0, 1, 2], 475),
    "cartpole-dqn": ([0, 1, 2], 475),
    "cartpole-a2c": ([0], 475),
    "cartpole-reinforce": ([0], 475),
    "acrobot-ppo": ([0], -100),
    "mountaincar-dqn": ([0], -130),
    "taxi-qlearning": ([0], 7.0),
    "frozenlake-qlearning": ([0], 0.65),
    "pendulum-sac": ([0, 1], -200),  # RL Zoo's SAC on Pendulum-v1: about -150
    "pendulum-td3": ([0, 1], -200),
    "mountaincar-continuous-sac": ([0, 1], 90),  # MountainCarContinuous-v0 counts as solved at 90
    # lab's torch engine
    "cartpole-dqn-torch": ([0, 1, 2], 475),
    "acrobot-ppo-torch": ([0], -100),
    "pendulum-ppo-torch": ([0, 1], -250),  # RL Zoo's PPO (with gSDE, which the engine lacks): about -200
}


def run_one(name: str, seed: int, runs_dir: str) -> dict:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "lab", "run", name, "--seed", str(seed), "--runs-dir", runs_dir, "--json"],
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    summary = json.loads(proc.stdout.splitlines()[-1]) if proc.stdout else {"state": "failed", "results": {}}
    return {"name": name, "seed": seed, "wall": wall, "summary": summary}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--only", nargs="*", help="experiments to run (default: all in the plan)")
    args = p.parse_args()
    runs_dir = tempfile.mkdtemp(prefix="lab-builtins-")
    jobs = [(n, s) for n, (seeds, _) in PLAN.items() if not args.only or n in args.only for s in seeds]
    with ThreadPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(lambda job: run_one(*job, runs_dir), jobs))
    print(f"runs in {runs_dir}, {args.jobs} at a time\n", file=sys.stderr)
    print("| experiment | seed | final eval (mean +/- std) | best eval | steps | wall time | target |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        r = row["summary"].get("results", {})
        target = PLAN[row["name"]][1]
        final = r.get("final_eval_return_mean")
        ok = final is not None and final >= target
        final_text = "-" if final is None else f"{final:.2f} +/- {r['final_eval_return_std']:.2f}"
        best = "-" if r.get("best_eval_return_mean") is None else f"{r['best_eval_return_mean']:.2f}"
        print(f"| {row['name']} | {row['seed']} | {final_text} | {best} | {r.get('total_steps', '-'):,} | "
              f"{row['wall']:.0f} s | >= {target:g} {'yes' if ok else 'NO (' + row['summary'].get('state', '?') + ')'} |")


if __name__ == "__main__":
    main()
