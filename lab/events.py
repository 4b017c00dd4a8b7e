"""The event stream of a run: `events.jsonl`, one JSON object per line, append-only.

Every event has `t` (unix time) and `kind`. Kinds written by lab:

| kind       | fields |
|------------|--------|
| status     | state (running, completed, failed, stopped), message? |
| progress   | step, total, fraction, steps_per_second, eta_seconds, elapsed |
| episode    | step, return, length, rolling_return (mean of the last 100) |
| episodes   | step (of the last), first_step, count, mean, min, max, std, length_mean, rolling_return: |
|            | the episodes of one flush interval, when more than EPISODES_PER_FLUSH finished in it |
| metric     | step, values: {name: number} (losses, entropy, epsilon, learning_rate, ...) |
| eval       | step, mean, std, episodes, best (bool: new best policy) |
| log        | level (info, warning, error), message |
| checkpoint | step, path (relative to the run folder), label (best, last, model) |
| artifact   | path, description |
| method     | name, seconds_per_sample (attribution: a method finished) |
| comparison | methods: {name: time, deletion/insertion AUC, infidelity, ...}, random (deletion AUC) |

Attribution runs' progress events also carry phase (train, explain, compare) and method.

Sizes stay bounded at any episode rate: the writer flushes high-rate kinds every FLUSH_SECONDS,
and an interval with more than EPISODES_PER_FLUSH episodes is written as one `episodes` line,
so the file grows by about a hundred episode lines a second at most, however fast they finish.
Readers skip kinds they do not know and a partial last line (a run killed mid-write);
`scan` reads a large file at a bounded cost (every low-rate event, a sample of the episodes).
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from lab.files import open_regular, read_regular

# Kinds that can come many times a second; they are written in batches.
HIGH_RATE = frozenset({"episode", "metric"})
FLUSH_SECONDS = 0.25
EPISODES_PER_FLUSH = 25  # above this many in one interval (100 a second), episodes are aggregated


def finite(value):
    """JSON has no NaN or infinity: they are written as null, so every line stays strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def _line(event: dict) -> str:
    return json.dumps(event, separators=(",", ":")) + "\n"


def aggregate_episodes(episodes: list[dict]) -> dict:
    """One `episodes` event standing for many `episode` events of one interval."""
    returns = [e["return"] for e in episodes if e.get("return") is not None]
    n = len(returns)
    mean = sum(returns) / n if n else None
    std = math.sqrt(sum((r - mean) ** 2 for r in returns) / n) if n else None
    lengths = [e["length"] for e in episodes if e.get("length") is not None]
    last = episodes[-1]
    return {"t": last["t"], "kind": "episodes", "step": last.get("step"), "first_step": episodes[0].get("step"),
            "count": len(episodes), "mean": None if mean is None else round(mean, 4),
            "min": min(returns) if n else None, "max": max(returns) if n else None,
            "std": None if std is None else round(std, 4),
            "length_mean": round(sum(lengths) / len(lengths), 2) if lengths else None,
            "rolling_return": last.get("rolling_return")}


class EventWriter:
    """Appends events to a run's events.jsonl; low-rate events reach the disk at once.

    `clock` gives unix time (time.time); a benchmark may pass its own to write a long run fast."""

    def __init__(self, path: Path, on_event: Callable[[dict], None] | None = None,
                 clock: Callable[[], float] = time.time):
        self.path = Path(path)
        # unbuffered: after a failed write (disk full) exactly the unwritten bytes stay pending
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._unwritten = b""
        self._pending: list[str] = []
        self._episodes: list[dict] = []
        self.clock = clock
        self._last_flush = clock()
        self.on_event = on_event

    def emit(self, kind: str, **fields) -> dict:
        now = self.clock()
        if kind in HIGH_RATE and now - self._last_flush >= FLUSH_SECONDS:
            self.flush()  # the interval is over: write it before this event opens the next one
        event = {"t": round(now, 3), "kind": kind, **finite(fields)}
        if kind == "episode":
            self._episodes.append(event)
        else:
            self._flush_episodes()  # keep the file in time order
            self._pending.append(_line(event))
        if kind not in HIGH_RATE:
            self.flush()
        if self.on_event is not None:
            self.on_event(event)
        return event

    def _flush_episodes(self) -> None:
        if len(self._episodes) > EPISODES_PER_FLUSH:
            self._pending.append(_line(aggregate_episodes(self._episodes)))
        else:
            self._pending.extend(_line(e) for e in self._episodes)
        self._episodes.clear()

    def flush(self) -> None:
        """Write what is pending. OSError (disk full) names the file; what could not be written
        stays pending, whole lines, and goes out with the next flush that succeeds."""
        self._flush_episodes()
        self._last_flush = self.clock()
        if self._fd is None:
            return
        self._unwritten += "".join(self._pending).encode()
        self._pending.clear()
        while self._unwritten:
            try:
                done = os.write(self._fd, self._unwritten)
            except OSError as e:
                raise OSError(e.errno, f"cannot write {self.path.name}: {e.strerror}") from None
            self._unwritten = self._unwritten[done:]

    def close(self) -> None:
        try:
            self.flush()
        finally:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


# Fields of `episodes` (aggregate) events that stand for a field of single `episode` events.
_AGGREGATE_FIELD = {"return": "mean", "length": "length_mean", "rolling_return": "rolling_return"}


def series(events, kind: str, key: str) -> tuple[list[float], list[float]]:
    """(steps, values) of one field of one kind: series(events, "eval", "mean"); for metric
    events the key names a metric: series(events, "metric", "value_loss"). Episode series
    include aggregated intervals: their mean return, mean length and last rolling return."""
    steps, values = [], []
    for e in events:
        k = e.get("kind")
        if k == kind:
            value = (e.get("values") or {}).get(key) if kind == "metric" else e.get(key)
        elif kind == "episode" and k == "episodes" and key in _AGGREGATE_FIELD:
            value = e.get(_AGGREGATE_FIELD[key])
        else:
            continue
        if value is not None:
            steps.append(e.get("step", 0))
            values.append(value)
    return steps, values


# Fields readers treat as numbers and as text. A line whose field has another type (a doctored or
# foreign file) loses that field instead of breaking the reader; kinds carry what they carry.
_NUMBERS = frozenset({"t", "step", "total", "fraction", "steps_per_second", "eta_seconds", "elapsed", "return",
                      "length", "rolling_return", "mean", "std", "episodes", "count", "min", "max", "first_step",
                      "length_mean", "seconds_per_sample", "sample", "samples", "random"})
_TEXTS = frozenset({"kind", "state", "message", "level", "name", "phase", "method", "label", "path", "description",
                    "traceback"})


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _parse(line: bytes) -> dict | None:
    """One event from one line, its fields of the types readers expect; None if it is none."""
    try:
        event = json.loads(line)
    except ValueError:  # not JSON, or not UTF-8
        return None
    if not isinstance(event, dict) or not isinstance(event.get("kind"), str):
        return None
    for key in _NUMBERS & event.keys():
        if event[key] is not None and not _is_number(event[key]):
            del event[key]
    for key in _TEXTS & event.keys():
        if not isinstance(event[key], str):
            del event[key]
    if "values" in event:
        values = event["values"]
        event["values"] = {k: v for k, v in values.items() if v is None or _is_number(v)} if isinstance(values, dict) else {}
    if "methods" in event:
        methods = event["methods"]
        event["methods"] = {k: {f: x for f, x in v.items() if x is None or _is_number(x) or f == "library"}
                            for k, v in methods.items() if isinstance(v, dict)} if isinstance(methods, dict) else {}
    return event


def read_events(path: Path, kinds: set[str] | None = None) -> Iterator[dict]:
    """Every event in order; a partial or corrupt line (from a killed writer) is skipped."""
    try:
        f = open_regular(path)
    except OSError:  # missing, a directory, unreadable: no events (Run.problem says why)
        return
    with f:
        for line in f:
            if not line.endswith(b"\n"):
                break  # partial last line: the writer is mid-line or was killed
            event = _parse(line)
            if event is not None and (kinds is None or event["kind"] in kinds):
                yield event


# ------------------------------------------------------------------------------ bounded reading

SMALL_FILE = 4 << 20  # below this every line is parsed; above it, episodes are sampled
SAMPLE_EPISODES = 4000
_NOT_EPISODE = re.compile(rb'"kind":\s*"(?!episode")')
_EPISODE = re.compile(rb'"kind":\s*"episode"')
_EPISODE_KEYS = (b'"kind":"episode"', b'"kind": "episode"')  # lab's compact separators, and json.dumps' default


@dataclass
class Scan:
    """What `scan` read: events in file order, and where to go on reading from."""

    events: list[dict] = field(default_factory=list)
    offset: int = 0  # bytes read (up to the last complete line)
    episodes: int = 0  # single `episode` lines in the file (sampled or not)
    sampled: bool = False  # True when `events` holds a sample of the episode lines


def scan(path: Path, kinds: set[str] | None = None, sample: int = SAMPLE_EPISODES) -> Scan:
    """A run's events at a bounded cost: every event of every kind but `episode`, and at most
    about `sample` episode lines spread evenly through the file (all of them in a small file).

    Episode lines are the only kind that can number in the millions (a per-episode file from
    lab 0.1); they are picked at evenly spaced byte offsets, which is even in episodes because
    their lines are alike in length. A plot of thousands of points shows the same curve."""
    try:
        data = read_regular(path)
    except OSError:
        return Scan()
    end = data.rfind(b"\n") + 1  # a partial last line is left for later; bounds below, no copy
    want = (lambda k: True) if kinds is None else kinds.__contains__
    if end <= SMALL_FILE:
        events = [e for e in map(_parse, data[:end].splitlines()) if e is not None and want(e["kind"])]
        return Scan(events, end, sum(e["kind"] == "episode" for e in events))
    starts: set[int] = set()
    def line_start(pos: int) -> int:
        return data.rfind(b"\n", 0, pos) + 1

    for m in _NOT_EPISODE.finditer(data, 0, end):  # low-rate lines: a regex scan, no parsing of the rest
        starts.add(line_start(m.start()))
    n_episodes = sum(data.count(key, 0, end) for key in _EPISODE_KEYS)
    sampled = n_episodes > sample
    if want("episode") and n_episodes:
        if sampled:
            starts.update(line_start(i * end // sample) for i in range(sample))
            starts.add(line_start(max(data.rfind(key, 0, end) for key in _EPISODE_KEYS)))  # the latest figures
        else:
            starts.update(line_start(m.start()) for m in _EPISODE.finditer(data, 0, end))
    events = []
    for start in sorted(starts):
        event = _parse(data[start:data.find(b"\n", start)])
        if event is not None and want(event["kind"]):
            events.append(event)
    return Scan(events, end, n_episodes, sampled)


class EventTail:
    """Reads the events appended since the last call: the way live views follow a run."""

    def __init__(self, path: Path, offset: int = 0):
        self.path = Path(path)
        self.offset = offset

    def read(self) -> list[dict]:
        try:
            with open_regular(self.path) as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return []
        end = data.rfind(b"\n") + 1  # keep a partial last line for next time
        self.offset += end
        return [e for e in map(_parse, data[:end].splitlines()) if e is not None]
