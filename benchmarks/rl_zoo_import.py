"""RL Zoo's ppo.yml CartPole-v1 entry, imported with `lab import rl-zoo` and run with `lab run`: does it reach 500?

    .venv/bin/python benchmarks/rl_zoo_import.py [--seeds 0 1] [--jobs 1] [--file ppo.yml] [--env CartPole-v1]

Imports the entry (from the installed rl_zoo3's hyperparams folder unless --file is a path) into
a temporary experiment file, then runs it as whole `lab run` processes (the file's 1 torch
thread), `--jobs` at a time, one per seed. Prints a Markdown table: seed, steps trained, final
evaluation of the delivered policy (mean +/- std over its final episodes), best periodic
evaluation, wall time, and whether the run reached --target (default 500: CartPole-v1's maximum)
in an evaluation (the best evaluation's policy is the one delivered) and in the final one.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def run_one(experiment: Path, seed: int, runs_dir: str) -> dict:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "lab", "run", str(experiment), "--seed", str(seed),
                           "--runs-dir", runs_dir, "--json"], capture_output=True, text=True)
    wall = time.perf_counter() - start
    summary = json.loads(proc.stdout.splitlines()[-1]) if proc.stdout else {"state": "failed", "results": {}}
    return {"seed": seed, "wall": wall, "summary": summary}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--file", default="ppo.yml")
    p.add_argument("--env", default="CartPole-v1")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--target", type=float, default=500.0)
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lab-rl-zoo-"))
    experiment = work / "imported.toml"
    imported = subprocess.run([sys.executable, "-m", "lab", "import", "rl-zoo", args.file, args.env, "--out", str(experiment)],
                              capture_output=True, text=True)
    if imported.returncode != 0:
        sys.exit(f"import failed: {imported.stderr.strip()}")
    print(experiment.read_text(), file=sys.stderr)
    runs_dir = str(work / "runs")
    with ThreadPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(lambda seed: run_one(experiment, seed, runs_dir), args.seeds))
    print(f"runs in {runs_dir}, {args.jobs} at a time\n", file=sys.stderr)
    print(f"| entry | seed | steps | final eval (mean +/- std) | best eval | wall s | reached {args.target:g}: best eval, final eval |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        r = row["summary"].get("results", {})
        final = r.get("final_eval_return_mean")
        final_text = "-" if final is None else f"{final:.2f} +/- {r['final_eval_return_std']:.2f}"
        best = "-" if r.get("best_eval_return_mean") is None else f"{r['best_eval_return_mean']:.2f}"
        best_ok = r.get("best_eval_return_mean") is not None and r["best_eval_return_mean"] >= args.target
        final_ok = final is not None and final >= args.target
        ok = f"{'yes' if best_ok else 'no'}, {'yes' if final_ok else 'no'} ({row['summary'].get('state', '?')})"
        print(f"| {args.file} {args.env} | {row['seed']} | {r.get('total_steps', '-'):,} | {final_text} | {best} | "
              f"{row['wall']:.0f} | {ok} |")


if __name__ == "__main__":
    main()
