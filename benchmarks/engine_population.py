"""A population on lab's torch engine against one SB3 run: whole `lab run` processes, one at a time.

    .venv/bin/python benchmarks/engine_population.py                      # CPU: 64 members vs one cartpole-ppo
    .venv/bin/python benchmarks/engine_population.py --device cuda --population 1024 --no-baseline   # a GPU

Runs `lab run cartpole-ppo` (SB3, one seed) and `lab run cartpole-ppo-torch --set population=N`,
and reports each process's wall time, the population's members whose final evaluation reaches
475, and the ratio of the wall times (the issue's bar: at least 60 of 64 members at 475 in at
most twice one SB3 run). Appends its table to benchmarks/results-engine-population.md.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def lab_run(experiment: str, root: Path, *sets: str, device: str | None = None) -> tuple[float, dict]:
    cmd = [sys.executable, "-m", "lab", "run", experiment, "--runs-dir", str(root)]
    cmd += [x for s in sets for x in ("--set", s)] + (["--device", device] if device else [])
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        sys.exit(f"engine_population: {' '.join(cmd[2:])} failed:\n{out.stderr[-2000:]}")
    run = sorted(root.glob(f"*-{experiment}-*"), key=lambda p: p.stat().st_mtime)[-1]
    return wall, json.loads((run / "summary.json").read_text())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--population", type=int, default=64)
    p.add_argument("--device", default=None, help="the population's device (default: the experiment's, auto)")
    p.add_argument("--target", type=float, default=475.0)
    p.add_argument("--no-baseline", action="store_true", help="skip the SB3 run")
    args = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="lab-population-") as tmp:
        root = Path(tmp)
        if not args.no_baseline:
            wall, s = lab_run("cartpole-ppo", root)
            rows.append(("cartpole-ppo (SB3)", 1, wall, s, [s["results"]["final_eval_return_mean"]]))
            print(f"  cartpole-ppo: {wall:.1f} s, final {s['results']['final_eval_return_mean']}", flush=True)
        wall, s = lab_run("cartpole-ppo-torch", root, f"population={args.population}", device=args.device)
        finals = [m["final_eval_return_mean"] for m in s["results"]["members"]] if args.population > 1 \
            else [s["results"]["final_eval_return_mean"]]
        rows.append((f"cartpole-ppo-torch population={args.population}", args.population, wall, s, finals))
        print(f"  population {args.population}: {wall:.1f} s", flush=True)
    lines = [f"\n## {time.strftime('%Y-%m-%d')}: whole `lab run` processes, one at a time; this machine\n",
             "| run | agents | device | wall time | agents with final eval >= %g | final eval: mean / min |" % args.target,
             "|---|---|---|---|---|---|"]
    for name, n, wall, s, finals in rows:
        lines.append(f"| {name} | {n} | {s['device']} | {wall:.1f} s | {sum(f >= args.target for f in finals)} of {n} | "
                     f"{sum(finals) / len(finals):.1f} / {min(finals):.1f} |")
    if len(rows) == 2:
        lines.append(f"\nratio of wall times (population / one SB3 run): {rows[1][2] / rows[0][2]:.2f} (bar: <= 2)")
    text = "\n".join(lines)
    print(text)
    with open(REPO / "benchmarks" / "results-engine-population.md", "a") as f:
        f.write(text + "\n")


if __name__ == "__main__":
    main()
