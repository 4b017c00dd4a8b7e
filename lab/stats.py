"""Results over seeds as a reviewer trusts them: rliable's estimates (Agarwal et al., NeurIPS 2021,
"Deep RL at the Edge of the Statistical Precipice").

For scores of several runs (seeds, population members) of one configuration: the interquartile
mean (IQM: the mean of the middle 50%), the mean, the median and the optimality gap (how far
below a target the runs fall, on average), each with a 95% stratified-bootstrap confidence
interval; the probability that one configuration's run beats another's, with its interval; and
performance profiles (the share of runs scoring above each threshold). The bootstrap is rliable's
(its StratifiedBootstrap, `REPS` resamples drawn from numpy's global generator seeded with `seed`:
rliable draws from it; its state is put back afterwards, so a caller's draws are untouched); the
statistics are rliable's definitions written in numpy, since scipy's per-call overhead in
rliable's own (trim_mean, mannwhitneyu) was most of a bootstrap's time. tests/test_stats.py and
the CLI and dashboard tests pin them against rliable's functions.

The median is the runs' own (np.median over every run). rliable's `aggregate_median` is the median
over tasks of each task's mean: with one task, as here, it would be the mean again.
"""

from __future__ import annotations

import contextlib

import numpy as np

REPS = 2000  # rliable's default is 50,000; 2,000 puts the 95% bounds within about 1% of theirs here
CONFIDENCE = 0.95


@contextlib.contextmanager
def _seeded(seed: int):
    state = np.random.get_state()
    np.random.seed(seed % 2**32)
    try:
        yield
    finally:
        np.random.set_state(state)


def _runs(scores) -> np.ndarray:
    """(runs, tasks) float array: one column for a flat list of runs' scores."""
    a = np.asarray(scores, dtype=float)
    return a.reshape(-1, 1) if a.ndim == 1 else a


def _iqm(x: np.ndarray) -> float:
    """rliable's aggregate_iqm (scipy's trim_mean of every score, 25% cut from each end), in numpy:
    scipy's wrapper cost 0.5 s of a 0.7 s bootstrap."""
    v = np.sort(x, axis=None)
    cut = int(0.25 * len(v))
    return float(v[cut:len(v) - cut].mean())


def _improvement(x: np.ndarray, y: np.ndarray) -> float:
    """rliable's probability_of_improvement for one task: the Mann-Whitney U of X over Y (ties
    count half) over n x m, by comparing every pair (scipy's mannwhitneyu took 0.7 ms a call)."""
    x, y = np.ravel(x)[:, None], np.ravel(y)[None, :]
    return float(((x > y) + 0.5 * (x == y)).mean())


def aggregates(scores, gamma: float | None = None, reps: int = REPS, seed: int = 0) -> dict:
    """{"runs", "iqm", "mean", "median", "optimality_gap" (None without `gamma`), "gamma", "reps",
    "seed", "confidence"}: each estimate [point, low, high] of the runs' scores (a list over runs,
    or runs x tasks). The IQM, mean and gap are rliable's definitions (aggregate_iqm, _mean,
    _optimality_gap), computed in numpy; the bootstrap is rliable's."""
    from rliable import library

    s = _runs(scores)

    def estimate(x):
        values = [_iqm(x), float(np.mean(np.mean(x, axis=0))), float(np.median(x))]
        if gamma is not None:
            values.append(float(gamma - np.mean(np.minimum(x, gamma))))
        return np.array(values)

    with _seeded(seed):
        points, intervals = library.get_interval_estimates({"x": s}, estimate, reps=reps, confidence_interval_size=CONFIDENCE)
    point, (low, high) = points["x"], intervals["x"]
    names = ["iqm", "mean", "median"] + (["optimality_gap"] if gamma is not None else [])
    out = {"runs": len(s), "reps": reps, "seed": seed, "confidence": CONFIDENCE, "gamma": gamma, "optimality_gap": None}
    for i, name in enumerate(names):
        out[name] = [round(float(point[i]), 4), round(float(low[i]), 4), round(float(high[i]), 4)]
    return out


def probability_of_improvement(x, y, reps: int = REPS, seed: int = 0) -> list[float]:
    """[point, low, high]: the probability that a run of X scores above a run of Y (ties count
    half; the Mann-Whitney statistic, as rliable computes it, averaged over tasks), each group
    resampled on its own by rliable's bootstrap."""
    from rliable import library

    def improvement(a, b):
        return np.array([np.mean([_improvement(a[:, t], b[:, t]) for t in range(a.shape[1])])])

    with _seeded(seed):
        points, intervals = library.get_interval_estimates({"x,y": [_runs(x), _runs(y)]}, improvement, reps=reps,
                                                           confidence_interval_size=CONFIDENCE)
    return [round(float(points["x,y"][0]), 4), round(float(intervals["x,y"][0][0]), 4), round(float(intervals["x,y"][1][0]), 4)]


def performance_profile(scores, taus, reps: int = REPS, seed: int = 0) -> dict:
    """{"tau", "share", "low", "high"}: the share of runs scoring above each threshold tau, with its
    95% interval: rliable's create_performance_profile (score distributions), its share computed
    for every tau at once."""
    from rliable import library

    taus = np.asarray(taus, dtype=float)

    def share(x):  # the share of each task's runs above tau, averaged over tasks
        return (x[:, :, None] > taus[None, None, :]).mean(axis=0).mean(axis=0)

    with _seeded(seed):
        points, intervals = library.get_interval_estimates({"x": _runs(scores)}, share, reps=reps,
                                                           confidence_interval_size=CONFIDENCE)
    return {"tau": taus.round(4).tolist(), "share": np.round(points["x"], 4).tolist(),
            "low": np.round(intervals["x"][0], 4).tolist(), "high": np.round(intervals["x"][1], 4).tolist()}


def profiles(groups: dict[str, list[float]], points: int = 41, reps: int = REPS, seed: int = 0) -> dict:
    """{"tau": thresholds, "groups": {name: {"share", "low", "high"}}}: each group's performance
    profile (rliable) over one grid of `points` thresholds from the lowest score to the highest;
    groups with fewer than 2 runs are left out. {} when none is left."""
    usable = {k: [float(v) for v in vs] for k, vs in groups.items() if len(vs) >= 2}
    if not usable:
        return {}
    every = [v for vs in usable.values() for v in vs]
    taus = np.linspace(min(every), max(every), points)
    out = {name: performance_profile(vs, taus, reps, seed) for name, vs in usable.items()}
    return {"tau": taus.round(4).tolist(), "groups": {k: {key: v[key] for key in ("share", "low", "high")} for k, v in out.items()}}


def write_profiles(path, prof: dict, title: str, x_label: str = "final evaluation return") -> None:
    """A PNG of `profiles`: each group's share of runs scoring above tau, its 95% band shaded."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for name, g in prof["groups"].items():
        (line,) = ax.plot(prof["tau"], g["share"], label=name, linewidth=1.8)
        ax.fill_between(prof["tau"], g["low"], g["high"], color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xlabel(x_label)
    ax.set_ylabel("share of runs scoring above tau")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, title="95% stratified-bootstrap bands (rliable)", title_fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def compare(groups: dict[str, list[float]], maximize: bool = True, gamma: float | None = None, limit: int = 10,
            reps: int = REPS, seed: int = 0) -> list[dict]:
    """Configurations (name -> their runs' scores) ranked by IQM, best first: each {"name",
    "aggregates", "vs_best"}, where vs_best is the probability that a run of the best beats a run of
    this one ([point, low, high]; None for the best) and "distinguishable" whether their IQM
    intervals are apart. Groups with fewer than 2 runs are left out (no interval from one run);
    only the `limit` best by IQM get intervals (a bootstrap is about half a second)."""
    from scipy.stats import trim_mean

    sign = 1 if maximize else -1
    usable = {k: [float(v) for v in vs] for k, vs in groups.items() if len(vs) >= 2}
    order = sorted(usable, key=lambda k: -sign * trim_mean(usable[k], 0.25))[:limit]
    out = []
    for name in order:
        a = aggregates(usable[name], gamma, reps, seed)
        row = {"name": name, "aggregates": a, "vs_best": None, "distinguishable": None}
        if out:
            best = out[0]
            x, y = (usable[best["name"]], usable[name]) if maximize else ([-v for v in usable[best["name"]]], [-v for v in usable[name]])
            row["vs_best"] = probability_of_improvement(x, y, reps, seed)
            row["distinguishable"] = distinguishable(best["aggregates"], a)
        out.append(row)
    return out


def distinguishable(a: dict, b: dict, key: str = "iqm") -> bool:
    """Whether two `aggregates` differ beyond their 95% intervals (the intervals do not overlap)."""
    return a[key][1] > b[key][2] or b[key][1] > a[key][2]


def final_scores(runs) -> dict[str, list[float]]:
    """Each experiment's completed runs' final evaluation returns (name -> scores), from lab runs
    (lab.store.Run: read here through their summaries, never imported). A population run counts
    each of its members, as the seeds they are; where its members' settings differ (`members.*`),
    each setting is its own group, named "experiment learning_rate=0.01"."""
    out: dict[str, list[float]] = {}

    def add(name, value):
        if isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value):
            out.setdefault(name, []).append(float(value))

    for run in runs:
        s = run.summary
        if s.state != "completed":
            continue
        members = [m for m in s.results.members if isinstance(m, dict)] if isinstance(s.results.members, list) else []
        if not members:
            add(run.experiment, s.results.final_eval_return_mean)
            continue
        differ = sorted(k for k in {k for m in members for k in m if k.startswith("agent.")}
                        if len({repr(m.get(k)) for m in members}) > 1)
        for m in members:
            own = " ".join(f"{k.removeprefix('agent.')}={m.get(k)}" for k in differ)
            add(f"{run.experiment} {own}" if own else run.experiment, m.get("final_eval_return_mean"))
    return out


def interval(estimate: list[float] | None, spec: str = ".4g") -> str:
    """'412.3 [398.1, 425]' of a [point, low, high] (each formatted with `spec`), '-' of None."""
    if not estimate:
        return "-"
    p, lo, hi = estimate
    return f"{p:{spec}} [{lo:{spec}}, {hi:{spec}}]"
