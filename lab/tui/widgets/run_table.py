"""RunTable: every run under the runs root, refreshed in place from the folders' summaries."""

from __future__ import annotations


from rich.text import Text
from textual.widgets import DataTable

from lab.display import STATE_STYLE, duration, result_text
from lab.store import list_runs

COLUMNS = [("", "mark"), ("experiment", "experiment"), ("state", "state"), ("progress", "progress"),
           ("result", "result"), ("steps/s", "sps"), ("elapsed", "elapsed"), ("run id", "id")]


def progress_bar(fraction: float | None, width: int = 8) -> Text:
    if fraction is None:
        return Text("-", style="dim")
    filled = int(round(fraction * width))
    return Text("█" * filled, style="cyan") + Text("░" * (width - filled), style="dim") + Text(f" {fraction:>4.0%}")


class RunTable(DataTable):
    """Rows keyed by run folder name; `marked` holds the runs picked for comparison."""

    def __init__(self, runs_dir, **kw):
        super().__init__(cursor_type="row", zebra_stripes=True, **kw)
        self.runs_dir = runs_dir
        self.marked: set[str] = set()
        self.runs = {}

    def on_mount(self) -> None:
        for label, key in COLUMNS:
            self.add_column(label, key=key)
        self.refresh_runs()

    def refresh_runs(self) -> None:
        runs = {r.path.name: r for r in reversed(list_runs(self.runs_dir))}  # newest first
        for key in [k for k in self.runs if k not in runs]:
            self.remove_row(key)
            self.marked.discard(key)
        for name, run in runs.items():
            cells = self._cells(run)
            if name in self.runs:
                for (_, col), value in zip(COLUMNS, cells):
                    self.update_cell(name, col, value)
            else:
                self.add_row(*cells, key=name)
        if any(name not in self.runs for name in runs) and len(runs) > 1:
            self.sort("id", reverse=True)
        self.runs = runs

    def _cells(self, run) -> list:
        s = run.summary
        state = run.state
        sps = s.results.steps_per_second
        return [Text("●", style="bold magenta") if run.id in self.marked else " ",
                s.experiment, Text(state, style=STATE_STYLE.get(state, "")), progress_bar(s.progress.fraction),
                result_text(s), "-" if not sps else f"{sps:,.0f}", duration(run.seconds), run.id]

    @property
    def selected(self):
        if not self.runs or self.cursor_row < 0 or self.cursor_row >= self.row_count:
            return None
        key = self.coordinate_to_cell_key((self.cursor_row, 0)).row_key.value
        return self.runs.get(key)

    def toggle_mark(self) -> None:
        run = self.selected
        if run is None:
            return
        name = run.path.name
        self.marked.symmetric_difference_update({name})
        self.update_cell(name, "mark", self._cells(run)[0])
