"""Results over seeds as a reviewer trusts them: rliable's estimates (Agarwal et al., NeurIPS 2021,
"Deep RL at the Edge of the Statistical Precipice").

For scores of several runs (seeds, population members) of one configuration: the interquartile
mean (IQM: the mean of the middle 50%), the mean, the median and the optimality gap (how far
below a target the runs fall, on average), each with a 95% stratified-bootstrap confidence
interval; the probability that one configuration's run beats another's, with its interval; and
performance profiles (the share of runs scoring above each threshold).

The bootstrap is rliable's, reproduced draw for draw: its StratifiedBootstrap draws each resample's
run indices with `np.random.choice(runs, (runs, tasks))` from numpy's global generator (two groups:
one after the other, each on its own), and takes the 2.5th and 97.5th percentiles of the `REPS`
estimates. Here the generator is seeded with `seed` (and put back afterwards, so a caller's draws
are untouched) and the estimates of all resamples are computed at once in numpy. The numbers
equal rliable's own (tests/test_stats.py pins them, with rliable called the same way); importing
rliable (arch, numba, pandas) took 2-5 s here, and its Python loop over resamples 0.4-1.6 s a call.

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


def _resamples(groups: list[np.ndarray], reps: int, seed: int) -> list[np.ndarray]:
    """Each group's `reps` stratified resamples, (reps, runs, tasks): runs drawn with replacement
    within each task, as rliable draws them (StratifiedBootstrap for one group,
    StratifiedIndependentBootstrap for several)."""
    with _seeded(seed):
        if len(groups) == 1:  # one call draws the same stream as rliable's one call per resample
            draws = [np.random.randint(0, len(groups[0]), (reps, *groups[0].shape))]
        else:
            per_rep = [[np.random.choice(len(g), g.shape, replace=True) for g in groups] for _ in range(reps)]
            draws = [np.stack([rep[i] for rep in per_rep]) for i in range(len(groups))]
    return [g[d, np.arange(g.shape[1])[None, None, :]] for g, d in zip(groups, draws)]


def _interval(groups: list[np.ndarray], statistic, reps: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(point, low, high), each (k,): `statistic` of the groups themselves and rliable's percentile
    interval over their resamples; statistic(*arrays (reps, runs, tasks)) -> (reps, k)."""
    point = statistic(*(g[None] for g in groups))[0]
    values = statistic(*_resamples(groups, reps, seed))
    alpha = (1 - CONFIDENCE) / 2  # as arch computes the percentiles
    low, high = (np.array([np.percentile(values[:, i], 100 * q) for i in range(values.shape[1])]) for q in (alpha, 1 - alpha))
    return point, low, high


def _iqm(x: np.ndarray) -> np.ndarray:
    """rliable's aggregate_iqm (scipy's trim_mean of every score, int(n / 4) cut from each end) of
    each resample (reps, runs, tasks) -> (reps,)."""
    v = np.sort(x.reshape(len(x), -1), axis=1)
    cut = int(0.25 * v.shape[1])
    return v[:, cut:v.shape[1] - cut].mean(axis=1)


def iqm(values) -> float:
    """The interquartile mean of runs' scores (rliable's aggregate_iqm of one set of runs)."""
    return float(_iqm(_runs(values)[None])[0])


def _improvement(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """rliable's probability_of_improvement of each resample pair: per task the Mann-Whitney U of X
    over Y (pairs where X is higher, ties counting half) over n x m, averaged over tasks -> (reps,)."""
    a, b = x[:, :, None, :], y[:, None, :, :]
    return ((a > b) + 0.5 * (a == b)).mean(axis=(1, 2)).mean(axis=1)


def aggregates(scores, gamma: float | None = None, reps: int = REPS, seed: int = 0) -> dict:
    """{"runs", "iqm", "mean", "median", "optimality_gap" (None without `gamma`), "gamma", "reps",
    "seed", "confidence"}: each estimate [point, low, high] of the runs' scores (a list over runs,
    or runs x tasks), by rliable's definitions (aggregate_iqm, aggregate_mean: the mean of the
    tasks' means, aggregate_optimality_gap) but the median (the runs' own)."""
    s = _runs(scores)

    def estimate(x):  # (reps, runs, tasks) -> (reps, 3 or 4)
        flat = x.reshape(len(x), -1)
        columns = [_iqm(x), x.mean(axis=1).mean(axis=1), np.median(flat, axis=1)]
        if gamma is not None:
            columns.append(gamma - np.minimum(flat, gamma).mean(axis=1))
        return np.stack(columns, axis=1)

    point, low, high = _interval([s], estimate, reps, seed)
    names = ["iqm", "mean", "median"] + (["optimality_gap"] if gamma is not None else [])
    out = {"runs": len(s), "reps": reps, "seed": seed, "confidence": CONFIDENCE, "gamma": gamma, "optimality_gap": None}
    for i, name in enumerate(names):
        out[name] = [round(float(point[i]), 4), round(float(low[i]), 4), round(float(high[i]), 4)]
    return out


def probability_of_improvement(x, y, reps: int = REPS, seed: int = 0) -> list[float]:
    """[point, low, high]: the probability that a run of X scores above a run of Y (ties count
    half; the Mann-Whitney statistic, as rliable computes it), each group resampled on its own."""
    point, low, high = _interval([_runs(x), _runs(y)], lambda a, b: _improvement(a, b)[:, None], reps, seed)
    return [round(float(point[0]), 4), round(float(low[0]), 4), round(float(high[0]), 4)]


def performance_profile(scores, taus, reps: int = REPS, seed: int = 0) -> dict:
    """{"tau", "share", "low", "high"}: the share of runs scoring above each threshold tau, with its
    95% interval (rliable's create_performance_profile of score distributions)."""
    taus = np.asarray(taus, dtype=float)

    def share(x):  # (reps, runs, tasks) -> (reps, taus): each task's share above tau, averaged over tasks
        return (x[..., None] > taus).mean(axis=1).mean(axis=1)

    point, low, high = _interval([_runs(scores)], share, reps, seed)
    return {"tau": taus.round(4).tolist(), "share": np.round(point, 4).tolist(),
            "low": np.round(low, 4).tolist(), "high": np.round(high, 4).tolist()}


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
    "scores", "aggregates", "vs_best", "distinguishable"}, where vs_best is the probability that a
    run of the best beats a run of this one ([point, low, high]; None for the best) and
    distinguishable whether their IQM intervals are apart. Groups with fewer than 2 runs are left
    out (no interval from one run); only the `limit` best by IQM are kept."""
    sign = 1 if maximize else -1
    usable = {k: [float(v) for v in vs] for k, vs in groups.items() if len(vs) >= 2}
    order = sorted(usable, key=lambda k: -sign * iqm(usable[k]))[:limit]
    out = []
    for name in order:
        a = aggregates(usable[name], gamma, reps, seed)
        row = {"name": name, "scores": usable[name], "aggregates": a, "vs_best": None, "distinguishable": None}
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
