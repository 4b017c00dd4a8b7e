"""FittedTable: a DataTable whose columns are sized from its own width, after every change of its
cells and every resize: header and rows alike, numbers whole (a sweep's trials, the help's keys).

A DataTable sizes auto-width columns when it is next idle, and caches the rows it rendered before
that at the old widths; rows drawn early then stay cut (a learning rate shown as `9.24070926447`,
its exponent gone) while later rows are wide. Here every column has a width set before any row is
drawn: each column's widest cell where the width allows, else labels shortened first, then texts
(a state, a progress) ellipsised, a column of values cut between values; a number is never cut
(where even that does not fit, the table scrolls sideways).
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.widgets import DataTable

ELLIPSIS = "…"
TEXT_MIN = 8  # cells of a text column kept however narrow the table


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    # how its cells give way to a narrow table: "never" (numbers: whole, or the table scrolls),
    # "end" (text: ellipsised), "words" (values separated by spaces: cut between two, then '…')
    cut: str = "end"


def fit(text: Text, width: int, cut: str = "end") -> Text:
    """`text` in at most `width` cells, cut as its column says (a "never" cell is left whole)."""
    if text.cell_len <= width or cut == "never" or width <= 0:
        return text
    plain = text.plain
    if cut == "words":
        at = plain.rfind(" ", 0, width)
        if at > 0:  # (a space before the width: the values before it, and '…' in its place)
            return _ellipsised(text[:at], width)
    return _ellipsised(text[:width - 1], width)


def _ellipsised(text: Text, width: int) -> Text:
    text.rstrip()
    text.append(ELLIPSIS, style="dim")
    text.truncate(width)
    return text


class FittedTable(DataTable):
    """Give it columns and rows with `show`; it keeps the cursor on its row across changes."""

    def __init__(self, **kw):
        kw.setdefault("cursor_type", "row")
        kw.setdefault("zebra_stripes", True)
        super().__init__(**kw)
        self._spec: list[Column] = []
        self._cells: dict[str, dict[str, Text]] = {}  # row key -> its cells, whole
        self._widths: list[int] = []
        self._shown: dict[str, dict[str, Text]] = {}  # row key -> its cells as the table has them, fitted

    def show(self, columns: list[Column], rows: list[tuple[str, dict]]) -> None:
        """The table's columns, and its rows in order: (key, {column key: cell}); a cell a Text or a str."""
        self._spec = list(columns)
        self._cells = {key: {c.key: _as_text(cells.get(c.key, "-")) for c in self._spec} for key, cells in rows}
        self._refit()

    def on_resize(self, event: events.Resize) -> None:
        if self._spec:
            self._refit()

    # --- sizing ---------------------------------------------------------------------------
    def available(self) -> int:
        """Cells the columns may take: the table's width less its scrollbar's, where it has one (a
        scrollbar appearing is a resize: the columns are sized again), and less the cells' padding."""
        return self.scrollable_content_region.width - 2 * self.cell_padding * len(self._spec)

    def widths(self, available: int) -> list[int]:
        """Each column's widest cell; where that is too wide, first the labels shortened to their
        column's widest value, then the text columns (widest first) down to a few cells."""
        rows = list(self._cells.values())
        values = [max((row[c.key].cell_len for row in rows), default=1) for c in self._spec]
        labels = [len(c.label) for c in self._spec]
        widths = [max(v, lab) for v, lab in zip(values, labels)]
        label_min = [max(v, min(lab, 4)) for v, lab in zip(values, labels)]
        text_min = []
        for c, v, label, low in zip(self._spec, values, labels, label_min):
            if c.cut == "never":
                text_min.append(low)
                continue
            # words: each row's first value and '…'
            keep = TEXT_MIN if c.cut == "end" else max((len(row[c.key].plain.split(" ", 1)[0]) + 1 for row in rows), default=1)
            text_min.append(max(min(v, keep), min(label, 4)))
        excess = sum(widths) - available
        for floor in (label_min, [min(a, b) for a, b in zip(label_min, text_min)]):
            while excess > 0:
                i = max(range(len(widths)), key=lambda k: (widths[k] - floor[k] > 0, widths[k]), default=None)
                if i is None or widths[i] <= floor[i]:
                    break
                widths[i] -= 1
                excess -= 1
        return widths

    def _refit(self) -> None:
        widths = self.widths(self.available())
        keys = [c.key for c in self._spec]
        same = (widths == self._widths and keys == [k.value for k in self.columns]
                and list(self._cells) == [k.value for k in self.rows])
        fitted = {key: {c.key: fit(cells[c.key], w, c.cut) for c, w in zip(self._spec, widths)} for key, cells in self._cells.items()}
        if same:
            for key, cells in fitted.items():
                shown = self._shown.get(key, {})
                for column, cell in cells.items():
                    if shown.get(column) != cell:
                        self.update_cell(key, column, cell)
            self._shown = fitted
            return
        # new widths, columns or rows: the table again, its cursor on the row it was on
        selected = self.coordinate_to_cell_key((self.cursor_row, 0)).row_key.value if self.row_count else None
        self.clear(columns=True)
        for c, w in zip(self._spec, widths):
            self.add_column(fit(Text(c.label), w), width=w, key=c.key)
        for key, cells in fitted.items():
            self.add_row(*(cells[k] for k in keys), key=key)
        self._widths, self._shown = widths, fitted
        if selected in self.rows:
            self.move_cursor(row=self.get_row_index(selected), animate=False)


def _as_text(cell) -> Text:
    return cell if isinstance(cell, Text) else Text(str(cell))
