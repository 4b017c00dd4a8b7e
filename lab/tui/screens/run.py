"""A run's live view: curves, current figures and its log, updating while the run goes.

A reader thread (`follow_runs`) reads the run's folder: its first read (a bounded scan) hands the
screen a `RunFollower` (`RunsRead`), its later reads the events appended since (`RunEventsArrived`),
which the screen applies. The screen draws from that, never reading the disk or /proc itself.
"""

from __future__ import annotations

import threading
from pathlib import Path

from rich.cells import cell_len
from rich.segment import Segment
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.strip import Strip
from textual.widgets import DataTable, Log

from lab.display import STATE_STYLE, duration, printable, shown_progress
from lab.follow import RunFollower
from lab.summary import RunState
from lab.tui.messages import AttributionsRead, ReadFailed, RobustnessFound, RunEventsArrived, RunsRead
from lab.tui.widgets.clamped_text import ClampedText
from lab.tui.widgets.key_footer import KeyFooter
from lab.tui.widgets.line_plot import PALETTE, LinePlot

POLL_SECONDS = 0.5  # the reader's look at the folder; key presses redraw at once
PLOT_SECONDS = 1.0  # curves: redrawn at most once a second while data streams in


def follow_runs(screen: Screen, paths: list[Path], wake: threading.Event, seconds: float) -> None:
    """A view's reader (run in its worker thread): the first read of each run, handed over as
    `RunsRead`, then every `seconds` (or when woken) what each run appended, as `RunEventsArrived`.
    A folder that cannot be read is said once (`ReadFailed`) and tried again at the next look."""
    from textual.worker import get_current_worker

    worker = get_current_worker()
    said = None

    def post(message) -> bool:
        try:
            return screen.post_message(message)
        except RuntimeError:  # the dashboard is closing: its event loop is gone
            return False

    def failed(e: Exception, path: Path) -> None:
        nonlocal said
        problem = f"reading {path.name}: {type(e).__name__}: {e}"
        if problem != said:  # once, not every look
            said = problem
            post(ReadFailed(problem))

    followers = None
    while followers is None and not worker.is_cancelled:
        try:
            followers = [RunFollower(p) for p in paths]
            for f in followers:
                f.poll()
        except Exception as e:  # a folder's content never ends the dashboard
            followers = None
            failed(e, paths[0])
            wake.wait(seconds)
            wake.clear()
    if worker.is_cancelled:
        return
    if not post(RunsRead(followers)):  # from here on the screen applies, this thread only reads
        return
    while True:
        wake.wait(seconds)
        wake.clear()
        if worker.is_cancelled:
            return
        for f in followers:
            try:
                batch = f.read()
            except Exception as e:
                failed(e, f.path)
                continue
            if batch and not post(RunEventsArrived(f.path, batch)):
                return


class RunLog(Log):
    """The run's log, one event a line: a line longer than the pane ends in '…' where the pane
    cuts it (and begins with one once scrolled right), so nothing is cut without saying so. Lines
    are not wrapped: each keeps its step at its start, and a traceback does not push the newest
    lines out of a short pane; the rest of a line is a scroll right (or f10) away."""

    def _render_line(self, y: int, scroll_x: int, width: int) -> Strip:
        strip = super()._render_line(y, scroll_x, width)
        if y >= len(self._lines) or width < 2:
            return strip
        length = cell_len(self._process_line(self._lines[y]))
        mark = Strip([Segment("…", self.rich_style)], 1)
        if length > scroll_x + width:
            strip = Strip.join([strip.crop(0, width - 1), mark])
        if scroll_x > 0 and length > 0:
            strip = Strip.join([mark, strip.crop(1, width)])
        return strip


class MetricsPane(Vertical):
    """The metric charts: as many columns of small charts as fit, at least 38 cells wide each
    (its width changes with the screen's, and when the play pane comes or goes)."""

    def on_resize(self, event) -> None:
        self.query_one("#metric-grid", Grid).styles.grid_size_columns = max(1, event.size.width // 38)


class RunScreen(Screen):
    TITLE = "run"
    HELP = ("One run, live while it goes: its state, progress and result at the top, its return curve "
            "and other metrics (or an attribution run's loss and methods) in the middle, its log below; "
            "the agent can play its newest best policy beside the curves. The run is its own process: "
            "leaving this view, or the dashboard, leaves it going.")
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("m", "next_metric(1)", "Metrics: next"),
        Binding("M", "next_metric(-1)", "Metrics: previous", show=False),
        Binding("f10,ctrl+o", "cycle_maximize", "Maximise"),
        Binding("s", "stop", "Stop"),
        Binding("a", "attributions", "Attributions"),
        Binding("t", "toggle_pbt", "PBT"),
        # off the footer: at 80 columns it is full (? lists every key)
        Binding("p", "toggle_play", "Play the agent (newest best policy)", show=False),
    ]

    def __init__(self, path):
        super().__init__()
        self.path = Path(path)
        self.follower: RunFollower | None = None  # handed over by the reader's first read (RunsRead)
        self.metric_index = -1  # -1: every metric as a small chart; else that one metric, large
        self.showing_pbt = False  # t: population-based training's schedules and family tree instead of the metrics
        self.kind: str | None = None  # the run's, once read: its panes are mounted then
        self._plotted = 0.0
        self._pending = False
        self.ready = False  # the first read (a bounded scan, up to a second on a huge file) runs in a worker
        self._state = None
        self._wake = threading.Event()

    def compose(self) -> ComposeResult:
        with Vertical(id="run-view"):
            yield ClampedText(3, id="run-header")  # (app.tcss: height 3)
            yield Horizontal(id="run-plots")  # the panes of the run's kind, after the first read
            yield RunLog(max_lines=1000, id="run-log")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#run-header", ClampedText).show(Text(f"reading {printable(self.path.name)}…", style="dim"))
        self.follow_run()
        self.set_interval(POLL_SECONDS, self.redraw)

    @work(thread=True, exclusive=True, group="run-reader")
    def follow_run(self) -> None:
        follow_runs(self, [self.path], self._wake, POLL_SECONDS)

    def look_now(self) -> None:
        """Ask the reader for a look at once (after a stop)."""
        self._wake.set()

    async def on_runs_read(self, message: RunsRead) -> None:
        self.follower = f = message.followers[0]
        self.kind = f.run.kind
        if self.kind == "attribution":
            table = DataTable(id="methods-table", cursor_type="none")
            await self.query_one("#run-plots").mount_all([LinePlot("return", id="return-plot"), table])
            for col in ("method", "ms/input", "deletion", "insertion"):
                table.add_column(col, key=col)
        else:
            from lab.tui.widgets.pbt_pane import PBTPane

            pane = MetricsPane(VerticalScroll(Grid(id="metric-grid"), id="metric-grid-scroll"),
                               LinePlot("loss", id="loss-plot"), PBTPane(id="pbt-pane"), id="metrics-pane")
            await self.query_one("#run-plots").mount_all([LinePlot("return", id="return-plot"), pane])
            self.query_one("#loss-plot").display = False
            self.query_one("#pbt-pane").display = False
        if self.focused in (None, self.query_one("#run-log")):  # the focus on mount, as if the panes had been there
            chain = self.focus_chain
            self.set_focus(chain[0] if chain else None)
        self.ready = True
        self.refresh_bindings()
        self.redraw(force=True)
        if self.kind == "rl" and f.state == RunState.COMPLETED:
            self.find_robustness(f.run.id, f.run.path.parent)

    def on_run_events_arrived(self, message: RunEventsArrived) -> None:
        if self.follower is None:
            return
        self._pending = self.follower.apply(message.batch) or self._pending
        self.redraw()

    @work(thread=True, exclusive=True, group="robustness")
    def find_robustness(self, run_id: str, runs_dir: Path) -> None:
        """A finished policy's return-vs-epsilon curve, from the newest run that attacked it
        (cartpole-policy-robustness and the like): a scan of the runs root, off the event loop."""
        from lab.store import policy_robustness

        found = policy_robustness(run_id, runs_dir)
        if found is not None:
            self.post_message(RobustnessFound(*found))

    def on_robustness_found(self, message: RobustnessFound) -> None:
        from lab.tui.widgets.attribution_view import plot_robustness

        plot = LinePlot("return under attack", id="robustness-plot")
        plot.styles.width = "1fr"
        self.query_one("#run-plots").mount(plot)
        plot_robustness(plot, message.report, f"return under attack on the observations (run {message.source})", first_colour=2)

    def redraw(self, force: bool = False) -> None:
        """From what the reader's news left in memory: the header, new log lines, and the curves
        (at most once a second while data streams in). Reads nothing."""
        import time

        if not self.ready:
            return
        if (self.follower.state, bool(self.follower.pbt_events)) != self._state:
            self._state = (self.follower.state, bool(self.follower.pbt_events))
            self.refresh_bindings()  # keys that fit the state: no stop for a finished run, t once PBT has a round
        self.update_header()
        lines = self.follower.take_new_logs()
        if lines:
            self.query_one("#run-log", RunLog).write_lines([printable(line) for line in lines])
        now = time.monotonic()
        if not (force or (self._pending and now - self._plotted >= PLOT_SECONDS)):
            return
        self._pending, self._plotted = False, now
        if self.kind == "attribution":
            self.update_attribution()
        else:
            self.update_rl()

    def update_header(self) -> None:
        f = self.follower
        s = f.run.summary
        p = f.progress
        state = f.state
        # every text from the folder or its events with its control characters escaped (printable)
        text = Text(f"{printable(s.experiment)}  ", style="bold")
        text.append(printable(state), style=STATE_STYLE.get(state, ""))
        text.append("  ")
        text.append(printable(f.run.id), style="dim")
        text.append(f"  device {printable(s.device or '?')}", style="dim")
        line = Text()
        # how far it is and how long it has run: the rules the runs table and `lab show` use
        # (lab.display.shown_progress over the newest progress event; Run.seconds from its start)
        shown = shown_progress(state, p or s.progress)
        elapsed = f"   elapsed {duration(f.run.seconds)}"
        if self.kind == "rl":
            step, total = p.get("step", s.progress.step), p.get("total") or s.progress.total
            step, total = (v if isinstance(v, int) and not isinstance(v, bool) else None for v in (step, total))
            line.append(f"step {step or 0:,}" + (f" / {total:,}" if total else ""))
            if shown.early:
                line.append(f" ({shown.early})", style="green")
            line.append(f"   {p.get('steps_per_second') or 0:,.0f} steps/s")
            if state == RunState.RUNNING:  # an ETA only while it runs
                line.append(f"   ETA {duration(p.get('eta_seconds'))}")
            line.append(elapsed)
            for name in ("epsilon", "entropy"):
                series = f.metrics.get(name)
                if series and series.values:
                    line.append(f"   {name} {series.values[-1]:.3g}")
            if f.evals.values:
                line.append(f"   last eval {f.evals.values[-1]:.1f}")
            if len(f.member_evals) > 1:
                line.append(f" (mean of {len(f.member_evals)} members, lowest {f.eval_low.values[-1]:.1f})")
        elif state == RunState.RUNNING:
            line.append(shown.label or "starting")
            if shown.fraction is not None:
                line.append(f"   {shown.percent}")
            line.append(elapsed)
        else:  # what the run produced, not a phase it has left
            r = s.results
            if r.test_accuracy is not None:
                line.append(f"test accuracy {r.test_accuracy:.3f}")
            if r.most_faithful_method:
                line.append(f"   most faithful (deletion AUC): {printable(r.most_faithful_method)}")
            line.append(elapsed)
        if s.error:
            line.append(f"\n{printable(s.error)}", style="bold red")
        if f.run.problem:
            line.append(f"\n{printable(f.run.problem)}", style="bold red")
        if state == RunState.CRASHED:
            line.append("\nthe run's process died without saying so; its folder is intact", style="bold red")
        self.query_one("#run-header", ClampedText).show(Text("\n").join([text, line]))

    def update_rl(self) -> None:
        f = self.follower
        if len(f.member_evals) > 1:
            self.update_population()
            self.update_metrics()
            return
        series, styles, legend, markers = [], [], [], {}
        if f.returns.values:
            series += [(f.returns.steps, f.returns.values), (f.rolling.steps, f.rolling.values)]
            styles += ["#4e5a65", PALETTE[0]]
            legend += [("episodes", "#4e5a65"), ("rolling 100", PALETTE[0])]
        if f.evals.values:  # markers on top: the episodes under them stay visible
            markers[len(series)] = "◆"
            series.append((f.evals.steps, f.evals.values))
            styles.append(f"bold {PALETTE[1]}")
            legend.append(("evaluation", PALETTE[1], "◆"))
        self.query_one("#return-plot", LinePlot).plot(series, styles, legend, title="return per episode",
                                                      x_title="environment steps", markers=markers)
        self.update_metrics()

    def update_population(self) -> None:
        """A population: its members' evaluations as the band they span, their mean, and the best member."""
        f = self.follower
        best = f.best_member
        color, best_color = PALETTE[0], PALETTE[1]
        series = [(f.eval_low.steps, f.eval_low.values), (f.eval_high.steps, f.eval_high.values),
                  (f.evals.steps, f.evals.values), (f.member_evals[best].steps, f.member_evals[best].values)]
        legend = [(f"mean of {len(f.member_evals)} members, shaded min to max", color),
                  (f"best member {best} (seed {(f.run.summary.seed or 0) + best})", best_color, "◆")]
        self.query_one("#return-plot", LinePlot).plot(
            series, [color, color, f"bold {color}", f"bold {best_color}"], legend, title="evaluation return, population",
            x_title="environment steps per member", bands={0: 1}, markers={3: "◆"})

    def update_metrics(self) -> None:
        """Every metric as a small chart in a grid, or one of them large (m, M); or PBT's pane (t)."""
        f = self.follower
        self.query_one("#pbt-pane").display = self.showing_pbt
        if self.showing_pbt:
            from lab.rl.pbt import read_rounds

            self.query_one("#metric-grid-scroll").display = self.query_one("#loss-plot").display = False
            delivered = f.run.summary.results.best_member
            self.query_one("#pbt-pane").show(read_rounds(f.pbt_events), delivered if isinstance(delivered, int) else None)
            return
        names = self.metric_names()
        grid = self.query_one("#metric-grid", Grid)
        single = self.query_one("#loss-plot", LinePlot)
        if self.metric_index >= len(names):
            self.metric_index = -1
        showing_grid = self.metric_index < 0
        self.query_one("#metric-grid-scroll").display = showing_grid
        single.display = not showing_grid
        if not showing_grid:
            name = names[self.metric_index]
            m = f.metrics[name]
            single.plot([(m.steps, m.values)], [PALETTE[2]], x_title="environment steps",
                        title=f"{printable(name, limit=60)}  ({self.metric_index + 1} of {len(names)}; m: next, M: previous)")
            return
        plots = {p.id: p for p in grid.query(LinePlot)}
        new = [LinePlot(printable(name, limit=60), id=_metric_id(name), classes="metric-chart") for name in names
               if _metric_id(name) not in plots]
        if new:
            grid.mount_all(new)
            plots.update({p.id: p for p in new})
        for name in names:
            m = f.metrics[name]
            plots[_metric_id(name)].plot([(m.steps, m.values)], [PALETTE[2]], title=printable(name, limit=60), x_title="steps")

    def metric_names(self) -> list[str]:
        """The run's metrics in its algorithm's order (lab.rl.algos), then any others by name."""
        from lab.rl.algos import ALGOS

        algo = ALGOS.get(self.follower.run.summary.algo or "")
        order = list(algo.metrics) if algo else []
        return sorted(self.follower.metrics, key=lambda n: (order.index(n) if n in order else len(order), n))

    def update_attribution(self) -> None:
        f = self.follower
        series, styles, legend = [], [], []
        for i, name in enumerate(("train_loss", "val_loss")):
            m = f.metrics.get(name)
            if m and m.values:
                series.append((m.steps, m.values))
                styles.append(PALETTE[i])
                legend.append((name, PALETTE[i]))
        self.query_one("#return-plot", LinePlot).plot(series, styles, legend, title="training loss (cross-entropy)",
                                                      x_title="epoch")
        table = self.query_one("#methods-table", DataTable)
        for name, values in f.methods.items():
            cells = [Text(printable(name, limit=60)), f"{values['seconds_per_sample'] * 1000:.2f}" if values.get("seconds_per_sample") is not None else "-",
                     f"{values['deletion_auc']:.3f}" if values.get("deletion_auc") is not None else "-",
                     f"{values['insertion_auc']:.3f}" if values.get("insertion_auc") is not None else "-"]
            if name in table.rows:
                for col, value in zip(("method", "ms/input", "deletion", "insertion"), cells):
                    table.update_cell(name, col, value)
            else:
                table.add_row(*cells, key=name)

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        """The footer offers what fits this run: stop while it runs, metrics for RL, attributions
        for attribution runs (once the run is read)."""
        if action in ("cycle_maximize", "toggle_play"):
            return self.ready
        if action == "stop":
            return self.follower is not None and self.follower.state == RunState.RUNNING
        if action == "attributions":
            return self.kind == "attribution"
        if action == "next_metric":
            return self.kind == "rl"
        if action == "toggle_pbt":  # a population-based training run's
            return self.kind == "rl" and bool(self.follower.pbt_events)
        return True

    def action_toggle_pbt(self) -> None:
        """Population-based training's schedules (the members' band, the leading line's values)
        and family tree in place of the metrics; t again brings the metrics back."""
        self.showing_pbt = not self.showing_pbt and bool(self.follower.pbt_events)
        self.update_metrics()

    def action_next_metric(self, step: int) -> None:
        """Cycle grid -> first metric -> ... -> last metric -> grid (M: the other way)."""
        if self.kind != "rl":
            return
        self.showing_pbt = False
        n = len(self.metric_names())
        self.metric_index = (self.metric_index + 1 + step) % (n + 1) - 1
        self.update_metrics()

    def action_cycle_maximize(self) -> None:
        """Each pane in turn fills the screen (curves, metrics or methods, the play pane when it is
        on, log), then none."""
        panes = [self.query_one("#return-plot"), self.query_one("#metrics-pane" if self.kind == "rl" else "#methods-table"),
                 *self.query("#play-pane"), self.query_one("#run-log")]
        at = panes.index(self.maximized) + 1 if self.maximized in panes else 0
        if at < len(panes):
            self.maximized = panes[at]
        else:
            self.minimize()

    def action_toggle_play(self) -> None:
        """The agent playing in its environment, beside the curves (p again removes it, and its
        helper process)."""
        from lab.tui.widgets.play_pane import PlayPane

        shown = self.query("#play-pane")
        if shown:
            if self.maximized in shown:
                self.minimize()
            shown.remove()
        else:
            reason = None if self.kind == "rl" else f"{self.follower.run.id} is an {self.kind} run: there is no agent to play"
            self.query_one("#run-plots").mount(PlayPane(self.follower.path, reason, id="play-pane"))

    def action_stop(self) -> None:
        if self.follower is not None:
            self.app.ask_stop(self.follower.run, then=self.look_now)

    def action_attributions(self) -> None:
        if self.kind != "attribution":
            self.notify("not an attribution run", severity="warning")
            return
        self.read_attributions()

    @work(thread=True, exclusive=True, group="attributions")
    def read_attributions(self) -> None:
        from lab.tui.screens.attribution import Attributions, NoAttributions

        try:
            attributions = Attributions.read(self.path)
        except NoAttributions:
            self.post_message(ReadFailed("no attributions yet: the run is still explaining"))
        except Exception as e:  # the run folder's artifacts are not what lab wrote: say so, stay up
            self.post_message(ReadFailed(f"cannot show the attributions: {type(e).__name__}: {e}", severity="error"))
        else:
            self.post_message(AttributionsRead(attributions))

    def on_attributions_read(self, message: AttributionsRead) -> None:
        from lab.tui.screens.attribution import AttributionScreen

        self.app.push_screen(AttributionScreen(message.attributions))


def _metric_id(name: str) -> str:
    """A widget id for a metric's chart: its name is the events' (any text), an id is not."""
    import re

    return "metric-" + re.sub(r"[^A-Za-z0-9_-]", lambda m: f"_{ord(m.group()):x}_", name)
