"""RunTable: every run under the runs root, refreshed in place from the folders' summaries."""

from __future__ import annotations


from rich.text import Text
from textual.widgets import DataTable

from lab.store import list_runs

STATE_STYLE = {"completed": "green", "running": "bold cyan", "failed": "bold red", "crashed": "bold red", "stopped": "yellow"}
COLUMNS = [("", "mark"), ("experiment", "experiment"), ("state", "state"), ("progress", "progress"),
           ("result", "result"), ("steps/s", "sps"), ("elapsed", "elapsed"), ("run id", "id")]


def progress_bar(fraction: float | None, width: int = 8) -> Text:
    if fraction is None:
        return Text("-", style="dim")
    filled = int(round(fraction * width))
    return Text("█" * filled, style="cyan") + Text("░" * (width - filled), style="dim") + Text(f" {fraction:>4.0%}")


def result_text(summary: dict) -> str:
    r = summary.get("results") or {}
    if summary.get("kind") == "attribution":
        if r.get("test_accuracy") is not None:
            return f"acc {r['test_accuracy']:.3f}"
        return r.get("most_faithful_method") or "-"
    for key in ("final_eval_return_mean", "best_eval_return_mean", "rolling_return"):
        if r.get(key) is not None:
            return f"{r[key]:.1f}" + ("" if key == "final_eval_return_mean" else "*")
    return "-"


def elapsed_text(run) -> str:
    if run.seconds is None:
        return "-"
    seconds = int(run.seconds)
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds < 3600 else f"{seconds // 3600}h{seconds % 3600 // 60:02d}"


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
        fraction = (s.get("progress") or {}).get("fraction")
        sps = (s.get("results") or {}).get("steps_per_second")
        return [Text("●", style="bold magenta") if run.path.name in self.marked else " ",
                s.get("experiment", "?"), Text(state, style=STATE_STYLE.get(state, "")), progress_bar(fraction),
                result_text(s), "-" if not sps else f"{sps:,.0f}", elapsed_text(run), run.path.name]

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
