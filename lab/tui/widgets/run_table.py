"""RunTable: every run under the runs root, newest first, updated from the watcher's changes.

Rows are keyed by run id, so the cursor and the marks stay on the run the user picked however
many runs appear elsewhere. Newest first, or oldest first (`o`, or a click on the started
column's header), an order kept as runs arrive. Columns are sized from their data; when the
table is narrow the run id is cut first (from the left, `…ppo-1c21`, where ids differ), then the
least useful columns go (steps/s, run id, seed, elapsed, result, progress), then the experiment
is cut; what identifies a run (its experiment and when it started) and its state stay at every
width, and every cell cut shows it (`…`).
Launches that have no run folder yet show as `starting` rows, and as `failed` ones with their
error when the launch died before making its folder. A sweep is one row (its name, state, trials
done of all, best value so far) marked `▾`, with the runs of its trials under it (`├`, `└` in
the mark column, which no width drops), keyed by the sweep's id.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

from rich.cells import cell_len
from rich.text import Text
from textual.binding import Binding
from textual.geometry import Size
from textual.widgets import DataTable

from lab.display import STATE_STYLE, ShownProgress, duration, printable, result_text, started_text
from lab.summary import RunState
from lab.watch import Sweep


@dataclass
class LaunchRow:
    """A run being launched from the dashboard, before (or instead of) its run folder."""

    key: str
    experiment: str
    seed: int | None
    state: str = "starting"  # or 'failed'
    error: str = ""
    started: float = 0.0


# key, header, width when shown (None: from the data), drop order (lower goes first; None: never)
COLUMNS = [
    ("mark", "", 1, None),
    ("started", "started", None, None),
    ("experiment", "experiment", None, None),
    ("seed", "seed", None, 2),
    ("state", "state", None, None),
    ("progress", "progress", None, 5),
    ("result", "result", None, 4),
    ("sps", "steps/s", None, 0),
    ("elapsed", "elapsed", None, 3),
    ("id", "run id", None, 1),
]
# a column cut (from the left, where ids differ) before any column goes, to at least this width
SHRINK = {"id": 12}  # '…ppo-1c21'
# a column cut only once every column that may go has gone, to at least this width
NARROWEST = {"experiment": 8}  # 'breast-…'
WIDTH_ROWS = 400  # the rows whose cells set the columns' widths: the first few hundred shown
LEGEND = "● marked for compare (space) · 123.4* best evaluation or rolling return so far, not yet the final evaluation"


def progress_bar(fraction: float | None, width: int = 7) -> Text:
    if fraction is None:
        return Text("-", style="dim")
    filled = int(round(fraction * width))
    return Text("█" * filled, style="cyan") + Text("░" * (width - filled), style="dim") + Text(f" {fraction:>4.0%}")


@functools.lru_cache(maxsize=1024)  # a thousand rows share a few dozen cells (never changed in place)
def progress_cell(shown: ShownProgress) -> Text:
    """A run's progress (`lab.display.shown_progress`): its bar, and the phase a job of phases is in."""
    cell = progress_bar(shown.fraction)
    return cell + Text(f" {shown.phase}", style="dim") if shown.phase and shown.fraction is not None else cell


def trials_bar(done: int, total: int, width: int = 13) -> Text:
    """A sweep's trials done of all, as a bar and `done/total` in `width` cells."""
    count = f" {done}/{total}"
    bar = max(min(width - len(count), 7), 3)
    filled = int(round(done / total * bar)) if total else 0
    return Text("█" * filled, style="cyan") + Text("░" * (bar - filled), style="dim") + Text(count)


def cut_left(text: str, width: int) -> str:
    return text if len(text) <= width else "…" + text[-(width - 1):]


def fit(cell, width: int, left: bool = False):
    """A cell cut to `width` cells with '…' where it is cut (at its start with `left`)."""
    if _cell_len(cell) <= width:
        return cell
    text = cell if isinstance(cell, Text) else Text(cell)
    if left:
        return Text(cut_left(text.plain, width), style=text.style)
    text = text.copy()
    text.truncate(width, overflow="ellipsis")
    return text


def _cell_len(cell) -> int:
    return cell_len(cell) if isinstance(cell, str) else cell.cell_len


class RunTable(DataTable):
    BINDINGS = [
        Binding("space", "toggle_mark", "Mark"),
        Binding("c", "screen.compare", "Compare marked"),
        Binding("s", "screen.stop", "Stop"),
        Binding("r", "screen.rerun", "Run again"),
        Binding("d", "screen.delete", "Delete"),
        Binding("o", "order", "Order"),
    ]

    def __init__(self, **kw):
        super().__init__(cursor_type="row", zebra_stripes=True, **kw)
        self.marked: set[str] = set()
        self.runs: dict = {}  # id -> Run, newest first
        self.sweeps: dict[str, Sweep] = {}  # id -> Sweep
        self.launches: dict[str, LaunchRow] = {}
        self._branch: dict[str, str] = {}  # a sweep's run -> its tree glyph under the sweep's row
        self._shown: list[str] = []  # visible column keys
        self._widths: dict[str, int] = {}  # each visible column's width, from the data (_natural_widths)
        self.oldest_first = False  # the order by start: newest first, or oldest first ('o')

    # --- data -------------------------------------------------------------------------
    def apply(self, changed: dict, removed: set, running: dict | None = None, sweeps: dict | None = None,
              sweeps_removed: set | None = None) -> None:
        """The watcher's news: runs read again (new ones too), runs gone, runs still going;
        sweeps read again, sweeps gone."""
        selected = self.selected_key
        sweeps, sweeps_removed = sweeps or {}, sweeps_removed or set()
        new = [k for k in changed if k not in self.runs] + [k for k in sweeps if k not in self.sweeps]
        # a run whose start changed (a summary that could not be read, now can) moves in the order
        moved = any(k in self.runs and self.runs[k].summary.started != run.summary.started for k, run in changed.items())
        runs = {k: v for k, v in self.runs.items() if k not in removed}
        runs.update(changed)
        self.runs = dict(sorted(runs.items(), key=lambda kv: (kv[1].summary.started or 0, kv[0]), reverse=True))
        self.sweeps = {**{k: v for k, v in self.sweeps.items() if k not in sweeps_removed}, **sweeps}
        self.marked &= set(self.runs) | set(self.launches)
        if new or moved or removed or sweeps_removed or not self.columns:
            self._rebuild(selected)
            return
        for key in {**changed, **(running or {}), **sweeps}:
            if key in self.runs or key in self.sweeps:
                self._update_row(key)

    def set_launches(self, launches: dict[str, LaunchRow]) -> None:
        selected = self.selected_key
        self.launches = dict(launches)
        self._rebuild(selected)

    def _entries(self):
        """(key, run, sweep or launch row) in display order, by start, newest first (or oldest
        first): launches (the newest of all), runs and sweeps, each sweep's own runs under it."""
        newest = not self.oldest_first
        launches = sorted(self.launches.items(), key=lambda kv: kv[1].started, reverse=newest)
        if newest:
            yield from launches
        yield from self._folders(newest)
        if not newest:
            yield from launches

    def _folders(self, newest: bool):
        runs = self.runs.items() if newest else reversed(self.runs.items())  # (self.runs: newest first)
        if not self.sweeps:
            yield from runs
            return
        children: dict[str, list] = {}
        top = []
        for key, run in runs:
            if run.summary.sweep in self.sweeps:
                children.setdefault(run.summary.sweep, []).append((key, run))
            else:
                top.append((run.summary.started or 0, key, run))
        top += [(sweep.started, key, sweep) for key, sweep in self.sweeps.items()]
        for _, key, item in sorted(top, key=lambda e: (e[0], e[1]), reverse=newest):
            yield key, item
            yield from children.get(key, ())

    def _branches(self) -> dict[str, str]:
        """Each sweep's runs -> '├' ('└' for the last one under it)."""
        out, last = {}, {}
        for key, run in (reversed(self.runs.items()) if self.oldest_first else self.runs.items()):  # in display order
            if run.summary.sweep in self.sweeps:
                out[key] = "├"
                last[run.summary.sweep] = key
        out.update({key: "└" for key in last.values()})
        return out

    def _cells(self, key: str, item) -> dict:
        if isinstance(item, LaunchRow):
            state = item.state
            return {"mark": " ", "started": started_text(item.started), "experiment": Text(printable(item.experiment, limit=200)),
                    "seed": "-" if item.seed is None else str(item.seed),
                    "state": Text(state, style=STATE_STYLE.get(state, "")), "progress": Text("-", style="dim"),
                    "result": Text(printable(item.error, limit=60), style="red") if item.error else "-", "sps": "-", "elapsed": "-",
                    "id": Text("(no folder yet)" if state == "starting" else "(no folder)", style="dim")}
        if isinstance(item, Sweep):
            return self._sweep_cells(key, item)
        s = item.summary
        state = item.state
        sps = s.results.steps_per_second
        mark = Text("●", style="bold magenta") if key in self.marked else Text(self._branch[key], style="dim") \
            if key in self._branch else " "
        # every text from the folder as Text (a str cell is markup) with its control characters escaped
        return {"mark": mark, "started": started_text(s.started), "experiment": Text(printable(s.experiment or "?", limit=200)),
                "seed": "-" if s.seed is None else str(s.seed),
                "state": Text(printable(state, limit=40), style=STATE_STYLE.get(state, "")),
                "progress": progress_cell(item.progress),  # (a SeenRun: its state as the watcher saw it)
                "result": Text(printable(result_text(s), limit=60)), "sps": "-" if not sps else f"{sps:,.0f}",
                "elapsed": duration(item.seconds), "id": Text(printable(key))}

    def _sweep_cells(self, key: str, sweep: Sweep) -> dict:
        state = sweep.state
        r = sweep.record
        cells = {"mark": Text("▾", style="bold"), "started": started_text(sweep.started), "seed": "-",
                 "state": Text(state, style=STATE_STYLE.get(state, "")), "sps": "-",
                 "id": Text(printable(key))}
        if r is None:
            return {**cells, "experiment": Text("? sweep", style="dim"), "progress": Text("-", style="dim"),
                    "result": Text(printable(sweep.problem or "", limit=60), style="red"), "elapsed": "-"}
        done = sum(t.finished for t in r.trials)
        best = r.best()
        result = "-" if best is None else f"{best.value:.4g}" + ("*" if state == RunState.RUNNING else "")
        end = r.ended or (time.time() if state == RunState.RUNNING else None)
        return {**cells, "experiment": Text(printable(r.name, limit=200), style="bold") + Text(" sweep", style="dim"),
                "seed": f"×{len(r.seeds)}" if len(r.seeds) > 1 else str(r.seeds[0]) if r.seeds else "-",
                "progress": trials_bar(done, r.total_trials), "result": result,
                "elapsed": "-" if end is None or not r.started else duration(max(end - r.started, 0.0))}

    # --- layout -----------------------------------------------------------------------
    def _natural_widths(self, cells: list[dict]) -> dict[str, int]:
        """Each column's width from its cells (those of the newest few hundred rows: older cells
        are cut, with '…')."""
        widths = {key: len(self._header(key)) for key, *_ in COLUMNS}
        for row in cells[:WIDTH_ROWS]:
            for col, cell in row.items():
                if col != "id":
                    widths[col] = max(widths[col], _cell_len(cell))
        for key, _, fixed, _ in COLUMNS:
            if fixed is not None:
                widths[key] = fixed
        widths["id"] = max([len(k) for k in (*self.runs, *self.sweeps)] + [len("run id")])
        return widths

    def _header(self, key: str) -> str:
        if key == "started":
            return "started " + ("↑" if self.oldest_first else "↓")
        return next(header for k, header, *_ in COLUMNS if k == key)

    def _room(self, rows: int) -> int:
        """The cells the columns may take: the table's width, less a vertical scrollbar when the
        rows need one."""
        scrollbar = self.styles.scrollbar_size_vertical if rows + 1 > self.size.height else 0
        return self.size.width - scrollbar

    def _layout(self, width: int, natural: dict[str, int]) -> tuple[list[str], dict[str, int]]:
        """Visible column keys and their widths, for `width` cells: columns go in their drop
        order until the rest fit with the SHRINK columns cut to their least; then those are cut
        only as far as needed, and the NARROWEST ones last."""
        shown = [key for key, *_ in COLUMNS]
        droppable = sorted((c for c in COLUMNS if c[3] is not None), key=lambda c: c[3])

        def least(cols):  # cell padding: 1 each side
            return sum(min(natural[c], SHRINK.get(c, natural[c])) + 2 for c in cols)

        for key, *_ in droppable:
            if least(shown) <= width or width <= 0:
                break
            shown.remove(key)
        widths = {c: natural[c] for c in shown}
        over = sum(w + 2 for w in widths.values()) - width
        for c, least_width in [*SHRINK.items(), *NARROWEST.items()]:
            if over > 0 and c in widths:
                cut = max(min(over, widths[c] - min(natural[c], least_width)), 0)
                widths[c] -= cut
                over -= cut
        return shown, widths

    def on_resize(self) -> None:
        entries = list(self._entries())
        cells = [self._cells(key, item) for key, item in entries[:WIDTH_ROWS]]
        if self._layout(self._room(len(entries)), self._natural_widths(cells)) != (self._shown, self._widths):
            self._rebuild(self.selected_key)

    def _fit(self, col: str, cell):
        return fit(cell, self._widths[col], left=col == "id")

    def _rebuild(self, selected: str | None) -> None:
        self._branch = self._branches()
        entries = list(self._entries())
        cells = [self._cells(key, item) for key, item in entries]
        natural = self._natural_widths(cells)
        self._shown, self._widths = self._layout(self._room(len(entries)), natural)
        self.clear(columns=True)
        for key in self._shown:
            self.add_column(self._header(key), key=key, width=self._widths[key])
        cut = [c for c in self._shown if self._widths[c] < natural[c]]  # (the first rows' other cells fit: they set the widths)
        for i, ((key, _), row) in enumerate(zip(entries, cells)):
            fitted = {c: self._fit(c, row[c]) for c in (self._shown if i >= WIDTH_ROWS else cut)}
            self.add_row(*(fitted.get(c, row[c]) for c in self._shown), key=key)
        if selected is not None and selected in self.rows:
            self.move_cursor(row=self.get_row_index(selected), animate=False)

    def _update_row(self, key: str) -> None:
        if key not in self.rows:
            return
        cells = self._cells(key, self.runs[key] if key in self.runs else self.sweeps[key])
        grown = {col: _cell_len(cells[col]) for col in self._shown
                 if col not in SHRINK and _cell_len(cells[col]) > self._widths[col]}
        if grown:  # a cell that grew ('9:59' -> '10:00') widens its column where the table has room, else the columns are laid out again
            room = self._room(self.row_count) - sum(w + 2 for w in self._widths.values())
            if sum(width - self._widths[col] for col, width in grown.items()) > room:
                self._rebuild(self.selected_key)
                return
            for col, width in grown.items():
                self._widths[col] = self.columns[col].width = width
            self._require_update_dimensions = True
            self.refresh()
        for col in self._shown:
            self.update_cell(key, col, self._fit(col, cells[col]))

    def _update_dimensions(self, new_rows) -> None:
        """Every column's width is set from the data (`_natural_widths`, the newest few hundred
        rows, once per rebuild), and rows are one line: Textual's measuring of every cell of every
        new row (a third of a second for 1,000 runs, on the event loop) is not needed."""
        if any(column.auto_width for column in self.columns.values()):
            super()._update_dimensions(new_rows)
            return
        width = sum(column.get_render_width(self) for column in self.columns.values())
        self.virtual_size = Size(width, self._total_row_height + (self.header_height if self.show_header else 0))

    # --- the run under the cursor ---------------------------------------------------------
    @property
    def selected_key(self) -> str | None:
        if self.row_count == 0 or not (0 <= self.cursor_row < self.row_count):
            return None
        return self.coordinate_to_cell_key((self.cursor_row, 0)).row_key.value

    @property
    def selected(self):
        """The run under the cursor (None on a sweep's or a launch's row, or an empty table)."""
        return self.runs.get(self.selected_key or "")

    @property
    def selected_sweep(self) -> Sweep | None:
        """The sweep under the cursor (None elsewhere)."""
        return self.sweeps.get(self.selected_key or "")

    def select(self, key: str) -> None:
        if key in self.rows:
            self.move_cursor(row=self.get_row_index(key))

    def action_order(self) -> None:
        """Newest first <-> oldest first, kept as runs arrive; the cursor stays on its run."""
        self.oldest_first = not self.oldest_first
        self._rebuild(self.selected_key)
        self.notify("runs oldest first" if self.oldest_first else "runs newest first", timeout=2)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        if event.column_key.value == "started":
            event.stop()
            self.action_order()

    def action_toggle_mark(self) -> None:
        key = self.selected_key
        if key is None or key not in self.runs:
            return
        self.marked.symmetric_difference_update({key})
        self._update_row(key)
