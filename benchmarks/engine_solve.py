"""Time to solve CartPole: lab's torch engine against SB3, whole `lab run` processes, same seeds.

    .venv/bin/python benchmarks/engine_solve.py [--seeds 0 1 ... 9] [--target 475] [--compile off on]
                                                [--before /tmp/lab-before]

For each seed, one after the other (never two at a time): `lab run cartpole-ppo --set
eval.target_return=TARGET` (SB3), then `lab run cartpole-ppo-torch` with the same target once per
`--compile` setting, and, with `--before DIR` (a checkout of lab at an earlier commit: `git worktree
add DIR COMMIT`), the same engine run with that checkout's code. Reports each process's wall time,
the step where an evaluation first reached the target, each engine run's ratio to SB3's wall time
for the same seed, and the ratios of the mean wall times (the bar: <= 1/3 on the mean, <= 0.45 on
every seed). Prints a Markdown table; `--write` appends it to benchmarks/results-engine-solve.md.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from lab_process import REPO, lab_run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    p.add_argument("--target", type=float, default=475.0)
    p.add_argument("--compile", nargs="+", default=["off"], choices=("off", "auto", "on"))
    p.add_argument("--before", type=Path, help="a checkout of lab to time as 'before' (its cartpole-ppo-torch)")
    p.add_argument("--write", action="store_true", help="append the table to benchmarks/results-engine-solve.md")
    args = p.parse_args()
    target = f"eval.target_return={args.target}"
    variants = [("cartpole-ppo (SB3)", "cartpole-ppo", [target], REPO)]
    if args.before:
        variants.append(("cartpole-ppo-torch, before", "cartpole-ppo-torch", [target], args.before))
    variants += [(f"cartpole-ppo-torch, compile {c}", "cartpole-ppo-torch", [target, f"compile={c}"], REPO)
                 for c in args.compile]
    walls: dict[str, dict[int, float]] = {name: {} for name, *_ in variants}
    rows = []
    with tempfile.TemporaryDirectory(prefix="lab-solve-") as tmp:
        for seed in args.seeds:
            for name, experiment, sets, code in variants:
                r = lab_run(experiment, Path(tmp), [*sets, f"seed={seed}"], code=code)
                res = r["summary"]["results"]
                solved = (res.get("best_eval_return_mean") or -1e9) >= args.target
                walls[name][seed] = r["wall"]
                rows.append((name, seed, r["wall"], solved, res.get("best_eval_step")))
                print(f"  {name} seed {seed}: {r['wall']:.1f} s, solved {solved} at step {res.get('best_eval_step')}",
                      flush=True)
    sb3 = walls[variants[0][0]]
    lines = [f"\n## {time.strftime('%Y-%m-%d %H:%M')}: `engine_solve.py --seeds {' '.join(map(str, args.seeds))} "
             f"--compile {' '.join(args.compile)}{' --before ' + str(args.before) if args.before else ''}`\n",
             f"Whole `lab run` processes, one at a time, 1 torch thread, target {args.target:g}; ratio: this run's wall "
             "time over SB3's for the same seed.\n",
             "| run | seed | wall time | solved | first eval at target (step) | ratio to SB3 |", "|---|---|---|---|---|---|"]
    for name, seed, wall, solved, step in rows:
        ratio = "" if name == variants[0][0] else f"{wall / sb3[seed]:.2f}"
        lines.append(f"| {name} | {seed} | {wall:.1f} s | {'yes' if solved else 'no'} | {step or '-'} | {ratio} |")
    sb3_mean = statistics.mean(sb3.values())
    lines += ["", "| run | mean wall time | mean / SB3's mean | worst seed's ratio |", "|---|---|---|---|"]
    for name, *_ in variants:
        mean = statistics.mean(walls[name].values())
        worst = max(walls[name][s] / sb3[s] for s in args.seeds)
        lines.append(f"| {name} | {mean:.2f} s | {mean / sb3_mean:.2f} | {worst:.2f} |")
    text = "\n".join(lines)
    print(text)
    if args.write:
        with open(REPO / "benchmarks" / "results-engine-solve.md", "a") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
