"""LabApp: the dashboard. It only reads run folders and starts runs as detached processes."""

from __future__ import annotations

import contextlib
import os
import threading
from functools import partial
from pathlib import Path

from textual import events, work
from textual.app import App
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Provider

from lab.store import runs_root
from lab.summary import RunState
from lab.tui import preferences
from lab.tui.idle_collect import IdleCollector
from lab.tui.messages import LaunchResolved, ReadFailed, RunningFound, RunsChanged
from lab.tui.textual_fixes import keep_no_dead_widgets


class LabCommands(Provider):
    """lab's actions in the command palette (ctrl+p), each once: those of the screen it was opened
    on (the home screen's by name, another screen's from its bindings), then the few that work on
    every screen; runs, sweeps and experiments to open are found by searching."""

    def _commands(self):
        """(title, callback, help, shown before anything is typed)."""
        app, screen = self.app, self.screen
        home = app.home
        if screen is home:
            yield "Launch the highlighted experiment", home.action_launch, "ctrl+l · start it with the settings in the form", True
            yield "Open the selected run", home.action_open_run, "enter · its live view (a sweep's: its trials)", True
            yield "View the newest run", home.action_view_newest, "v · the live view of the run started last", True
            yield "Compare marked runs", home.action_compare, "c · overlay the curves of the runs marked with space", True
            yield "Stop the selected run", home.action_stop, "s · it checkpoints, then ends 'stopped' (a sweep: every run of it)", True
            yield "Run the selected run again", home.action_rerun, "r · from its spec.toml", True
            yield "Delete the selected run", home.action_delete, "d · after naming it", True
            yield "Filter experiments", home.action_focus_filter, "/ · by name or setting", True
            yield "Hide or show the experiments pane", home.action_toggle_left, "ctrl+b", True
        else:  # the screen's own keys, as its footer and help name them
            for binding in _screen_bindings(screen):
                yield binding.description, partial(screen.run_action, binding.action), f"{app.get_key_display(binding)}", True
        yield "Maximise the focused pane", partial(_maximise, screen), "f10 or ctrl+o · again, or escape, restores it", True
        yield "Toggle dark/light theme", app.action_toggle_theme, "ctrl+t · remembered for next time", True
        yield "Help", app.action_help, "? · the keys of this screen", True
        yield "Quit", app.action_quit_lab, "q or ctrl+q · with runs going, asks whether to stop them", True
        # the runs and sweeps as the watcher's last news left them: no I/O per keystroke
        for sweep in list(home.sweeps.values())[:20]:
            yield f"Open sweep {sweep.id}", partial(app.open_sweep, sweep.path), f"its trials, {sweep.state}", False
        for run in list(home.runs.values())[:20]:
            yield f"Open run {run.path.name}", partial(app.open_run, run.path), f"{run.experiment}, {run.state}", False
        if screen is home:
            for name in home.experiments:
                yield f"Pick experiment {name}", partial(home.pick_experiment, name), "show its settings", False

    async def discover(self):
        for title, callback, help_text, shown in self._commands():
            if shown:
                yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str):
        matcher = self.matcher(query)
        for title, callback, help_text, _ in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)


# lab's own maximise, help, theme and quit stand for these of Textual's in the palette (one of each)
TEXTUAL_COMMANDS_LAB_HAS = {"Maximize", "Minimize", "Keys", "Theme", "Quit"}
MAXIMISE_ACTIONS = {"cycle_maximize", "toggle_maximize"}


def _screen_bindings(screen):
    """A screen's own bindings with a description, enabled where it is now (its maximise apart:
    the palette has one for every screen)."""
    seen = set()
    for binding in type(screen).BINDINGS:
        if not isinstance(binding, Binding) or not binding.description or binding.action in MAXIMISE_ACTIONS:
            continue
        name, _, params = binding.action.partition("(")
        if binding.action in seen or (not name.startswith("app.") and screen.check_action(name, ()) is False):
            continue
        seen.add(binding.action)
        yield binding


def _maximise(screen) -> None:
    """The screen's own maximise (each pane in turn, on the views), else Textual's for the focused widget."""
    for action in ("action_cycle_maximize", "action_toggle_maximize"):
        if hasattr(screen, action):
            getattr(screen, action)()
            return
    if screen.maximized is not None:
        screen.minimize()
    elif screen.focused is not None:
        screen.maximize(screen.focused)


class LabApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "lab"
    COMMANDS = App.COMMANDS | {LabCommands}
    BINDINGS = [
        Binding("q", "quit_lab", "Quit"),
        # (Textual's ctrl+q would quit at once, leaving runs going without asking)
        Binding("ctrl+q", "quit_lab", "Quit", show=False, priority=True),
        Binding("question_mark", "help", "Help"),
        Binding("ctrl+t", "toggle_theme", "Theme"),
    ]

    WATCH_SECONDS = 1.0

    def notify(self, message: str, *, markup: bool = True, **kw) -> None:
        """Every notification as plain text (no markup), control characters escaped and cut: most
        quote a run's id, name or error, which come from folders (lab.display.printable)."""
        from lab.display import printable

        super().notify(printable(message, limit=500, newlines=True), markup=False, **kw)

    def __init__(self, runs_dir=None, driver_class=None):
        super().__init__(driver_class=driver_class)
        keep_no_dead_widgets()  # (once per process: a second call finds Textual's method replaced)
        self.runs_dir = runs_root(runs_dir)
        self.launched: set[int] = set()  # pids of runs this dashboard started
        self._pending: dict[str, tuple] = {}  # launch row key -> (Popen, log path, 'run' or 'sweep'); read by the watcher thread
        self._wake = threading.Event()
        self.collector = IdleCollector()
        from lab.tui.screens.home import read_experiments

        self._experiments = read_experiments()  # before the event loop runs (a few small files): nothing waits on them
        theme = preferences.load().get("theme")
        if theme in ("textual-dark", "textual-light"):
            self.theme = theme

    def on_mount(self) -> None:
        from lab.tui.screens.home import HomeScreen

        self.collector.begin()

        self.home = HomeScreen(self.runs_dir, self._experiments)
        self.push_screen(self.home)

    def started_up(self) -> None:
        """The home screen has listed the runs and checked its first form (torch imported): what
        exists now lives as long as the dashboard (lab.tui.idle_collect)."""
        self.collector.started_up(self)

    async def on_event(self, event) -> None:
        if isinstance(event, events.InputEvent):
            self.collector.input_seen()
        await super().on_event(event)

    def on_unmount(self) -> None:
        self.collector.end()

    def start_watching(self) -> None:
        """Called by the home screen once its table is there."""
        self.run_worker(self._watch, thread=True, exclusive=True, group="watch", name="runs watcher")

    def on_read_failed(self, message: ReadFailed) -> None:
        """What a worker could not read (its screen had nothing to add): a notification."""
        self.notify(message.problem, severity=message.severity)

    # --- watching the runs root (a worker thread: it reads, the home screen applies its news) -----
    def _watch(self) -> None:
        from textual.worker import get_current_worker

        from lab.watch import Changes, RunsWatch

        worker = get_current_worker()
        watch = RunsWatch(self.runs_dir)
        first = True  # the first look is news even when the root is empty: the screen waits for it
        while not worker.is_cancelled:
            failed = None
            try:
                changes = watch.poll()
                resolved = self._resolve_launches(watch)
            except Exception as e:  # a folder's content never ends the dashboard; the next look tries again
                changes, resolved = Changes(), {}
                failed = ReadFailed(f"reading the runs root: {type(e).__name__}: {e}")
            news = [RunsChanged(changes)] if changes or first else []
            news += [LaunchResolved(key, *outcome) for key, outcome in resolved.items()]
            first = False
            try:
                if failed is not None:
                    self.post_message(failed)
                for message in news:  # in order: a launch's run is in the table before the launch hands it the cursor
                    self.home.post_message(message)
            except RuntimeError:  # the app is closing (its event loop is gone)
                return
            self._wake.wait(self.WATCH_SECONDS)
            self._wake.clear()

    def look_now(self) -> None:
        """Ask the watcher for a look at once (after a launch, a delete, a stop)."""
        self._wake.set()

    def _resolve_launches(self, watch) -> dict[str, tuple[str | None, str | None]]:
        """Launches whose run (or sweep) folder appeared -> (its id, None); whose process ended
        without one -> (None, its last error line)."""
        def folder(proc, kind):
            if kind == "sweep":
                return next((sid for sid, s in watch.sweeps.items() if s.record is not None and s.record.pid == proc.pid), None)
            return next((rid for rid, r in watch.runs.items() if r.summary.pid == proc.pid), None)

        out = {}
        for key, (proc, log, kind) in list(self._pending.items()):
            run_id = folder(proc, kind)
            if run_id is None and proc.poll() is not None:
                watch.poll()  # it may have made its folder just before it ended
                run_id = folder(proc, kind)
                if run_id is None:
                    out[key] = (None, _launch_error(log, proc.returncode))
                    self._pending.pop(key, None)
                    continue
            if run_id is not None:
                out[key] = (run_id, None)
                self._pending.pop(key, None)
                with contextlib.suppress(OSError):
                    Path(log).unlink()
        return out

    def launch(self, ref: str, args: list[str], experiment: str) -> str | None:
        """Start `lab run REF ARGS` detached. The launch's key (the home screen shows its row as
        'starting' until the watcher resolves it: `LaunchResolved`), or None when it did not start."""
        import tempfile

        from lab.errors import BadInput
        from lab.launch import spawn

        logs = self.runs_dir / ".launches"
        try:
            logs.mkdir(parents=True, exist_ok=True)
            fd, log = tempfile.mkstemp(dir=logs, prefix=f"{experiment}-", suffix=".log")
            os.close(fd)
            proc = spawn(ref, args, self.runs_dir, log_path=log)
        except (BadInput, OSError) as e:
            message = str(e) if isinstance(e, BadInput) else f"cannot start a run in {self.runs_dir}: {e.strerror}"
            self.notify(f"not launched: {message}", severity="error", timeout=10)
            return None
        key = f"launch-{proc.pid}"
        self.launched.add(proc.pid)
        self._pending[key] = (proc, log, "run")
        self.look_now()
        return key

    def launch_sweep(self, ref: str, name: str, args: list[str] = ()) -> str | None:
        """Start `lab sweep REF ARGS` detached (ARGS: the form's `--set KEY=VALUE`s). The launch's
        key (its row: 'starting', then the sweep's), or None."""
        import tempfile

        from lab.errors import BadInput
        from lab.launch import spawn

        logs = self.runs_dir / ".launches"
        try:
            logs.mkdir(parents=True, exist_ok=True)
            fd, log = tempfile.mkstemp(dir=logs, prefix=f"sweep-{name}-", suffix=".log")
            os.close(fd)
            proc = spawn(ref, args, runs_dir=self.runs_dir, log_path=log, json=False, command="sweep")
        except (BadInput, OSError) as e:
            message = str(e) if isinstance(e, BadInput) else f"cannot start a sweep in {self.runs_dir}: {e.strerror}"
            self.notify(f"not launched: {message}", severity="error", timeout=10)
            return None
        key = f"launch-{proc.pid}"
        self.launched.add(proc.pid)
        self._pending[key] = (proc, log, "sweep")
        self.look_now()
        return key

    def get_system_commands(self, screen):
        """Textual's palette commands less those lab has its own of (maximise, help, theme, quit,
        LabCommands): each action once, spelt one way."""
        for command in super().get_system_commands(screen):
            if command.title not in TEXTUAL_COMMANDS_LAB_HAS:
                yield command

    def action_help(self) -> None:
        """The keys that work here: the bindings of the focused widget, its screen and the app, each
        action once with all its keys, said where it works as the screen names it; and the
        screen's own paragraph (its HELP)."""
        from lab.tui.screens.dialogs import HelpScreen, where

        screen = self.screen
        rows: dict[str, list] = {}  # action -> [rank, keys, what it does, where]
        for active in self.active_bindings.values():
            b = active.binding
            if not active.enabled:
                continue
            key = self.get_key_display(b)
            if b.action in rows:
                if key not in rows[b.action][1]:
                    rows[b.action][1].append(key)
                continue
            node = active.node
            ours = any(isinstance(o, Binding) and o.action == b.action for o in type(node).BINDINGS)  # not Textual's
            rank = (0 if node is screen else 1 if node is self else 2) + (0 if ours else 3)
            what = "Every action by name" if b.action.endswith("command_palette") else \
                b.description or b.action.replace("_", " ")
            rows[b.action] = [rank, [key], what, where(node, screen)]
        # lab's keys first (the screen's, everywhere's, the focused pane's), then Textual's alike
        keys = sorted(rows.values(), key=lambda r: r[0])
        self.push_screen(HelpScreen([(", ".join(k), what, at) for _, k, what, at in keys], screen.title or "this",
                                    type(screen).HELP or ""))

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"
        preferences.save(theme=self.theme)

    def ask_stop(self, run, then=None) -> None:
        """Stop a run after a confirmation that names it (the default answer is Cancel); `then`
        after a stop (a view's reader asked for a look at once)."""
        from lab.tui.screens.dialogs import ConfirmScreen

        if run.state != RunState.RUNNING:
            self.notify(f"{run.id} is {run.state}, not running", severity="warning")
            return

        def answer(yes: bool | None) -> None:
            if yes:
                self.stop_run(run)
                self.look_now()
                if then is not None:
                    then()

        self.push_screen(ConfirmScreen(f"Stop run {run.id} ({run.experiment}, seed {run.summary.seed})?\n"
                                       "It saves a checkpoint, then ends 'stopped'.", "Stop", "Cancel"), answer)

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

    def ask_stop_sweep(self, sweep, then=None) -> None:
        """Stop a sweep after a confirmation that names it: SIGINT to its process, which stops
        each of its runs cleanly and ends 'stopped'."""
        from lab.tui.screens.dialogs import ConfirmScreen

        if sweep.state != RunState.RUNNING or sweep.record is None:
            self.notify(f"sweep {sweep.id} is {sweep.state}, not running", severity="warning")
            return
        r = sweep.record
        done = sum(t.finished for t in r.trials)
        going = sum(j.state == RunState.RUNNING for t in r.trials for j in t.jobs)

        def answer(yes: bool | None) -> None:
            if yes:
                self.stop_sweep(sweep)
                self.look_now()
                if then is not None:
                    then()

        self.push_screen(ConfirmScreen(
            f"Stop sweep {sweep.id} ({r.name}, {done}/{r.total_trials} trials done, {going} run(s) going)?\n"
            f"Each of its runs saves a checkpoint and ends 'stopped', then the sweep does; "
            f"`lab sweep --resume {sweep.id}` continues it.", "Stop", "Cancel"), answer)

    def stop_sweep(self, sweep) -> bool:
        """Stop a sweep through the core's one `stop` (its sweep.json read again: the table's copy
        may be a second old)."""
        from lab.errors import BadInput
        from lab.launch import stop

        try:
            self.notify(stop(sweep.folder.read()))
            return True
        except BadInput as e:
            self.notify(str(e), severity="warning")
            return False

    def open_sweep(self, path: Path) -> None:
        from lab.tui.screens.sweep import SweepScreen

        self.push_screen(SweepScreen(path))

    def open_run(self, path: Path) -> None:
        from lab.tui.screens.run import RunScreen

        self.push_screen(RunScreen(path))

    def action_quit_lab(self) -> None:
        """Quit; with runs or sweeps going, ask first whether to stop them or leave them going."""
        # the table's copies may be a second old: the few it shows running are read again, in a worker
        self.find_running([r.path for r in self.home.runs.values() if r.summary.state == RunState.RUNNING],
                          [s.path for s in self.home.sweeps.values() if s.state == RunState.RUNNING])

    @work(thread=True, exclusive=True, group="quit")
    def find_running(self, run_paths: list[Path], sweep_paths: list[Path]) -> None:
        from lab.store import Run
        from lab.watch import SeenRun, Sweep

        sweeps = [sweep for sweep in map(Sweep.load, sweep_paths) if sweep.state == RunState.RUNNING]
        runs = [run for run in (SeenRun.of(Run.load(p)) for p in run_paths) if run.state == RunState.RUNNING]
        self.post_message(RunningFound(runs, sweeps))

    def on_running_found(self, message: RunningFound) -> None:
        sweeps = message.sweeps
        # a sweep's runs are stopped by their sweep (stopped alone, the sweep would start the next ones)
        running = [run for run in message.runs if run.summary.sweep not in {s.id for s in sweeps}]
        if not running and not sweeps:
            self.exit()
            return
        from lab.tui.screens.dialogs import QuitScreen

        def answer(choice: str | None) -> None:
            if choice == "stop":
                for sweep in sweeps:
                    self.stop_sweep(sweep)
                for run in running:
                    self.stop_run(run)
                self.exit()
            elif choice == "leave":
                self.exit()

        self.push_screen(QuitScreen(len(running), sweeps=len(sweeps)), answer)


def _launch_error(log, code) -> str:
    """What a launch that ended without a run folder said last: its 'lab: ...' line, else its
    last line, else its exit code."""
    try:
        lines = [line.strip() for line in Path(log).read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        lines = []
    said = [line for line in lines if line.startswith("lab: ")]
    if said:
        return said[-1][5:]
    return lines[-1] if lines else f"the launch exited with code {code} before making a run folder"


def run_app(runs_dir=None) -> int:
    """Run the dashboard; its exit code: non-zero when it ended on an error (Textual prints it)."""
    driver = None
    if os.name == "posix":  # (Textual's Linux driver serves macOS too)
        from lab.tui.escape_key import QuickEscapeDriver

        driver = QuickEscapeDriver
    app = LabApp(runs_dir, driver_class=driver)
    app.run()
    return app.return_code or 0
