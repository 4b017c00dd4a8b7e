"""The home screen: experiments to pick, tweak and launch; every run, live."""

from __future__ import annotations

import shutil
import tomllib

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from lab.files import read_regular
from lab.spec import builtin_experiments
from lab.tui.widgets.run_table import RunTable

SKIP_KEYS = {"name", "kind", "description"}


def flatten(raw: dict, prefix: str = "") -> dict[str, object]:
    """{'agent': {'gamma': 0.98}} -> {'agent.gamma': 0.98}; tables inside tables stay values."""
    out = {}
    for key, value in raw.items():
        if not prefix and key in SKIP_KEYS:
            continue
        if isinstance(value, dict) and not prefix:
            out.update(flatten(value, f"{key}."))
        else:
            out[prefix + key] = value
    return out


def _read(path) -> dict:
    try:
        return tomllib.loads(read_regular(path).decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}


def _search_text(raw: dict) -> str:
    return (" ".join(str(v) for v in flatten(raw).values()) + " " + raw.get("description", "")).lower()


def toml_value(value) -> str:
    import tomli_w

    return tomli_w.dumps({"v": value}).split("=", 1)[1].strip()


class HomeScreen(Screen):
    BINDINGS = [
        Binding("slash", "focus_filter", "Filter"),
        Binding("ctrl+l,f5", "launch", "Launch", priority=True),
        Binding("enter", "open_run", "Open run", show=False),
        Binding("v", "view_newest", "View newest run"),
        Binding("space", "mark", "Mark"),
        Binding("c", "compare", "Compare"),
        Binding("s", "stop", "Stop"),
        Binding("r", "rerun", "Run again"),
        Binding("d", "delete", "Delete"),
    ]

    def __init__(self, runs_dir):
        super().__init__()
        self.runs_dir = runs_dir
        self.experiments = builtin_experiments()
        self.raw = {name: _read(path) for name, path in self.experiments.items()}  # read once, not per keystroke
        self.search_text = {name: _search_text(raw) for name, raw in self.raw.items()}
        self.current: str | None = None
        self.defaults: dict[str, str] = {}
        self.valid = True
        self.validated_for: dict | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="home"):
            with Vertical(id="experiments-pane"):
                yield Input(placeholder="filter experiments (/)", id="filter")
                yield OptionList(*[Option(n, id=n) for n in self.experiments], id="experiment-list")
                yield Static(id="experiment-detail")
                yield VerticalScroll(id="settings")
                yield Static(id="settings-status")
            with Vertical(id="runs-pane"):
                yield Static("Runs", classes="pane-title")
                yield RunTable(self.runs_dir, id="runs")
                yield Static("enter open · v newest · space mark · c compare · s stop · r run again · d delete", id="runs-hint")
        yield Footer()

    def on_mount(self) -> None:
        lst = self.query_one("#experiment-list", OptionList)
        if self.experiments:
            lst.highlighted = 0
        lst.focus()
        self.set_interval(1.0, self.refresh_runs)

    def refresh_runs(self) -> None:
        if self.is_current:  # a screen pushed on top has the user's eyes; skip the work
            self.query_one(RunTable).refresh_runs()

    # --- experiments --------------------------------------------------------------
    @on(Input.Changed, "#filter")
    def filter_experiments(self, event: Input.Changed) -> None:
        words = event.value.lower().split()
        lst = self.query_one("#experiment-list", OptionList)
        lst.clear_options()
        shown = [n for n in self.experiments if all(w in n.lower() or w in self.search_text[n] for w in words)]
        shown.sort(key=lambda n: not all(w in n.lower() for w in words))  # name matches first
        lst.add_options([Option(n, id=n) for n in shown])
        if shown:
            lst.highlighted = 0

    @on(Input.Submitted, "#filter")
    def filter_done(self) -> None:
        self.query_one("#experiment-list").focus()

    @on(OptionList.OptionHighlighted, "#experiment-list")
    async def show_experiment(self, event: OptionList.OptionHighlighted) -> None:
        name = event.option.id
        if name == self.current:
            return
        self.current = name
        raw = self.raw[name]
        detail = Text(name, style="bold")
        detail.append(f"  {raw.get('kind', 'rl')}", style="cyan")
        if raw.get("kind", "rl") == "rl":
            detail.append(f" · {raw['agent']['algo']} on {raw['env']['id']}", style="cyan")
        detail.append("\n" + " ".join(raw.get("description", "").split()), style="dim")
        self.query_one("#experiment-detail", Static).update(detail)
        settings = self.query_one("#settings", VerticalScroll)
        await settings.remove_children()
        flat = flatten(raw)
        flat.setdefault("seed", 0)
        self.defaults = {k: toml_value(v) for k, v in flat.items()}
        rows = [Horizontal(Label(k, classes="setting-key"), Input(v, id="set-" + k.replace(".", "--"), classes="setting"),
                           classes="setting-row") for k, v in self.defaults.items()]
        await settings.mount_all(rows)
        self.valid, self.validated_for = True, {}  # the file as it is: built-ins are checked by the tests
        self.query_one("#settings-status", Static).update(Text("valid (defaults) · ctrl+l launches", style="green"))

    def overrides(self) -> dict[str, str]:
        out = {}
        for inp in self.query(".setting").results(Input):
            key = inp.id[4:].replace("--", ".")
            if inp.value.strip() != self.defaults.get(key):
                out[key] = inp.value.strip()
        return out

    @on(Input.Changed, ".setting")
    def setting_changed(self) -> None:
        self.validate_settings(self.current, self.overrides())

    @work(thread=True, exclusive=True, group="validate")
    def validate_settings(self, name: str, overrides: dict[str, str]) -> None:
        from lab.errors import BadInput
        from lab.spec import load_experiment

        try:
            load_experiment(name, overrides)
            message, bad_key = None, None
        except BadInput as e:
            message, bad_key = str(e), e.key
        self.app.call_from_thread(self.show_validation, name, overrides, message, bad_key)

    def show_validation(self, name, overrides, message, bad_key=None) -> None:
        if name != self.current:
            return
        self.valid = message is None
        self.validated_for = overrides
        status = self.query_one("#settings-status", Static)
        for inp in self.query(".setting").results(Input):
            inp.set_class(bad_key is not None and inp.id[4:].replace("--", ".") == bad_key, "-invalid")
        if message:
            status.update(Text(message, style="bold red"))
        else:
            changed = ", ".join(f"{k}={v}" for k, v in overrides.items()) or "defaults"
            status.update(Text(f"valid ({changed}) · ctrl+l launches", style="green"))

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_launch(self) -> None:
        from lab.errors import BadInput
        from lab.launch import start_detached
        from lab.spec import load_experiment

        if self.current is None:
            return
        overrides = self.overrides()
        if not (self.valid and self.validated_for == overrides):
            # the keys came faster than the check: validate now, a launch never starts on a bad value
            try:
                load_experiment(self.current, overrides)
            except BadInput as e:
                self.query_one("#settings-status", Static).update(Text(str(e), style="bold red"))
                self.notify("not launched: fix the setting first", severity="error")
                return
        args = [a for k, v in overrides.items() for a in ("--set", f"{k}={v}")]
        try:
            pid = start_detached(self.current, args, self.runs_dir)
        except BadInput as e:
            self.notify(f"not launched: {e}", severity="error")
            return
        self.app.launched.add(pid)
        self.notify(f"launched {self.current} (pid {pid})" + (f" with {len(overrides)} change(s)" if overrides else ""))

    # --- runs ----------------------------------------------------------------------
    def _selected(self):
        run = self.query_one(RunTable).selected
        if run is None:
            self.notify("no run selected", severity="warning")
        return run

    @on(RunTable.RowSelected, "#runs")
    def action_open_run(self) -> None:
        run = self._selected()
        if run is not None:
            from lab.tui.screens.run import RunScreen

            self.app.push_screen(RunScreen(run.path))

    def action_view_newest(self) -> None:
        table = self.query_one(RunTable)
        table.refresh_runs()
        if not table.runs:
            self.notify("no runs yet: launch one with ctrl+l", severity="warning")
            return
        newest = max(table.runs.values(), key=lambda r: (r.summary.started or 0, r.id))
        from lab.tui.screens.run import RunScreen

        self.app.push_screen(RunScreen(newest.path))

    def action_mark(self) -> None:
        self.query_one(RunTable).toggle_mark()

    def action_compare(self) -> None:
        table = self.query_one(RunTable)
        names = [n for n in table.runs if n in table.marked]
        if len(names) < 2:
            run = table.selected
            self.notify("mark two or more runs with space, then press c", severity="warning")
            if run is None:
                return
            return
        from lab.tui.screens.compare import CompareScreen

        self.app.push_screen(CompareScreen([table.runs[n].path for n in names]))

    def action_stop(self) -> None:
        run = self._selected()
        if run is not None:
            self.app.stop_run(run)

    def action_rerun(self) -> None:
        run = self._selected()
        if run is not None:
            from lab.errors import BadInput
            from lab.launch import start_detached

            try:
                pid = start_detached(str(run.path), [], self.runs_dir)
            except BadInput as e:
                self.notify(f"not started: {e}", severity="error")
                return
            self.app.launched.add(pid)
            self.notify(f"running {run.experiment} again from {run.path.name}/spec.toml (pid {pid})")

    def action_delete(self) -> None:
        run = self._selected()
        if run is None:
            return
        if run.state == "running":
            self.notify("stop the run before deleting it", severity="warning")
            return
        from lab.tui.screens.dialogs import ConfirmScreen

        def done(yes: bool | None) -> None:
            if yes:
                shutil.rmtree(run.path, ignore_errors=True)
                self.refresh_runs()
                self.notify(f"deleted {run.path.name}")

        self.app.push_screen(ConfirmScreen(f"Delete run {run.path.name} and everything in its folder?", "Delete", "Keep"), done)
