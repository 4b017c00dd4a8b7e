"""An attribution run's methods side by side for one input, with agreement and faithfulness."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, ScrollableContainer, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Static

from lab.display import printable
from lab.files import open_regular, read_json
from lab.store import ATTRIBUTIONS, COMPARISON, ROBUSTNESS
from lab.tui.widgets.attribution_view import AttributionBars, RobustnessPane, diverging, grey, heatmap
from lab.tui.widgets.key_footer import KeyFooter

if TYPE_CHECKING:
    from lab.store import Run

NON_METHODS = {"inputs", "inputs_original", "targets", "feature_names", "class_names", "baseline", "labels", "probabilities"}
METRICS = ("method", "ms/input", "deletion ↓", "insertion ↑", "infid. ↓", "sens. ↓", "completeness", "± se",
           "MPRT ↓")


class NoAttributions(Exception):
    """The run has no attributions.npz (yet: it is still explaining)."""


@dataclass
class Attributions:
    """An attribution run's artifacts as the screen shows them: attributions.npz's arrays (texts
    made printable), comparison.json, robustness.json (None without a [robustness] table), and
    what follows from them. Read in a worker (`read`); the screen only draws it."""

    run: Run
    data: dict[str, np.ndarray]
    comparison: dict
    robustness: dict | None
    methods: list[str]
    is_image: bool
    probabilities: np.ndarray | None
    predicted: np.ndarray
    labels: np.ndarray | None
    misclassified: np.ndarray

    @classmethod
    def read(cls, path) -> Attributions:
        """NoAttributions when there is no attributions.npz; what numpy or the JSON reader raise
        for artifacts lab did not write."""
        from lab.store import Run

        run = Run.load(path)
        npz_path = run.artifact(ATTRIBUTIONS)
        if not npz_path.is_file():
            raise NoAttributions(run.id)
        with open_regular(npz_path) as f, np.load(f, allow_pickle=False) as npz:
            d = {k: npz[k] for k in npz.files}
        for key in ("feature_names", "class_names"):  # text from the folder, shown: printable (lab.display)
            if key in d:
                d[key] = np.array([printable(str(v), limit=200) for v in d[key]])
        comparison = read_json(run.artifact(COMPARISON))
        robustness = run.artifact(ROBUSTNESS)  # only runs with a [robustness] table have one
        robustness = read_json(robustness) if robustness.is_file() else None
        # a method's name becomes a widget id: a name that is not an identifier is no method lab wrote
        methods = [k for k in d if k not in NON_METHODS and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k)]
        n = len(d["inputs"])
        p = d.get("probabilities")  # absent in runs made before lab stored it
        probabilities = p if p is not None and p.ndim == 2 and len(p) == n else None
        # targets default to the predicted class: the best guess at it in runs without probabilities
        predicted = probabilities.argmax(axis=1) if probabilities is not None else d["targets"]
        labels = d.get("labels")
        misclassified = np.flatnonzero(predicted != labels) if labels is not None else np.array([], dtype=int)
        return cls(run, d, comparison, robustness, methods, d["inputs"].ndim == 4, probabilities, predicted, labels,
                   misclassified)


class TablesPane(ScrollableContainer):
    """The metric and agreement tables, scrolling as one; its top edge says what is out of sight
    (the agreement matrix under the metrics at 24 lines) and how to reach it."""

    def on_resize(self) -> None:
        self.call_after_refresh(self.update_hint)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self.update_hint()

    def watch_scroll_x(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_x(old_value, new_value)
        self.update_hint()

    def update_hint(self) -> None:
        hidden = [arrow for arrow, more in (("↓ more below", self.scroll_y < self.max_scroll_y),
                                             ("→ more right", self.scroll_x < self.max_scroll_x)) if more]
        if not hidden:
            self.border_title = None
            return
        keys = "tab here, then ↓ pgdn" if hidden[0].startswith("↓") else "tab here, then shift+→"
        self.border_title = f"{', '.join(hidden)} ({keys}; f10 maximise)"


class AttributionScreen(Screen):
    TITLE = "attributions"
    HELP = ("One input at a time: each method's attribution of every feature side by side (or, for "
            "images, as heatmaps), with the model's prediction and the true label; below, how faithful "
            "each method is and how much the methods agree, the methods in the order of one ranking across "
            "the metrics (lab show prints it whole) and a random attribution as the control; MPRT: how alike a "
            "method's maps stay when the model's weights are randomised (✗: 0.5 or more, it fails that sanity "
            "check); ± se: the standard error of methods that estimate it; robustness, where the run measured it.")
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        # priority: a focused table would take the arrows to scroll; here they change the input (shift+arrows scroll)
        Binding("left,p", "move(-1)", "Previous input", priority=True),
        Binding("right,n", "move(1)", "Next input", priority=True),
        Binding("w", "misclassified(1)", "Next misclassified"),
        Binding("W", "misclassified(-1)", "Previous misclassified", show=False),
        Binding("shift+right", "scroll_sideways(1)", "Scroll the focused table right", show=False),
        Binding("shift+left", "scroll_sideways(-1)", "Scroll the focused table left", show=False),
        Binding("r", "robustness", "Robustness"),
        Binding("f10,ctrl+o", "cycle_maximize", "Maximise"),
    ]

    def __init__(self, attributions: Attributions):
        """`attributions`: `Attributions.read(run folder)`, read in a worker (the run's view reads it)."""
        super().__init__()
        a = attributions
        self.run, self.data, self.comparison, self.robustness, self.methods = a.run, a.data, a.comparison, a.robustness, a.methods
        self.is_image, self.probabilities, self.predicted, self.labels = a.is_image, a.probabilities, a.predicted, a.labels
        self.misclassified = a.misclassified
        self.index = 0

    def compose(self) -> ComposeResult:
        d = self.data
        with Vertical(id="attr-view"):
            yield Static(id="attr-title")
            if self.is_image:
                with VerticalScroll(id="attr-panels-scroll"):
                    yield Grid(id="attr-panels")
            else:
                yield AttributionBars({m: d[m] for m in self.methods}, d.get("inputs_original", d["inputs"]),
                                      list(d["feature_names"]), id="attr-bars",
                                      errors={m: d[f"{m}.se"] for m in self.methods if f"{m}.se" in d})
            with TablesPane(id="attr-tables"):  # focused as one, to scroll both tables
                for table in (DataTable(id="attr-metrics", cursor_type="none", zebra_stripes=True),
                              DataTable(id="attr-agreement", cursor_type="none")):
                    table.can_focus = False
                    yield table
            if self.robustness is not None:
                with VerticalScroll(id="attr-robustness-scroll") as pane:
                    pane.styles.height = "1fr"
                    pane.display = False
                    yield RobustnessPane(self.robustness, id="attr-robustness")
        yield KeyFooter()

    async def on_mount(self) -> None:
        if self.is_image:
            panels = [Static(id="panel-input", classes="attr-panel")]
            panels += [Static(id=f"panel-{m}", classes="attr-panel") for m in self.methods]
            await self.query_one("#attr-panels", Grid).mount_all(panels)
        self.fill_tables()
        self.arrange_tables()
        self.show_sample()

    def on_resize(self) -> None:
        self.arrange_tables()

    def fill_tables(self) -> None:
        c = self.comparison
        metrics = self.query_one("#attr-metrics", DataTable)
        metrics.add_columns(*METRICS)
        # in the order of the ranking across metrics (lab.xai.ranking), where the run has one
        ranking = (c.get("ranking") or {}).get("methods", {})
        rows = sorted(c["methods"].items(), key=lambda kv: (ranking.get(kv[0], {}).get("rank", float("inf")), kv[1]["deletion_auc"]))
        cells = []

        def sanity(entry: dict) -> Text | str:
            test = entry.get("randomisation")
            if not isinstance(test, dict) or test.get("score") is None:
                return "-"
            return Text(f"{test['score']:.2f}✗", style="bold red") if test.get("fails") else f"{test['score']:.2f}"

        for name, m in rows:
            comp, se = m.get("completeness_error"), m.get("standard_error")
            cells.append((name, f"{m['seconds_per_sample'] * 1000:.2f}", f"{m['deletion_auc']:.3f}", f"{m['insertion_auc']:.3f}",
                          _g(m.get("infidelity")), _g(m.get("sensitivity_max")), "-" if comp is None else f"{comp:.2%}",
                          "-" if se is None else f"±{se:.2%}", sanity(m)))
        r = c["random"]
        cells.append((Text("random", style="dim"), "", f"{r['deletion_auc']:.3f}",
                      f"{r['insertion_auc']:.3f}", _g(r.get("infidelity")), _g(r.get("sensitivity_max")), "", "", sanity(r)))
        metrics.add_rows(cells)
        # the matrix in the metrics' order; its columns by number, so that it stays narrow
        agreement = self.query_one("#attr-agreement", DataTable)
        rho = c["pairs"]["spearman"]
        names = [n for n, _ in rows]
        agreement.add_column("Spearman ρ")
        agreement.add_columns(*(str(k) for k in range(1, len(names) + 1)))
        matrix = [(f"{k} {a}", *(Text("-" if rho[a][b] is None else f"{rho[a][b]:.2f}", style=_agree_style(rho[a][b]))
                                 for b in names)) for k, a in enumerate(names, 1)]
        agreement.add_rows(matrix)
        self.tables_width = _table_width([METRICS, *cells]) + _table_width([("Spearman ρ", *map(str, range(len(names)))), *matrix]) + 1

    def arrange_tables(self) -> None:
        """The two tables side by side where they fit, else one above the other; the area scrolls."""
        tables = self.query_one("#attr-tables")
        tables.set_class(self.tables_width > self.size.width - 2, "stacked")
        if self.is_image:
            grid = self.query_one("#attr-panels", Grid)
            column = max(2 * self.data["inputs"].shape[3], *(len(m) for m in self.methods))
            grid.styles.grid_columns = str(column)
            grid.styles.grid_size_columns = max(1, (self.size.width - 1) // (column + 1))

    def heading(self) -> Text:
        """Which input, what the model predicted (and how sure), the true class, the class explained."""
        d, i = self.data, self.index
        classes = [str(c) for c in d["class_names"]]

        def name(k: int) -> str:
            return f"'{classes[k]}'" if k < len(classes) else str(k)

        target = int(d["targets"][i])
        heading = Text(f"input {i + 1} of {len(d['inputs'])}", style="bold")
        if self.probabilities is not None:
            p = self.probabilities[i]
            predicted = int(p.argmax())
            heading.append(f"  predicted {name(predicted)} {p[predicted]:.2f}")
            if target != predicted:
                heading.append(f"  explaining {name(target)} {p[target]:.2f}", style="bold")
        else:
            heading.append(f"  explaining {name(target)}")
        if self.labels is not None:
            heading.append(f"  true {name(int(self.labels[i]))}")
            wrong = np.flatnonzero(self.misclassified == i)
            if len(wrong):
                heading.append(f"  misclassified {wrong[0] + 1} of {len(self.misclassified)}", style="bold red")
            else:
                heading.append("  correct", style="green")
                if len(self.misclassified):
                    heading.append(f" ({len(self.misclassified)} misclassified)", style="dim")
        heading.append(f"\nred: for {name(target)}, blue: against; each method scaled to its own max", style="dim")
        return heading

    def show_sample(self) -> None:
        self.query_one("#attr-title", Static).update(self.heading())
        d, i = self.data, self.index
        if not self.is_image:
            self.query_one(AttributionBars).show(i)
            return
        x = d.get("inputs_original", d["inputs"])[i].mean(axis=0)
        span = (x.max() - x.min()) or 1.0
        self.query_one("#panel-input", Static).update(Text("input\n", style="bold") + heatmap((x - x.min()) / span, grey))
        for m in self.methods:
            g = d[m][i].sum(axis=0)
            g = g / (np.abs(g).max() or 1.0)
            self.query_one(f"#panel-{m}", Static).update(Text(m + "\n", style="bold") + heatmap(g, diverging))

    def action_move(self, step: int) -> None:
        self.index = (self.index + step) % len(self.data["inputs"])
        self.show_sample()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "misclassified":
            return self.labels is not None  # no true labels (a policy's states): no key
        if action == "robustness":
            return self.robustness is not None  # a run without [robustness]: no key
        return True

    def action_misclassified(self, step: int) -> None:
        wrong = self.misclassified
        if not len(wrong):
            self.notify("no misclassified inputs")
            return
        if step > 0:
            later = wrong[wrong > self.index]
            self.index = int(later[0] if len(later) else wrong[0])
        else:
            earlier = wrong[wrong < self.index]
            self.index = int(earlier[-1] if len(earlier) else wrong[-1])
        self.show_sample()

    def action_robustness(self) -> None:
        """The robustness pane in place of the metric tables, and back."""
        pane = self.query_one("#attr-robustness-scroll")
        if self.maximized is not None:
            self.minimize()
        pane.display = not pane.display
        self.query_one("#attr-tables").display = not pane.display

    def action_cycle_maximize(self) -> None:
        """Each pane in turn fills the screen (the attributions, the tables or the robustness
        pane, whichever is shown), then none."""
        panes = [self.query_one("#attr-panels-scroll" if self.is_image else "#attr-bars"),
                 *(p for p in self.query("#attr-tables, #attr-robustness-scroll") if p.display)]
        at = panes.index(self.maximized) + 1 if self.maximized in panes else 0
        if at < len(panes):
            self.maximized = panes[at]
        else:
            self.minimize()

    def action_scroll_sideways(self, step: int) -> None:
        focused = self.focused
        target = focused if focused is not None and focused.allow_horizontal_scroll else None
        if target is None:
            target = self.query_one("#attr-panels-scroll" if self.is_image else "#attr-bars")
        target.scroll_relative(x=step * 8, animate=False)


def _table_width(rows) -> int:
    """A DataTable's width with these rows (its header among them): the widest cell of each
    column, plus a cell of padding on either side."""
    widths = [max(len(c.plain if isinstance(c, Text) else str(c)) for c in column) for column in zip(*rows)]
    return sum(w + 2 for w in widths)


def _g(v) -> str:
    return "-" if v is None else f"{v:.3g}"


def _agree_style(v) -> str:
    if v is None:
        return "dim"
    return "bold green" if v >= 0.8 else "yellow" if v >= 0.5 else "red"
