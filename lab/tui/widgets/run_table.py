"""RunTable: every run under the runs root, newest first, updated from the watcher's changes.

Rows are keyed by run id, so the cursor and the marks stay on the run the user picked however
many runs appear elsewhere. Columns are sized from their data; when the table is narrow the
least useful ones go first (steps/s, elapsed, seed, progress, experiment, result), never the
state or the run id, and ids are cut from the left (`…ppo-1c21`), where they differ.
Launches that have no run folder yet show as `starting` rows, and as `failed` ones with their
error when the launch died before making its folder. A sweep is one row (its name, state, trials
done of all, best value so far) marked `▾`, with the runs of its trials under it (`├`, `└` in
the mark column, which no width drops), keyed by the sweep's id.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.text import Text
from textual.binding import Binding
from textual.geometry import Size
from textual.widgets import DataTable

from lab.display import STATE_STYLE, duration, printable, result_text
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
    ("experiment", "experiment", None, 4),
    ("seed", "seed", None, 2),
    ("state", "state", None, None),
    ("progress", "progress", 13, 3),
    ("result", "result", None, 5),
    ("sps", "steps/s", None, 0),
    ("elapsed", "elapsed", None, 1),
    ("id", "run id", None, None),
]
ID_MIN = 12  # '…' and enough of the end to tell runs apart: '…ppo-1c21'
LEGEND = "● marked for compare (space) · 123.4* best evaluation or rolling return so far, not yet the final evaluation"


def progress_bar(fraction: float | None, width: int = 7) -> Text:
    if fraction is None:
        return Text("-", style="dim")
    filled = int(round(fraction * width))
    return Text("█" * filled, style="cyan") + Text("░" * (width - filled), style="dim") + Text(f" {fraction:>4.0%}")


def trials_bar(done: int, total: int, width: int = 13) -> Text:
    """A sweep's trials done of all, as a bar and `done/total` in `width` cells."""
    count = f" {done}/{total}"
    bar = max(min(width - len(count), 7), 3)
    filled = int(round(done / total * bar)) if total else 0
    return Text("█" * filled, style="cyan") + Text("░" * (bar - filled), style="dim") + Text(count)


def cut_left(text: str, width: int) -> str:
    return text if len(text) <= width else "…" + text[-(width - 1):]


class RunTable(DataTable):
    BINDINGS = [
        Binding("space", "toggle_mark", "Mark"),
        Binding("c", "screen.compare", "Compare marked"),
        Binding("s", "screen.stop", "Stop"),
        Binding("r", "screen.rerun", "Run again"),
        Binding("d", "screen.delete", "Delete"),
    ]

    def __init__(self, **kw):
        super().__init__(cursor_type="row", zebra_stripes=True, **kw)
        self.marked: set[str] = set()
        self.runs: dict = {}  # id -> Run, newest first
        self.sweeps: dict[str, Sweep] = {}  # id -> Sweep
        self.launches: dict[str, LaunchRow] = {}
        self._branch: dict[str, str] = {}  # a sweep's run -> its tree glyph under the sweep's row
        self._shown: list[str] = []  # visible column keys
        self._id_width = 40
        self._widths: dict[str, int] = {}  # each visible column's width, from the data (_natural_widths)

    # --- data -------------------------------------------------------------------------
    def apply(self, changed: dict, removed: set, running: dict | None = None, sweeps: dict | None = None,
              sweeps_removed: set | None = None) -> None:
        """The watcher's news: runs read again (new ones too), runs gone, runs still going;
        sweeps read again, sweeps gone."""
        selected = self.selected_key
        sweeps, sweeps_removed = sweeps or {}, sweeps_removed or set()
        new = [k for k in changed if k not in self.runs] + [k for k in sweeps if k not in self.sweeps]
        runs = {k: v for k, v in self.runs.items() if k not in removed}
        runs.update(changed)
        self.runs = dict(sorted(runs.items(), key=lambda kv: (kv[1].summary.started or 0, kv[0]), reverse=True))
        self.sweeps = {**{k: v for k, v in self.sweeps.items() if k not in sweeps_removed}, **sweeps}
        self.marked &= set(self.runs) | set(self.launches)
        if new or removed or sweeps_removed or not self.columns:
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
        """(key, run, sweep or launch row) in display order: launches first (newest), then runs
        and sweeps, newest first, each sweep's own runs under it."""
        yield from sorted(self.launches.items(), key=lambda kv: -kv[1].started)
        if not self.sweeps:
            yield from self.runs.items()
            return
        children: dict[str, list] = {}
        top = []
        for key, run in self.runs.items():
            if run.summary.sweep in self.sweeps:
                children.setdefault(run.summary.sweep, []).append((key, run))
            else:
                top.append((run.summary.started or 0, key, run))
        top += [(sweep.started, key, sweep) for key, sweep in self.sweeps.items()]
        for _, key, item in sorted(top, key=lambda e: (e[0], e[1]), reverse=True):
            yield key, item
            yield from children.get(key, ())

    def _branches(self) -> dict[str, str]:
        """Each sweep's runs -> '├' ('└' for the last one under it)."""
        out, last = {}, {}
        for key, run in self.runs.items():
            if run.summary.sweep in self.sweeps:
                out[key] = "├"
                last[run.summary.sweep] = key
        out.update({key: "└" for key in last.values()})
        return out

    def _cells(self, key: str, item) -> dict:
        if isinstance(item, LaunchRow):
            state = item.state
            return {"mark": " ", "experiment": Text(printable(item.experiment)), "seed": "-" if item.seed is None else str(item.seed),
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
        return {"mark": mark, "experiment": Text(printable(s.experiment or "?", limit=200)), "seed": "-" if s.seed is None else str(s.seed),
                "state": Text(printable(state, limit=40), style=STATE_STYLE.get(state, "")), "progress": progress_bar(s.progress.fraction),
                "result": Text(printable(result_text(s), limit=60)), "sps": "-" if not sps else f"{sps:,.0f}",
                "elapsed": duration(item.seconds), "id": Text(cut_left(printable(key), self._id_width))}

    def _sweep_cells(self, key: str, sweep: Sweep) -> dict:
        state = sweep.state
        r = sweep.record
        cells = {"mark": Text("▾", style="bold"), "seed": "-", "state": Text(state, style=STATE_STYLE.get(state, "")), "sps": "-",
                 "id": Text(cut_left(printable(key), self._id_width))}
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
    def _natural_widths(self) -> dict[str, int]:
        widths = {key: len(header) for key, header, _, _ in COLUMNS}
        for key, item in list(self._entries())[:400]:  # the newest few hundred set the widths
            for col, cell in self._cells(key, item).items():
                if col != "id":
                    widths[col] = max(widths[col], Text(cell).cell_len if isinstance(cell, str) else cell.cell_len)
        for key, _, fixed, _ in COLUMNS:
            if fixed is not None:
                widths[key] = fixed
        widths["id"] = max([len(k) for k in (*self.runs, *self.sweeps)] + [len("run id")])
        return widths

    def _layout(self, width: int, natural: dict[str, int] | None = None) -> tuple[list[str], int]:
        """Visible column keys and the id column's width, for a table `width` cells wide."""
        natural = natural or self._natural_widths()
        shown = [key for key, *_ in COLUMNS]
        droppable = sorted((c for c in COLUMNS if c[3] is not None), key=lambda c: c[3])

        def used(cols):
            return sum(natural[c] + 2 for c in cols if c != "id") + 2  # cell padding 1 each side

        for key, *_ in droppable:
            if width - used(shown) >= min(natural["id"], ID_MIN) or width <= 0:
                break
            shown.remove(key)
        id_width = max(min(natural["id"], width - used(shown) - 1), ID_MIN)
        return shown, id_width

    def on_resize(self) -> None:
        if self._layout(self.size.width) != (self._shown, self._id_width):
            self._rebuild(self.selected_key)

    def _rebuild(self, selected: str | None) -> None:
        self._branch = self._branches()
        natural = self._natural_widths()
        self._shown, self._id_width = self._layout(self.size.width, natural)
        self._widths = {**natural, "id": self._id_width}
        self.clear(columns=True)
        headers = {key: header for key, header, _, _ in COLUMNS}
        for key in self._shown:
            self.add_column(headers[key], key=key, width=self._widths[key])
        for key, item in self._entries():
            cells = self._cells(key, item)
            self.add_row(*(cells[c] for c in self._shown), key=key)
        if selected is not None and selected in self.rows:
            self.move_cursor(row=self.get_row_index(selected), animate=False)

    def _update_row(self, key: str) -> None:
        if key not in self.rows:
            return
        cells = self._cells(key, self.runs[key] if key in self.runs else self.sweeps[key])
        for col in self._shown:
            self.update_cell(key, col, cells[col])
            if col != "id" and (width := Text(cells[col]).cell_len if isinstance(cells[col], str) else cells[col].cell_len) > self._widths[col]:
                self._widths[col] = self.columns[col].width = width  # a cell that grew ('9:59' -> '10:00') widens its column
                self._require_update_dimensions = True
                self.refresh()

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

    def action_toggle_mark(self) -> None:
        key = self.selected_key
        if key is None or key not in self.runs:
            return
        self.marked.symmetric_difference_update({key})
        self._update_row(key)
