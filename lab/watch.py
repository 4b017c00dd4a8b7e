"""Watching a runs root: which run folders and sweep folders appeared, changed or went since the
last look, re-reading only those. Pure data (no Textual): the dashboard polls it from a worker
thread.

A run folder counts as changed when the stat of its summary.json or events.jsonl changed
(summaries are replaced by rename, so every write is a new inode and mtime), or when a running
run's process died (its state turns 'crashed' with no file changing). A folder with neither is
looked at once more for a sweep.json (a sweep folder), which changes the same way. With 1,000
finished runs a poll is two stats a folder and nothing else.

Folders that are neither (empty ones, a user's own) cost nothing per poll however many there are:
the root is listed again only when its own mtime changes, and a folder found to be neither is
remembered by its mtime and skipped until that changes, checked a slice at a time (IDLE_SLICE a
poll). A folder changed in the last YOUNG_SECONDS (a run folder being made) is looked into every
poll, because an mtime that recent cannot yet tell one change from the next (git's "racy" entries).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from lab.store import EVENTS, SUMMARY, Run
from lab.summary import RunState
from lab.sweep.record import SWEEP_JSON, SweepFolder, SweepRecord

YOUNG_SECONDS = 10.0  # a folder changed this recently is looked into every poll, whatever its mtime says
IDLE_SLICE = 1000  # folders that are neither a run's nor a sweep's, looked at per poll in turn
RELIST_SECONDS = 60.0  # the root is listed again at least this often (a clock that an mtime cannot be compared to)


def file_stamp(path: str | os.PathLike) -> tuple | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino, st.st_mode


@dataclass
class SeenRun(Run):
    """A run as a reader thread saw it: its state, crash detection included (that reads /proc), and
    a crashed run's end (its summary's mtime) worked out when it was read, so that a view drawing
    it on the event loop reads neither. A later look makes a new one."""

    seen_state: str = RunState.CORRUPT
    crashed_at: float | None = None

    @classmethod
    def of(cls, run: Run, state: str | None = None) -> SeenRun:
        """`run` as seen now (`state`: its state, when the caller has just worked it out)."""
        state = run.state if state is None else state
        crashed_at = None
        if state == RunState.CRASHED:
            stamp = file_stamp(run.summary_path)
            crashed_at = stamp[0] / 1e9 if stamp is not None else None
        return cls(run.path, run.summary, run.problem, state, crashed_at)

    @property
    def state(self) -> str:
        return self.seen_state

    @property
    def seconds(self) -> float | None:
        if self.seen_state == RunState.CRASHED and self.summary.ended is None and self.crashed_at is not None:
            return self.summary.seconds_until(self.crashed_at)
        return super().seconds  # (reads no file: only a crashed run's end does, and that one is above)


@dataclass
class Sweep:
    """A sweep folder as the watcher read it: its record (None when sweep.json cannot be read,
    `problem` says why) and its state, crash detection included, worked out in the watcher's
    thread so that nobody reads /proc on the event loop."""

    folder: SweepFolder
    record: SweepRecord | None
    state: str
    problem: str | None = None

    @classmethod
    def load(cls, path: str | os.PathLike) -> Sweep:
        from lab.errors import BadInput

        folder = SweepFolder(Path(path))
        try:
            record = folder.read()
        except BadInput as e:  # (said from inside the folder: the row has room for little)
            return cls(folder, None, RunState.CORRUPT, str(e).replace(str(folder.path) + os.sep, ""))
        problem = _record_problem(record)
        if problem is not None:  # what the dashboard draws from it would fail on the event loop
            return cls(folder, None, RunState.CORRUPT, f"{SWEEP_JSON}: {problem}")
        return cls(folder, record, record.live_state)

    @property
    def id(self) -> str:
        return self.folder.id

    @property
    def path(self) -> Path:
        return self.folder.path

    @property
    def started(self) -> float:
        return self.record.started if self.record is not None and isinstance(self.record.started, (int, float)) else 0.0


def _record_problem(r: SweepRecord) -> str | None:
    """Why a sweep.json that parsed is still not one lab wrote (a key of the wrong type), or None."""
    def number(v, none=True):
        return (v is None and none) or isinstance(v, (int, float)) and not isinstance(v, bool)

    checks = [
        ("name, experiment, metric, direction, state", all(isinstance(v, str) for v in (r.name, r.experiment, r.metric, r.direction, r.state))),
        ("seeds", isinstance(r.seeds, list) and all(isinstance(v, int) for v in r.seeds)),
        ("started, ended", number(r.started, none=False) and number(r.ended)),
        ("pid", r.pid is None or isinstance(r.pid, int) and not isinstance(r.pid, bool)),
        ("total_trials", isinstance(r.total_trials, int)),
        ("trials", all(isinstance(t.number, int) and isinstance(t.params, dict) and isinstance(t.state, str)
                       and number(t.value) and number(t.std) and (t.pruned_at is None or isinstance(t.pruned_at, int))
                       for t in r.trials)),
        ("trials' jobs", all(isinstance(j.run, str) and isinstance(j.state, str) and number(j.value)
                             and number(j.fraction, none=False) and isinstance(j.evals, list) and all(number(v, none=False) for v in j.evals)
                             for t in r.trials for j in t.jobs)),
    ]
    bad = [what for what, ok in checks if not ok]
    return f"{bad[0]}: not what lab writes there" if bad else None


@dataclass
class Changes:
    changed: dict[str, SeenRun] = field(default_factory=dict)  # id -> the run as read now (new ones too)
    removed: set[str] = field(default_factory=set)
    running: dict[str, SeenRun] = field(default_factory=dict)  # every running run (their elapsed time moves)
    sweeps: dict[str, Sweep] = field(default_factory=dict)  # sweep id -> the sweep as read now (new ones too)
    sweeps_removed: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.changed or self.removed or self.running or self.sweeps or self.sweeps_removed)


class RunsWatch:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.runs: dict[str, Run] = {}
        self.sweeps: dict[str, Sweep] = {}
        self._stamps: dict[str, tuple] = {}
        self._states: dict[str, str] = {}
        self._names: set[str] = set()  # the root's folders at the last listing
        self._root_stamp: tuple | None = None
        self._listed_at = float("-inf")
        self._watched: set[str] = set()  # folders looked into every poll: runs, sweeps, young ones
        self._idle: dict[str, tuple] = {}  # the others -> their own stamp when last looked into
        self._idle_order: list[str] = []
        self._cursor = 0

    def poll(self) -> Changes:
        out = Changes()
        now = time.time()
        if self._list(now):
            for name in set(self._idle) - self._names:
                del self._idle[name]
            self._watched = self._names - self._idle.keys()
        self._wake_idle()
        seen, seen_sweeps = set(), set()
        for name in list(self._watched):
            path = os.path.join(self.root, name)
            own = file_stamp(path)  # before its content: a change after this look shows in the next
            stamp = (file_stamp(os.path.join(path, SUMMARY)), file_stamp(os.path.join(path, EVENTS)))
            if stamp == (None, None):
                if self._sweep(name, path, out):
                    seen_sweeps.add(name)
                elif own is not None and now - own[0] / 1e9 > YOUNG_SECONDS:
                    self._watched.discard(name)  # neither a run's nor a sweep's: skipped until it changes
                    self._idle[name] = own
                    self._idle_order.append(name)
                continue
            seen.add(name)
            changed = self._stamps.get(name) != stamp
            if changed:
                self._stamps[name] = stamp
                self.runs[name] = Run.load(path)
            run = self.runs[name]
            state = run.state  # for a running run: is its process still the one it names?
            if state != self._states.get(name):
                self._states[name] = state
                changed = True
            if changed or state == RunState.RUNNING:
                snapshot = SeenRun.of(run, state)  # what readers get: the state as worked out here
                if changed:
                    out.changed[name] = snapshot
                if state == RunState.RUNNING:
                    out.running[name] = snapshot
        for name in set(self.runs) - seen:
            del self.runs[name], self._stamps[name]
            self._states.pop(name, None)
            out.removed.add(name)
        for name in set(self.sweeps) - seen_sweeps:
            del self.sweeps[name], self._stamps[name]
            self._states.pop(name, None)
            out.sweeps_removed.add(name)
        return out

    def _list(self, now: float) -> bool:
        """List the root's folders again if it may have changed since the last listing: its stamp
        differs, its mtime was too close to that listing to tell, or RELIST_SECONDS passed. True
        when it listed."""
        stamp = file_stamp(self.root)
        if (stamp is not None and stamp == self._root_stamp and stamp[0] / 1e9 < self._listed_at - YOUNG_SECONDS
                and now - self._listed_at < RELIST_SECONDS):
            return False
        self._root_stamp, self._listed_at = stamp, now
        try:
            entries = list(os.scandir(self.root))
        except OSError:  # no runs root yet, or not a folder: no runs
            entries = []
        names = set()
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir():
                    names.add(entry.name)
            except OSError:
                continue
        self._names = names
        return True

    def _wake_idle(self) -> None:
        """The next IDLE_SLICE skipped folders, in turn: one whose stamp changed is watched again."""
        if self._cursor >= len(self._idle_order):
            self._idle_order, self._cursor = list(self._idle), 0
        for name in self._idle_order[self._cursor:self._cursor + IDLE_SLICE]:
            remembered = self._idle.get(name)
            if remembered is not None and file_stamp(os.path.join(self.root, name)) != remembered:
                del self._idle[name]
                self._watched.add(name)
        self._cursor += IDLE_SLICE

    def _sweep(self, name: str, path: str, out: Changes) -> bool:
        """A sweep folder: read again when its sweep.json changed or its process died. False
        when the folder is not a sweep's."""
        stamp = file_stamp(os.path.join(path, SWEEP_JSON))
        if stamp is None:
            return False
        if self._stamps.get(name) != stamp:
            self._stamps[name] = stamp
            self.sweeps[name] = Sweep.load(path)
            out.sweeps[name] = self.sweeps[name]
        sweep = self.sweeps[name]
        if sweep.state == RunState.RUNNING and sweep.record is not None:
            sweep.state = sweep.record.live_state  # its process may have died with nothing written
        if sweep.state != self._states.get(name):
            self._states[name] = sweep.state
            out.sweeps[name] = sweep
        return True
