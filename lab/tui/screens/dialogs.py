"""Modal dialogs: confirm, and the help screen."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Markdown, Static


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question whose default (enter, escape) is the safe answer."""

    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, question: str, yes: str = "Yes", no: str = "No"):
        super().__init__()
        self.question, self.yes, self.no = question, yes, no

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question, classes="question")
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

    def __init__(self, n: int):
        super().__init__()
        self.n = n

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(f"{self.n} run(s) are still going. They keep running after the dashboard quits "
                         "(open `lab` again to watch them).", classes="question")
            with Horizontal(classes="buttons"):
                yield Button("Leave them running (l)", variant="primary", id="leave")
                yield Button("Stop them (s)", variant="error", id="stop")
                yield Button("Cancel (c)", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id)

    def action_answer(self, value: str) -> None:
        self.dismiss(value)


HELP = """\
# lab

**Experiments** (left): type `/` to filter, arrows to pick; change any setting in the form
(checked as you type, with the same messages as `lab run`); **ctrl+l** launches. Several runs
can go at once; each is its own process and keeps running if you quit.

**Runs** (right): every run in the runs root, also ones started by `lab run` elsewhere.
**enter** opens its live view, **space** marks it, **c** compares marked runs, **s** stops,
**r** runs it again, **d** deletes a finished one.

**Live view**: return and evaluation curves, losses (**m** cycles the metric), figures and log.
**a** opens an attribution run's methods side by side; **escape** goes back.

**Compare**: **x** switches steps / wall time; **g** shows runs of one experiment as mean and band.

**Attributions**: **left/right** move between inputs.

**ctrl+p** command palette · **ctrl+t** dark/light theme · **?** this help · **q** quit
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "app.pop_screen", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog help"):
            yield Markdown(HELP)
