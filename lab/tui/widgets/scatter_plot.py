"""ScatterPlot: points (braille dots), vertical spans and marker glyphs against a fixed x range,
with ticks labelled by the caller (a setting's values, or its choices).

A LinePlot's title, legend and cached drawing, with its own raster: LinePlot's axes start at 0
(steps, epochs and seconds do), and a setting's values (a learning rate, a discount) do not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.segment import Segment
from textual.strip import Strip

from lab.termplot import _BITS, _fmt
from lab.tui.widgets.line_plot import LABEL_WIDTH, LinePlot, _style


@dataclass
class Points:
    """One colour's share of a scatter: dots, spans (x, low, high) drawn as braille lines, and
    `glyph` points drawn as that character on their cell (over dots and spans)."""

    style: str
    dots: list[tuple[float, float]] = field(default_factory=list)
    spans: list[tuple[float, float, float]] = field(default_factory=list)
    marks: list[tuple[float, float]] = field(default_factory=list)
    glyph: str = "◆"


class ScatterPlot(LinePlot):
    """Set its data with `scatter(groups, ...)`; it redraws on the next frame only."""

    def __init__(self, title: str = "", **kw):
        super().__init__(title, **kw)
        self._groups: list[Points] = []
        self._x_range = (0.0, 1.0)
        self._x_ticks: list[tuple[float, str]] = []

    def scatter(self, groups: list[Points], legend=(), title: str | None = None, x_range=(0.0, 1.0),
                x_ticks=(), x_title: str = "", y_range=None) -> None:
        """x_range: the plot's left and right edge (in the points' x); x_ticks: (x, label) under
        the axis where they fit, first ones first."""
        self._groups, self._legend = list(groups), list(legend)
        self._x_range, self._x_ticks, self._y_range = x_range, list(x_ticks), y_range
        self.x_title = x_title
        if title is not None:
            self.title = title
        self._cache_key = None
        self.refresh()

    def _build(self, width: int, height: int) -> list[Strip]:
        strips = self._head(width)
        plot_w, plot_h = max(width - LABEL_WIDTH, 8), max(height - 2 - len(strips), 2)
        ys = [y for g in self._groups for y in [y for _, y in g.dots + g.marks] + [v for s in g.spans for v in s[1:]]]
        if not ys:
            strips.append(Strip([Segment("(no values yet)", _style("dim"))]))
            return [s.crop_extend(0, width, None) for s in strips]
        y0, y1 = self._y_range or (min(ys), max(ys))
        if y1 == y0:
            pad = abs(y0) * 0.1 or 1.0
            y0, y1 = y0 - pad, y1 + pad
        else:  # a point on the top or bottom edge is hard to see: a little room
            pad = (y1 - y0) * 0.05
            y0, y1 = y0 - pad, y1 + pad
        x0, x1 = self._x_range
        if x1 == x0:
            x0, x1 = x0 - 1, x1 + 1
        cols, rows = plot_w * 2, plot_h * 4

        def dot(x, y):
            px = min(max(round((x - x0) / (x1 - x0) * (cols - 1)), 0), cols - 1)
            py = min(max(round((y1 - y) / (y1 - y0) * (rows - 1)), 0), rows - 1)
            return px, py

        bits = [[0] * plot_w for _ in range(plot_h)]
        owner = [[-1] * plot_w for _ in range(plot_h)]
        glyphs: dict[tuple[int, int], tuple[str, int]] = {}
        for i, g in enumerate(self._groups):
            cells = [dot(x, y) for x, y in g.dots]
            for x, lo, hi in g.spans:
                (px, top), (_, bottom) = dot(x, hi), dot(x, lo)
                cells += [(px, py) for py in range(top, bottom + 1)]
            for px, py in cells:
                bits[py // 4][px // 2] |= _BITS[py % 4][px % 2]
                owner[py // 4][px // 2] = i
            for x, y in g.marks:
                px, py = dot(x, y)
                glyphs[(py // 4, px // 2)] = (g.glyph, i)
        ticks = {0: y1, plot_h - 1: y0}
        if plot_h >= 9:
            ticks.update({round((plot_h - 1) * k / 4): y1 - (y1 - y0) * k / 4 for k in (1, 2, 3)})
        elif plot_h >= 5:
            ticks[plot_h // 2] = (y0 + y1) / 2
        labels = {r: _fmt(v) for r, v in ticks.items()}
        pad = max(map(len, labels.values()))
        dim = _style("dim")
        for r in range(plot_h):
            segments = [Segment(f"{labels.get(r, ''):>{pad}} ┤", dim)]
            for c in range(plot_w):
                char, who = glyphs.get((r, c), (chr(0x2800 + bits[r][c]) if bits[r][c] else " ", owner[r][c]))
                style = _style(self._groups[who].style) if who >= 0 else None
                segments.append(Segment(char, style))
            strips.append(Strip(Segment.simplify(segments)))
        strips.append(Strip([Segment(" " * pad + " └" + "─" * plot_w, dim)]))
        strips.append(Strip([Segment(" " * (pad + 2) + self._tick_line(plot_w, x0, x1), dim)]))
        return [s.crop_extend(0, width, None) for s in strips]

    def _tick_line(self, width: int, x0: float, x1: float) -> str:
        """The ticks' labels centred under their x where they fit (none overlapping), then the
        axis title in the widest gap left, if it fits there."""
        line = [" "] * width
        taken: list[tuple[int, int]] = []
        for x, label in self._x_ticks:
            label = label[:width]
            col = round((x - x0) / (x1 - x0) * (width - 1))
            start = min(max(col - len(label) // 2, 0), width - len(label))
            end = start + len(label)
            if any(start < b + 1 and a < end + 1 for a, b in taken):  # a space between labels
                continue
            taken.append((start, end))
            line[start:end] = label
        if self.x_title:
            edges = sorted(taken)
            gaps, at = [], 0
            for a, b in edges:
                gaps.append((at, a))
                at = b
            gaps.append((at, width))
            a, b = max(gaps, key=lambda g: g[1] - g[0])
            if b - a >= len(self.x_title) + 2:
                start = a + (b - a - len(self.x_title)) // 2
                line[start:start + len(self.x_title)] = self.x_title
        return "".join(line)
