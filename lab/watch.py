"""Watching a runs root: which run folders appeared, changed or went since the last look,
re-reading only those. Pure data (no Textual): the dashboard polls it from a worker thread.

A folder counts as changed when the stat of its summary.json or events.jsonl changed (summaries
are replaced by rename, so every write is a new inode and mtime), or when a running run's
process died (its state turns 'crashed' with no file changing). With 1,000 finished runs a poll
is two stats a folder and nothing else.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from lab.store import EVENTS, SUMMARY, Run


def _stamp(path: str) -> tuple | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino, st.st_mode


@dataclass
class Changes:
    changed: dict[str, Run] = field(default_factory=dict)  # id -> the run as read now (new ones too)
    removed: set[str] = field(default_factory=set)
    running: dict[str, Run] = field(default_factory=dict)  # every running run (their elapsed time moves)

    def __bool__(self) -> bool:
        return bool(self.changed or self.removed or self.running)


class RunsWatch:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.runs: dict[str, Run] = {}
        self._stamps: dict[str, tuple] = {}
        self._states: dict[str, str] = {}

    def poll(self) -> Changes:
        out = Changes()
        try:
            entries = list(os.scandir(self.root))
        except OSError:  # no runs root yet, or not a folder: no runs
            entries = []
        seen = set()
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if not entry.is_dir():
                    continue
            except OSError:
                continue
            stamp = (_stamp(os.path.join(entry.path, SUMMARY)), _stamp(os.path.join(entry.path, EVENTS)))
            if stamp == (None, None):
                continue
            name = entry.name
            seen.add(name)
            if self._stamps.get(name) != stamp:
                self._stamps[name] = stamp
                self.runs[name] = Run.load(entry.path)
                out.changed[name] = self.runs[name]
            run = self.runs[name]
            state = run.state  # for a running run: is its process still the one it names?
            if state != self._states.get(name):
                self._states[name] = state
                out.changed[name] = run
            if state == "running":
                out.running[name] = run
        for name in set(self.runs) - seen:
            del self.runs[name], self._stamps[name]
            self._states.pop(name, None)
            out.removed.add(name)
        return out
