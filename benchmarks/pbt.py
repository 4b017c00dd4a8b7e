"""Population-based training against its fixed-hyperparameter twin: whole `lab run` processes.

    .venv/bin/python benchmarks/pbt.py [--reps 3] [--runs-dir DIR] [--write]
    .venv/bin/python benchmarks/pbt.py --experiment pendulum-ppo-torch-pbt --set agent.total_steps=100000

For each repetition r (seed = r), runs `lab run pendulum-ppo-torch-pbt` and its twin
`pendulum-ppo-torch-pbt-fixed` (the same members, seeds and first hyperparameter draws, pbt.evolve =
false), one at a time, alternating which goes first. Reports, per repetition and pooled over
them, the IQM of the members' final evaluations with its 95% stratified-bootstrap interval
(lab.stats: rliable's), the probability that a PBT member beats a twin member, and the wall
times. The bar (issue 28): PBT's IQM higher with intervals that do not overlap, at most 1.2x the
twin's wall time. Prints a Markdown table; `--write` appends it to benchmarks/results-pbt.md.
"""

import argparse
import tempfile
import time
from pathlib import Path

from lab_process import REPO, lab_run

from lab import stats


def finals(summary: dict) -> list[float]:
    return [m["final_eval_return_mean"] for m in summary["results"]["members"]]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--experiment", default="pendulum-ppo-torch-pbt")
    p.add_argument("--twin", default=None, help="default: EXPERIMENT-fixed")
    p.add_argument("--set", action="append", default=[], help="an override for both (agent.total_steps=100000)")
    p.add_argument("--runs-dir", type=Path, help="keep the runs here (default: a temporary folder, removed after)")
    p.add_argument("--write", action="store_true", help="append the table to benchmarks/results-pbt.md")
    args = p.parse_args()
    twin = args.twin or f"{args.experiment}-fixed"
    rows, scores, walls = [], {"pbt": [], "fixed": []}, {"pbt": 0.0, "fixed": 0.0}
    with tempfile.TemporaryDirectory(prefix="lab-pbt-") as tmp:
        tmp = args.runs_dir or tmp
        for rep in range(args.reps):
            order = [("pbt", args.experiment), ("fixed", twin)]
            got = {}
            for arm, experiment in (order if rep % 2 == 0 else order[::-1]):
                r = lab_run(experiment, Path(tmp), [f"seed={rep}", *args.set])
                got[arm] = (finals(r["summary"]), r["wall"], r["summary"]["results"].get("pbt") or {})
                scores[arm] += got[arm][0]
                walls[arm] += r["wall"]
                print(f"  seed {rep} {arm}: {r['wall']:.1f} s, IQM {stats.iqm(got[arm][0]):.1f}", flush=True)
            rows.append((f"seed {rep}", got))
    rows.append((f"pooled, {args.reps} seeds", {arm: (scores[arm], walls[arm], {}) for arm in scores}))
    lines = [f"\n## {time.strftime('%Y-%m-%d %H:%M')}: `benchmarks/pbt.py --reps {args.reps}"
             f"{''.join(' --set ' + s for s in args.set)}` ({args.experiment} against {twin})\n",
             "Whole `lab run` processes, one at a time (the order alternating), 1 torch thread. IQM of the members' "
             "final evaluations (20 episodes each) with 95% stratified-bootstrap intervals (lab.stats, rliable's; "
             f"{stats.REPS:,} resamples); P: the probability of improvement of PBT over the twin.\n",
             "| repetition | PBT: IQM [95% CI] | twin: IQM [95% CI] | intervals overlap | P(PBT > twin) | PBT copies "
             "| wall time PBT / twin | ratio |", "|---|---|---|---|---|---|---|---|"]
    for name, got in rows:
        (a, wa, info), (b, wb, _) = got["pbt"], got["fixed"]
        ia, ib = stats.aggregates(a)["iqm"], stats.aggregates(b)["iqm"]
        overlap = "yes" if ia[1] <= ib[2] and ib[1] <= ia[2] else "no"
        prob = stats.probability_of_improvement(a, b)
        lines.append(f"| {name} | {stats.interval(ia, '.1f')} | {stats.interval(ib, '.1f')} | {overlap} | "
                     f"{stats.interval(prob, '.2f')} | {info.get('copies', '')} | {wa:.1f} s / {wb:.1f} s | {wa / wb:.2f} |")
    text = "\n".join(lines)
    print(text)
    if args.write:
        with open(REPO / "benchmarks" / "results-pbt.md", "a") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
