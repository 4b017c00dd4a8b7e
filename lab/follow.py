"""Following a run folder as it grows: the series and figures a live view shows.

The first `RunFollower.poll()` reads the file with `lab.events.scan` (every low-rate event, a
sample of a huge file's episodes); later polls read only the events appended since, so a view
can open a run of millions of episodes at once and poll several runs a few times a second.
A poll is `read()` (the disk: a `Batch`) then `apply()` (memory), so that the dashboard reads in
a worker thread and applies on its event loop. Pure data: no Textual here.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from lab.display import cut
from lab.events import EventTail, scan
from lab.store import Run
from lab.watch import SeenRun

SUMMARY_SECONDS = 1.0
# The kinds a follower shows (`_apply`): a file of millions of lines of other kinds costs its first
# scan a regex pass, not a parse of each line.
KINDS = frozenset({"episode", "episodes", "eval", "checkpoint", "metric", "progress", "log", "status", "method",
                   "comparison", "pbt"})
PBT_ROUNDS = 4096  # population-based training's rounds a follower keeps (a run has tens)


@dataclass
class Series:
    steps: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    times: list[float] = field(default_factory=list)

    def add(self, step, value, t) -> None:
        if value is not None:
            self.steps.append(step)
            self.values.append(value)
            self.times.append(t)


@dataclass
class Batch:
    """What one read of a run folder found: the events appended since the last read, lines lab
    says about the reading (events it left out), the run read again when due, and (the first
    read's) whether its episodes are a sample."""

    events: list[dict]
    notes: list[str] = field(default_factory=list)
    run: Run | None = None
    sampled: bool | None = None

    def __bool__(self) -> bool:
        return bool(self.events or self.notes or self.run is not None)


class RunFollower:
    def __init__(self, path: Path, log_lines: int = 500):
        self.path = Path(path)
        self.run: Run = SeenRun.of(Run.load(self.path))  # its state worked out when read (no /proc when drawn)
        self._events_path = self.run.events_path
        self.tail: EventTail | None = None  # made by the first read, after a bounded scan
        self.returns = Series()  # raw episode returns
        self.rolling = Series()  # rolling mean of the last 100
        self.evals = Series()  # periodic evaluations (mean; a population's: the mean of its members)
        self.eval_low, self.eval_high = Series(), Series()  # a population's: its weakest and strongest member
        self.member_evals: list[Series] = []  # a population's: each member's evaluations
        self.pbt_events: deque[dict] = deque(maxlen=PBT_ROUNDS)  # population-based training's rounds, as written
        self.final_eval: dict | None = None
        self.metrics: dict[str, Series] = {}
        self.logs: deque[str] = deque(maxlen=log_lines)
        self.new_logs: list[str] = []
        self.progress: dict = {}
        self.methods: dict[str, dict] = {}  # attribution: name -> {seconds_per_sample, ...}
        self.comparison: dict | None = None
        self.status: str = ""
        self.started: float | None = None
        self.sampled = False  # True when the episode series is a sample of a huge file
        self._summary_read = time.monotonic()

    def poll(self) -> bool:
        """Read new events and keep them; True when anything changed."""
        return self.apply(self.read())

    def read(self) -> Batch:
        """What is new in the folder: the reading half (the file's tail, the summary's clock; it
        touches nothing `apply` does, so a worker thread may read while the event loop applies)."""
        notes = []
        sampled = None
        if self.tail is None:
            first = scan(self._events_path, KINDS)
            sampled = first.sampled
            self.tail = EventTail(self._events_path, first.offset, first.skipping)
            events = first.events
            if first.note():  # a file larger than lab reads: what was left out, in the log
                notes.append(f"[lab] {first.note()}")
        else:
            skipped = self.tail.skipped
            events = self.tail.read()
            if self.tail.note(skipped):
                notes.append(f"[lab] {self.tail.note(skipped)}")
        run = None
        now = time.monotonic()
        if events and any(e["kind"] == "status" for e in events) or now - self._summary_read >= SUMMARY_SECONDS:
            run = SeenRun.of(Run.load(self.path))  # the summary changes every few seconds at most
            self._summary_read = now
        return Batch(events, notes, run, sampled)

    def apply(self, batch: Batch) -> bool:
        """Keep what a read found: the series half (memory only). True when events came."""
        if batch.sampled is not None:
            self.sampled = batch.sampled
        for e in batch.events:
            self._apply(e)
        for note in batch.notes:  # after the events: the log's last line
            self._log(note)
        if batch.run is not None:
            self.run = batch.run
        return bool(batch.events)

    def _apply(self, e: dict) -> None:
        kind, t = e["kind"], e.get("t", 0.0)
        if self.started is None:
            self.started = t
        rel = t - self.started
        if kind == "episode":
            self.returns.add(e.get("step", 0), e.get("return"), rel)
            self.rolling.add(e.get("step", 0), e.get("rolling_return"), rel)
        elif kind == "episodes":  # an interval's episodes in one line: its mean return stands for them
            self.returns.add(e.get("step", 0), e.get("mean"), rel)
            self.rolling.add(e.get("step", 0), e.get("rolling_return"), rel)
        elif kind == "eval":
            if e.get("final"):
                self.final_eval = e
            else:
                self.evals.add(e.get("step", 0), e.get("mean"), rel)
                self._add_members(e, rel)
            if isinstance(e.get("mean"), (int, float)):
                tag = "final evaluation" if e.get("final") else "evaluation"
                members = e.get("members")
                if isinstance(members, list) and len(members) > 1 and isinstance(e.get("min"), (int, float)):
                    self._log(f"step {e.get('step') or 0:,}: {tag}, mean of {len(members)} members {e['mean']:.2f}"
                              f" (lowest {e['min']:.2f}, highest {e.get('max') or 0:.2f}) over {e.get('episodes') or '?'} episodes each")
                else:
                    self._log(f"step {e.get('step') or 0:,}: {tag} {e['mean']:.2f} +/- {e.get('std') or 0:.2f}"
                              f" over {e.get('episodes') or '?'} episodes")
        elif kind == "pbt":
            self.pbt_events.append(e)
        elif kind == "checkpoint":
            self._log(f"step {e.get('step') or 0:,}: checkpoint {e.get('label', '')} -> {e.get('path', '')}")
        elif kind == "metric":
            for name, value in (e.get("values") or {}).items():
                self.metrics.setdefault(name, Series()).add(e.get("step", 0), value, rel)
        elif kind == "progress":
            self.progress = e
        elif kind == "log":
            for line in str(e.get("message", "")).rstrip().splitlines() or [""]:
                self._log(f"[{e.get('level', 'info')}] {line}" if e.get("level") not in (None, "info") else line)
        elif kind == "status":
            self.status = e.get("state", "")
        elif kind == "method" and "name" in e:
            self.methods[e["name"]] = {"seconds_per_sample": e.get("seconds_per_sample")}
        elif kind == "comparison":
            self.comparison = e.get("methods")
            for name, values in (self.comparison or {}).items():
                self.methods.setdefault(name, {}).update(values)

    def _add_members(self, e: dict, rel: float) -> None:
        """A population's evaluation: each member's mean, and the band they span."""
        members = e.get("members")
        if not isinstance(members, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in members):
            return
        step = e.get("step", 0)
        self.eval_low.add(step, e.get("min", min(members, default=None)), rel)
        self.eval_high.add(step, e.get("max", max(members, default=None)), rel)
        while len(self.member_evals) < len(members):
            self.member_evals.append(Series())
        for series, value in zip(self.member_evals, members):
            series.add(step, value, rel)

    @property
    def best_member(self) -> int | None:
        """The member the run delivered, once it has; before, the one with the best latest
        evaluation (ties: the best mean over all of its own)."""
        delivered = self.run.summary.results.best_member
        if isinstance(delivered, int) and 0 <= delivered < len(self.member_evals):
            return delivered
        scored = [(s.values[-1], sum(s.values) / len(s.values), -i) for i, s in enumerate(self.member_evals) if s.values]
        return -max(scored)[2] if scored else None

    def _log(self, text: str) -> None:
        text = cut(text)  # what a view shows of one line: a megabyte of log stays a line
        self.logs.append(text)
        self.new_logs.append(text)
        if len(self.new_logs) > 2 * self.logs.maxlen:  # more than a view keeps came at once
            del self.new_logs[:-self.logs.maxlen]

    def take_new_logs(self) -> list[str]:
        lines, self.new_logs = self.new_logs, []
        return lines

    @property
    def state(self) -> str:
        return self.run.state
