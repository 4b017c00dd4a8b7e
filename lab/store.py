"""Run folders: create them, write them atomically, find and read them back.

A run folder holds spec.toml, events.jsonl, summary.json, checkpoints/ and artifacts/.
This module is the only place that knows that layout.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from lab.errors import BadInput, did_you_mean
from lab.events import read_events
from lab.events import series as events_series

ACTIVE = "running"
FINAL_STATES = ("completed", "failed", "stopped", "crashed")


def runs_root(runs_dir: str | os.PathLike | None = None) -> Path:
    return Path(runs_dir or os.environ.get("LAB_RUNS_DIR") or "runs")


def new_run_id(experiment: str) -> str:
    """Sortable by start time, unique: 20261123-020135-cartpole-ppo-3f9a."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{experiment}-{secrets.token_hex(2)}"


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write to a temp file beside `path`, fsync, rename: readers see the old or the new file."""
    path = Path(path)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; run folders are meant to be read by others
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data: dict) -> None:
    write_atomic(path, json.dumps(data, indent=2, allow_nan=False, default=str) + "\n")


def _process_start(pid: int) -> str | None:
    """Start time of a process in clock ticks since boot (Linux), to tell a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":  # a zombie has exited; it only waits to be reaped
        return "zombie"
    return fields[19]


def process_identity() -> dict:
    return {"pid": os.getpid(), "pid_start": _process_start(os.getpid()), "host": socket.gethostname()}


def process_alive(summary: dict) -> bool:
    pid = summary.get("pid")
    if not isinstance(pid, int):
        return False
    if summary.get("host") not in (None, socket.gethostname()):
        return True  # another machine's process: we cannot tell, so trust the folder
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    start = _process_start(pid)
    if start == "zombie":
        return False
    return start is None or summary.get("pid_start") in (None, start)


@dataclass
class Run:
    """A run folder as a reader sees it."""

    path: Path
    summary: dict = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Run:
        path = Path(path)
        try:
            summary = json.loads((path / "summary.json").read_text())
        except (OSError, ValueError):
            summary = {}
        return cls(path, summary)

    @property
    def id(self) -> str:
        return self.summary.get("id", self.path.name)

    @property
    def experiment(self) -> str:
        return self.summary.get("experiment", "?")

    @property
    def state(self) -> str:
        """The recorded state, or 'crashed' for a run whose process died without saying so."""
        state = self.summary.get("state", "crashed")
        if state == ACTIVE and not process_alive(self.summary):
            return "crashed"
        return state

    @property
    def seconds(self) -> float | None:
        """How long the run went: to its end, to now while it runs, or, for a crashed run, to the
        last time it wrote its summary (every few seconds while alive)."""
        start = self.summary.get("started")
        if not start:
            return None
        end = self.summary.get("ended")
        if end is None:
            state = self.state
            try:
                end = (self.path / "summary.json").stat().st_mtime if state == "crashed" else time.time()
            except OSError:
                end = time.time()
        return max(end - start, 0.0)

    @property
    def events_path(self) -> Path:
        return self.path / "events.jsonl"

    def events(self, kinds: set[str] | None = None):
        return read_events(self.events_path, kinds)

    def series(self, kind: str, key: str) -> tuple[list[float], list[float]]:
        """(steps, values) of one field of one event kind, e.g. series('eval', 'mean')."""
        return events_series(self.events({kind}), kind, key)

    def last_log_lines(self, n: int = 5) -> list[str]:
        lines = [e.get("message", "") for e in self.events({"log"})]
        return lines[-n:]


def create_run_folder(root: Path, experiment: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    while True:
        path = root / new_run_id(experiment)
        try:
            path.mkdir()
            break
        except FileExistsError:
            continue
    (path / "checkpoints").mkdir()
    (path / "artifacts").mkdir()
    return path


def list_runs(runs_dir: str | os.PathLike | None = None) -> list[Run]:
    """Every run folder under the runs root, oldest first."""
    root = runs_root(runs_dir)
    if not root.is_dir():
        return []
    runs = [Run.load(p) for p in root.iterdir() if p.is_dir() and (p / "events.jsonl").exists()]
    return sorted(runs, key=lambda r: (r.summary.get("started") or 0, r.path.name))


def resolve_run(ref: str | os.PathLike, runs_dir: str | os.PathLike | None = None) -> Run:
    """A run by id, unique id prefix, path, or experiment name (its latest run)."""
    text = str(ref)
    path = Path(text)
    if path.is_dir() and (path / "summary.json").exists():
        return Run.load(path)
    runs = list_runs(runs_dir)
    root = runs_root(runs_dir)
    exact = [r for r in runs if r.path.name == text]
    if exact:
        return exact[0]
    prefixed = [r for r in runs if r.path.name.startswith(text)]
    if len(prefixed) == 1:
        return prefixed[0]
    if len(prefixed) > 1:
        names = ", ".join(r.path.name for r in prefixed[:5])
        raise BadInput(f"run '{text}' is ambiguous in {root}: {len(prefixed)} runs start with it ({names}); give more of the id")
    by_name = [r for r in runs if r.experiment == text]
    if by_name:
        return by_name[-1]
    known = [r.path.name for r in runs] + sorted({r.experiment for r in runs})
    hint = did_you_mean(text, known)
    where = f"{root}" if runs else f"{root} (no runs there yet)"
    raise BadInput(f"no run '{text}' in {where}{hint}; `lab runs` lists them")
