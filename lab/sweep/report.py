"""A sweep for people: its trials as a table (live and final), the best settings as a runnable
experiment file, and each setting's importance. Pure text and files: no Textual here."""

from __future__ import annotations

from pathlib import Path

from lab.summary import RunState
from lab.sweep.record import COMPLETE, PRUNED, SweepFolder, SweepRecord, Trial

# trials x settings fANOVA is run over: its forest takes about 10 ms for each (2,000: 13 to 20 s on
# two cores, 1,000 trials x 8 settings: two minutes); a larger study is shown without importance
IMPORTANCE_WORK = 2_000


def ranked(record: SweepRecord) -> list[Trial]:
    """Trials with a value first, best first by the IQM over their seeds (their value for one or two
    seeds); then the rest in order."""
    sign = -1 if record.direction == "maximize" else 1
    valued = sorted((t for t in record.trials if t.value is not None and t.state == COMPLETE), key=lambda t: sign * t.iqm)
    return valued + [t for t in record.trials if t not in valued]


def value_text(t: Trial) -> str:
    """A trial's value, its mean over seeds and their spread, as lab writes every value (lab.display.short_value)."""
    from lab.display import short_value

    if t.value is None:
        return "-"
    return f"{short_value(t.value)} +/- {short_value(t.std)}" if t.std else short_value(t.value)


def members(record: SweepRecord) -> dict[int, list[int]]:
    """Each trial's members (trial number -> their numbers in the run they are members of), for a
    population sweep, whose trials' seeds are members of one run: member m is the run's m-th job
    in trial order (trial i, seed j: i x seeds + j), as the run numbers them. {} for other sweeps."""
    if record.backend != "population":
        return {}
    seen: dict[str, int] = {}
    out: dict[int, list[int]] = {}
    for t in record.trials:
        for j in t.jobs:
            out.setdefault(t.number, []).append(seen.get(j.run, 0))
            seen[j.run] = seen.get(j.run, 0) + 1
    return out


def sweep_runs(record: SweepRecord) -> dict[str, int]:
    """Each distinct run of a sweep's trials -> how many jobs (seeds, or a population's members) it holds."""
    out: dict[str, int] = {}
    for t in record.trials:
        for j in t.jobs:
            out[j.run] = out.get(j.run, 0) + 1
    return out


def progress_text(t: Trial, width: int = 10) -> str:
    """Each running run's progress as a small bar (one for a population's members: they are one run)."""
    bars = []
    for j in {j.run: j for j in t.jobs}.values():
        if j.state == RunState.RUNNING:
            filled = int(round(j.fraction * width))
            bars.append("█" * filled + "░" * (width - filled))
    return " ".join(bars)


def table(record: SweepRecord, live: bool = False, limit: int | None = None):
    """A rich Table of the trials (ranked; while live, in order)."""
    from rich.table import Table
    from rich.text import Text

    from lab.display import STATE_STYLE, printable, short_value

    keys = list(record.trials[0].params) if record.trials else []
    done = sum(t.finished for t in record.trials)
    title = (f"{record.name}: {record.experiment}, {record.method} over {len(keys)} setting(s) x {len(record.seeds)} seed(s), "
             f"{record.backend} backend; {done}/{record.total_trials} trials done; {record.metric} ({record.direction})")
    # every text from sweep.json as Text (not markup), its control characters escaped
    t = Table(title=Text(printable(title)), title_justify="left", box=None, header_style="bold")
    # a population's trials are members of its one run (named under the table): their numbers, not its id again
    member_numbers = members(record)
    last = "progress" if live else "members" if member_numbers else "runs"
    for col in ("#", *(k.split(".")[-1] for k in keys), record.metric.replace("_", " "), "state", last):
        t.add_column(Text(printable(col, limit=60)), overflow="fold")
    trials = record.trials if live else ranked(record)
    for trial in trials[:limit]:
        state = trial.state + (f" @eval {trial.pruned_at}" if trial.state == PRUNED and trial.pruned_at else "")
        if live:
            extra = progress_text(trial) if trial.state == RunState.RUNNING else ""
        elif member_numbers:
            extra = ", ".join(map(str, member_numbers.get(trial.number, [])))
        else:  # the tail of each seed's run id (`lab show TAIL` takes one)
            extra = ", ".join(j.run.split("-")[-1] for j in trial.jobs)
        style = STATE_STYLE.get({COMPLETE: RunState.COMPLETED, PRUNED: RunState.STOPPED}.get(trial.state, trial.state), "")
        cells = [str(trial.number), *(short_value(trial.params.get(k)) for k in keys), value_text(trial)]
        t.add_row(*(Text(printable(c, limit=200)) for c in cells), Text(printable(state, limit=40), style=style),
                  Text(printable(extra, limit=200)))  # Text: a "[64, 64]" is not markup
    return t


def seed_statistics(record: SweepRecord, limit: int = 10) -> list[dict]:
    """The completed trials with two or more seeds ranked by the IQM of their seeds' values, best
    first, with 95% stratified-bootstrap intervals and the probability that a seed of the best
    beats a seed of each (lab.stats.compare, rliable): [] for a sweep of one seed. Each row gets
    "trial" (its number)."""
    from lab import stats

    groups = {str(t.number): [v for v in t.values if v is not None] for t in record.trials if t.state == COMPLETE}
    rows = stats.compare(groups, maximize=record.direction == "maximize", limit=limit)
    for row in rows:
        row["trial"] = int(row["name"])
    return rows


def seed_statistics_lines(record: SweepRecord, rows: list[dict]) -> list[str]:
    """`seed_statistics` as text: a ranked table, then whether the best is told apart from the runner-up."""
    from lab import stats

    if not rows:
        return []
    a = rows[0]["aggregates"]
    out = [f"over seeds (IQM: the mean of the middle half; 95% stratified-bootstrap intervals, rliable, {a['reps']:,} "
           f"resamples, seed {a['seed']}; P(best >): the probability that a seed of the best trial beats one of this):",
           f"  {'rank':>4} {'#':>4} {'seeds':>5}  {'IQM [95% CI]':<28} {'mean [95% CI]':<28} P(best >) [95% CI]"]
    for i, row in enumerate(rows, 1):
        a = row["aggregates"]
        vs = stats.interval(row["vs_best"], ".2f") if row["vs_best"] else "-"
        out.append(f"  {i:>4} {row['trial']:>4} {a['runs']:>5}  {stats.interval(a['iqm']):<28} "
                   f"{stats.interval(a['mean']):<28} {vs}")
    if len(rows) > 1:
        best, second = rows[0], rows[1]
        best_vs = second["vs_best"]
        told = "distinguishable from" if second["distinguishable"] else "not distinguishable from"
        out.append(f"the best by IQM, trial {best['trial']}, is {told} the runner-up, trial {second['trial']}: their IQM "
                   f"intervals {'do not overlap' if second['distinguishable'] else 'overlap'}; P(trial {best['trial']} > "
                   f"trial {second['trial']}) = {stats.interval(best_vs, '.2f')}" + ("" if best_vs[1] > 0.5 else
                                                                                 " (the interval reaches 0.5: no sure improvement)"))
    return out


def write_profiles(record: SweepRecord, out: Path, rows: list[dict] | None = None, trials: int = 8) -> Path | None:
    """The performance profiles of the best `trials` trials by IQM over seeds (lab.stats) as a PNG
    at `out` (`lab show SWEEP --png OUT`): None for a sweep of one seed or with no trial complete
    over two or more seeds. `rows`: its `seed_statistics` where the caller has them already."""
    from lab import stats
    from lab.display import short_value

    if len(record.seeds) < 2:
        return None
    rows = (seed_statistics(record, limit=trials) if rows is None else rows)[:trials]
    if not rows:
        return None
    params = {t.number: t.params for t in record.trials}
    groups = {f"trial {r['trial']}: " + ", ".join(f"{k.rsplit('.', 1)[-1]}={short_value(v)}" for k, v in params[r["trial"]].items()):
              r["scores"] for r in rows}
    stats.write_profiles(out, stats.profiles(groups), f"{record.name}: {record.metric} over {len(record.seeds)} seeds, "
                         f"the best {len(rows)} trials by IQM", x_label=record.metric.replace("_", " "))
    return Path(out)


def write_best(folder: SweepFolder, record: SweepRecord) -> Path | None:
    """The best trial's settings applied to the experiment, as an experiment file in the sweep
    folder: `lab run FOLDER/best.toml` repeats them. None when no trial completed."""
    import tomli_w

    from lab import store
    from lab.files import read_toml
    from lab.spec import apply_overrides, find_experiment, validate
    from lab.sweep.record import check_fits
    from lab.sweep.spec import load_sweep

    best = record.best()
    if best is None:
        return None
    spec = load_sweep(folder.toml_path)
    check_fits(record, spec)  # its settings are sweep.toml's choices, nothing sweep.json added
    path = find_experiment(spec.sweep.experiment)
    raw = read_toml(path)
    apply_overrides(raw, best.params, str(path))
    raw["seed"] = record.seeds[0]
    raw["description"] = (f"The best settings of sweep {record.id} ({record.metric} {value_text(best)} over seeds "
                          f"{', '.join(map(str, record.seeds))}), applied to {record.experiment}. "
                          + str(raw.get("description", "")).strip())
    validate(raw, str(folder.best_path), from_folder=True)  # a file lab run accepts (a folder's: data)
    out = folder.best_path
    store.write_atomic(out, tomli_w.dumps(raw))
    return out


def importance(folder: SweepFolder) -> dict[str, float]:
    """Each setting's importance ({} when there is no study to read, or one too large to read in
    seconds: this only reads). The study's trials are counted (one SQL count) before Optuna
    loads any."""
    from lab.errors import BadInput
    from lab.sweep.record import study_trial_count
    from lab.sweep.spec import load_sweep
    from lab.sweep.study import open_study

    if not folder.study_path.is_file():  # (opening it would make one)
        return {}
    try:
        spec = load_sweep(folder.toml_path)
        count = study_trial_count(folder.study_path)
        if count is None or count * max(len(spec.sweep.params), 1) > IMPORTANCE_WORK:
            return {}
        return open_study(spec, folder).importance()
    except BadInput:
        return {}
