"""LinePlot: braille line charts of a few series, downsampled to the widget's width.

Drawn with Textual's line API (one Strip per row, built from runs of same-styled characters)
and cached until the data or the size changes, so a redraw costs little on the event loop.
"""

from __future__ import annotations

from functools import lru_cache

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

from lab.termplot import _layout, downsample

PALETTE = ["#5fafff", "#ff8700", "#87d75f", "#d75fd7", "#ffd75f", "#5fd7d7", "#ff5f5f", "#afafaf"]
LABEL_WIDTH = 10


@lru_cache(maxsize=64)
def _style(text: str) -> Style:
    return Style.parse(text) if text else Style()


class LinePlot(Widget):
    """Set its data with `plot(series, styles, legend)`; it redraws on the next frame only."""

    DEFAULT_CSS = "LinePlot { height: 1fr; min-height: 6; }"

    def __init__(self, title: str = "", **kw):
        super().__init__(**kw)
        self.title = title
        self._series: list[tuple[list[float], list[float]]] = []
        self._styles: list[str] = []
        self._legend: list[tuple[str, str]] = []
        self._y_range = None
        self.x_title = ""
        self._cache_key = None
        self._strips: list[Strip] = []

    def plot(self, series, styles, legend=(), title: str | None = None, y_range=None, x_title: str | None = None) -> None:
        self._series, self._styles, self._legend = list(series), list(styles), list(legend)
        self._y_range = y_range
        if x_title is not None:
            self.x_title = x_title
        if title is not None:
            self.title = title
        self._cache_key = None
        self.refresh()

    def _build(self, width: int, height: int) -> list[Strip]:
        head = [Segment(self.title, _style("bold"))]
        for label, style in self._legend:
            head += [Segment("   ━━ ", _style(style)), Segment(label, _style("dim"))]
        strips = [Strip(head)]
        plot_w, plot_h = max(width - LABEL_WIDTH, 8), max(height - 3, 2)
        series = [downsample(xs, ys, 2 * plot_w) for xs, ys in self._series]
        layout = _layout(series, plot_w, plot_h, self._y_range, self.x_title)
        if layout is None:
            strips.append(Strip([Segment("(no data yet)", _style("dim"))]))
        else:
            rows, axis = layout
            dim = _style("dim")
            for label, runs in rows:
                segments = [Segment(label, dim)]
                segments += [Segment(chunk, _style(self._styles[owner]) if owner >= 0 else None) for chunk, owner in runs]
                strips.append(Strip(segments))
            strips += [Strip([Segment(line, dim)]) for line in axis]
        return [s.crop_extend(0, width, None) for s in strips]

    def render_line(self, y: int) -> Strip:
        width, height = self.size.width, self.size.height
        key = (width, height)
        if key != self._cache_key:
            self._strips = self._build(width, height)
            self._cache_key = key
        style = self.rich_style
        strip = self._strips[y] if y < len(self._strips) else Strip.blank(width)
        return strip.apply_style(style)
