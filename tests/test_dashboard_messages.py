"""One way for news to reach the dashboard: workers read the disk and /proc and post past-tense
messages (lab.tui.messages); screens handle them; timers only redraw.

The first test drives the dashboard and records the message stream (Textual's `message_hook`:
each message as it reaches each message pump), as Harlequin's tests spy on the messages its
workers post. The second reads lab/tui's source: no function a timer calls reads a file or /proc,
and no worker calls into the event loop but by a message."""

import ast
import inspect
import textwrap
from pathlib import Path

from textual._context import active_message_pump

import lab.tui
from lab.events import EventWriter
from lab.store import process_identity
from lab.tui import messages
from lab.tui.app import LabApp

from .pilot import runs_shown, wait_for
from .seeded_runs import rl_run, seeded_root

SIZE = (160, 48)
TUI = Path(lab.tui.__file__).parent


class Stream:
    """The lab messages the dashboard's screens receive, in order: (receiver's class name, message)."""

    def __init__(self):
        self.received: list[tuple[str, object]] = []

    def __call__(self, message) -> None:
        if type(message).__module__ == messages.__name__:
            self.received.append((type(active_message_pump.get()).__name__, message))

    def to(self, receiver: str, kind: type) -> list:
        return [m for r, m in self.received if r == receiver and isinstance(m, kind)]


async def test_workers_news_reaches_the_screens_as_past_tense_messages(tmp_path):
    root = seeded_root(tmp_path / "runs")
    going = "20261123-000700-cartpole-ppo-0007"  # "running" in this very process, so it is alive
    rl_run(root, going, "cartpole-ppo", 7, state="running", process=process_identity())
    stream = Stream()
    app = LabApp(root)
    async with app.run_test(size=SIZE, message_hook=stream) as pilot:
        # the runs watcher's first look, as RunsChanged to the home screen
        table = await runs_shown(pilot, 5)
        (first, *_) = stream.to("HomeScreen", messages.RunsChanged)
        assert set(first.changes.changed) == {p.name for p in root.iterdir()}
        assert first.changes.changed[going].state == "running" and going in first.changes.running  # seen in its thread

        # a run folder appearing: RunsChanged naming it, and its row
        new = "20261123-235900-cartpole-dqn-0009"
        rl_run(root, new, "cartpole-dqn", 9)
        app.look_now()
        await wait_for(pilot, lambda: any(new in m.changes.changed for m in stream.to("HomeScreen", messages.RunsChanged)))
        await wait_for(pilot, lambda: new in table.runs)

        # a launch that dies before its folder (the seeded spec.toml is empty): LaunchResolved with its error
        table.focus()
        table.select(new)
        await pilot.press("r")
        key = table.selected_key
        assert key.startswith("launch-")
        await wait_for(pilot, lambda: stream.to("HomeScreen", messages.LaunchResolved), timeout=60)
        (resolved,) = stream.to("HomeScreen", messages.LaunchResolved)
        assert resolved.key == key and resolved.run_id is None and "name: missing" in resolved.error
        await wait_for(pilot, lambda: table.launches[key].state == "failed")

        # the live view of the running run: its first read, then the events it appends
        # (opened with keys: a screen pushed from the test's own task would not carry the message hook)
        table.select(going)
        await pilot.press("enter")
        screen = app.screen
        assert type(screen).__name__ == "RunScreen"
        await wait_for(pilot, lambda: screen.ready)
        (read,) = stream.to("RunScreen", messages.RunsRead)
        assert read.followers[0] is screen.follower and screen.follower.run.id == going
        writer = EventWriter(root / going / "events.jsonl")
        writer.emit("log", level="info", message="a line written after the view opened")
        writer.emit("eval", step=99_999, mean=432.1, std=1.0, episodes=10)
        writer.close()

        def arrived():
            return [e for m in stream.to("RunScreen", messages.RunEventsArrived) for e in m.batch.events]

        await wait_for(pilot, lambda: any(e["kind"] == "eval" and e["step"] == 99_999 for e in arrived()), timeout=10)
        assert all(m.path == root / going for m in stream.to("RunScreen", messages.RunEventsArrived))
        await wait_for(pilot, lambda: screen.follower.evals.values[-1] == 432.1)  # applied by the screen
        await wait_for(pilot, lambda: "a line written after the view opened" in "\n".join(screen.query_one("#run-log").lines))

        # the compare screen has its own reader: its first read of both runs as one RunsRead
        await pilot.press("escape")
        for run in (going, new):
            table.select(run)
            await pilot.press("space")
        await pilot.press("c")
        compare = app.screen
        assert type(compare).__name__ == "CompareScreen"
        await wait_for(pilot, lambda: compare.ready)
        (read,) = stream.to("CompareScreen", messages.RunsRead)
        assert {f.run.id for f in read.followers} == {going, new} and compare.followers == read.followers

    # every lab message reached a screen, a widget or the app: none went anywhere else
    assert {r for r, _ in stream.received} <= {"HomeScreen", "RunScreen", "CompareScreen", "LabApp"}


# --- the source: timers only redraw, workers only post --------------------------------------------

# What reads a file, a folder or /proc: a call of one of these (by name or as a method) in a function
# a timer calls, or in any function of the same class or module it calls in turn.
READS = {
    "open", "listdir", "scandir", "walk", "stat", "lstat",  # builtins and os
    "read_text", "read_bytes", "iterdir", "glob", "rglob", "exists", "is_file", "is_dir",  # pathlib
    "read_json", "read_toml", "read_regular", "open_regular", "read_events", "scan", "list_runs", "load",  # lab's readers
    "poll", "read",  # RunFollower.poll/read, EventTail.read, SweepFolder.read, RunsWatch.poll
    "process_alive", "signal_refusal", "process_identity", "policy_robustness",  # /proc
    "Popen", "run", "check_output",  # subprocesses
}
TIMERS = {"set_interval", "set_timer"}


def _callees(node: ast.AST) -> set[str]:
    """The names a function calls: `f(...)` -> f, `x.f(...)` -> f."""
    out = set()
    for call in ast.walk(node):
        if isinstance(call, ast.Call):
            f = call.func
            if isinstance(f, ast.Name):
                out.add(f.id)
            elif isinstance(f, ast.Attribute):
                out.add(f.attr)
    return out


def timer_reads(source: str) -> dict[str, set[str]]:
    """For each timer's callback in `source`: the reading calls it makes, directly or through
    the methods of its class and the functions of its module that it calls."""
    tree = ast.parse(source)
    module = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    out = {}
    classes = [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
    for cls, scopes in [(c, [c]) for c in classes] + [(None, list(module.values()))]:
        methods = {n.name: n for n in (cls.body if cls else []) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        for call in (node for scope in scopes for node in ast.walk(scope)):
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr in TIMERS):
                continue
            args = [*call.args[1:2], *(k.value for k in call.keywords if k.arg == "callback")]
            assert args, f"a timer without a callback at line {call.lineno}"
            callback = args[0]
            if isinstance(callback, ast.Call) and getattr(callback.func, "id", "") == "partial":
                callback = callback.args[0]
            if isinstance(callback, ast.Attribute) and isinstance(callback.value, ast.Name) and callback.value.id == "self":
                roots, name = [methods[callback.attr]], f"{cls.name}.{callback.attr}"
            elif isinstance(callback, ast.Name) and callback.id in module:
                roots, name = [module[callback.id]], callback.id
            elif isinstance(callback, ast.Lambda):
                roots, name = [callback], f"lambda at line {call.lineno}"
            else:
                raise AssertionError(f"a timer's callback this test cannot follow, line {call.lineno}: {ast.unparse(callback)}")
            seen, todo, reads = set(), list(roots), set()
            while todo:
                fn = todo.pop()
                if id(fn) in seen:
                    continue
                seen.add(id(fn))
                called = _callees(fn)
                reads |= called & READS
                todo += [methods[c] for c in called if c in methods] + [module[c] for c in called if c in module]
            out[name] = reads
    return out


def test_the_checker_follows_a_timer_into_the_methods_it_calls():
    source = textwrap.dedent('''
        class Screen:
            def on_mount(self):
                self.set_interval(1.0, self.tick)
                self.set_timer(2.0, callback=lambda: self.draw())

            def tick(self):
                self.draw()
                self.refresh_rows()

            def refresh_rows(self):
                self.run = Run.load(self.path)  # two calls down: still on the timer

            def draw(self):
                self.query_one("#plot").plot(self.series)
        ''')
    assert timer_reads(source) == {"Screen.tick": {"load"}, "lambda at line 5": set()}


def test_no_timer_callback_in_the_dashboard_reads_a_file_or_proc():
    found = {}
    for path in sorted(TUI.rglob("*.py")):
        found.update({f"{path.relative_to(TUI)}: {name}": reads for name, reads in timer_reads(path.read_text()).items()})
    assert len(found) >= 2  # the run view's and the compare view's redraws, at least
    assert {name: reads for name, reads in found.items() if reads} == {}


def test_workers_reach_the_event_loop_only_by_messages():
    """No `call_from_thread` (a worker calling a screen's method) anywhere in the dashboard; every
    Message class lives in lab.tui.messages."""
    for path in sorted(TUI.rglob("*.py")):
        tree = ast.parse(path.read_text())
        assert "call_from_thread" not in _callees(tree), path
        if path.name != "messages.py":
            bases = {ast.unparse(b) for c in ast.walk(tree) if isinstance(c, ast.ClassDef) for b in c.bases}
            assert not bases & {"Message", "textual.message.Message"}, path
    names = [n for n, c in inspect.getmembers(messages, inspect.isclass) if c.__module__ == messages.__name__]
    assert {"RunsChanged", "RunEventsArrived", "LaunchResolved", "SweepRead", "FrameArrived"} <= set(names)
