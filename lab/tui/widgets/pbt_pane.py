"""PBTPane: a population-based training run's record in the run view (t): one chart per explored
hyperparameter (the members' values as the band they span, and the schedule of the leading
member's line), and the family tree as a table (each member's founder and line back).

Drawn from `lab.rl.pbt.read_rounds` of the run's `pbt` events; reads nothing itself.
"""

from __future__ import annotations

import math

from rich.text import Text
from textual.containers import Grid, Vertical, VerticalScroll
from lab.display import printable, short_value
from lab.rl import pbt
from lab.tui.widgets.fitted_table import Column, FittedTable
from lab.tui.widgets.line_plot import PALETTE, LinePlot


def _log_scale(values: list[float]) -> bool:
    """Values spread over more than a decade and a half (a learning rate's): drawn as log10."""
    positive = [v for v in values if v > 0]
    return len(positive) == len(values) and bool(positive) and max(positive) / min(positive) > 30


class PBTPane(Vertical):
    DEFAULT_CSS = """
    PBTPane { width: 1fr; }
    PBTPane #pbt-grid-scroll { height: 1fr; }
    PBTPane #pbt-grid { grid-size: 2; grid-rows: 10; height: auto; }
    PBTPane #pbt-tree { height: 1fr; }
    """

    def compose(self):
        with VerticalScroll(id="pbt-grid-scroll"):
            yield Grid(id="pbt-grid")
        yield FittedTable(id="pbt-tree")

    def show(self, rounds: list[dict], lead: int | None) -> None:
        """Draw `rounds` (read_rounds'); `lead`: the member whose line's schedules are drawn (the
        delivered one, else the one with the best latest fitness)."""
        if not rounds:
            return
        family = pbt.family(rounds)
        if lead is None or not 0 <= lead < len(family):
            lead = max(range(len(family)), key=lambda m: family[m]["fitness"] if family[m]["fitness"] is not None else -math.inf)
        names = list(rounds[-1]["hyperparameters"])
        grid = self.query_one("#pbt-grid", Grid)
        plots = {p.id: p for p in grid.query(LinePlot)}
        for i, name in enumerate(names):
            pid = f"pbt-plot-{i}"
            if pid not in plots:
                plots[pid] = LinePlot(printable(name, limit=40), id=pid)
                grid.mount(plots[pid])
            steps = [r["step"] for r in rounds if name in r["hyperparameters"]]
            every = [r["hyperparameters"][name] for r in rounds if name in r["hyperparameters"]]
            line_steps, line = pbt.schedule(rounds, lead, name)
            log = _log_scale([v for vs in every for v in vs])
            f = (lambda v: math.log10(v)) if log else (lambda v: v)
            series = [(steps, [f(min(vs)) for vs in every]), (steps, [f(max(vs)) for vs in every]),
                      (line_steps, [f(v) for v in line])]
            plots[pid].plot(series, [PALETTE[0], PALETTE[0], f"bold {PALETTE[1]}"],
                            [("members, min to max", PALETTE[0]), (f"member {lead}'s line", PALETTE[1])],
                            title=f"{'log10 ' if log else ''}{printable(name, limit=40)}", x_title="steps per member",
                            bands={0: 1})
        columns = [Column("member", "member", "never"), Column("founder", "founder", "never"),
                   Column("line", "line back", "words"),
                   *(Column(f"h{i}", printable(n, limit=24), "never") for i, n in enumerate(names)),
                   Column("fitness", "fitness", "never")]
        rows = []
        for row in sorted(family, key=lambda r: -(r["fitness"] if r["fitness"] is not None else -math.inf)):
            cells = {"member": Text(f"{'*' if row['member'] == lead else ''}{row['member']}", justify="right"),
                     "founder": Text(str(row["founder"]), justify="right"), "line": pbt.line_text(row["line"], 2),
                     "fitness": Text("-" if row["fitness"] is None else f"{row['fitness']:.1f}", justify="right")}
            cells.update({f"h{i}": Text(short_value(row["hyperparameters"][n]), justify="right") for i, n in enumerate(names)})
            rows.append((str(row["member"]), cells))
        self.query_one("#pbt-tree", FittedTable).show(columns, rows)
