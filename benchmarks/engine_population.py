"""A population on lab's torch engine against one SB3 run: whole `lab run` processes, one at a time.

    .venv/bin/python benchmarks/engine_population.py [--population 64] [--compile off on] [--before /tmp/lab-before]
    .venv/bin/python benchmarks/engine_population.py --device cuda --population 1024 --no-baseline   # a GPU

Runs `lab run cartpole-ppo` (SB3, one seed), then `lab run cartpole-ppo-torch --set population=N`
once per `--compile` setting and, with `--before DIR` (a checkout of lab at an earlier commit:
`git worktree add DIR COMMIT`), once with that checkout's code. Reports each process's wall time,
the members whose final evaluation reaches 475, and each population's ratio to the SB3 run (the
bar: at least 60 of 64 members at 475 in at most twice one SB3 run). Prints a Markdown table;
`--write` appends it to benchmarks/results-engine-population.md.
"""

import argparse
import tempfile
import time
from pathlib import Path

from lab_process import REPO, lab_run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--population", type=int, default=64)
    p.add_argument("--device", default=None, help="the population's device (default: the experiment's, auto)")
    p.add_argument("--target", type=float, default=475.0)
    p.add_argument("--compile", nargs="+", default=["off"], choices=("off", "auto", "on"))
    p.add_argument("--before", type=Path, help="a checkout of lab to time as 'before'")
    p.add_argument("--no-baseline", action="store_true", help="skip the SB3 run")
    p.add_argument("--write", action="store_true", help="append the table to benchmarks/results-engine-population.md")
    args = p.parse_args()
    pop = f"population={args.population}"
    variants = [] if args.no_baseline else [("cartpole-ppo (SB3)", "cartpole-ppo", [], REPO, None)]
    if args.before:
        variants.append((f"cartpole-ppo-torch {pop}, before", "cartpole-ppo-torch", [pop], args.before, args.device))
    variants += [(f"cartpole-ppo-torch {pop}, compile {c}", "cartpole-ppo-torch", [pop, f"compile={c}"], REPO, args.device)
                 for c in args.compile]
    rows = []
    with tempfile.TemporaryDirectory(prefix="lab-population-") as tmp:
        for name, experiment, sets, code, device in variants:
            r = lab_run(experiment, Path(tmp), sets, code=code, device=device)
            res = r["summary"]["results"]
            finals = [m["final_eval_return_mean"] for m in res["members"]] if res.get("members") \
                else [res["final_eval_return_mean"]]
            rows.append((name, r["wall"], r["summary"], finals))
            print(f"  {name}: {r['wall']:.1f} s, {sum(f >= args.target for f in finals)} of {len(finals)} at "
                  f"{args.target:g}", flush=True)
    base = rows[0][1] if not args.no_baseline else None
    lines = [f"\n## {time.strftime('%Y-%m-%d %H:%M')}: `engine_population.py --population {args.population} --compile "
             f"{' '.join(args.compile)}{' --before ' + str(args.before) if args.before else ''}`\n",
             "Whole `lab run` processes, one at a time, 1 torch thread.\n",
             f"| run | device | compile | wall time | agents with final eval >= {args.target:g} | final eval: mean / min "
             "| wall time / SB3's |", "|---|---|---|---|---|---|---|"]
    for name, wall, s, finals in rows:
        ratio = f"{wall / base:.2f}" if base and not name.startswith("cartpole-ppo (") else ""
        lines.append(f"| {name} | {s['device']} | {s.get('compile') or '-'} | {wall:.1f} s | "
                     f"{sum(f >= args.target for f in finals)} of {len(finals)} | "
                     f"{sum(finals) / len(finals):.1f} / {min(finals):.1f} | {ratio} |")
    text = "\n".join(lines)
    print(text)
    if args.write:
        with open(REPO / "benchmarks" / "results-engine-population.md", "a") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
