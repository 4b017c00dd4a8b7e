"""Modal dialogs: confirm, and the help screen."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from lab.display import printable


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question whose default (enter, escape) is the safe answer."""

    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, question: str, yes: str = "Yes", no: str = "No"):
        super().__init__()
        self.question, self.yes, self.no = question, yes, no

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text(printable(self.question, newlines=True)), classes="question")  # it quotes ids and names
            with Horizontal(classes="buttons"):
                yield Button(f"{self.yes} (y)", variant="error", id="yes")
                yield Button(f"{self.no} (n)", variant="primary", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


class QuitScreen(ModalScreen[str]):
    """Quitting with runs still going: leave them, stop them, or stay."""

    BINDINGS = [Binding("l", "answer('leave')", "Leave"), Binding("s", "answer('stop')", "Stop"),
                Binding("escape,c", "answer('cancel')", "Cancel")]

    def __init__(self, n: int, sweeps: int = 0):
        super().__init__()
        self.n, self.sweeps = n, sweeps

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            things = [f"{k} {word}{'' if k == 1 else 's'}" for k, word in ((self.sweeps, "sweep"), (self.n, "run")) if k]
            one = self.n + self.sweeps == 1
            going = " and ".join(things) + (" is" if one else " are")
            yield Static(f"{going} still going. {'It keeps' if one else 'They keep'} running after the "
                         "dashboard quits (open `lab` again to watch them).", classes="question")
            with Horizontal(classes="buttons"):
                yield Button("Leave them running (l)", variant="primary", id="leave")
                yield Button("Stop them (s)", variant="error", id="stop")
                yield Button("Cancel (c)", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id)

    def action_answer(self, value: str) -> None:
        self.dismiss(value)


ABOUT = ("Experiments (left): pick one, change any setting in the form (checked as you type, with "
         "`lab run`'s messages), ctrl+l launches (a sweep: `lab sweep`). Runs (right): every run and sweep in "
         "the runs root, also ones started by `lab run` or `lab sweep` elsewhere; each is its own process "
         "and keeps going if you quit.")


class HelpScreen(ModalScreen[None]):
    """The keys that work where the focus was, built from the bindings (nothing typed twice)."""

    BINDINGS = [Binding("escape,q,question_mark", "app.pop_screen", "Close")]

    def __init__(self, keys: list[tuple[str, str, str]], screen: str):
        super().__init__()
        self.keys, self.screen_name = keys, screen

    def compose(self) -> ComposeResult:
        from textual.widgets import DataTable

        with Vertical(classes="dialog help"):
            yield Static(f"[b]Keys on the {self.screen_name.replace('Screen', '').lower()} screen[/b], where the focus is"
                         " · ctrl+p: every action by name · escape closes", classes="question")
            table = DataTable(cursor_type="none", zebra_stripes=True, id="help-keys")
            table.add_columns("key", "what it does", "from")
            for key, description, where in self.keys:
                table.add_row(key, description, where)
            yield table
            yield Static(ABOUT, classes="about")
