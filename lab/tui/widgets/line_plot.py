"""LinePlot: braille line charts of a few series, downsampled to the widget's width."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from lab.termplot import downsample, line_chart_text

PALETTE = ["#5fafff", "#ff8700", "#87d75f", "#d75fd7", "#ffd75f", "#5fd7d7", "#ff5f5f", "#afafaf"]


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

    def plot(self, series, styles, legend=(), title: str | None = None, y_range=None) -> None:
        self._series, self._styles, self._legend = list(series), list(styles), list(legend)
        self._y_range = y_range
        if title is not None:
            self.title = title
        self.refresh()

    def render(self) -> Text:
        width, height = self.size.width, self.size.height
        head = Text(self.title, style="bold")
        for label, style in self._legend:
            head.append("   ━━ ", style=style)
            head.append(label, style="dim")
        plot_w = max(width - 10, 8)
        plot_h = max(height - 3, 2)
        series = [downsample(xs, ys, 2 * plot_w) for xs, ys in self._series]
        body = line_chart_text(series, self._styles, plot_w, plot_h, self._y_range)
        return Text("\n").join([head, body])
