"""LabApp: the dashboard. It only reads run folders and starts runs as detached processes."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from textual.app import App
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Provider

from lab.store import list_runs, runs_root


class LabCommands(Provider):
    """lab's actions in the command palette (ctrl+p)."""

    def _commands(self):
        app = self.app
        home = app.home
        yield "Launch the highlighted experiment", home.action_launch, "start it with the settings in the form"
        yield "Compare marked runs", home.action_compare, "overlay the return curves of the runs marked with space"
        yield "Open the selected run", home.action_open_run, "its live view"
        yield "Toggle dark/light theme", app.action_toggle_theme, "switch between textual-dark and textual-light"
        yield "Help", app.action_help, "the key map"
        from lab.tui.widgets.run_table import RunTable

        runs = home.query_one(RunTable).runs  # already read by the table; no I/O per keystroke
        for run in list(runs.values())[:20]:
            yield f"Open run {run.path.name}", partial(app.open_run, run.path), f"{run.experiment}, {run.state}"
        for name in home.experiments:
            yield f"Pick experiment {name}", partial(app.pick_experiment, name), "show its settings"

    async def discover(self):
        for title, callback, help_text in list(self._commands())[:5]:
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str):
        matcher = self.matcher(query)
        for title, callback, help_text in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)


class LabApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "lab"
    COMMANDS = App.COMMANDS | {LabCommands}
    BINDINGS = [
        Binding("q", "quit_lab", "Quit"),
        Binding("question_mark", "help", "Help"),
        Binding("ctrl+t", "toggle_theme", "Theme"),
    ]

    def __init__(self, runs_dir=None):
        super().__init__()
        self.runs_dir = runs_root(runs_dir)
        self.launched: set[int] = set()  # pids of runs this dashboard started

    def on_mount(self) -> None:
        from lab.tui.screens.home import HomeScreen

        self.home = HomeScreen(self.runs_dir)
        self.push_screen(self.home)

    def action_help(self) -> None:
        from lab.tui.screens.dialogs import HelpScreen

        self.push_screen(HelpScreen())

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"

    def stop_run(self, run) -> bool:
        """Stop a run through the core's one `stop`, saying what happened or why not."""
        from lab.errors import BadInput
        from lab.launch import stop

        try:
            self.notify(stop(run))
            return True
        except BadInput as e:
            self.notify(str(e), severity="warning")
            return False

    def open_run(self, path: Path) -> None:
        from lab.tui.screens.run import RunScreen

        self.push_screen(RunScreen(path))

    def pick_experiment(self, name: str) -> None:
        from textual.widgets import OptionList

        lst = self.home.query_one("#experiment-list", OptionList)
        for i in range(lst.option_count):
            if lst.get_option_at_index(i).id == name:
                lst.highlighted = i
                lst.focus()

    def running_runs(self):
        return [r for r in list_runs(self.runs_dir) if r.state == "running"]

    def action_quit_lab(self) -> None:
        running = self.running_runs()
        if not running:
            self.exit()
            return
        from lab.tui.screens.dialogs import QuitScreen

        def answer(choice: str | None) -> None:
            if choice == "stop":
                for run in running:
                    self.stop_run(run)
                self.exit()
            elif choice == "leave":
                self.exit()

        self.push_screen(QuitScreen(len(running)), answer)


def run_app(runs_dir=None) -> int:
    """Run the dashboard; its exit code: non-zero when it ended on an error (Textual prints it)."""
    app = LabApp(runs_dir)
    app.run()
    return app.return_code or 0
