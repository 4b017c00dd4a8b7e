"""An attribution run's methods side by side for one input, with agreement and faithfulness."""

from __future__ import annotations

import json

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from lab.files import open_regular, read_regular
from lab.tui.widgets.attribution_view import bars, consensus_order, diverging, grey, heatmap

NON_METHODS = {"inputs", "inputs_original", "targets", "feature_names", "class_names", "baseline", "labels"}


class AttributionScreen(Screen):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("left,p", "move(-1)", "Previous input"),
        Binding("right,n", "move(1)", "Next input"),
    ]

    def __init__(self, path):
        from lab.store import Run

        super().__init__()
        self.run = run = Run.load(path)
        with open_regular(run.artifact("attributions.npz")) as f, np.load(f, allow_pickle=False) as npz:
            self.data = {k: npz[k] for k in npz.files}
        self.comparison = json.loads(read_regular(run.artifact("comparison.json")))
        self.methods = [k for k in self.data if k not in NON_METHODS]
        self.index = 0
        self.is_image = self.data["inputs"].ndim == 4

    def compose(self) -> ComposeResult:
        with Vertical(id="attr-view"):
            yield Static(id="attr-title")
            with VerticalScroll(id="attr-panels-scroll"):
                yield Grid(id="attr-panels", classes="images" if self.is_image else "tabular")
            with Horizontal(id="attr-tables"):
                yield DataTable(id="attr-metrics", cursor_type="none", zebra_stripes=True)
                yield DataTable(id="attr-agreement", cursor_type="none")
        yield Footer()

    async def on_mount(self) -> None:
        grid = self.query_one("#attr-panels", Grid)
        if self.is_image:
            await grid.mount(Static(id="panel-input", classes="attr-panel"))
        await grid.mount_all([Static(id=f"panel-{m}", classes="attr-panel") for m in self.methods])
        self.fill_tables()
        self.show_sample()

    def fill_tables(self) -> None:
        c = self.comparison
        metrics = self.query_one("#attr-metrics", DataTable)
        for col in ("method", "ms/input", "deletion ↓", "insertion ↑", "infidelity ↓", "sensitivity ↓", "completeness"):
            metrics.add_column(col)
        rows = sorted(c["methods"].items(), key=lambda kv: kv[1]["deletion_auc"])
        for name, m in rows:
            comp = m.get("completeness_error")
            metrics.add_row(name, f"{m['seconds_per_sample'] * 1000:.2f}", f"{m['deletion_auc']:.3f}", f"{m['insertion_auc']:.3f}",
                            _g(m.get("infidelity")), _g(m.get("sensitivity_max")), "-" if comp is None else f"{comp:.2%}")
        metrics.add_row(Text("random order", style="dim"), "", f"{c['random']['deletion_auc']:.3f}",
                        f"{c['random']['insertion_auc']:.3f}", "", "", "")
        agreement = self.query_one("#attr-agreement", DataTable)
        rho = c["pairs"]["spearman"]
        names = [n for n, _ in rows]
        agreement.add_column("Spearman")
        for n in names:
            agreement.add_column(_short(n))
        for a in names:
            cells = [_short(a)]
            for b in names:
                v = rho[a][b]
                cells.append(Text("-" if v is None else f"{v:.2f}", style=_agree_style(v)))
            agreement.add_row(*cells)

    def show_sample(self) -> None:
        d = self.data
        n = len(d["inputs"])
        i = self.index
        classes = list(d["class_names"])
        target = classes[int(d["targets"][i])] if classes else str(d["targets"][i])
        title = Text(f"input {i + 1} of {n}", style="bold")
        title.append(f"   explaining class '{target}'")
        if "labels" in d:
            title.append(f"   true class '{classes[int(d['labels'][i])]}'")
        title.append("   (left/right: other inputs; red: for the class, blue: against; each method scaled to its max)", style="dim")
        self.query_one("#attr-title", Static).update(title)
        attrs = {m: d[m][i] for m in self.methods}
        if self.is_image:
            x = d.get("inputs_original", d["inputs"])[i].mean(axis=0)
            span = (x.max() - x.min()) or 1.0
            panel = Text("input\n", style="bold") + heatmap((x - x.min()) / span, grey)
            self.query_one("#panel-input", Static).update(panel)
            for m, a in attrs.items():
                g = a.sum(axis=0)
                g = g / (np.abs(g).max() or 1.0)
                self.query_one(f"#panel-{m}", Static).update(Text(_short(m) + "\n", style="bold") + heatmap(g, diverging))
        else:
            flat = {m: a.reshape(-1) for m, a in attrs.items()}
            order = consensus_order(flat, 12)
            names = list(d["feature_names"])
            for k, (m, a) in enumerate(flat.items()):
                label_width = 14 if k % 4 == 0 else 0  # feature names on the first panel of each row
                self.query_one(f"#panel-{m}", Static).update(
                    Text(_short(m) + "\n", style="bold") + bars(a, order, names, width=7, name_width=label_width))

    def action_move(self, step: int) -> None:
        self.index = (self.index + step) % len(self.data["inputs"])
        self.show_sample()


def _short(name: str) -> str:
    return name.replace("integrated_gradients", "integ_grads").replace("captum_", "c_").replace("input_x_gradient", "input_x_grad")


def _g(v) -> str:
    return "-" if v is None else f"{v:.3g}"


def _agree_style(v) -> str:
    if v is None:
        return "dim"
    return "bold green" if v >= 0.8 else "yellow" if v >= 0.5 else "red"
