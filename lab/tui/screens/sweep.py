"""A sweep's live view: its trials as a table, the return curves of its best settings (mean over
seeds, shaded min to max), and the metric against each setting it searches.

A reader thread (`SweepReader`) re-reads sweep.json when it changes and follows the runs of the
best trials as they grow; it posts `SweepRead` (lab.tui.messages) and the screen draws from that,
never reading the disk itself.
"""

from __future__ import annotations

import math
import statistics
import threading
import time
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Static

from lab.display import STATE_STYLE, duration, printable, short_value
from lab.files import read_toml
from lab.store import EVENTS, SUMMARY
from lab.summary import RunState
from lab.sweep.record import COMPLETE, PENDING, PRUNED, SweepFolder, SweepRecord, Trial
from lab.sweep.report import ranked, value_text
from lab.termplot import mean_band
from lab.tui.messages import ReadFailed, SweepRead
from lab.tui.widgets.key_footer import KeyFooter
from lab.tui.widgets.line_plot import PALETTE, LinePlot
from lab.tui.widgets.run_table import progress_bar
from lab.tui.widgets.scatter_plot import Points, ScatterPlot
from lab.tui.widgets.fitted_table import Column, FittedTable
from lab.watch import Sweep, file_stamp

READ_SECONDS = 1.0  # sweep.json is rewritten about once a second while the sweep runs
BEST = 3  # the configurations whose curves are drawn
BEST_PROFILES = 5  # the trials with statistics over seeds and a profile
TRIAL_STYLE = {**STATE_STYLE, COMPLETE: "green", PRUNED: "magenta", PENDING: "dim"}
BEST_STYLE, TRIAL_COLOUR, PRUNED_COLOUR = PALETTE[1], PALETTE[0], "#808080"


@dataclass
class Curve:
    """A trial's evaluation returns by step over its seeds: mean, and the lowest and highest seed."""

    trial: int
    seeds: int  # the seeds whose curves went into it
    steps: list[float]
    mean: list[float]
    low: list[float]
    high: list[float]


def best_trials(record: SweepRecord, n: int = BEST) -> list[Trial]:
    """The best `n` trials: those complete with a value, best first; then, while they run, the
    others by their seeds' latest evaluations (higher return first)."""
    valued = [t for t in ranked(record) if t.value is not None and t.state == COMPLETE]
    going = [t for t in record.trials if t not in valued and t.state in (RunState.RUNNING, RunState.STOPPED) and any(j.evals for j in t.jobs)]
    going.sort(key=lambda t: -statistics.fmean(j.evals[-1] for j in t.jobs if j.evals))
    return (valued + going)[:n]


class SweepReader:
    """Pure data (no Textual): sweep.json re-read when its stat changes, the state checked for a
    dead process, and the best trials' runs followed (lab.follow.RunFollower) for their curves."""

    def __init__(self, path):
        self.folder = SweepFolder(Path(path))
        self.root = self.folder.path.parent
        self.sweep: Sweep | None = None
        self.params: dict = {}  # sweep.toml's [sweep.params]: key -> choices (a list) or a range (a table)
        self.followers: dict = {}  # run id -> RunFollower
        self.started: set[str] = set()  # the runs of its trials that have a folder (a summary)
        self.statistics: list[dict] = []  # lab.sweep.report.seed_statistics once the sweep has ended
        self.profiles: dict = {}  # the performance profiles of those trials (lab.stats.profiles)
        self._statistics_of = None  # the sweep.json stamp they were computed from
        self._stamp = None
        self._shown: list[int] = []

    def poll(self) -> SweepRead | None:
        """The news since the last poll, or None."""
        changed = False
        stamp = file_stamp(self.folder.json_path)
        if stamp != self._stamp or self.sweep is None:
            self._stamp = stamp
            self.sweep = Sweep.load(self.folder.path)
            changed = True
            if not self.params:
                self.params = self._read_params()
        elif self.sweep.state == RunState.RUNNING and self.sweep.record is not None:
            state = self.sweep.record.live_state
            if state != self.sweep.state:
                self.sweep = replace(self.sweep, state=state)
                changed = True
        record = self.sweep.record
        best = best_trials(record) if record is not None else []
        for trial in best:
            for run in dict.fromkeys(trial.runs):
                changed |= self._follow(run)
        shown = [t.number for t in best]
        changed |= shown != self._shown
        self._shown = shown
        changed |= self._look_for_runs(record)
        if not changed:  # (news first: the statistics come with a later look)
            changed = self._compute_statistics(record, stamp)
        if not changed:
            return None
        return SweepRead(replace(self.sweep), [c for c in (self._curve(record, t) for t in best) if c is not None], self.params,
                         frozenset(self.started), list(self.statistics), dict(self.profiles))

    def _compute_statistics(self, record: SweepRecord | None, stamp) -> bool:
        """The trials' statistics over seeds (lab.stats's bootstrap: tens of ms a trial, here in the reader
        thread), once per sweep.json, when the sweep has ended and has two or more seeds. True when new."""
        from lab.sweep.report import seed_statistics

        if record is None or len(record.seeds) < 2 or record.live_state == RunState.RUNNING or stamp == self._statistics_of:
            return False
        from lab.stats import profiles

        self._statistics_of = stamp
        self.statistics = seed_statistics(record, limit=BEST_PROFILES)
        self.profiles = profiles({f"#{row['trial']}": row["scores"] for row in self.statistics})
        return bool(self.statistics)

    def _look_for_runs(self, record: SweepRecord | None) -> bool:
        """Note the runs of started trials whose folder has appeared since the last look. True when any did."""
        if record is None:
            return False
        waiting = [run for t in record.trials if t.state != PENDING for run in t.runs if run not in self.started]
        found = {run for run in waiting if (self.root / run / SUMMARY).exists()}
        self.started |= found
        return bool(found)

    def _read_params(self) -> dict:
        try:
            raw = read_toml(self.folder.toml_path)
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            return {}
        params = (raw.get("sweep") or {}).get("params")
        return params if isinstance(params, dict) else {}

    def _follow(self, run_id: str) -> bool:
        from lab.follow import RunFollower

        follower = self.followers.get(run_id)
        if follower is None:
            path = self.root / run_id
            if not (path / SUMMARY).exists() and not (path / EVENTS).exists():
                return False  # not started yet
            follower = self.followers[run_id] = RunFollower(path, log_lines=1)
        return follower.poll()

    def _curve(self, record: SweepRecord, trial: Trial) -> Curve | None:
        curves = []
        population = record.backend == "population"
        for j, job in enumerate(trial.jobs):
            follower = self.followers.get(job.run)
            if follower is None:
                continue
            if population:  # member m of the one run: trial m // seeds, seed m % seeds
                m = trial.number * len(trial.jobs) + j
                series = follower.member_evals[m] if m < len(follower.member_evals) else None
            else:
                series = follower.evals
            if series is not None and series.values:
                curves.append((list(series.steps), list(series.values)))
        if not curves:
            return None
        steps, mean, low, high = mean_band([c for c in curves if len(c[0]) > 1])
        if not steps:  # a single evaluation each so far, or no steps that all seeds reached: the longest
            steps, mean = max(curves, key=lambda c: len(c[0]))
            low = high = mean
        return Curve(trial.number, len(curves), steps, mean, low, high)


def _short(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def _params_text(params: dict, keys) -> str:
    return ", ".join(f"{_short(k)}={short_value(params.get(k))}" for k in keys)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


class SweepScreen(Screen):
    TITLE = "sweep"
    HELP = ("One sweep: its trials (one row per setting tried, its mean over seeds; enter opens a "
            "trial's run, or its seeds' runs side by side), the evaluation returns of its best "
            "settings (mean over seeds, shaded from the lowest to the highest), and its metric "
            "against each setting it searches. Once it has ended, over 2 or more seeds: each trial's IQM over "
            "its seeds with a 95% interval (rliable), the best against the runner-up in the header, and p "
            "for the best trials' performance profiles. The sweep is its own process: leaving this view leaves it going.")
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("s", "stop", "Stop sweep"),
        Binding("o", "order", "Order"),
        Binding("p", "profiles", "Profiles"),
        Binding("f10,ctrl+o", "cycle_maximize", "Maximise"),
    ]

    def __init__(self, path):
        super().__init__()
        self.path = Path(path)
        self.sweep: Sweep | None = None
        self.curves: list[Curve] = []
        self.params: dict = {}
        self.by_value = False  # the table in trial order, or best first
        self.ready = False  # the first SweepRead has been drawn
        self.started: frozenset[str] = frozenset()  # the runs of its trials that have a folder
        self.statistics: list[dict] = []  # over seeds, once the sweep has ended (lab.sweep.report.seed_statistics)
        self.profiles: dict = {}  # their performance profiles (lab.stats.profiles)
        self.show_profiles = False  # the chart: the best trials' curves, or their performance profiles
        self._wake = threading.Event()

    def compose(self) -> ComposeResult:
        with Vertical(id="sweep-view"):
            yield Static(id="sweep-header")
            yield FittedTable(id="sweep-trials")
            with Horizontal(id="sweep-plots"):
                yield LinePlot("evaluation return", id="sweep-curves")
                yield VerticalScroll(id="sweep-scatters")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#sweep-header", Static).update(Text(f"reading {self.path.name}…", style="dim"))
        self.query_one("#sweep-trials").focus()
        self.read_sweep()

    @work(thread=True, exclusive=True, group="sweep-reader")
    def read_sweep(self) -> None:
        from textual.worker import get_current_worker

        worker = get_current_worker()
        reader = SweepReader(self.path)
        said = None
        while not worker.is_cancelled:
            try:
                news = reader.poll()
            except Exception as e:  # a folder's content never ends the dashboard; the next look tries again
                news, problem = None, f"reading {self.path.name}: {type(e).__name__}: {e}"
                if problem != said:  # once, not every second
                    said = problem
                    self.post_message(ReadFailed(problem))
            if news is not None:
                self.post_message(news)
            self._wake.wait(READ_SECONDS)
            self._wake.clear()

    def look_now(self) -> None:
        self._wake.set()

    # --- drawing --------------------------------------------------------------------------
    def on_sweep_read(self, message: SweepRead) -> None:
        first = self.sweep is None
        self.sweep, self.curves, self.params = message.sweep, message.curves, message.params
        self.started = message.started
        self.statistics, self.profiles = message.statistics, message.profiles
        self.ready = True
        self.update_header()
        self.update_table()
        self.update_curves()
        self.update_scatters()
        if first or message.sweep.state != RunState.RUNNING:
            self.refresh_bindings()  # no stop for a sweep that has ended

    @property
    def record(self) -> SweepRecord | None:
        return self.sweep.record if self.sweep is not None else None

    def swept(self) -> list[str]:
        """The settings the sweep varies (a range, or more than one choice), in file order."""
        r = self.record
        keys = list(self.params) or (list(r.trials[0].params) if r and r.trials else [])
        return [k for k in keys if not (isinstance(self.params.get(k), list) and len(self.params[k]) == 1)]

    def fixed(self) -> dict:
        return {k: v[0] for k, v in self.params.items() if isinstance(v, list) and len(v) == 1}

    def update_header(self) -> None:
        sweep, r = self.sweep, self.record
        state = sweep.state
        # every text from the sweep's folder with its control characters escaped (printable)
        head = Text(printable(r.name if r else sweep.id), style="bold")
        head.append("  sweep  ", style="dim")
        head.append(printable(state), style=STATE_STYLE.get(state, ""))
        head.append(f"  {printable(sweep.id)}", style="dim")
        if r is None:
            self.query_one("#sweep-header", Static).update(Text("\n").join([head, Text(printable(sweep.problem or ""), style="bold red")]))
            return
        done = sum(t.finished for t in r.trials)
        end = r.ended or (time.time() if state == RunState.RUNNING else None)
        line = Text(printable(f"{r.experiment}: {r.method} over {len(self.swept())} setting(s) x {len(r.seeds)} seed(s), "
                              f"{r.backend} backend · {done}/{r.total_trials} trials done · {r.metric} ({r.direction})"))
        if end is not None:
            line.append(f" · {duration(max(end - r.started, 0.0))}", style="dim")
        best = r.best()
        third = Text()
        if best is not None:
            third.append(f"best: trial {best.number}, {value_text(best)}", style=f"bold {BEST_STYLE}")
            third.append(f" · {printable(_params_text(best.params, self.swept()))}")
        else:
            third.append("no trial complete yet", style="dim")
        fixed = self.fixed()
        if fixed:
            third.append("   fixed: " + printable(", ".join(f"{k}={short_value(v)}" for k, v in fixed.items())), style="dim")
        lines = [head, line, third]
        if len(self.statistics) > 1:
            lines.append(self._statistics_line())
        if r.error:
            lines.append(Text(printable(r.error), style="bold red"))
        if state == RunState.CRASHED:
            lines.append(Text(f"the sweep's process died without saying so; `lab sweep --resume {printable(sweep.id)}` continues it",
                              style="bold red"))
        self.query_one("#sweep-header", Static).update(Text("\n").join(lines))

    def _statistics_line(self) -> Text:
        """The best trial by IQM over seeds against the runner-up: both IQMs with their 95% intervals,
        the probability of improvement, and whether they are told apart."""
        from lab import stats

        best, second = self.statistics[0], self.statistics[1]
        apart = second["distinguishable"]
        line = Text(f"over seeds: trial {best['trial']} IQM {stats.interval(best['aggregates']['iqm'])} vs trial "
                    f"{second['trial']} {stats.interval(second['aggregates']['iqm'])} (95%, rliable); "
                    f"P({best['trial']} > {second['trial']}) = {stats.interval(second['vs_best'], '.2f')} · ")
        line.append("distinguishable" if apart else "not distinguishable", style="bold green" if apart else "bold yellow")
        return line

    def _trial_cells(self, trial: Trial, best: Trial | None) -> dict:
        state = trial.state
        state_text = Text(printable(state + (f" @eval {trial.pruned_at}" if state == PRUNED and trial.pruned_at else ""), limit=40),
                          style=TRIAL_STYLE.get(state, ""))
        number = Text(str(trial.number), style=f"bold {BEST_STYLE}") + Text(" ★", style=BEST_STYLE) \
            if best is not None and trial.number == best.number else Text(str(trial.number))
        seeds = Text(" ").join(Text("-", style="dim") if v is None else Text(short_value(v)) for v in trial.values)
        running = [j for j in trial.jobs if j.state == RunState.RUNNING]
        if running:
            progress = progress_bar(statistics.fmean(j.fraction for j in trial.jobs if j.state != PENDING))
        else:
            completed = sum(j.state == RunState.COMPLETED for j in trial.jobs)
            progress = Text("-" if state == PENDING else f"{completed}/{len(trial.jobs)} completed", style="dim")
        cells = {"#": number, "value": value_text(trial), "state": state_text, "seeds": seeds, "progress": progress}
        if self.statistics:
            from lab import stats

            row = next((row for row in self.statistics if row["trial"] == trial.number), None)
            cells["iqm"] = Text(stats.interval(row["aggregates"]["iqm"]) if row else "-", style="" if row else "dim")
        for key in self.swept():
            cells["p:" + key] = Text(printable(short_value(trial.params.get(key)), limit=60)) if key in trial.params else "-"
        return cells

    def update_table(self) -> None:
        """The trials as rows (in order, or best first), sized to the table's width (FittedTable)."""
        r = self.record
        if r is None:
            return
        metric = r.metric.replace("_", " ")
        columns = [Column("#", "#", "never")]
        for key in self.swept():
            numbers = all(_is_number(t.params.get(key)) for t in r.trials if key in t.params)
            columns.append(Column("p:" + key, printable(_short(key), limit=60), "never" if numbers else "end"))
        columns += [Column("value", printable(metric, limit=60), "never")]
        if self.statistics:  # the IQM over seeds with its interval, for the trials lab.stats ranked
            columns.append(Column("iqm", "IQM [95% CI]", "words"))  # narrow: the IQM, then '…' for its interval
        columns += [Column("state", "state"), Column("seeds", "seeds", "words"), Column("progress", "progress")]
        best = r.best()
        trials = ranked(r) if self.by_value else r.trials
        self.query_one("#sweep-trials", FittedTable).show(columns, [(str(t.number), self._trial_cells(t, best)) for t in trials])

    def update_curves(self) -> None:
        r = self.record
        plot = self.query_one("#sweep-curves", LinePlot)
        if self.show_profiles and self.profiles:
            plot.plot_profiles(self.profiles, "performance profiles over seeds: share of seeds above tau, 95% bands (rliable)",
                               printable(r.metric.replace("_", " ") if r else "value", limit=60))
            return
        series, styles, legend, bands = [], [], [], {}
        trials = {t.number: t for t in r.trials} if r else {}
        for i, c in enumerate(self.curves):
            colour = PALETTE[i % len(PALETTE)]
            bands[len(series)] = len(series) + 1
            series += [(c.steps, c.low), (c.steps, c.high), (c.steps, c.mean)]
            styles += [colour, colour, f"bold {colour}"]
            trial = trials.get(c.trial)
            label = f"#{c.trial} {_params_text(trial.params, self.swept())}" if trial else f"#{c.trial}"
            legend.append((label + (f" (mean of {c.seeds})" if c.seeds > 1 else ""), colour))
        title = f"evaluation return of the best {len(self.curves)}" if self.curves else "evaluation return"
        plot.plot(series, styles, legend, title=title + (", shaded min to max over seeds" if any(c.seeds > 1 for c in self.curves) else ""),
                  x_title="environment steps", bands=bands)

    def update_scatters(self) -> None:
        """The metric against each swept setting: a trial's seeds as dots joined from lowest to
        highest, its mean as ◆ (the best's in its own colour, × for pruned ones)."""
        r = self.record
        box = self.query_one("#sweep-scatters", VerticalScroll)
        keys = self.swept() if r is not None else []
        plots = {p.id: p for p in box.query(ScatterPlot)}
        new = [ScatterPlot(_short(k), id=f"scatter-{i}", classes="sweep-scatter") for i, k in enumerate(keys)
               if f"scatter-{i}" not in plots]
        if new:
            box.mount_all(new)
            plots.update({p.id: p for p in new})
        best = r.best() if r is not None else None
        for i, key in enumerate(keys):
            axis = self._axis(key)
            groups = {"seeds": Points("#6c7a89"), "trial": Points(f"bold {TRIAL_COLOUR}"),
                      "pruned": Points(PRUNED_COLOUR, glyph="×"), "best": Points(f"bold {BEST_STYLE}")}
            for t in r.trials:
                x = axis["x"](t.params.get(key))
                values = [v for v in t.values if v is not None]
                if x is None or not values:
                    continue
                seeds = groups["seeds"]
                if len(values) > 1:
                    seeds.spans.append((x, min(values), max(values)))
                seeds.dots += [(x, v) for v in values]
                mean = t.value if t.value is not None else statistics.fmean(values)
                which = "best" if best is not None and t.number == best.number else "pruned" if t.state == PRUNED else "trial"
                groups[which].marks.append((x, mean))
            legend = [("mean over seeds", TRIAL_COLOUR, "◆"), ("best", BEST_STYLE, "◆")]
            if groups["pruned"].marks:
                legend.append(("pruned", PRUNED_COLOUR, "×"))
            if len(r.seeds) > 1:
                legend.append(("seeds, lowest to highest", "#6c7a89", "⡇"))
            plots[f"scatter-{i}"].scatter(list(groups.values()), legend, title=f"{r.metric} by {key}",
                                          x_range=axis["range"], x_ticks=axis["ticks"], x_title=axis["title"])

    def _axis(self, key: str) -> dict:
        """How a setting's values sit on the x axis: numbers as they are (on a log scale when they
        span a factor of 10 or more, or the range says log), choices by their index."""
        from lab.display import inline_toml

        spec = self.params.get(key)
        values = [t.params.get(key) for t in self.record.trials if key in t.params]
        choices = list(spec) if isinstance(spec, list) else list({inline_toml(v): v for v in values}.values())
        if isinstance(spec, dict):
            numbers = [spec.get("low"), spec.get("high")]
        else:
            numbers = [v for v in (spec if isinstance(spec, list) else values)]
        if numbers and all(_is_number(v) for v in numbers) and all(_is_number(v) for v in values):
            lo, hi = min(numbers + values), max(numbers + values)
            log = (spec.get("log") if isinstance(spec, dict) else False) or (lo > 0 and hi / lo >= 10)
            log = bool(log) and lo > 0
            f = (lambda v: math.log10(v) if _is_number(v) and v > 0 else None) if log else (
                lambda v: float(v) if _is_number(v) else None)
            marks = sorted(set(spec)) if isinstance(spec, list) and len(spec) <= 12 else [lo, (lo * hi) ** 0.5 if log else (lo + hi) / 2, hi]
            pad = (f(hi) - f(lo)) * 0.04 or 1.0
            return {"x": f, "range": (f(lo) - pad, f(hi) + pad), "ticks": [(f(v), short_value(v)) for v in marks],
                    "title": "log scale" if log else ""}
        index: dict[str, int] = {}
        for c in choices:
            index.setdefault(inline_toml(c), len(index))
        labels = {inline_toml(c): short_value(c) for c in choices}
        n = max(len(index), 1)
        return {"x": lambda v: index.get(inline_toml(v)), "range": (-0.5, n - 0.5),
                "ticks": [(i, labels[c]) for c, i in index.items()], "title": ""}

    # --- actions --------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "stop":
            return self.sweep is not None and self.sweep.state == RunState.RUNNING
        return True

    def action_profiles(self) -> None:
        """The chart: the best trials' evaluation curves, or their performance profiles over seeds."""
        if not self.profiles:
            self.notify("performance profiles come once the sweep has ended, over 2 or more seeds", severity="warning")
            return
        self.show_profiles = not self.show_profiles
        self.update_curves()

    def action_stop(self) -> None:
        if self.sweep is not None:
            self.app.ask_stop_sweep(self.sweep, then=self.look_now)

    def action_order(self) -> None:
        self.by_value = not self.by_value
        self.notify("trials best first" if self.by_value else "trials in the order they started", timeout=2)
        if self.record is not None:
            self.update_table()

    @on(DataTable.RowSelected, "#sweep-trials")
    def open_trial(self, event: DataTable.RowSelected) -> None:
        """Enter on a trial: its run's live view, or its seeds' runs compared as mean and band."""
        r = self.record
        trial = next((t for t in r.trials if str(t.number) == event.row_key.value), None) if r else None
        if trial is None:
            return
        root = self.path.parent
        runs = [root / run for run in dict.fromkeys(trial.runs) if run in self.started]
        if not runs:
            self.notify(f"trial {trial.number} has no run folder yet", severity="warning")
        elif len(runs) == 1:
            self.app.open_run(runs[0])
        else:
            from lab.tui.screens.compare import CompareScreen

            screen = CompareScreen(runs, {r.id: r})
            screen.grouped, screen.evals = True, True
            self.app.push_screen(screen)

    def action_cycle_maximize(self) -> None:
        """Each pane in turn fills the screen (trials, curves, scatters), then none."""
        panes = [self.query_one("#sweep-trials"), self.query_one("#sweep-curves"), self.query_one("#sweep-scatters")]
        at = panes.index(self.maximized) + 1 if self.maximized in panes else 0
        if at < len(panes):
            self.maximized = panes[at]
        else:
            self.minimize()
