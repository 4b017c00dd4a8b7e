"""The home screen: experiments (and sweeps) to pick, tweak and launch; every run and sweep, live."""

from __future__ import annotations

import asyncio
import re
import shutil
import tomllib

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.reactive import Reactive
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from lab.display import inline_toml
from lab.files import read_toml
from lab.spec import builtin_experiments
from lab.spec import settings as spec_settings
from lab.summary import RunState
from lab.tui.messages import FolderDeleted, LaunchResolved, ReadFailed, RunsChanged, SettingsChecked
from lab.tui.widgets.key_footer import KeyFooter
from lab.tui.widgets.clamped_text import ClampedText
from lab.tui.widgets.run_table import LEGEND, LaunchRow, RunTable

SKIP_KEYS = {"name", "kind", "description"}
FORM_DELAY = 0.25  # seconds the highlight rests on an experiment before its form is built (a build is 20-50 widgets)
TYPING_DELAY = 0.6  # the same while the filter is typed into (letters come 0.1-0.4 s apart)


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
        return read_toml(path)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}


def read_experiments() -> tuple[dict, dict[str, dict]]:
    """The built-in experiments (name -> file) and each file's content, read once: the app reads
    them before its event loop starts, and the screen searches them per keystroke."""
    experiments = builtin_experiments()
    return experiments, {name: _read(path) for name, path in experiments.items()}


def _search_text(raw: dict) -> str:
    return (" ".join(str(v) for v in flatten(raw).values()) + " " + raw.get("description", "") + " "
            + str(raw.get("kind", ""))).lower()


def is_sweep(raw: dict) -> bool:
    return raw.get("kind") == "sweep"


def field_id(key: str) -> str:
    """The form's field for a setting: set-agent--gamma; a sweep's parameter, set-sweep--params---agent--gamma-."""
    return "set-" + re.sub(r"[^A-Za-z0-9_-]", "-", key.replace(".", "--"))


class HomeScreen(Screen):
    TITLE = "home"
    HELP = ("Experiments (left): pick one, change any setting in the form (checked as you type, with "
            "`lab run`'s messages), ctrl+l launches (a sweep: `lab sweep`). Runs (right): every run and sweep in "
            "the runs root, also ones started by `lab run` or `lab sweep` elsewhere; each is its own process "
            "and keeps going if you quit.")
    # Textual repaints the whole screen when the focus moves (a reactive with repaint): 160 widgets
    # here, 30-50 ms a key between the form's fields. The widgets that gain and lose the focus
    # repaint themselves, and so do the panes whose class says which has it.
    focused: Reactive[Widget | None] = Reactive(None, repaint=False)

    BINDINGS = [
        Binding("ctrl+e", "focus_pane('experiment-list')", "Experiments", priority=True),
        Binding("ctrl+f", "focus_pane('settings')", "Form", priority=True),
        Binding("ctrl+r", "focus_pane('runs')", "Runs", priority=True),
        Binding("ctrl+b", "toggle_left", "Hide/show left", priority=True),
        Binding("f10,ctrl+o", "toggle_maximize", "Maximise", priority=True),
        Binding("ctrl+l,f5", "launch", "Launch", priority=True),
        Binding("slash", "focus_filter", "Filter"),
        Binding("v", "view_newest", "View newest run"),
        Binding("escape", "leave_field", "Leave field", show=False),
        Binding("down", "field(1)", "Next field", show=False, priority=True),
        Binding("up", "field(-1)", "Previous field", show=False, priority=True),
    ]

    def __init__(self, runs_dir, experiments: tuple[dict, dict[str, dict]]):
        """`experiments`: `read_experiments()`, read before the event loop ran."""
        super().__init__()
        self.runs_dir = runs_dir
        self.experiments, self.raw = experiments
        self.search_text = {name: _search_text(raw) for name, raw in self.raw.items()}
        self.current: str | None = None
        self.defaults: dict[str, str] = {}  # key -> the form's starting text (the file's value, else the default)
        self.fields: dict = {}  # key -> lab.spec.Setting
        self.inputs: dict[str, Input] = {}  # key -> the form's field for it, in the form's order
        self.form_for: str | None = None  # the experiment whose form is built (the highlight may be ahead of it)
        self._form_timer = None  # the build of the highlighted experiment's form, once the highlight rests
        self._form_lock = asyncio.Lock()
        self.valid = True
        self.validated_for: dict | None = None
        self.runs_listed = False  # set by the runs watcher's first news
        self.view_on_start: str | None = None  # the launch whose view `v` asked for before it had a folder
        self._last_asked: tuple | None = None  # (experiment, overrides) of the last check asked for
        self._checks_asked = self._checks_answered = 0  # the numbers of the last check asked for and answered

    def compose(self) -> ComposeResult:
        with Horizontal(id="home"):
            with Vertical(id="experiments-pane"):
                yield Input(placeholder="filter experiments (/)", id="filter")
                yield OptionList(*[self._option(n) for n in self.experiments], id="experiment-list")
                yield ClampedText(5, id="experiment-detail")  # (app.tcss: max-height 5)
                yield VerticalScroll(id="settings")
                yield Static(id="setting-help")
                yield Static(id="settings-status")
            with Vertical(id="runs-pane"):
                yield Static("Runs", classes="pane-title")
                yield RunTable(id="runs")
                yield Static(LEGEND, id="runs-hint")
        yield KeyFooter()

    def on_mount(self) -> None:
        lst = self.query_one("#experiment-list", OptionList)
        if self.experiments:
            lst.highlighted = 0
        lst.focus()
        self.app.start_watching()

    # --- news from the runs watcher ---------------------------------------------------
    def on_runs_changed(self, message: RunsChanged) -> None:
        """The watcher's changes, into the table."""
        changes = message.changes
        table = self.query_one(RunTable)
        if changes:
            table.apply(changes.changed, changes.removed, changes.running, changes.sweeps, changes.sweeps_removed)
        if not self.runs_listed:
            self.runs_listed = True
            if self.current is not None:  # the form and its first check (it imports torch) after the first paint
                # (a timer: after a refresh the form's 20-50 widgets were mounted before the runs' rows were drawn)
                self._form_timer = self.set_timer(FORM_DELAY, self.build_pending_form)
            else:
                self.call_after_refresh(self.app.started_up)

    def on_launch_resolved(self, message: LaunchResolved) -> None:
        """A launch that got its folder hands the cursor to it; one that died is a failed row with its error."""
        table = self.query_one(RunTable)
        launches = dict(table.launches)
        row = launches.get(message.key)
        if row is None:
            return
        follow = None
        view = self.view_on_start == message.key
        if view:
            self.view_on_start = None
        if message.run_id is not None:
            del launches[message.key]
            if table.selected_key == message.key:
                follow = message.run_id
        else:
            row.state, row.error = RunState.FAILED, message.error or ""
            self.notify(f"{row.experiment} failed to start: {message.error}", severity="error", timeout=15)
        table.set_launches(launches)
        if follow is not None:
            table.select(follow)
        if view and message.run_id is not None and self.app.screen is self:  # `v` asked for it while it was starting
            self._open(message.run_id)

    def on_folder_deleted(self, message: FolderDeleted) -> None:
        self.app.look_now()
        self.notify(f"deleted {message.what}{message.folder_id}")

    @property
    def runs(self) -> dict:
        """Every run as the watcher's last news left it (id -> `lab.watch.SeenRun`), newest first."""
        return self.query_one(RunTable).runs

    @property
    def sweeps(self) -> dict:
        """Every sweep as the watcher's last news left it (id -> `lab.watch.Sweep`)."""
        return self.query_one(RunTable).sweeps

    def _show_launch(self, key: str, experiment: str, seed: int | None) -> None:
        """A launch's row, at once, under the cursor ('starting' until its folder appears)."""
        import time

        table = self.query_one(RunTable)
        table.set_launches({**table.launches, key: LaunchRow(key, experiment, seed, started=time.time())})
        table.select(key)
        table.focus()

    def pick_experiment(self, name: str) -> None:
        """Highlight experiment `name` in the list (its settings show in the form)."""
        lst = self.query_one("#experiment-list", OptionList)
        for i in range(lst.option_count):
            if lst.get_option_at_index(i).id == name:
                lst.highlighted = i
                lst.focus()

    # --- experiments --------------------------------------------------------------
    @on(Input.Changed, "#filter")
    def filter_experiments(self, event: Input.Changed) -> None:
        words = event.value.lower().split()
        lst = self.query_one("#experiment-list", OptionList)
        lst.clear_options()
        shown = [n for n in self.experiments if all(w in n.lower() or w in self.search_text[n] for w in words)]
        # the name typed in full first, then other name matches, then matches in the settings
        shown.sort(key=lambda n: (n.lower() != " ".join(words), not all(w in n.lower() for w in words)))
        lst.add_options([self._option(n) for n in shown])
        if shown:
            lst.highlighted = 0
        if self._form_timer is not None:  # a form waiting for the typing to stop waits for this letter too
            self._form_timer.reset()

    def _option(self, name: str) -> Option:
        """An experiment's row in the list; a sweep's says so."""
        return Option(Text.assemble(name, (" sweep", "dim")) if is_sweep(self.raw[name]) else name, id=name)

    @on(Input.Submitted, "#filter")
    async def filter_done(self) -> None:
        self.query_one("#experiment-list").focus()
        await self.build_pending_form()

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
        elif is_sweep(raw):
            sweep = raw.get("sweep") if isinstance(raw.get("sweep"), dict) else {}
            detail.append(f" · {sweep.get('method', 'grid')} over {sweep.get('experiment', '?')}, "
                          f"{sweep.get('backend', 'local')} backend", style="cyan")
        detail.append("\n" + " ".join(raw.get("description", "").split()), style="dim")
        self.query_one("#experiment-detail", ClampedText).show(detail)
        if self.runs_listed:  # (else the runs table paints first: its first look is what a user waits for)
            # a form is 20-50 widgets: it is built once the highlight rests, so keys held or typed in the
            # filter move the highlight at once; Enter, the form's key and a launch build it at once
            if self._form_timer is not None:
                self._form_timer.stop()
            typing = isinstance(self.focused, Input) and self.focused.id == "filter"
            self._form_timer = self.set_timer(TYPING_DELAY if typing else FORM_DELAY, self.build_pending_form)

    @property
    def form_pending(self) -> bool:
        """The highlighted experiment's form is not built yet (the highlight has not rested)."""
        return self.runs_listed and self.current is not None and (self.form_for != self.current or self._form_lock.locked())

    async def build_pending_form(self) -> None:
        """Build the highlighted experiment's form now if it is not (a no-op when it is)."""
        if self._form_timer is not None:
            self._form_timer.stop()
            self._form_timer = None
        if self.form_pending:
            await self.build_form(self.current)

    async def build_form(self, name: str) -> None:
        """The settings form of experiment `name`: one row per setting of its schema. Builds take
        turns (one awaits its widgets' removal and mounting while a key asks for another)."""
        async with self._form_lock:
            if name == self.current and name != self.form_for:  # (not for an experiment the user has left)
                await self._build_form(name)

    async def _build_form(self, name: str) -> None:
        raw = self.raw[name]
        settings = self.query_one("#settings", VerticalScroll)
        await settings.remove_children()
        self.inputs = {}
        if is_sweep(raw):  # its [sweep] keys and its parameters' choices: `lab sweep --set`'s keys
            from lab.sweep.spec import settings as sweep_settings

            self.fields = {s.key: s for s in sweep_settings(raw)}
        else:
            self.fields = {s.key: s for s in spec_settings(raw) if s.key != "agent.algo"}  # the algo picks the schema
        self.defaults = {k: "" if s.current is None or s.required and not s.in_file else inline_toml(s.current)
                         for k, s in self.fields.items()}
        label_width = max(map(len, self.fields), default=10) + 1
        rows = []
        for key, field in self.fields.items():
            label = Label(key, classes="setting-key")
            label.styles.width = label_width
            placeholder = "(required)" if field.required else "None" if field.current is None else ""
            inp = Input(self.defaults[key], placeholder=placeholder, id=field_id(key),
                        classes="setting" + ("" if field.in_file else " -default"))
            inp.tooltip = field.description
            self.inputs[key] = inp
            rows.append(Horizontal(label, inp, classes="setting-row"))
        await settings.mount_all(rows)
        self.form_for = name
        self.valid, self.validated_for = False, None
        self.query_one("#settings-status", Static).update(Text("checking…", style="dim"))
        self.validate_settings(name, {})  # the file as it is, on this machine (a 'cuda' it lacks, say)

    def on_descendant_focus(self, event) -> None:
        """The pane that has the focus marked (`-focused`); the focused field's description, type
        and default, under the form."""
        widget = event.widget
        for pane in self.query("#experiments-pane, #runs-pane"):
            inside = pane in widget.ancestors
            if pane.has_class("-focused") != inside:  # (a class change restyles the whole pane: only when it moves)
                pane.set_class(inside, "-focused")
        help_line = self.query_one("#setting-help", Static)
        if isinstance(widget, Input) and widget.has_class("setting"):
            field = next((self.fields.get(k) for k, inp in self.inputs.items() if inp is widget), None)
            if field is not None:
                default = "required" if field.required else f"default {inline_toml(field.default) if field.default is not None else 'None'}"
                text = Text(field.key, style="bold")
                text.append(f"  {field.type} · {default}" + ("" if field.in_file else " (not in the file)"), style="dim")
                text.append("\n" + (field.description or ""))
                help_line.update(text, layout=False)  # (its height is fixed)
                return
        help_line.update("", layout=False)

    def overrides(self) -> dict[str, str]:
        return {key: inp.value.strip() for key, inp in self.inputs.items() if inp.value.strip() != self.defaults.get(key)}

    @on(Input.Changed, ".setting")
    def setting_changed(self) -> None:
        if self.runs_listed:  # (the first check waits for the first paint)
            overrides = self.overrides()
            if (self.current, overrides) != self._last_asked:  # (fields fire Changed as they mount, unchanged)
                self.validate_settings(self.current, overrides)

    def check(self, name: str, overrides: dict[str, str]):
        """The checks `lab run` makes before a folder exists: the spec, then what needs the
        machine (the device, memory, the run to explain); for a sweep, those of `lab sweep`.
        (The BadInput or None, and a sweep's size: trials, seeds, backend.) Reads files: a worker's."""
        from lab.errors import BadInput
        from lab.launch import prepare
        from lab.spec import load_experiment

        size = None
        try:
            if is_sweep(self.raw[name]):  # shaped by the form as `lab sweep --set KEY=VALUE` shapes it
                from lab.sweep.runner import check_backend
                from lab.sweep.spec import load_sweep

                spec = load_sweep(self.experiments[name], overrides)
                check_backend(spec.sweep.backend)
                size = (spec.trial_count(), len(spec.sweep.seeds), spec.sweep.backend)
            else:
                prepare(load_experiment(name, overrides), self.runs_dir)
        except BadInput as e:
            return e, size
        return None, size

    def validate_settings(self, name: str, overrides: dict[str, str], then_launch: bool = False) -> None:
        """Check the form in a worker; `SettingsChecked` brings the answer (a newer check cancels an older one)."""
        self._checks_asked += 1
        self._last_asked = (name, overrides)
        self._check_settings(name, overrides, then_launch, self._checks_asked)

    @work(thread=True, exclusive=True, group="validate")
    def _check_settings(self, name: str, overrides: dict[str, str], then_launch: bool, number: int) -> None:
        error, size = self.check(name, overrides)
        message, bad_key = (None, None) if error is None else (str(error), error.key)
        self.post_message(SettingsChecked(name, overrides, message, bad_key, then_launch, number, size))

    @property
    def checking(self) -> bool:
        """The form of the highlighted experiment has not had its check's answer yet (the form is
        built once the runs are listed), or a check is under way."""
        return self.current is not None and (not self.runs_listed or self.validated_for is None
                                             or self._checks_answered < self._checks_asked)

    def on_settings_checked(self, checked: SettingsChecked) -> None:
        if checked.number < self._checks_answered:  # a later check answered first: this answer is stale
            return
        if self._checks_answered == 0:
            self.call_after_refresh(self.app.started_up)  # the runs listed, a form built and checked
        self._checks_answered = checked.number
        name, overrides, message = checked.name, checked.overrides, checked.error
        if name != self.current:
            return
        self.valid = message is None
        self.validated_for = overrides
        status = self.query_one("#settings-status", Static)
        bad = checked.bad_key or ""
        for key, inp in self.inputs.items():  # (a list's item or a range's end marks its field)
            inp.set_class(bad == key or bad.startswith((key + "[", key + ".")), "-invalid")
        if checked.then_launch:  # a launch that waited for this check
            if message is not None:
                status.update(Text(message, style="bold red"))
                self.notify("not launched: " + ("the sweep file does not check out" if is_sweep(self.raw[name])
                                                else "fix the setting first"), severity="error")
            elif overrides == self.overrides():  # (not when the form changed meanwhile)
                self.call_later(self.action_launch)  # (a coroutine: called bare, it would never run)
        changed = ", ".join(f"{k}={v}" for k, v in overrides.items())
        if message:
            status.update(Text(message, style="bold red"))
        elif checked.sweep_size is not None:
            trials, seeds, backend = checked.sweep_size
            runs = f"{trials * seeds} members of one population run" if backend == "population" else f"{trials * seeds} runs"
            status.update(Text(f"valid{f' ({changed})' if changed else ''} · {trials} trial(s) x {seeds} seed(s) = {runs}"
                               " · ctrl+l launches the sweep", style="green"))
        else:
            status.update(Text(f"valid ({changed or 'defaults'}) · ctrl+l launches", style="green"))

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    async def action_focus_pane(self, which: str) -> None:
        """One key per pane; the form's key goes to its first field."""
        pane = self.query_one("#experiments-pane")
        if which != "runs" and pane.display is False:
            pane.display = True
        if which == "settings":
            await self.build_pending_form()
            if self.inputs:
                self.set_focus(next(iter(self.inputs.values())))
            return
        self.query_one(f"#{which}").focus()

    def action_toggle_left(self) -> None:
        pane = self.query_one("#experiments-pane")
        pane.display = not pane.display
        if not pane.display:
            self.query_one(RunTable).focus()

    def action_toggle_maximize(self) -> None:
        """The pane that has the focus fills the screen; the same key (or escape) restores it."""
        if self.maximized is not None:
            self.minimize()
            return
        runs = self.query_one("#runs-pane")
        focused = self.focused
        in_runs = focused is not None and (focused is runs or runs in focused.ancestors)
        pane = runs if in_runs else self.query_one("#experiments-pane")
        pane.display = True
        self.maximized = pane

    def action_leave_field(self) -> None:
        """Escape in a field or the filter: back to the experiment list, keys are keys again."""
        if isinstance(self.focused, Input):
            self.query_one("#experiment-list").focus()

    def action_field(self, step: int) -> None:
        """Up and down move between the form's fields. The focus moves now, not after this key's
        turn, so that the next key, however soon, moves on from the field this one reached."""
        fields = list(self.inputs.values())
        if self.focused in fields:
            self.set_focus(fields[max(0, min(len(fields) - 1, fields.index(self.focused) + step))])

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        """The footer shows only keys that work where the focus is: '/' and 'v' type into a field."""
        if action in ("focus_filter", "view_newest") and isinstance(self.focused, Input):
            return False
        if action in ("leave_field", "field") and not isinstance(self.focused, Input):
            return False
        return True

    async def action_launch(self) -> None:
        if self.current is None:
            return
        await self.build_pending_form()  # (a launch right after a move: the form of what is highlighted)
        if is_sweep(self.raw[self.current]):
            self.launch_sweep(self.current)
            return
        overrides = self.overrides()
        if not (self.valid and self.validated_for == overrides):
            # the keys came faster than the check: a launch never starts on a bad value, it waits for the check
            self.query_one("#settings-status", Static).update(Text("checking before the launch…", style="dim"))
            self.validate_settings(self.current, overrides, then_launch=True)
            return
        args = [a for k, v in overrides.items() for a in ("--set", f"{k}={v}")]
        seed = overrides.get("seed", self.defaults.get("seed"))
        key = self.app.launch(self.current, args, self.current)
        if key is not None:
            self._show_launch(key, self.current, int(seed) if str(seed).isdigit() else None)
            self.notify(f"launched {self.current}" + (f" with {len(overrides)} change(s)" if overrides else ""))

    def launch_sweep(self, name: str) -> None:
        """`lab sweep NAME --set KEY=VALUE ...` with the form's changes: the sweep as shaped here."""
        overrides = self.overrides()
        if not (self.valid and self.validated_for == overrides):  # the check has not answered these values, or said no
            self.query_one("#settings-status", Static).update(Text("checking before the launch…", style="dim"))
            self.validate_settings(name, overrides, then_launch=True)
            return
        key = self.app.launch_sweep(name, name, [a for k, v in overrides.items() for a in ("--set", f"{k}={v}")])
        if key is not None:
            self._show_launch(key, f"{name} sweep", None)
            self.notify(f"launched sweep {name}" + (f" with {len(overrides)} change(s)" if overrides else ""))

    # --- runs: actions on the run under the table's cursor (its bindings live on the table) ---
    def _selected(self):
        run = self.query_one(RunTable).selected
        if run is None:
            self.notify("no run selected", severity="warning")
        return run

    @on(RunTable.RowSelected, "#runs")
    def action_open_run(self) -> None:
        sweep = self.query_one(RunTable).selected_sweep
        if sweep is not None:
            self.app.open_sweep(sweep.path)
            return
        run = self._selected()
        if run is not None:
            self.app.open_run(run.path)

    def action_view_newest(self) -> None:
        """The live view of what started last: a run (or a sweep), or a launch of this dashboard's
        that has no folder yet, whose view then opens once it has one (never an older run's)."""
        table = self.query_one(RunTable)
        started = [(row.started, key, row) for key, row in table.launches.items() if row.state == "starting"]
        started += [(run.summary.started or 0, key, run) for key, run in table.runs.items()]
        started += [(sweep.started or 0, key, sweep) for key, sweep in table.sweeps.items()]
        if not started:
            self.notify("no runs yet: launch one with ctrl+l", severity="warning")
            return
        _, key, newest = max(started, key=lambda e: (e[0], e[1]))
        table.select(key)
        if isinstance(newest, LaunchRow):
            self.view_on_start = key
            self.notify(f"{newest.experiment} is starting (no run folder yet): its view opens as soon as it has one",
                        timeout=5)
            return
        self._open(key)

    def _open(self, key: str) -> None:
        """The view of run or sweep `key` of the table."""
        table = self.query_one(RunTable)
        if key in table.sweeps:
            self.app.open_sweep(table.sweeps[key].path)
        elif key in table.runs:
            self.app.open_run(table.runs[key].path)

    def action_compare(self) -> None:
        table = self.query_one(RunTable)
        names = [n for n in table.runs if n in table.marked]
        if len(names) < 2:
            self.notify("mark two or more runs with space, then press c", severity="warning")
            return
        other = [n for n in names if table.runs[n].kind != "rl"]
        if other:  # their curves are epochs of a classifier, not returns by step: nothing to set beside them
            self.notify(f"compare overlays RL return curves; {', '.join(other)} "
                        f"{'is an attribution run' if len(other) == 1 else 'are attribution runs'}: unmark "
                        f"{'it' if len(other) == 1 else 'them'} (space)", severity="warning", timeout=10)
            return
        from lab.tui.screens.compare import CompareScreen

        records = {key: sweep.record for key, sweep in table.sweeps.items() if sweep.record is not None}
        self.app.push_screen(CompareScreen([table.runs[n].path for n in reversed(names)], records))

    def action_stop(self) -> None:
        sweep = self.query_one(RunTable).selected_sweep
        if sweep is not None:
            self.app.ask_stop_sweep(sweep)
            return
        run = self._selected()
        if run is None:
            return
        self.app.ask_stop(run)

    def action_rerun(self) -> None:
        sweep = self.query_one(RunTable).selected_sweep
        if sweep is not None:
            name = sweep.record.name if sweep.record is not None else sweep.id
            key = self.app.launch_sweep(str(sweep.folder.toml_path), name)
            if key is not None:
                self._show_launch(key, f"{name} sweep", None)
                self.notify(f"running sweep {name} again from {sweep.id}/sweep.toml")
            return
        run = self._selected()
        if run is None:
            return
        key = self.app.launch(str(run.path), [], run.experiment)
        if key is not None:
            self._show_launch(key, run.experiment, run.summary.seed)
            self.notify(f"running {run.experiment} again from {run.id}/spec.toml")

    def action_delete(self) -> None:
        sweep = self.query_one(RunTable).selected_sweep
        if sweep is not None:
            self.delete_sweep(sweep)
            return
        run = self._selected()
        if run is None:
            return
        if run.state == RunState.RUNNING:
            self.notify("stop the run before deleting it", severity="warning")
            return
        from lab.tui.screens.dialogs import ConfirmScreen

        def done(yes: bool | None) -> None:
            if yes:
                self.delete_folder(run.path, "")

        self.app.push_screen(ConfirmScreen(f"Delete run {run.id} ({run.experiment}, seed {run.summary.seed}, {run.state}) "
                                           "and everything in its folder?", "Delete", "Cancel"), done)

    def delete_sweep(self, sweep) -> None:
        """A sweep's folder (its record, study and logs) goes; its runs stay, as runs."""
        if sweep.state == RunState.RUNNING:
            self.notify("stop the sweep before deleting it", severity="warning")
            return
        from lab.tui.screens.dialogs import ConfirmScreen

        runs = sum(1 for r in self.query_one(RunTable).runs.values() if r.summary.sweep == sweep.id)

        def done(yes: bool | None) -> None:
            if yes:
                self.delete_folder(sweep.path, "sweep ")

        self.app.push_screen(ConfirmScreen(f"Delete sweep {sweep.id} ({sweep.state}): its record, Optuna study and logs? "
                                           f"Its {runs} run(s) stay, as runs.", "Delete", "Cancel"), done)

    @work(thread=True, group="delete")
    def delete_folder(self, path, what: str) -> None:
        """A run's or a sweep's folder, deleted off the event loop (checkpoints can be large)."""
        shutil.rmtree(path, ignore_errors=True)
        if path.exists():  # (the watcher shows what is left at its next look)
            self.post_message(ReadFailed(f"could not delete all of {what}{path.name}", severity="error"))
        else:
            self.post_message(FolderDeleted(what, path.name))
