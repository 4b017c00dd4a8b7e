"""The dashboard's news: what a worker found, as past-tense messages.

One way for news to reach a screen: a worker (a thread: the runs watcher, a run's or a sweep's
reader, a check of the form's settings, the play pane's frame reader) reads run folders, sweep
folders and /proc, and ends each look by posting one of these to the screen (or widget) it works
for; the screen's `on_...` handler keeps what the message carries and draws from it. Timers
(`set_interval`) only redraw from what handlers kept; nothing on the event loop reads a file or
/proc (tests/test_dashboard_messages.py checks both).

Messages aimed at one screen do not bubble; `ReadFailed` does, so that a screen that has nothing
to add leaves it to the app, which says it in a notification.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from lab.follow import Batch, RunFollower
    from lab.store import Run
    from lab.tui.screens.attribution import Attributions
    from lab.tui.screens.sweep import Curve
    from lab.watch import Changes, Sweep


class ReadFailed(Message):
    """A worker could not read what it watches (a folder's content never ends the dashboard; the
    next look tries again). Bubbles up to the app, which notifies."""

    def __init__(self, problem: str, severity: str = "warning"):
        super().__init__()
        self.problem, self.severity = problem, severity


# --- the runs root (the app's runs watcher -> the home screen) ---------------------------------
class RunsChanged(Message, bubble=False):
    """The watcher looked at the runs root: runs and sweeps that appeared, changed or went (its
    first look is news even when the root is empty). Their states are as the watcher saw them:
    crash detection (/proc) ran in its thread (`lab.watch.SeenRun`)."""

    def __init__(self, changes: Changes):
        super().__init__()
        self.changes = changes


class LaunchResolved(Message, bubble=False):
    """A launch from the dashboard got its run (or sweep) folder, `run_id`; or its process ended
    without one, and `error` is the last thing it said."""

    def __init__(self, key: str, run_id: str | None = None, error: str | None = None):
        super().__init__()
        self.key, self.run_id, self.error = key, run_id, error


class FolderDeleted(Message, bubble=False):
    """A run's or a sweep's folder is gone (deleted in a worker: a folder of checkpoints takes a while)."""

    def __init__(self, what: str, folder_id: str):
        super().__init__()
        self.what, self.folder_id = what, folder_id


class RunningFound(Message, bubble=False):
    """The runs and sweeps still going, read again from their folders (for the quit dialog)."""

    def __init__(self, runs: list[Run], sweeps: list[Sweep]):
        super().__init__()
        self.runs, self.sweeps = runs, sweeps


# --- the home screen's form ----------------------------------------------------------------------
class SettingsChecked(Message, bubble=False):
    """The checks `lab run` (or `lab sweep`) makes before it starts, made on experiment `name`
    with `overrides`: `error` is None when they pass, else what they said (and the key at fault).
    `then_launch`: the user asked for a launch that waited for this check. `number`: the check's,
    in the order they were asked for (an answer older than one already shown is stale).
    `sweep_size`: a sweep file's (trials, seeds, backend), when it got that far."""

    def __init__(self, name: str, overrides: dict[str, str], error: str | None, bad_key: str | None = None,
                 then_launch: bool = False, number: int = 0, sweep_size: tuple[int, int, str] | None = None):
        super().__init__()
        self.name, self.overrides, self.error, self.bad_key, self.then_launch = name, overrides, error, bad_key, then_launch
        self.number, self.sweep_size = number, sweep_size


# --- a run's live view and the compare screen (their run reader) --------------------------------
class RunsRead(Message, bubble=False):
    """The first read of the runs a view follows (a bounded scan of each events file): their
    followers, handed over to the view; from now on the reader only reads, the view applies."""

    def __init__(self, followers: list[RunFollower]):
        super().__init__()
        self.followers = followers


class RunEventsArrived(Message, bubble=False):
    """Events appended to a followed run's events.jsonl since the last read, and its summary when
    read again (`lab.follow.Batch`), for the view to apply (`RunFollower.apply`)."""

    def __init__(self, path, batch: Batch):
        super().__init__()
        self.path, self.batch = path, batch


class RobustnessFound(Message, bubble=False):
    """A finished policy's return under attack, from the newest run that attacked it (`source`)."""

    def __init__(self, source: str, report: dict):
        super().__init__()
        self.source, self.report = source, report


class AttributionsRead(Message, bubble=False):
    """An attribution run's attributions.npz, comparison.json and robustness.json, read."""

    def __init__(self, attributions: Attributions):
        super().__init__()
        self.attributions = attributions


# --- a sweep's live view (its reader) -------------------------------------------------------------
class SweepRead(Message, bubble=False):
    """The sweep as read now, its best trials' curves, its settings' choices, the runs of its
    trials that have a folder (`started`), and its trials' statistics over seeds and their
    performance profiles once it has ended (lab.sweep.report.seed_statistics, lab.stats.profiles)."""

    def __init__(self, sweep: Sweep, curves: list[Curve], params: dict, started: frozenset[str] = frozenset(),
                 statistics: list[dict] | None = None, profiles: dict | None = None):
        super().__init__()
        self.sweep, self.curves, self.params, self.started = sweep, curves, params, started
        self.statistics, self.profiles = statistics or [], profiles or {}


class StatisticsComputed(Message, bubble=False):
    """The compare screen's statistics over seeds, bootstrapped in a worker thread: `rows`
    (lab.stats.compare) and their performance profiles (lab.stats.profiles)."""

    def __init__(self, rows: list[dict], profiles: dict):
        super().__init__()
        self.rows, self.profiles = rows, profiles


# --- the play pane (its frame reader) -------------------------------------------------------------
class FrameArrived(Message):
    """The player sent a frame (the pane reads the newest from its slot: a busy event loop drops
    frames instead of queueing them)."""


class PlayerSaid(Message):
    """The player said why it cannot play (an env that cannot be drawn, no policy yet)."""

    def __init__(self, note: str):
        super().__init__()
        self.note = note


class PlayerEnded(Message):
    """The player's process ended, with this exit code."""

    def __init__(self, code: int | None):
        super().__init__()
        self.code = code


__all__ = ["AttributionsRead", "FolderDeleted", "FrameArrived", "LaunchResolved", "PlayerEnded", "PlayerSaid",
           "ReadFailed", "RobustnessFound", "RunEventsArrived", "RunningFound", "RunsChanged", "RunsRead",
           "SettingsChecked", "SweepRead"]
