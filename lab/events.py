"""The event stream of a run: `events.jsonl`, one JSON object per line, append-only.

Every event has `t` (unix time) and `kind`. Kinds written by lab:

| kind       | fields |
|------------|--------|
| status     | state (running, completed, failed, stopped), message? |
| progress   | step, total, fraction, steps_per_second, eta_seconds, elapsed |
| episode    | step, return, length, rolling_return (mean of the last 100) |
| metric     | step, values: {name: number} (losses, entropy, epsilon, learning_rate, ...) |
| eval       | step, mean, std, episodes, best (bool: new best policy) |
| log        | level (info, warning, error), message |
| checkpoint | step, path (relative to the run folder), label (best, last, model) |
| artifact   | path, description |
| method     | name, seconds_per_sample (attribution: a method finished) |
| comparison | methods: {name: time, deletion/insertion AUC, infidelity, ...}, random (deletion AUC) |

Attribution runs' progress events also carry phase (train, explain, compare) and method.

Readers skip kinds they do not know and a partial last line (a run killed mid-write).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path

# Kinds that can come many times a second; they are written in batches.
HIGH_RATE = frozenset({"episode", "metric"})
FLUSH_SECONDS = 0.25


def _clean(value):
    """JSON has no NaN/inf: write them as null so every line stays strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


class EventWriter:
    """Appends events to a run's events.jsonl; low-rate events reach the disk at once."""

    def __init__(self, path: Path, on_event: Callable[[dict], None] | None = None):
        self.path = Path(path)
        self._file = open(self.path, "a", encoding="utf-8")
        self._pending: list[str] = []
        self._last_flush = time.monotonic()
        self.on_event = on_event

    def emit(self, kind: str, **fields) -> dict:
        event = {"t": round(time.time(), 3), "kind": kind, **_clean(fields)}
        self._pending.append(json.dumps(event, separators=(",", ":")) + "\n")
        if kind not in HIGH_RATE or time.monotonic() - self._last_flush >= FLUSH_SECONDS:
            self.flush()
        if self.on_event is not None:
            self.on_event(event)
        return event

    def flush(self) -> None:
        if self._pending and not self._file.closed:
            self._file.write("".join(self._pending))
            self._file.flush()
            self._pending.clear()
        self._last_flush = time.monotonic()

    def close(self) -> None:
        self.flush()
        self._file.close()


def series(events, kind: str, key: str) -> tuple[list[float], list[float]]:
    """(steps, values) of one field of one kind: series(events, "eval", "mean"); for metric
    events the key names a metric: series(events, "metric", "value_loss")."""
    steps, values = [], []
    for e in events:
        if e.get("kind") != kind:
            continue
        value = (e.get("values") or {}).get(key) if kind == "metric" else e.get(key)
        if value is not None:
            steps.append(e.get("step", 0))
            values.append(value)
    return steps, values


def read_events(path: Path, kinds: set[str] | None = None) -> Iterator[dict]:
    """Events in order; a partial or corrupt line (from a killed writer) is skipped."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return
    with f:
        for line in f:
            if not line.endswith(b"\n"):
                break  # partial last line: the writer is mid-line or was killed
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if not isinstance(event, dict) or "kind" not in event:
                continue
            if kinds is None or event["kind"] in kinds:
                yield event


class EventTail:
    """Reads the events appended since the last call: the way live views follow a run."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.offset = 0

    def read(self) -> list[dict]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n") + 1  # keep a partial last line for next time
        self.offset += end
        out = []
        for line in data[:end].splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and "kind" in event:
                out.append(event)
        return out
