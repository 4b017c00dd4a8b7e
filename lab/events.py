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
Readers skip kinds they do not know, a partial last line (a run killed mid-write) and a line
longer than MAX_LINE (no event is; such a line is read past in chunks, never held), so their
memory stays bounded whatever the file holds; `scan` reads a large file at a bounded cost
(every low-rate event, a sample of the episodes).

Time stays bounded too: no reader parses more than MAX_EVENTS (32 MiB; LAB_MAX_EVENTS_MB) of a
file, an hour of the most a run of lab's writes. `read_events` (`lab export`, `run.series`)
refuses a larger file in one line (EventsTooLarge); `scan` (`lab show`, the dashboard) reads its
latest MAX_EVENTS of events and samples episodes through it all (up to SCAN_READ x MAX_EVENTS),
and `Scan.note()` says what was left out; `EventTail` skips to the latest MAX_EVENTS of a larger
burst and counts what it skipped.
"""

from __future__ import annotations

import bisect
import json
import math
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from lab.errors import BadInput
from lab.files import bounded_int, open_regular
from lab.memory import human

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


_DECODER = json.JSONDecoder(parse_int=bounded_int)  # made once: json.loads(line, parse_int=...) makes one a line


def _parse(line: bytes) -> dict | None:
    """One event from one line, its fields of the types readers expect; None if it is none."""
    if len(line) > MAX_LINE:
        return None
    try:
        if line[:1] == b"{" and line[1:2] != b"\x00":  # UTF-8, as json.loads would find (lab's lines all are)
            event = _DECODER.decode(line.decode("utf-8", "surrogatepass"))
        else:  # a byte order mark, UTF-16 or -32, or no object at all: json.loads decides
            event = json.loads(line, parse_int=bounded_int)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, nested too deeply, an integer beyond 64 bits
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
    """Every event in order; a partial or corrupt line (from a killed writer) is skipped, and so
    is a line longer than MAX_LINE (read past in chunks, never held whole). EventsTooLarge (at
    the first event asked for) for a file larger than MAX_EVENTS."""
    try:
        f = open_regular(path)
    except OSError:  # missing, a directory, unreadable: no events (Run.problem says why)
        return
    with f:
        check_size(path, os.fstat(f.fileno()).st_size)
        for _, block in _Lines(f).blocks():
            for line in block.splitlines():
                event = _parse(line)
                if event is not None and (kinds is None or event["kind"] in kinds):
                    yield event


# ------------------------------------------------------------------------------ bounded reading

MAX_LINE = 1 << 20  # no event lab writes is longer (the longest: a 65,536-member eval, about 0.8 MB); a longer line is skipped
CHUNK = 1 << 20  # bytes read at a time: with MAX_LINE, what a reader holds of a file at once
# The most events a reader parses: the whole file for `read_events` (larger: EventsTooLarge), the
# latest low-rate lines for `scan`, one read for `EventTail`. Parsing costs up to a microsecond per
# 10 bytes (millions of tiny lines); `lab export` adds TensorBoard's writer, about 0.1 ms an event
# (lab.tensorboard.EXPORT_LINE): 32 MiB keeps each reader within a minute on a slow, busy machine.
# A run of lab's writes that much in an hour at the most (a hundred episode lines a second, all
# the writer lets through); most write kilobytes to a few megabytes. LAB_MAX_EVENTS_MB changes it.


def _megabytes(name: str, default: float) -> int:
    """Bytes from a number of MiB in the environment; the default for a value that is not a positive number."""
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        value = default
    return int((value if math.isfinite(value) and value > 0 else default) * 2**20)


MAX_EVENTS = _megabytes("LAB_MAX_EVENTS_MB", 32)
SCAN_READ = 32  # `scan` samples episodes in at most the last SCAN_READ x MAX_EVENTS bytes (1 GiB): a regex pass, no parsing


class EventsTooLarge(BadInput):
    """An events file larger than MAX_EVENTS, which `read_events` does not read."""


def check_size(path: Path | str, size: int) -> None:
    """EventsTooLarge for an events file of `size` bytes over MAX_EVENTS."""
    if size > MAX_EVENTS:
        raise EventsTooLarge(f"{path} is {human(size)} of events, more than lab reads whole (limit {human(MAX_EVENTS)}; "
                             "LAB_MAX_EVENTS_MB raises it); `lab show` and the dashboard show its latest events")


def count_lines(path: Path, stop: int) -> int:
    """The lines in a file, counted a block at a time up to the first past `stop` (0 for what cannot be read)."""
    try:
        f = open_regular(path)
    except OSError:
        return 0
    n = 0
    with f:
        while n <= stop and (chunk := f.read(CHUNK)):
            n += chunk.count(b"\n")
    return n


SMALL_FILE = 4 << 20  # below this every line is parsed; above it, episodes are sampled
SAMPLE_EPISODES = 4000
_NOT_EPISODE = re.compile(rb'"kind":\s*"(?!episode")')
_EPISODE = re.compile(rb'"kind":\s*"episode"')
_EPISODE_KEYS = (b'"kind":"episode"', b'"kind": "episode"')  # lab's compact separators, and json.dumps' default


class _Lines:
    """A file's whole lines from `offset` on, in blocks of about CHUNK bytes: memory stays
    bounded whatever the file holds. A line longer than MAX_LINE is in no block; a partial last
    line (the writer is mid-line, or was killed) is left unread. `end`: the offset to go on from,
    after the last whole line read, or inside a long line being skipped (`skipping`: go on
    skipping it there, so that a reader following the file does not read it again)."""

    def __init__(self, f, offset: int = 0, skipping: bool = False):
        self.f, self.end, self.skipping = f, offset, skipping

    def blocks(self) -> Iterator[tuple[int, bytes]]:
        """(offset, bytes): whole lines, each block ending in a newline."""
        self.f.seek(self.end)
        pos, carry, skipping = self.end, b"", self.skipping  # pos: the file offset of `carry`
        while chunk := self.f.read(CHUNK):
            if skipping:  # inside a line too long to keep: up to its newline
                newline = chunk.find(b"\n")
                if newline < 0:
                    pos += len(chunk)
                    continue
                pos, chunk, skipping = pos + newline + 1, chunk[newline + 1:], False
                self.end, self.skipping = pos, False
            data = carry + chunk
            last = data.rfind(b"\n") + 1
            if last:
                yield pos, data[:last]
                pos, self.end = pos + last, pos + last
            carry = data[last:]
            if len(carry) > MAX_LINE:
                pos, carry, skipping = pos + len(carry), b"", True
        if skipping:  # the file ends inside a long line: what was read of it stays read
            self.end, self.skipping = pos, True


def _blocks_back(f, end: int, start: int = 0) -> Iterator[tuple[int, bytes]]:
    """(offset, bytes): the whole lines between `start` and `end`, the last first, in blocks of
    about CHUNK bytes, each block ending in a newline. Bytes after the last newline (a partial
    line), a line longer than MAX_LINE and a line cut by `start` are in no block."""
    cur, head, skipping = end, b"", True  # skipping: up to the newline before (first: a partial last line)
    while cur > start:
        low = max(cur - CHUNK, start)
        f.seek(low)
        chunk = f.read(cur - low)
        if not chunk:  # the file shrank under the reader
            return
        cur = low
        if skipping:
            newline = chunk.rfind(b"\n")
            if newline < 0:
                continue
            chunk, head, skipping = chunk[:newline + 1], b"", False
        data = chunk + head
        first = 0 if cur == 0 else data.find(b"\n") + 1  # before it: a line that began in the bytes before
        if first < len(data):
            yield cur + first, data[first:]
        head = data[:first]  # a line's end and its newline
        if len(head) > MAX_LINE + 1:
            head, skipping = b"", True


def _end_of_lines(f, size: int) -> tuple[int, bool]:
    """Where a reader that has read every whole line goes on, as `_Lines` leaves it: after the
    last newline, or at the end when the bytes after it are a line too long to keep (skipping)."""
    cur = size
    while cur > 0 and size - cur <= MAX_LINE:
        low = max(cur - CHUNK, 0)
        f.seek(low)
        newline = f.read(cur - low).rfind(b"\n")
        if newline >= 0:
            end = low + newline + 1
            return (end, False) if size - end <= MAX_LINE else (size, True)
        cur = low
    return (0, False) if size <= MAX_LINE else (size, True)


@dataclass
class Scan:
    """What `scan` read: events in file order, and where to go on reading from."""

    events: list[dict] = field(default_factory=list)
    offset: int = 0  # bytes read (up to the last complete line)
    episodes: int = 0  # single `episode` lines in the file (sampled or not)
    sampled: bool = False  # True when `events` holds a sample of the episode lines
    skipping: bool = False  # True when `offset` is inside a line too long to read (go on skipping it)
    size: int = 0  # of the file
    events_from: int = 0  # where the events other than episodes were read from (0: all of them)
    episodes_from: int = 0  # where the episodes were counted and sampled from (0: all of them)

    def note(self, name: str = "events.jsonl") -> str:
        """One line saying what was left unread, or '' when nothing was."""
        if not self.events_from and not self.episodes_from:
            return ""
        episodes = f"its last {human(self.size - self.episodes_from)}" if self.episodes_from else "all of it"
        return (f"{name} is {human(self.size)}, more than lab reads ({human(MAX_EVENTS)} of events; LAB_MAX_EVENTS_MB "
                f"raises it): lab read the events of its last {human(self.size - self.events_from)} and sampled the "
                f"episodes of {episodes}")


def scan(path: Path, kinds: set[str] | None = None, sample: int = SAMPLE_EPISODES) -> Scan:
    """A run's events at a bounded cost: every event of every kind but `episode`, and at most
    about `sample` episode lines spread evenly through the file (all of them in a small file).

    Episode lines are the only kind that can number in the millions (a per-episode file from
    lab 0.1); they are picked at evenly spaced byte offsets, which is even in episodes because
    their lines are alike in length. A plot of thousands of points shows the same curve. The
    file is read once, a block at a time from its end: lines of the kinds asked for are found by
    a regex over each block and only they and the sampled lines are parsed.

    Bounded whatever the file holds: once MAX_EVENTS bytes of lines have been parsed, earlier
    lines of other kinds than episodes are not (a file of millions of them keeps its latest), and
    episodes are sampled in the last SCAN_READ x MAX_EVENTS bytes; `Scan.note()` says so."""
    try:
        f = open_regular(path)
    except OSError:
        return Scan()
    want = (lambda k: True) if kinds is None else kinds.__contains__
    with f:
        size = os.fstat(f.fileno()).st_size
        if size <= min(SMALL_FILE, MAX_EVENTS):
            lines = _Lines(f)
            events = [_for_view(e) for _, block in lines.blocks() for e in map(_parse, block.splitlines())
                      if e is not None and want(e["kind"])]
            return Scan(events, lines.end, sum(e["kind"] == "episode" for e in events), skipping=lines.skipping, size=size)
        offset, skipping = _end_of_lines(f, size)
        start = max(size - SCAN_READ * MAX_EVENTS, 0)
        end = size if skipping else offset
        targets = [start + i * (end - start) // sample for i in range(sample)]  # episode lines are picked at these offsets
        others = kinds - {"episode"} if kinds is not None else None
        low_rate = _NOT_EPISODE if others is None else re.compile(
            rb'"kind":\s*"(?:' + b"|".join(re.escape(k.encode()) for k in sorted(others)) + rb')"') if others else None
        picked: dict[int, dict | None] = {}  # file offset -> its event, parsed as it is picked (None: none)
        every_episode: dict[int, dict | None] | None = {}  # while there are at most `sample`: all of them
        latest: tuple[int, bytes] | None = None  # the last episode line: the latest figures
        parsed, events_from = 0, start  # bytes of low-rate lines parsed; where they were read from

        def pick(into: dict, at: int, line: bytes, episode: bool = False) -> None:
            if at not in into:  # episode: keep an episode only (the regex picks the rest, within the budget)
                e = _parse(line)
                keep = e is not None and want(e["kind"]) and not (e["kind"] == "episode" and len(line) > EPISODE_LINE)
                into[at] = _for_view(e) if keep and (e["kind"] == "episode" or not episode) else None

        n_episodes = 0
        for pos, block in _blocks_back(f, size, start):
            def line_at(i: int) -> tuple[int, bytes]:
                begin = block.rfind(b"\n", 0, i) + 1
                return pos + begin, block[begin:block.index(b"\n", begin)]

            if low_rate is not None and parsed < MAX_EVENTS:  # low-rate lines: a regex scan, no parsing of the rest
                for m in reversed(list(low_rate.finditer(block))):  # the latest first, up to the budget
                    at, line = line_at(m.start())
                    if at not in picked:
                        parsed += len(line) + 1
                        pick(picked, at, line)
                        if parsed >= MAX_EVENTS:
                            events_from = at
                            break
            count = sum(block.count(key) for key in _EPISODE_KEYS)
            n_episodes += count
            if count and want("episode"):
                if every_episode is not None:
                    for m in _EPISODE.finditer(block):
                        pick(every_episode, *line_at(m.start()))
                    if n_episodes > sample:
                        every_episode = None
                for target in targets[bisect.bisect_left(targets, pos):bisect.bisect_left(targets, pos + len(block))]:
                    pick(picked, *line_at(target - pos), episode=True)
                if latest is None:
                    latest = line_at(max(block.rfind(key) for key in _EPISODE_KEYS))
        sampled = n_episodes > sample
        if want("episode"):
            if sampled and latest is not None:
                pick(picked, *latest)
            elif every_episode:
                picked.update(every_episode)
        events = [e for _, e in sorted(picked.items()) if e is not None]
        return Scan(events, offset, n_episodes, sampled, skipping, size, events_from, start)


VIEW_TEXT = 16 << 10  # characters of a message or traceback that `scan` keeps (a view shows fewer)
EPISODE_LINE = 4 << 10  # lab's episode lines are about 100 bytes: a longer one `scan` samples is no episode of lab's


def _for_view(event: dict) -> dict:
    """`scan` keeps every low-rate event of a file of any size: their long texts cut, so that a
    file of megabyte log lines costs what its events are worth to a view, not what it weighs."""
    for key in ("message", "traceback"):
        text = event.get(key)
        if isinstance(text, str) and len(text) > VIEW_TEXT:
            event[key] = f"{text[:VIEW_TEXT]} [... {len(text) - VIEW_TEXT:,} more characters]"
    return event


class EventTail:
    """Reads the events appended since the last call: the way live views follow a run. Of more
    than MAX_EVENTS bytes appended at once it reads the last MAX_EVENTS (from the first whole
    line in them); `skipped` counts the bytes it passed over."""

    def __init__(self, path: Path, offset: int = 0, skipping: bool = False):
        self.path = Path(path)
        self.offset, self.skipping = offset, skipping
        self.skipped = 0

    def read(self) -> list[dict]:
        try:
            f = open_regular(self.path)
        except OSError:
            return []
        with f:
            size = os.fstat(f.fileno()).st_size
            if size - self.offset > MAX_EVENTS:  # go on from the line after this point
                self.skipped += size - MAX_EVENTS - self.offset
                self.offset, self.skipping = size - MAX_EVENTS, True
            lines = _Lines(f, self.offset, self.skipping)
            events = [e for _, block in lines.blocks() for e in map(_parse, block.splitlines()) if e is not None]
        self.offset, self.skipping = lines.end, lines.skipping  # a partial last line is read next time
        return events

    def note(self, skipped_before: int) -> str:
        """One line for what was skipped since `skipped` was `skipped_before`, or ''."""
        if self.skipped <= skipped_before:
            return ""
        return (f"{human(self.skipped - skipped_before)} of events came at once, more than lab reads ({human(MAX_EVENTS)}; "
                "LAB_MAX_EVENTS_MB raises it): skipped to the latest")
