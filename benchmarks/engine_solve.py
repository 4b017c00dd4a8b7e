"""Time to solve CartPole: lab's torch engine against SB3, whole `lab run` processes, same seeds.

    .venv/bin/python benchmarks/engine_solve.py [--seeds 0 1 2 3 4] [--target 475]

For each seed, runs `lab run cartpole-ppo --set eval.target_return=TARGET` (SB3) and
`lab run cartpole-ppo-torch --set eval.target_return=TARGET` one after the other (never two at a
time), and reports each process's wall time, the step where an evaluation first reached the
target, and the ratio of the mean wall times. Writes benchmarks/results-engine-solve.md.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PAIR = ("cartpole-ppo", "cartpole-ppo-torch")


def solve(experiment: str, seed: int, target: float, root: Path) -> dict:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "lab", "run", experiment, "--seed", str(seed), "--runs-dir", str(root),
                          "--set", f"eval.target_return={target}"],
                         cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        sys.exit(f"engine_solve: {experiment} seed {seed} failed:\n{out.stderr[-2000:]}")
    run = sorted(root.glob(f"*-{experiment}-*"), key=lambda p: p.stat().st_mtime)[-1]
    summary = json.loads((run / "summary.json").read_text())
    r = summary["results"]
    return {"wall": wall, "solved": (r.get("best_eval_return_mean") or -1e9) >= target, "step": r.get("best_eval_step"),
            "final": r.get("final_eval_return_mean"), "device": summary.get("device")}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--target", type=float, default=475.0)
    args = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="lab-solve-") as tmp:
        for seed in args.seeds:
            for experiment in PAIR:
                r = solve(experiment, seed, args.target, Path(tmp))
                rows.append((experiment, seed, r))
                print(f"  {experiment} seed {seed}: {r['wall']:.1f} s, solved {r['solved']} at step {r['step']}", flush=True)
    lines = [f"Time to solve CartPole-v1 (an evaluation's mean >= {args.target:g}), whole `lab run` processes, "
             "one at a time, 1 torch thread; this machine.", "",
             "| experiment | seed | wall time | solved | first eval at target (step) | final eval | device |",
             "|---|---|---|---|---|---|---|"]
    for experiment, seed, r in rows:
        lines.append(f"| {experiment} | {seed} | {r['wall']:.1f} s | {'yes' if r['solved'] else 'no'} | "
                     f"{r['step'] if r['step'] is not None else '-'} | {r['final']:.1f} | {r['device']} |")
    means = {e: statistics.mean(r["wall"] for x, _, r in rows if x == e) for e in PAIR}
    lines += ["", f"mean wall time: {PAIR[0]} {means[PAIR[0]]:.1f} s, {PAIR[1]} {means[PAIR[1]]:.1f} s; "
                  f"ratio {means[PAIR[1]] / means[PAIR[0]]:.2f} (target <= 0.33)"]
    text = "\n".join(lines)
    print(text)
    (REPO / "benchmarks" / "results-engine-solve.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
