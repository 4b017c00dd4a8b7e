"""Where an on-policy torch-engine run's time goes: `lab run EXPERIMENT [--set ...]` in this
process, its agent's `update` and `evaluate` timed, the rest of `learn` (rollouts, advantages,
reporting) by difference, and the start (imports, validation, setup) and end around them.

    .venv/bin/python benchmarks/engine_phases.py [--reps 3] [EXPERIMENT] [--set KEY=VALUE ...]
    .venv/bin/python benchmarks/engine_phases.py cartpole-ppo-torch --set population=9   # the default

Prints a Markdown table, one row per repetition (a fresh runs folder each).
"""

import argparse
import io
import sys
import tempfile
import time
from collections import Counter
from contextlib import redirect_stdout


def one_run(experiment: str, sets: list[str]) -> dict[str, float]:
    from lab.cli import main
    from lab.rl.algos import ALGOS
    from lab.spec import load_experiment

    spec = load_experiment(experiment)
    cls = ALGOS[spec.agent.algo].agent_class("torch")
    spent: Counter = Counter()
    originals = {name: getattr(cls, name) for name in ("learn", "update", "evaluate")}
    learning = [False]  # inside learn: its evaluations are the periodic ones, the final one comes after

    def timed(name):
        def wrapper(*args, **kwargs):
            periodic = name == "evaluate" and learning[0]
            learning[0] = learning[0] or name == "learn"
            t = time.perf_counter()
            try:
                return originals[name](*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - t
                spent["evaluate in learn"] += (time.perf_counter() - t) if periodic else 0.0
                learning[0] = learning[0] and name != "learn"
        return wrapper

    for name in originals:
        setattr(cls, name, timed(name))
    t0 = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory() as runs:
            main(["run", experiment, *[x for s in sets for x in ("--set", s)], "--runs-dir", runs, "--json"])
    finally:
        for name, f in originals.items():
            setattr(cls, name, f)
    total = time.perf_counter() - t0
    return {"total": total, "updates": spent["update"], "evaluations (all)": spent["evaluate"],
            "rollouts and the rest of learn": spent["learn"] - spent["update"] - spent["evaluate in learn"],
            "outside learn (setup, final evaluation, end)": total - spent["learn"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("experiment", nargs="?", default="cartpole-ppo-torch")
    p.add_argument("--set", action="append", default=None, metavar="KEY=VALUE")
    p.add_argument("--reps", type=int, default=3)
    args = p.parse_args()
    sets = args.set if args.set is not None else (["population=9"] if args.experiment == "cartpole-ppo-torch" else [])
    rows = []
    for _ in range(args.reps):
        with redirect_stdout(io.StringIO()):  # the run's JSON line
            rows.append(one_run(args.experiment, sets))
    names = list(rows[0])
    print(f"`{args.experiment}` {' '.join('--set ' + s for s in sets)}, in seconds, in this process (torch imported before "
          "the timing; a `lab run` process adds about 1.5 s of start-up)\n")
    print("| rep | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))
    for i, r in enumerate(rows, 1):
        print(f"| {i} | " + " | ".join(f"{r[n]:.2f}" for n in names) + " |")


if __name__ == "__main__":
    sys.exit(main())
