"""Modal dialogs: confirm, and the help screen."""

from __future__ import annotations

import re

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Input, Log, OptionList, Static

from lab.display import printable
from lab.tui.widgets.fitted_table import Column, FittedTable


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


KINDS = ((DataTable, "table"), (OptionList, "list"), (Input, "field"), (Log, "log"))  # a widget as its user sees it


def where(node, screen) -> str:
    """Where a binding of `node` works, in the words the screen shows: everywhere (the app), this
    screen, or the focused pane: named by the screen's key that focuses it (its footer's word, such
    as Runs) where it has one, and by what it is (a table, a list)."""
    if node is screen.app:
        return "everywhere"
    if node is screen:
        return "this screen"
    kind = next((word for cls, word in KINDS if isinstance(node, cls)), "pane")
    names = {}
    for binding in type(screen).BINDINGS:
        m = re.fullmatch(r"focus_pane\('([\w-]+)'\)", getattr(binding, "action", ""))
        if m and binding.description:
            names[m.group(1)] = binding.description
    for pane in node.ancestors_with_self:
        if pane is screen:
            break
        if pane.id in names:
            return f"{names[pane.id]} ({kind})"
    return f"the focused {kind}"


class HelpScreen(Screen[None]):
    """The keys that work where the focus was, built from the bindings (nothing typed twice), and
    the paragraph of the screen it was opened on."""

    BINDINGS = [Binding("escape,q,question_mark", "app.pop_screen", "Close")]

    def __init__(self, keys: list[tuple[str, str, str]], title: str, about: str = ""):
        super().__init__()
        self.keys, self.screen_title, self.about = keys, title, about

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog help"):
            yield Static(Text.assemble((f"Keys on the {self.screen_title} screen", "bold"),
                                       ", where the focus is · ctrl+p: every action by name · escape closes"),
                         classes="question")
            yield FittedTable(cursor_type="none", id="help-keys")  # (a narrow terminal: descriptions end in '…')
            if self.about:
                yield Static(self.about, classes="about", markup=False)

    def on_mount(self) -> None:
        columns = [Column("key", "key", "never"), Column("what", "what it does"), Column("where", "where")]
        self.query_one("#help-keys", FittedTable).show(
            columns, [(str(i), {"key": key, "what": what, "where": at}) for i, (key, what, at) in enumerate(self.keys)])
