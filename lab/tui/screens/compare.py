"""Compare runs: return curves overlaid (by steps or wall time), or seeds as mean and min-max band;
rolling returns or evaluations, smoothed or not; runs of one experiment over seeds as the IQM of
their final evaluations with its 95% interval, and the probability that one experiment's run beats
another's (lab.stats, rliable: bootstrapped in a worker thread).

A reader thread follows the runs (`lab.tui.screens.run.follow_runs`: `RunsRead`, then
`RunEventsArrived`); the screen applies its news and redraws once a second, reading nothing.
"""

from __future__ import annotations

import threading
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Static

from lab.display import duration, printable, result_text, run_labels
from lab.follow import RunFollower
from lab.summary import RunState
from lab.termplot import mean_band
from lab.tui.messages import RunEventsArrived, RunsRead, StatisticsComputed
from lab.tui.widgets.key_footer import KeyFooter
from lab.tui.widgets.line_plot import PALETTE, LinePlot

READ_SECONDS = 1.0


class CompareScreen(Screen):
    TITLE = "compare"
    HELP = ("The marked runs' return curves on one chart, by environment steps or by wall time, "
            "rolling returns or evaluations, smoothed or not; runs of one experiment that differ only "
            "in their seed as their mean with a band from the lowest to the highest. Under the chart, each "
            "experiment's completed runs over seeds: the IQM of their final evaluations with its 95% interval "
            "(rliable), and the probability that a run of the best beats a run of each other. The table: each "
            "run's state and result.")
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("x", "toggle_x", "Steps/time"),
        Binding("g", "toggle_group", "Mean and band"),
        Binding("e", "toggle_evals", "Rolling/eval"),
        Binding("s", "smoothing", "Smoothing"),
        Binding("p", "profiles", "Profiles"),
    ]

    SMOOTHING = (0.0, 0.6, 0.9, 0.99)

    def __init__(self, paths, sweeps: dict | None = None):
        """`sweeps`: the records (sweep id -> SweepRecord) the caller has of the sweeps these runs
        may be trials of: a trial is labelled by its sweep's name and trial number."""
        super().__init__()
        self.paths = [Path(p) for p in paths]
        self.sweeps = sweeps or {}
        self.labels: dict[str, str] = {}  # run id -> its legend label (lab.display.run_labels: no two alike)
        self.followers: list[RunFollower] = []  # handed over by the reader's first read (RunsRead)
        self.ready = False
        self._changed = False
        self._wake = threading.Event()
        self.by_time = False
        self.grouped = False
        self.evals = False  # evaluation returns instead of the rolling mean of training episodes
        self.smoothing = 0.0
        self.statistics: list[dict] = []  # lab.stats.compare of the experiments' final evaluations
        self.profiles: dict = {}  # their performance profiles (lab.stats.profiles)
        self.show_profiles = False  # the chart: return curves, or the experiments' performance profiles
        self._scored: dict | None = None  # the scores the statistics are of (or are being computed from)

    def compose(self) -> ComposeResult:
        with Vertical(id="compare-view"):
            yield LinePlot("return", id="compare-plot")
            yield Static(id="compare-stats")
            yield DataTable(id="compare-table", cursor_type="row")
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for col in ("", "run", "experiment", "seed", "state", "result", "steps", "elapsed"):
            table.add_column(col, key=col or "color")
        self.follow()
        self.set_interval(READ_SECONDS, self.redraw)

    @work(thread=True, exclusive=True, group="compare-reader")
    def follow(self) -> None:
        from lab.tui.screens.run import follow_runs

        follow_runs(self, self.paths, self._wake, READ_SECONDS)

    def on_runs_read(self, message: RunsRead) -> None:
        self.followers = message.followers
        self.labels = run_labels([f.run for f in self.followers], self.sweeps)
        self.ready = True
        self.update_view()

    def on_run_events_arrived(self, message: RunEventsArrived) -> None:
        follower = next((f for f in self.followers if f.path == message.path), None)
        if follower is not None:
            follower.apply(message.batch)
            self._changed = True

    def redraw(self) -> None:
        """Once a second: the curves when news came, the table (elapsed times move) always. Reads nothing."""
        if not self.ready:
            return
        if self._changed:
            self.update_view()
        else:
            self.update_table()

    def update_view(self) -> None:
        self._changed = False
        self.draw()
        self.update_table()
        from lab.stats import final_scores

        scores = final_scores(f.run for f in self.followers if f.state == RunState.COMPLETED)
        if scores != self._scored:
            self._scored = scores
            self.compute_statistics(scores)

    @work(thread=True, exclusive=True, group="compare-statistics")
    def compute_statistics(self, scores: dict[str, list[float]]) -> None:
        """The bootstrap (lab.stats: tens of ms an experiment), off the event loop all the same."""
        from lab.stats import compare, profiles

        rows = compare(scores)
        self.post_message(StatisticsComputed(rows, profiles({r["name"]: r["scores"] for r in rows})))

    def on_statistics_computed(self, message: StatisticsComputed) -> None:
        from lab.stats import interval

        rows = message.rows
        self.statistics, self.profiles = rows, message.profiles
        if self.show_profiles:
            self.draw()
        text = Text()
        if rows:
            text.append("final evaluations over seeds, IQM [95% CI] (rliable): ", style="dim")
            for i, row in enumerate(rows):
                a = row["aggregates"]
                text.append(("" if i == 0 else " · ") + printable(row["name"], limit=60), style="bold" if i == 0 else "")
                text.append(f" {a['runs']} runs {interval(a['iqm'])}")
            for row in rows[1:]:
                apart = row["distinguishable"]
                text.append(f"\nP({printable(rows[0]['name'], limit=60)} > {printable(row['name'], limit=60)}) = "
                            f"{interval(row['vs_best'], '.2f')} · ")
                text.append("distinguishable" if apart else "not distinguishable: the IQM intervals overlap",
                            style="bold green" if apart else "bold yellow")
        self.query_one("#compare-stats", Static).update(text)

    def update_table(self) -> None:
        table = self.query_one(DataTable)
        for f in self.followers:
            s = f.run.summary
            cells = [Text("■", style=self.color(f)), *(Text(printable(v, limit=200)) for v in (f.run.id, s.experiment)),
                     str(s.seed), Text(printable(f.state, limit=40)), Text(printable(result_text(s), limit=60)),
                     f"{s.progress.step:,}", duration(f.run.seconds)]
            key = f.path.name
            if key in table.rows:
                for col, value in zip(("color", "run", "experiment", "seed", "state", "result", "steps", "elapsed"), cells):
                    table.update_cell(key, col, value)
            else:
                table.add_row(*cells, key=key)

    def color(self, f) -> str:
        """One colour per run (per experiment when grouped), the same in the plot and the table."""
        if self.grouped:
            names = list(dict.fromkeys(g.run.experiment for g in self.followers))
            return PALETTE[names.index(f.run.experiment) % len(PALETTE)]
        return PALETTE[self.followers.index(f) % len(PALETTE)]

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a row opens that run's live view."""
        follower = next((f for f in self.followers if f.path.name == event.row_key.value), None)
        if follower is not None:
            self.app.open_run(follower.path)

    def _xy(self, f):
        series = f.evals if self.evals else f.rolling
        xs = series.times if self.by_time else series.steps
        return xs, smooth(series.values, self.smoothing)

    def draw(self) -> None:
        plot = self.query_one("#compare-plot", LinePlot)
        if self.show_profiles and self.profiles:
            plot.plot_profiles(self.profiles, "performance profiles: share of each experiment's runs above tau, "
                               "95% bands (rliable)", "final evaluation return")
            return
        what = "evaluation return" if self.evals else "rolling return (100 episodes)"
        if self.smoothing:
            what += f", smoothed {self.smoothing:g}"
        series, styles, legend, bands, markers = [], [], [], {}, {}
        if self.grouped:
            groups: dict[str, list] = {}
            for f in self.followers:
                groups.setdefault(f.run.experiment, []).append(self._xy(f))
            for i, (name, curves) in enumerate(groups.items()):
                xs, mean, low, high = mean_band(curves)
                color = PALETTE[i % len(PALETTE)]
                bands[len(series)] = len(series) + 1
                series += [(xs, low), (xs, high), (xs, mean)]
                styles += [color, color, f"bold {color}"]
                legend.append((f"{name}: mean of {len(curves)}, shaded min to max", color))
            title = f"{what}, by experiment"
        else:
            for f in self.followers:
                if self.evals:
                    markers[len(series)] = "◆"
                series.append(self._xy(f))
                styles.append(self.color(f))
                legend.append((self.labels.get(f.run.id, f.run.id), self.color(f)))
            title = what
        plot.plot(series, styles, legend, title=title, x_title="wall time (s)" if self.by_time else "environment steps",
                  bands=bands, markers=markers if not self.smoothing else None)

    def action_profiles(self) -> None:
        """The chart: return curves, or each experiment's performance profile over its completed runs."""
        if not self.profiles:
            self.notify("performance profiles need an experiment with 2 or more completed runs", severity="warning")
            return
        self.show_profiles = not self.show_profiles
        self.draw()

    def action_toggle_x(self) -> None:
        self.by_time = not self.by_time
        self.draw()

    def action_toggle_evals(self) -> None:
        if not self.evals and not any(f.evals.values for f in self.followers):
            self.notify("none of these runs has an evaluation yet", severity="warning")
            return
        self.evals = not self.evals
        self.draw()

    def action_smoothing(self) -> None:
        """Off, 0.6, 0.9, 0.99: an exponential moving average, as TensorBoard's slider."""
        self.smoothing = self.SMOOTHING[(self.SMOOTHING.index(self.smoothing) + 1) % len(self.SMOOTHING)]
        self.draw()
        self.notify(f"smoothing {self.smoothing:g}" if self.smoothing else "smoothing off", timeout=2)

    def action_toggle_group(self) -> None:
        self.grouped = not self.grouped
        self.update_view()  # the table's swatches change with the plot's colours


def smooth(values: list[float], weight: float) -> list[float]:
    """An exponential moving average, debiased at the start (TensorBoard's smoothing): the
    first points are not pulled towards 0."""
    if not weight or not values:
        return list(values)
    out, last, norm = [], 0.0, 0.0
    for v in values:
        last = last * weight + (1 - weight) * v
        norm = norm * weight + (1 - weight)
        out.append(last / norm)
    return out
