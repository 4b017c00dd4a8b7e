"""SIGKILL halfway, then `lab resume`: does the resumed run end as the uninterrupted one? Whole processes.

    .venv/bin/python benchmarks/resume.py [EXPERIMENT ...] [--seed 0]

For each experiment (default: cartpole-ppo-torch, cartpole-dqn-torch; SB3's, e.g. cartpole-ppo,
work too): `lab run` it uninterrupted; `lab run` it again and SIGKILL it once its progress passes
half its total steps; `lab resume` that run. Reports where it was killed and resumed from, each
run's state, total steps and final evaluation, whether the resumed run's events are one step axis
(metric and evaluation steps strictly increasing), and whether its last weights are the
uninterrupted run's (torch and numpy checkpoints). One process at a time, 1 torch thread.
Writes benchmarks/results-resume.md.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def lab(*args) -> float:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "lab", *map(str, args)], cwd=REPO, capture_output=True, text=True, env=ENV)
    if out.returncode != 0:
        sys.exit(f"resume: lab {' '.join(map(str, args))} failed:\n{out.stderr[-2000:]}")
    return time.perf_counter() - t0


def killed_halfway(experiment: str, seed: int, root: Path) -> tuple[int, float]:
    """`lab run` SIGKILLed once a progress event passes half the total: (the step it reached, wall time)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "lab", "run", experiment, "--seed", str(seed), "--json", "--runs-dir", str(root)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=ENV)
    for line in proc.stdout:
        event = json.loads(line)
        if event["kind"] == "progress" and event["step"] >= event["total"] / 2:
            proc.kill()
            proc.wait()
            return event["step"], time.perf_counter() - t0
    sys.exit(f"resume: {experiment} ended before half its steps")


def same_weights(a: Path, b: Path) -> str:
    if a.suffix == ".npy":
        import numpy as np

        return "yes" if np.array_equal(np.load(a), np.load(b)) else "no"
    if a.suffix != ".pt":
        return "-"  # SB3's zips: their environments restart on resume, not comparable
    import torch

    x, y = torch.load(a, weights_only=True), torch.load(b, weights_only=True)
    flat = lambda d: {f"{k}.{kk}": vv for k, v in d.items() for kk, vv in (v.items() if isinstance(v, dict) else [("", v)])}
    x, y = flat(x), flat(y)
    return "yes" if x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x) else "no"


def one_axis(run) -> bool:
    for kind in ("metric", "eval"):
        steps = [e["step"] for e in run.events({kind}) if not e.get("final")]
        if any(a >= b for a, b in zip(steps, steps[1:])):
            return False
    return True


def main() -> None:
    from lab.store import Run

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("experiments", nargs="*", default=["cartpole-ppo-torch", "cartpole-dqn-torch"])
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="lab-resume-") as tmp:
        for experiment in args.experiments:
            whole_dir, cut_dir = Path(tmp) / experiment / "whole", Path(tmp) / experiment / "cut"
            wall = lab("run", experiment, "--seed", args.seed, "--runs-dir", whole_dir)
            (whole,) = [Run.load(p) for p in whole_dir.iterdir()]
            killed_at, first_wall = killed_halfway(experiment, args.seed, cut_dir)
            (path,) = cut_dir.iterdir()
            crashed = Run.load(path)
            resumed_from = json.loads(crashed.checkpoint("resume.json").read_text())["step"]
            resume_wall = lab("resume", path.name, "--runs-dir", cut_dir)
            resumed = Run.load(path)
            suffix = Path(whole.results.policy).suffix
            row = {"experiment": experiment, "killed_at": killed_at, "resumed_from": resumed_from,
                   "state": f"{crashed.state} -> {resumed.state}", "steps": resumed.results.total_steps,
                   "final": resumed.results.final_eval_return_mean, "whole_final": whole.results.final_eval_return_mean,
                   "whole_steps": whole.results.total_steps, "one_axis": "yes" if one_axis(resumed) else "no",
                   "same": same_weights(resumed.checkpoint(f"last{suffix}"), whole.checkpoint(f"last{suffix}")),
                   "segments": len(resumed.summary.segments), "wall": wall, "cut_wall": first_wall + resume_wall}
            rows.append(row)
            print("  " + ", ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()), flush=True)
    lines = [f"SIGKILL halfway, then `lab resume` (seed {args.seed}; whole `lab` processes, one at a time, 1 torch thread; "
             "this machine, shared with other jobs: wall times are indicative only).", "",
             "| experiment | killed at | resumed from | state | total steps (uninterrupted) | final eval | final eval uninterrupted "
             "| one step axis | last weights identical | segments | wall: uninterrupted / killed + resumed |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['experiment']} | {r['killed_at']:,} | {r['resumed_from']:,} | {r['state']} | {r['steps']:,} "
                     f"({r['whole_steps']:,}) | {r['final']:.2f} | {r['whole_final']:.2f} | {r['one_axis']} | {r['same']} | "
                     f"{r['segments']} | {r['wall']:.1f} s / {r['cut_wall']:.1f} s |")
    text = "\n".join(lines) + "\n"
    print(text)
    (REPO / "benchmarks" / "results-resume.md").write_text(text)


if __name__ == "__main__":
    main()
