"""What sweeps cost here: parallel runs, one population run, pruning.

    .venv/bin/python benchmarks/sweeps.py [parallel] [population] [pruning]

- parallel: the `cartpole-ppo-lr` grid (3 learning rates x 3 seeds of cartpole-ppo) with the
  local backend and 2 workers, against the same 9 `lab run`s one after another.
- population: the same 3 x 3 grid on cartpole-ppo-torch (`cartpole-ppo-torch-lr`) as one
  population run, against the local backend (2 workers) running its 9 runs.
- pruning: `cartpole-ppo-tpe` (16 tpe trials x 2 seeds of cartpole-ppo) with median pruning
  against the same sweep with pruner = "none": environment steps spent and best value.

Whole processes, wall time; appends a table per part to benchmarks/results-sweeps.md.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "benchmarks" / "results-sweeps.md"


def lab(*args) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "lab", *args], cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        sys.exit(f"sweeps: lab {' '.join(args)} failed ({out.returncode}):\n{out.stderr[-2000:]}")
    return wall, out.stdout


def sweep(root: Path, *args) -> tuple[float, dict]:
    wall, out = lab("sweep", *args, "--runs-dir", str(root), "--json")
    return wall, json.loads(out.strip().splitlines()[-1])


def parallel() -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        t_sweep, res = sweep(Path(tmp) / "a", "cartpole-ppo-lr", "--workers", "2")
        t0 = time.perf_counter()
        for trial in res["trials"]:
            lr = trial["params"]["agent.learning_rate"]
            for seed in (0, 1, 2):
                lab("run", "cartpole-ppo", "--seed", str(seed), "--set", f"agent.learning_rate={lr}", "--set", "threads=1",
                    "--runs-dir", str(Path(tmp) / "b"))
        t_seq = time.perf_counter() - t0
    return ["| what | wall time |", "|---|---|",
            f"| `lab sweep cartpole-ppo-lr` (local, 2 workers, 9 runs) | {t_sweep:.1f} s |",
            f"| the same 9 `lab run cartpole-ppo` one after another | {t_seq:.1f} s |",
            "", f"ratio {t_sweep / t_seq:.2f} (goal <= 0.6); best {res['best']}"]


def population() -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        t_pop, pop = sweep(Path(tmp) / "a", "cartpole-ppo-torch-lr")
        t_loc, loc = sweep(Path(tmp) / "b", "cartpole-ppo-torch-lr", "--backend", "local", "--workers", "2")
    rows = ["| backend | wall time | trial values (mean over 3 seeds) |", "|---|---|---|"]
    for name, t, r in (("population (one process)", t_pop, pop), ("local (2 workers, 9 processes)", t_loc, loc)):
        values = ", ".join(f"{x['value']:.1f}" for x in r["trials"])
        rows.append(f"| {name} | {t:.1f} s | {values} |")
    return rows + ["", f"population / local: {t_pop / t_loc:.2f} ({t_loc / t_pop:.1f}x faster; goal >= 5x)"]


def pruning() -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        t_p, pruned = sweep(Path(tmp) / "a", "cartpole-ppo-tpe")
        spec = (REPO / "experiments" / "cartpole-ppo-tpe.toml").read_text().replace('pruner = "median"', 'pruner = "none"')
        unpruned_file = Path(tmp) / "cartpole-ppo-tpe-unpruned.toml"
        unpruned_file.write_text(spec.replace('name = "cartpole-ppo-tpe"', 'name = "cartpole-ppo-tpe-unpruned"'))
        t_u, unpruned = sweep(Path(tmp) / "b", str(unpruned_file))
    rows = ["| pruner | wall time | environment steps | trials pruned | best value |", "|---|---|---|---|---|"]
    for name, t, r in (("median", t_p, pruned), ("none", t_u, unpruned)):
        n_pruned = sum(x["state"] == "pruned" for x in r["trials"])
        rows.append(f"| {name} | {t:.1f} s | {r['steps']:,} | {n_pruned} of {len(r['trials'])} | {r['best']['value']:.2f} |")
    return rows + ["", f"steps: median / none = {pruned['steps'] / unpruned['steps']:.2f} (goal <= 0.60); best value "
                       f"{pruned['best']['value']:.2f} against {unpruned['best']['value']:.2f} "
                       f"({abs(pruned['best']['value'] / unpruned['best']['value'] - 1):.1%} apart; goal <= 5%)"]


PARTS = {"parallel": parallel, "population": population, "pruning": pruning}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("parts", nargs="*", metavar="PART", help=f"any of {', '.join(PARTS)} (default: all)")
    args = p.parse_args()
    for part in args.parts or PARTS:
        if part not in PARTS:
            sys.exit(f"sweeps: unknown part {part!r} (parts: {', '.join(PARTS)})")
        lines = [f"## {part} ({time.strftime('%Y-%m-%d %H:%M')}, this machine: 2 cores)", "", *PARTS[part](), ""]
        print("\n".join(lines), flush=True)
        with open(OUT, "a") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
