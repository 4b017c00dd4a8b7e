"""ClampedText: text wrapped to its width and cut to a number of lines, its last line ending in
'…' when there was more, so that nothing is cut without saying so."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class ClampedText(Static):
    def __init__(self, max_lines: int, **kw):
        super().__init__(**kw)
        self.max_lines = max_lines
        self.full = Text()
        self._shown: Text | None = None

    def show(self, text: Text) -> None:
        self.full = text
        self._clamp()

    def on_resize(self) -> None:
        self._clamp()

    def _clamp(self) -> None:
        width = self.content_region.width
        shown = self.full if width <= 1 else clamp(self.full, width, self.max_lines, self.app.console)
        if self._shown is None or shown.plain != self._shown.plain or shown.spans != self._shown.spans:
            self._shown = shown
            self.update(shown)


def clamp(text: Text, width: int, max_lines: int, console) -> Text:
    """`text` wrapped to `width` cells, cut to `max_lines` lines with '…' ending the last one
    kept when there were more (as it is when it fits)."""
    lines = text.wrap(console, width)
    if len(lines) <= max_lines:
        return text
    kept = list(lines)[:max_lines]
    last = kept[-1]
    last.rstrip()
    if last.cell_len > width - 1:
        last.truncate(width - 1)
    last.append("…", style="dim")
    return Text("\n").join(kept)
