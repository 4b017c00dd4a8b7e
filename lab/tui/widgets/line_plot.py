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

from lab.termplot import downsample, layout

PALETTE = ["#5fafff", "#ff8700", "#87d75f", "#d75fd7", "#ffd75f", "#5fd7d7", "#ff5f5f", "#afafaf"]
LABEL_WIDTH = 10


@lru_cache(maxsize=64)
def _style(text: str) -> Style:
    return Style.parse(text) if text else Style()


def _ellipsised(text: str, width: int) -> str:
    return text if len(text) <= width else text[:max(width - 1, 0)].rstrip() + "…"


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
        self._markers: dict[int, str] = {}
        self._bands: dict[int, int] = {}
        self.x_title = ""
        self._cache_key = None
        self._strips: list[Strip] = []

    def plot(self, series, styles, legend=(), title: str | None = None, y_range=None, x_title: str | None = None,
             markers: dict[int, str] | None = None, bands: dict[int, int] | None = None) -> None:
        """markers: {series: glyph}, a glyph per point instead of a line (evaluations);
        bands: {low series: high series}, the area between them shaded in the low one's colour."""
        self._series, self._styles, self._legend = list(series), list(styles), list(legend)
        self._y_range = y_range
        self._markers, self._bands = dict(markers or {}), dict(bands or {})
        if x_title is not None:
            self.x_title = x_title
        if title is not None:
            self.title = title
        self._cache_key = None
        self.refresh()

    def plot_profiles(self, prof: dict, title: str, x_title: str) -> None:
        """lab.stats.profiles: each group's share of runs scoring above each threshold, bold, over
        its 95% band, shaded; the share from 0 to 1."""
        series, styles, legend, bands = [], [], [], {}
        taus = prof.get("tau", [])
        for i, (name, g) in enumerate(prof.get("groups", {}).items()):
            colour = PALETTE[i % len(PALETTE)]
            bands[len(series)] = len(series) + 1
            series += [(taus, g["low"]), (taus, g["high"]), (taus, g["share"])]
            styles += [colour, colour, f"bold {colour}"]
            legend.append((name, colour))
        self.plot(series, styles, legend, title=title, x_title=x_title, bands=bands, y_range=(0.0, 1.0))

    def _build(self, width: int, height: int) -> list[Strip]:
        strips = self._head(width)
        plot_w, plot_h = max(width - LABEL_WIDTH, 8), max(height - 2 - len(strips), 2)
        series = [downsample(xs, ys, 2 * plot_w) for xs, ys in self._series]
        chart = layout(series, plot_w, plot_h, self._y_range, self.x_title, self._markers, self._bands)
        if chart is None:
            strips.append(Strip([Segment("(no data yet)", _style("dim"))]))
        else:
            rows, axis = chart
            dim = _style("dim")
            shade = {i: self._shade(self._styles[i]) for i in self._bands}
            for label, runs in rows:
                segments = [Segment(label, dim)]
                for chunk, owner, band in runs:
                    style = _style(self._styles[owner]) if owner >= 0 else None
                    if band >= 0:
                        style = shade[band] if style is None else style + shade[band]
                    segments.append(Segment(chunk, style))
                strips.append(Strip(segments))
            strips += [Strip([Segment(line, dim)]) for line in axis]
        return [s.crop_extend(0, width, None) for s in strips]

    def _head(self, width: int) -> list[Strip]:
        """The title, then the legend's entries, wrapped onto more lines where the width ends; a
        text longer than the width ends in '…' (never cut by the edge, next to a neighbour's axis)."""
        title = _ellipsised(self.title, width)
        lines = [[Segment(title, _style("bold"))]]
        used = len(title)
        for label, style, *glyph in self._legend:
            label = _ellipsised(label, width - 3)
            entry = [Segment(f"{glyph[0] if glyph else '━━'} ", _style(style)), Segment(label, _style("dim"))]
            size = 3 + len(label)
            if used and used + 3 + size > width:
                lines.append([])
                used = 0
            if used:
                entry.insert(0, Segment("   "))
                size += 3
            lines[-1] += entry
            used += size
        return [Strip(line) for line in lines]

    def _shade(self, style: str) -> Style:
        """A band's background: its series' colour, faint over the widget's own background."""
        from textual.color import Color

        colour = next((w for w in style.split() if w.startswith("#")), None)
        if colour is None:
            return Style()
        base = self.background_colors[1]
        return Style(bgcolor=base.blend(Color.parse(colour), 0.3).rich_color)

    def render_line(self, y: int) -> Strip:
        width, height = self.size.width, self.size.height
        key = (width, height, self.app.theme)  # a band's shade depends on the theme's background
        if key != self._cache_key:
            self._strips = self._build(width, height)
            self._cache_key = key
        style = self.rich_style
        strip = self._strips[y] if y < len(self._strips) else Strip.blank(width)
        return strip.apply_style(style)

