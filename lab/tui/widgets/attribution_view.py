"""Attribution views: a table of signed bars per feature and method (tabular), truecolor heatmaps (images),
and a run's robustness (accuracy or return against epsilon, fragility of the attributions)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from rich.color import Color
from rich.style import Style
from rich.text import Text
from textual.containers import Vertical
from textual.widgets import DataTable, Static

POS, NEG = (215, 48, 39), (69, 117, 180)  # red: for the target class, blue: against


def diverging(v: float) -> Color:
    """-1 blue .. 0 white .. +1 red."""
    a = min(abs(v), 1.0)
    end = POS if v >= 0 else NEG
    return Color.from_rgb(*(round(255 + (c - 255) * a) for c in end))


def grey(v: float) -> Color:
    level = round(255 * (1 - min(max(v, 0.0), 1.0)))  # ink dark on white paper
    return Color.from_rgb(level, level, level)


def heatmap(grid: np.ndarray, colour, scale: int = 2) -> Text:
    """A 2-D array as half-block cells: each character shows two pixels, one above the other."""
    grid = np.repeat(np.repeat(grid, scale, axis=0), scale, axis=1)
    if grid.shape[0] % 2:
        grid = np.vstack([grid, np.full((1, grid.shape[1]), np.nan)])
    text = Text()
    for r in range(0, grid.shape[0], 2):
        for c in range(grid.shape[1]):
            top, bottom = grid[r, c], grid[r + 1, c]
            text.append("▀", Style(color=colour(top), bgcolor=None if np.isnan(bottom) else colour(bottom)))
        text.append("\n")
    return text


def consensus_order(attrs: dict[str, np.ndarray], limit: int) -> np.ndarray:
    """Features by mean |attribution| across methods, each method scaled to its largest |value|."""
    scaled = [np.abs(a) / (np.abs(a).max() or 1.0) for a in attrs.values()]
    return np.argsort(-np.mean(scaled, axis=0), kind="stable")[:limit]


def elide_middle(text: str, width: int) -> str:
    """`text` in at most `width` characters, cut in the middle with '…' so that both ends stay:
    'mean concave points' and 'worst concave points' still look different."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    tail = (width - 1) // 2
    return text[:width - 1 - tail] + "…" + text[len(text) - tail:]


def distinct_width(names: list[str], least: int) -> int:
    """The narrowest width, from `least` up to the longest name, at which elide_middle keeps
    different names different."""
    unique = set(names)
    longest = max(map(len, unique), default=0)
    for width in range(min(least, longest), longest):
        if len({elide_middle(n, width) for n in unique}) == len(unique):
            return width
    return longest


def format_value(v: float) -> str:
    return f"{v:.4g}"


@dataclass(frozen=True)
class BarColumns:
    """Widths of the bar table: feature names, input values (0: not shown), cells on either side
    of a bar's zero line, and each method's column (its full name or its bar, the wider)."""

    name: int
    value: int
    half: int
    methods: tuple[int, ...]

    def width(self, padding: int = 1) -> int:
        cells = [self.name, *([self.value] if self.value else []), *self.methods]
        return sum(cells) + 2 * padding * len(cells)


def bar_columns(names: list[str], methods: list[str], value_width: int, available: int,
                half_widths=range(10, 4, -1), least_name: int = 10) -> BarColumns:
    """The widest bars that fit `available` cells with full feature names and values; failing
    that, the narrowest bars without values and the names cut in the middle to the room left.
    When even that does not fit (many methods: the table scrolls sideways), the names keep a
    quarter of the width; never so short that two names look the same."""
    longest = max(map(len, names), default=0)

    def columns(name, value, half):
        return BarColumns(name, value, half, tuple(max(len(m), 2 * half + 1) for m in methods))

    for value in (value_width, 0) if value_width else (0,):
        for half in half_widths:
            fit = columns(longest, value, half)
            if fit.width() <= available:
                return fit
    narrowest = columns(0, 0, half_widths[-1])
    room, least = available - narrowest.width(), distinct_width(names, least_name)
    if room < least:
        room = max(least, available // 4)
    return columns(min(longest, room), 0, half_widths[-1])


def bar_cell(v: float, top: float, half: int, width: int, error: float = 0.0) -> Text:
    """A signed bar in `width` cells, its zero line in the middle of a 2 * half + 1 cells bar
    centred in the column: red right of it (for the class), blue left (against), in half cells.
    `error`: the value's standard error; its 95% interval is drawn on the bar's side, shaded
    (▒) from the interval's low end to the value and dashed (╌) from the value to its high end."""
    halves = int(round(min(abs(v) / top, 1.0) * 2 * half)) if top else 0
    if error > 0 and top:
        # the interval's ends in half cells, as the bar is drawn; drawn only where it spans one at least
        low = int(round(min(max(abs(v) - 1.96 * error, 0) / top, 1.0) * 2 * half))
        high = int(round(min((abs(v) + 1.96 * error) / top, 1.0) * 2 * half))
        if high > low:
            return _interval_cell(halves if v >= 0 else -halves, low // 2, (high + 1) // 2, half, width)
    return _bar_cell(halves if v >= 0 else -halves, half, width)


_FOR, _AGAINST = Style(color=Color.from_rgb(*POS)), Style(color=Color.from_rgb(*NEG))


@functools.lru_cache(maxsize=4096)
def _bar_cell(halves: int, half: int, width: int) -> Text:
    # a few dozen distinct cells per column: drawn once, so that moving between inputs stays instant
    full, odd = divmod(abs(halves), 2)
    left = ("▐" if odd else "") + "█" * full if halves < 0 else ""
    right = "█" * full + ("▌" if odd else "") if halves > 0 else ""
    pad = (width - (2 * half + 1)) // 2
    return Text.assemble(" " * (pad + half - len(left)), (left, _AGAINST), ("│", "dim"), (right, _FOR),
                         " " * (width - pad - half - 1 - len(right)), end="")


@functools.lru_cache(maxsize=4096)
def _interval_cell(halves: int, low: int, high: int, half: int, width: int) -> Text:
    end = (abs(halves) + 1) // 2  # the bar's last cell
    low = min(low, end)
    style = _AGAINST if halves < 0 else _FOR
    bar = [("█" * low, style), ("▒" * (end - low), style), ("╌" * max(high - end, 0), style + Style(dim=True))]
    length = max(end, high)
    pad = (width - (2 * half + 1)) // 2
    if halves < 0:
        return Text.assemble(" " * (pad + half - length), *reversed(bar), ("│", "dim"), " " * (width - pad - half - 1), end="")
    return Text.assemble(" " * (pad + half), ("│", "dim"), *bar, " " * (width - pad - half - 1 - length), end="")


class AttributionBars(DataTable):
    """One input's tabular attributions as one table: a row per feature (most important across
    methods first), its name and value on the left (fixed while the methods scroll sideways),
    then signed bars per method under its full name, every zero line at the same offset in its
    column. Each method is scaled to its own largest |value| in the rows shown."""

    GAP = "  "  # between two methods' columns, as between the table's cells

    def __init__(self, attributions: dict[str, np.ndarray], values: np.ndarray | None, feature_names: list[str],
                 rows: int = 40, errors: dict[str, np.ndarray] | None = None, **kwargs):
        super().__init__(cursor_type="none", zebra_stripes=True, **kwargs)
        self.attributions = {m: a.reshape(len(a), -1) for m, a in attributions.items()}
        # standard errors of the methods that estimate them, shaped like their attributions
        self.errors = {m: e.reshape(len(e), -1) for m, e in (errors or {}).items()
                       if m in self.attributions and e.size == self.attributions[m].size}
        self.values = None if values is None else values.reshape(len(values), -1)
        self.feature_names = list(feature_names)
        self.rows_shown = min(rows, len(self.feature_names))
        self.value_width = 0 if self.values is None else max(len("value"), *(len(format_value(v)) for v in self.values.flat))
        self.index = 0
        self.fit: BarColumns | None = None

    def show(self, index: int) -> None:
        self.index = index
        self.draw()

    def on_resize(self) -> None:
        self.draw()

    def draw(self) -> None:
        if not self.size.width:
            return
        available = self.size.width - self.styles.scrollbar_size_vertical
        fit = bar_columns(self.feature_names, list(self.attributions), self.value_width, available)
        gap = Text(self.GAP, end="")
        if fit != self.fit:
            self.fit = fit
            self.clear(columns=True)
            self.fixed_columns = 2 if fit.value else 1
            self.add_column(Text("feature", style="bold"), width=fit.name, key="feature")
            if fit.value:
                self.add_column(Text("value".rjust(fit.value), style="bold"), width=fit.value, key="value")
            # the methods share one column: a table's cost is per cell, and this one is redrawn on every key
            header = gap.join(Text(m.center(w), style="bold") for m, w in zip(self.attributions, fit.methods))
            self.add_column(header, width=len(header), key="bars")
            for r in range(self.rows_shown):
                self.add_row(*([""] * len(self.columns)), key=str(r))
            # no taller than its rows (and a scrollbar when it scrolls sideways): the tables follow right below
            self.styles.max_height = self.rows_shown + 1 + (fit.width() > available)
        i, fit = self.index, self.fit
        flat = {m: np.nan_to_num(a[i], nan=0.0, posinf=0.0, neginf=0.0) for m, a in self.attributions.items()}
        order = consensus_order(flat, self.rows_shown)
        tops = {m: float(np.abs(a[order]).max()) for m, a in flat.items()}
        for r, f in enumerate(order):
            row = str(r)
            self.update_cell(row, "feature", Text(elide_middle(self.feature_names[f], fit.name)))
            if fit.value:
                self.update_cell(row, "value", format_value(self.values[i, f]).rjust(fit.value))
            self.update_cell(row, "bars", gap.join(
                bar_cell(float(a[f]), tops[m], fit.half, w, float(self.errors[m][i, f]) if m in self.errors else 0.0)
                for (m, a), w in zip(flat.items(), fit.methods)))


class RobustnessPane(Vertical):
    """An attribution run's artifacts/robustness.json: accuracy (or a policy's return) against
    epsilon as a chart, one colour per model and attack, then the tables `lab show` prints."""

    DEFAULT_CSS = """
    RobustnessPane { height: auto; }
    RobustnessPane LinePlot { height: 12; }
    RobustnessPane Static { height: auto; padding: 0 1; }
    """

    def __init__(self, report: dict, **kw):
        super().__init__(**kw)
        self.report = report

    def compose(self):
        from lab.display import robustness_lines
        from lab.tui.widgets.line_plot import LinePlot

        yield LinePlot("robustness", id="robustness-curves")
        yield Static(Text("\n".join(robustness_lines(self.report))), id="robustness-tables")

    def on_mount(self) -> None:
        from lab.tui.widgets.line_plot import LinePlot

        plot_robustness(self.query_one(LinePlot), self.report)


def plot_robustness(plot, report: dict, title: str | None = None, first_colour: int = 0) -> None:
    """A robustness.json's curves (display.robustness_curves) on a LinePlot, one colour each;
    title: '<accuracy or return> under attack' unless given."""
    from lab.display import robustness_curves
    from lab.tui.widgets.line_plot import PALETTE

    label, curves = robustness_curves(report)
    styles = [PALETTE[(k + first_colour) % len(PALETTE)] for k in range(len(curves))]
    plot.plot([(xs, ys) for _, xs, ys in curves], styles, [(name, st) for (name, _, _), st in zip(curves, styles)],
              title=title or f"{label} under attack", x_title=f"epsilon ({report.get('unit', '')})")
