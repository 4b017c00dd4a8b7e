"""Run folders: create them, write them atomically, find and read them back.

A run folder holds spec.toml, events.jsonl, summary.json, checkpoints/ and artifacts/.
This module is the only place that knows that layout: everyone else asks a `Run` (or the
helpers below) for a path.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import socket
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from lab.errors import BadInput, did_you_mean
from lab.events import read_events, scan
from lab.files import kind_of, open_regular, read_regular
from lab.events import series as events_series
from lab.summary import MAX_BYTES as MAX_SUMMARY_BYTES
from lab.summary import RunState, Summary, SummaryError, parse

FINAL_STATES = (RunState.COMPLETED, RunState.FAILED, RunState.STOPPED, RunState.CRASHED)

SPEC, EVENTS, SUMMARY, CHECKPOINTS, ARTIFACTS = "spec.toml", "events.jsonl", "summary.json", "checkpoints", "artifacts"
# files in artifacts/ that more than their writer reads: the attribution job's attributions and
# comparison (lab.xai.job), the robustness job's report (lab.xai.robustness_job)
ATTRIBUTIONS, COMPARISON, ROBUSTNESS = "attributions.npz", "comparison.json", "robustness.json"
# a sweep folder (lab.sweep.record): the resolved sweep file, its record, the Optuna study, and the
# best trial's settings as an experiment file (lab.sweep.report)
SWEEP_TOML, SWEEP_JSON, STUDY_DB, BEST_TOML = "sweep.toml", "sweep.json", "study.db", "best.toml"


def runs_root(runs_dir: str | os.PathLike | None = None) -> Path:
    return Path(runs_dir or os.environ.get("LAB_RUNS_DIR") or "runs")


# a run's or sweep's id, and any name that becomes one path component: never '.', '..' or a separator
PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def new_run_id(experiment: str) -> str:
    """Sortable by start time, unique: 20261123-020135-cartpole-ppo-3f9a."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{experiment}-{secrets.token_hex(2)}"


# ------------------------------------------------------------------------------ atomic writes

@contextlib.contextmanager
def atomic_target(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside `path` for a writer that wants a file name (torch.save, SB3's
    save, np.save); on success the file is fsynced and renamed over `path`, so readers see the
    old file or the new one, never half of one. The temp name keeps `path`'s suffix, because
    some writers append one when it is missing."""
    path = Path(path)
    tmp = None
    try:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
        os.close(fd)
        tmp = Path(name)
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; run folders are meant to be read by others
        os.replace(tmp, path)
    except OSError as e:  # disk full, read-only: say which file, not the temp file's name
        raise OSError(e.errno, f"cannot write {path.name}: {e.strerror}") from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def write_atomic(path: str | os.PathLike, data: bytes | str) -> None:
    """Write bytes or text to `path` atomically (temp file, fsync, rename)."""
    with atomic_target(path) as tmp:
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)


def write_torch(path: str | os.PathLike, obj) -> None:
    """torch.save(obj) to `path` atomically, serialized in memory first: torch's file writer turns
    a full disk into a RuntimeError ('unexpected pos ...'), Python's write into OSError ENOSPC
    naming the file."""
    import io

    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    write_atomic(path, buf.getbuffer())


# Reading back what a run folder holds: its files are data from anywhere (issue 24), so an archive
# is sized before it is unpacked. torch and numpy allocate what a zip entry declares (a torch
# record, an npz member) before reading it: a few KB of zeros compressed can claim 6 GB.
ARCHIVE_SLACK = 64 << 20  # beyond the tensors: an SB3 zip's JSON, env snapshots, counters


def tensor_bytes(*modules) -> int:
    """The bytes of the parameters and buffers of torch modules: what their checkpoint holds."""
    return sum(t.numel() * t.element_size() for m in modules if m is not None
               for t in list(m.parameters()) + list(m.buffers()))


def check_archive(f, max_bytes: int, nested: tuple[str, ...] = (".pth",)) -> None:
    """ValueError unless the zip in the open binary file `f` declares at most `max_bytes`
    uncompressed in all (and its members named `*nested`, zips themselves, the same); `f` is
    left at its start. Not a zip: ValueError too (torch's legacy format sizes storages by what
    its pickle says)."""
    import zipfile

    try:
        with zipfile.ZipFile(f) as z:
            infos = z.infolist()
            total = sum(i.file_size for i in infos)
            if total > max_bytes:
                raise ValueError(f"its entries unpack to {total:,} bytes, more than the {max_bytes:,} "
                                 "this spec's weights can take (a corrupt or forged file)")
            for info in infos:
                if info.filename.endswith(nested):
                    with z.open(info) as inner:
                        check_archive(inner, max_bytes, nested=())
    except zipfile.BadZipFile:
        raise ValueError("not a checkpoint of weights: a corrupt, truncated or foreign file (not a zip)") from None
    finally:
        f.seek(0)


def read_torch(path: str | os.PathLike, device, max_bytes: int):
    """torch.load(weights_only=True) of a file of tensors, refused (ValueError) when it declares
    more than `max_bytes`; torch's warnings about the file (an unusual pickle protocol) are not
    lab's to print."""
    import warnings

    import torch

    with open_regular(path) as f:
        check_archive(f, max_bytes)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(f, map_location=device, weights_only=True)


def read_npy_checked(path: str | os.PathLike, shape: tuple[int, ...]):
    """The array of an .npy of exactly this shape, its header read and checked before its data
    (a header may declare gigabytes over a sparse file): ValueError otherwise. No pickles."""
    import numpy as np

    with open_regular(path) as f:
        try:
            version = np.lib.format.read_magic(f)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            declared, _, dtype = read_header(f)
        except (ValueError, OSError, SyntaxError) as e:
            raise ValueError(f"not an .npy array ({e})") from None
        if tuple(declared) != tuple(shape) or dtype.kind not in "fiu":
            raise ValueError(f"an array of {dtype} {tuple(declared)} where {tuple(shape)} numbers belong")
        f.seek(0)
        return np.load(f, allow_pickle=False)


def read_npz_checked(path: str | os.PathLike, max_bytes: int):
    """The open file of an .npz whose members declare at most `max_bytes` (ValueError otherwise),
    for np.load(f, allow_pickle=False)."""
    f = open_regular(path)
    try:
        check_archive(f, max_bytes, nested=())
    except BaseException:
        f.close()
        raise
    return f


# ------------------------------------------------------------------------------ processes

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


_HAS_PROC = os.path.exists("/proc/self/stat")


def process_alive(summary: Summary) -> bool:
    """Whether the process a summary names still runs. On this machine that takes the pid and
    its start time both matching (a pid alone may have been reused by any other process); a run
    of another host cannot be checked from here and counts as alive (lab never signals it)."""
    pid = summary.pid
    if not isinstance(pid, int) or pid <= 0:
        return False
    if summary.host not in (None, socket.gethostname()):
        return True
    start = _process_start(pid)
    if start == "zombie":
        return False
    if start is not None or _HAS_PROC:
        return start is not None and start == summary.pid_start
    try:  # no /proc on this system: the pid is all there is to go by
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


@contextlib.contextmanager
def writer_lock(folder: str | os.PathLike, what: str) -> Iterator[None]:
    """Be the one writer of a run or sweep folder while the block runs: an exclusive flock on the
    folder itself, which the OS releases when this process dies (a crash leaves nothing to clean
    up), and which adds no file: a refused writer leaves the folder byte for byte as it was.
    BadInput, one line, when another process holds it; OSError when the folder cannot be opened.
    Where the file system takes no flock on a directory (NFS emulates flock with POSIX locks, which
    want a file open for writing), the lock is taken on a `.lock` file in the folder instead; where
    it takes no lock at all, the block runs unlocked rather than not at all."""
    import fcntl

    def lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            raise BadInput(f"{what} is being written by another lab process, and only one may write it at a time: "
                           "wait for that one to end, or stop it") from None
        except OSError:  # this file system takes no such lock
            return False

    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if not lock(fd):
            os.close(fd)
            fd = -1
            fd = os.open(Path(folder) / ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
            lock(fd)
        yield
    finally:
        if fd >= 0:
            os.close(fd)  # releases the lock


def signal_refusal(summary: Summary, writes: str | os.PathLike | None = None,
                   commands: tuple[str, ...] = ("run", "resume", "explain", "sweep")) -> str | None:
    """Why lab must not signal the process a summary (or a sweep.json) names; None: it is lab's own.
    Its pid, the pid's start time and the host must match, its command line must be one of lab's
    `commands` (`lab_command_of`), and, given `writes` (a run's events.jsonl), it must hold that
    file open: a summary forged with a live stranger's pid and start time, or another run's, names
    a process lab leaves alone. (A run that `lab.run` started in this very process passes as lab's.)"""
    if summary.host is not None and summary.host != socket.gethostname():
        return f"it runs on host {summary.host}, not this one ({socket.gethostname()}); stop it there"
    if not isinstance(summary.pid, int) or summary.pid <= 0 or summary.pid_start is None or summary.host is None:
        return "its summary does not record the process identity (pid, start time, host) lab needs to signal it safely"
    start = _process_start(summary.pid)
    if start is None or start == "zombie":
        return f"its process {summary.pid} is gone"
    if start != summary.pid_start:
        return f"pid {summary.pid} now belongs to another process (the run's own has ended)"
    pid = summary.pid
    if pid != os.getpid():
        command = lab_command_of(pid)
        if command not in commands:
            shown = " ".join(_cmdline(pid) or ["?"])
            shown = (shown[:80] + "...") if len(shown) > 80 else shown
            return (f"process {pid} is not a lab {' or '.join(commands)} ({shown.encode('unicode_escape').decode()!r}); "
                    "lab signals only its own processes")
    if writes is not None and not _holds_open(pid, writes):
        return f"process {pid} does not write {Path(writes).name} of this folder: it is not this run's"
    return None


def _cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [a.decode("utf-8", "replace") for a in raw.split(b"\0")[:-1]] if raw else []


_LAB_OPTIONS = ("--runs-dir", "--allow-module")  # lab's options before its command, each with a value


def lab_command_of(pid: int) -> str | None:
    """The lab command (run, sweep, ...) process `pid` runs, read from its command line: `python
    [options] -m lab [--runs-dir D] COMMAND ...`, or the `lab` script (run directly or by its
    interpreter); None for any other process, or one whose command line cannot be read."""
    argv = _cmdline(pid)
    if not argv:
        return None
    name = os.path.basename(argv[0])
    if name == "lab":
        rest = argv[1:]
    elif name.startswith("python"):
        i = 1
        while i < len(argv) and argv[i].startswith("-") and argv[i] not in ("-m", "-c", "-"):
            i += 2 if argv[i] in ("-W", "-X", "-Q") else 1  # the interpreter's options (-P, -u, -X dev, ...)
        if argv[i:i + 2] == ["-m", "lab"]:
            rest = argv[i + 2:]
        elif i < len(argv) and os.path.basename(argv[i]) == "lab":  # the script, by its shebang
            rest = argv[i + 1:]
        else:
            return None
    else:
        return None
    while rest and rest[0].startswith("-"):
        flag = rest[0].split("=", 1)[0]
        if flag not in _LAB_OPTIONS:
            return None
        rest = rest[1:] if "=" in rest[0] else rest[2:]
    return rest[0] if rest else None


def _holds_open(pid: int, path: str | os.PathLike) -> bool:
    """Whether process `pid` has `path` open by this very name: the same file (device, inode) at
    the path it opened, so that a hard or symbolic link to another run's events.jsonl does not
    make that run's process pass as this folder's."""
    name = os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))
    try:
        target = os.lstat(path)
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            st = os.stat(f"/proc/{pid}/fd/{fd}")
            opened = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (target.st_dev, target.st_ino) and opened == name:
            return True
    return False


# ------------------------------------------------------------------------------ the run type

@dataclass
class Run:
    """A run folder as a reader sees it: returned by `lab.run`, `lab.open_run` and `lab.list_runs`."""

    path: Path
    summary: Summary = field(default_factory=Summary)
    problem: str | None = None  # why the folder could not be read, when it could not

    @classmethod
    def load(cls, path: str | os.PathLike) -> Run:
        path = Path(path)
        events = path / EVENTS
        if events.is_dir():
            return cls(path, Summary(), "events.jsonl: a directory, not a file")
        if events.exists():
            try:
                open_regular(events).close()
            except OSError as e:
                return cls(path, Summary(), f"events.jsonl: {e.strerror[0].lower() + e.strerror[1:]}")
        try:
            return cls(path, parse(read_regular(path / SUMMARY, limit=MAX_SUMMARY_BYTES)))
        except FileNotFoundError:
            return cls(path, Summary(), "summary.json: missing")
        except SummaryError as e:
            return cls(path, Summary(), str(e))
        except OSError as e:
            return cls(path, Summary(), f"summary.json: {e.strerror[0].lower() + e.strerror[1:]}")

    # --- layout
    @property
    def spec_path(self) -> Path:
        return self.path / SPEC

    @property
    def events_path(self) -> Path:
        return self.path / EVENTS

    @property
    def summary_path(self) -> Path:
        return self.path / SUMMARY

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / CHECKPOINTS

    @property
    def artifacts_dir(self) -> Path:
        return self.path / ARTIFACTS

    def checkpoint(self, name: str) -> Path:
        return self.checkpoints_dir / name

    def artifact(self, name: str) -> Path:
        return self.artifacts_dir / name

    def relpath(self, path: str | os.PathLike) -> str:
        return str(Path(path).relative_to(self.path))

    def inside(self, rel, what: str) -> Path:
        """The path a relative path read from this folder's own content names (a summary's policy,
        a resume state's files): ValueError, naming `what`, for one that is absolute, goes up
        ('..') or leads out of the folder through a link (`inside`)."""
        return inside(self.path, rel, what)

    # --- the record
    @property
    def id(self) -> str:
        return self.path.name

    @property
    def experiment(self) -> str:
        return self.summary.experiment

    @property
    def kind(self) -> str:
        return self.summary.kind

    @property
    def results(self):
        return self.summary.results

    @property
    def state(self) -> str:
        """The recorded state; 'crashed' for a run whose process died without saying so;
        'corrupt' for a folder whose summary cannot be read (`problem` says why)."""
        if self.problem is not None:
            return RunState.CORRUPT
        state = self.summary.state
        if state == RunState.RUNNING and not process_alive(self.summary):
            # Its process is gone, but a run writes its end before it exits: the summary read
            # before the check may be older than that end (a run that ended, or was stopped, in
            # the moment between the two). The summary as it is now says which.
            now = Run.load(self.path)
            if now.problem is None and now.summary.state != RunState.RUNNING and now.summary.pid == self.summary.pid:
                self.summary = now.summary
                return now.summary.state
            return RunState.CRASHED
        return state

    @property
    def progress(self):
        """How far the run is, as the dashboard and the CLI say it (`lab.display.shown_progress`):
        `.fraction` of the run or of the phase it is in, `.phase`, `.method`, and `.early` for a
        run that completed before its total."""
        from lab.display import shown_progress

        return shown_progress(self.state, self.summary.progress)

    @property
    def seconds(self) -> float | None:
        """How long the run went (`Summary.seconds_until`): to its end, to now while it runs, or,
        for a crashed run, to the last time it wrote its summary (every few seconds while alive)."""
        end = self.summary.ended
        if end is None:
            end = time.time()
            if self.state == RunState.CRASHED:
                with contextlib.suppress(OSError):
                    end = self.summary_path.stat().st_mtime
        return self.summary.seconds_until(end)

    # --- the events
    def events(self, kinds: set[str] | None = None):
        """Every event (of these kinds), in order; for plots of long runs, `scan` is cheaper."""
        return read_events(self.events_path, kinds)

    def scan(self, kinds: set[str] | None = None):
        """Events at a bounded cost: every low-rate event and a sample of a large file's episodes."""
        return scan(self.events_path, kinds)

    def series(self, kind: str, key: str) -> tuple[list[float], list[float]]:
        """(steps, values) of one field of one event kind, e.g. series('eval', 'mean'), every point."""
        return events_series(self.events({kind, "episodes"} if kind == "episode" else {kind}), kind, key)

    def last_log_lines(self, n: int = 5, events: list[dict] | None = None) -> list[str]:
        logs = events if events is not None else self.events({"log"})
        return [e.get("message", "") for e in logs if e.get("kind") == "log"][-n:]


# ------------------------------------------------------------------------------ paths from a folder's content

def inside(folder: str | os.PathLike, rel, what: str) -> Path:
    """`folder / rel` for a path read from the folder's own content (a run's summary or resume
    state): ValueError, naming `what`, unless `rel` is a relative path without '..' whose real
    path (links followed) stays within the folder's real path. A folder's data never names a
    file elsewhere, so that reading or writing what it names touches nothing outside it."""
    if not isinstance(rel, str) or not rel or "\0" in rel:
        raise ValueError(f"{what} {rel!r} is not a path inside the folder")
    parts = Path(rel).parts
    if Path(rel).is_absolute() or ".." in parts:
        raise ValueError(f"{what} {rel!r} is not a path inside the folder (absolute, or going up with '..')")
    path = Path(folder) / rel
    if not os.path.realpath(path).startswith(os.path.realpath(folder) + os.sep):
        raise ValueError(f"{what} {rel!r} leads out of the folder through a symbolic link")
    return path


LINK_SCAN_LIMIT = 100_000  # entries looked at; a run folder of lab's holds a few dozen


def first_stranger(folder: str | os.PathLike) -> tuple[str, str] | None:
    """The first entry in a folder's tree that lab does not make (links are not followed): a
    symbolic link, or a named pipe, socket or device, as (path relative to it, what it is); None
    when there is none. lab makes only files and folders in run and sweep folders, and writes into
    an existing one (lab resume, lab sweep --resume) only when it has nothing else: a `checkpoints/`
    that links to another run's must not let a resume delete or write that run's files, and a
    named pipe where sweep.log belongs must not leave the resume waiting for a reader forever."""
    seen = 0
    for top, dirs, files in os.walk(folder, followlinks=False):
        for name in dirs + files:
            seen += 1
            path = os.path.join(top, name)
            try:
                mode = os.lstat(path).st_mode
            except OSError:
                continue
            if stat.S_ISLNK(mode):
                return os.path.relpath(path, folder), "a symbolic link"
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                return os.path.relpath(path, folder), kind_of(mode)
        if seen > LINK_SCAN_LIMIT:
            return None
    return None


def write_refusal(folder: str | os.PathLike, what: str) -> str | None:
    """Why lab must not write into an existing run or sweep folder (one line; None: it may)."""
    if os.path.islink(folder):
        return f"{what}: the folder is a symbolic link; lab writes into no folder through a link"
    found = first_stranger(folder)
    if found is not None and found[1] == "a symbolic link":
        return (f"{what}: {found[0]} is a symbolic link, and lab never writes through a link in a run or sweep folder (it "
                "makes none); remove it, or put a copy of what it points to in its place")
    if found is not None:
        return (f"{what}: {found[0]} is {found[1]}, not a file lab wrote (lab makes only files and folders in a run "
                "or sweep folder); remove it")
    return None


# ------------------------------------------------------------------------------ paths a user gives lab to write

# Kernel interfaces and device nodes, not places for a file: a "file" written there talks to the
# kernel, and as root an atomic rename over /dev/full replaced the device with a GIF.
NOT_FOR_FILES = ("/proc", "/sys", "/dev")
FILES_OK = ("/dev/shm",)  # a tmpfs for files


def _within(real: str, folder: str) -> bool:
    return real == folder or real.startswith(folder + os.sep)


def lab_folder(real: str, runs_dir: str | os.PathLike | None = None) -> str | None:
    """The run or sweep folder that the real path `real` is, or lies in; None if none. A run
    folder holds spec.toml and summary.json or events.jsonl, a sweep folder sweep.toml and
    sweep.json; in the runs root, a folder holding any one of them is one too (a run starting)."""
    root = os.path.realpath(runs_root(runs_dir))
    folder = real
    while True:
        has = {name for name in (SPEC, SUMMARY, EVENTS, SWEEP_TOML, SWEEP_JSON)
               if os.path.lexists(os.path.join(folder, name))}
        if ({SPEC, SUMMARY} <= has or {SPEC, EVENTS} <= has or {SWEEP_TOML, SWEEP_JSON} <= has
                or (has and os.path.dirname(folder) == root)):
            return folder
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def check_output(path: str | os.PathLike, option: str, example: str, *, folder: bool = False,
                 runs_dir: str | os.PathLike | None = None) -> Path:
    """A path the user gave lab to write (`lab record --out`, `lab export --tensorboard`, `lab
    import --out`), checked before any work is done: BadInput, one line naming the path, why, and
    `example` to give instead, unless it is the place of a regular file (with `folder`, of a
    folder, made if missing) in a folder that exists and can be written, outside /proc, /sys and
    /dev, and outside every run and sweep folder (links followed): only lab's own writers write
    there, and a file put in one would be read back as the run's. The write itself goes through
    `atomic_target`/`write_atomic`, so a failed one leaves nothing at the path."""
    shown = str(path)
    if not shown or "\0" in shown:
        raise BadInput(f"{option} {shown!r}: not a path; e.g. {option} {example}")
    path = Path(path)
    if not folder and not path.parent.is_dir():
        why = "is not a folder" if os.path.lexists(path.parent) else "does not exist"
        raise BadInput(f"{option} {shown}: folder {path.parent} {why}")
    try:
        mode = os.stat(path).st_mode  # links followed: a link to /dev/full is /dev/full's place
    except FileNotFoundError:
        mode = None  # a link to nothing is replaced by the file, as a missing file is made
    except OSError as e:
        raise BadInput(f"{option} {shown}: cannot write there ({e.strerror}); e.g. {option} {example}") from None
    if mode is not None and not (stat.S_ISDIR(mode) if folder else stat.S_ISREG(mode)):
        kind = "a file" if stat.S_ISREG(mode) else kind_of(mode)
        via = f" ({os.path.realpath(path)}, through a link)" if os.path.islink(path) else ""
        if folder:
            raise BadInput(f"{option} {shown}: is {kind}{via}, not a folder; choose a folder, e.g. {option} {example}")
        if stat.S_ISDIR(mode):
            raise BadInput(f"{option} {shown}: is a folder; give a file name in it, e.g. {option} {path / example}")
        raise BadInput(f"{option} {shown}: is {kind}{via}, not a regular file; give a file name, e.g. {option} {example}")
    # where the write lands, links followed (a link at a file's own place is replaced, not followed)
    real = os.path.realpath(path) if folder else os.path.join(os.path.realpath(path.parent), path.name)
    top = next((p for p in NOT_FOR_FILES if _within(real, p)), None)
    if top is not None and not any(_within(real, p) for p in FILES_OK):
        raise BadInput(f"{option} {shown}: is in {top}, the kernel's devices and settings, not a place for lab's "
                       f"files; e.g. {option} {example}")
    owner = lab_folder(real if folder else os.path.dirname(real), runs_dir)
    if owner is not None:
        what = "sweep" if os.path.lexists(os.path.join(owner, SWEEP_JSON)) else "run"
        where = "is" if owner == real else "is inside"
        raise BadInput(f"{option} {shown}: {where} the {what} folder {owner}, which only lab itself writes (a file put "
                       f"there would be read back as the {what}'s); give a path outside it, e.g. {option} {example}")
    if folder and real == os.path.realpath(runs_root(runs_dir)):
        raise BadInput(f"{option} {shown}: is the runs root, whose folders are runs and sweeps; give a folder of its own, "
                       f"e.g. {option} {example}")
    if not folder and not os.access(path.parent, os.W_OK | os.X_OK):
        raise BadInput(f"{option} {shown}: cannot write in folder {path.parent} (permission denied); e.g. {option} {example}")
    return path


def create_run_folder(root: Path, experiment: str, run_id: str | None = None) -> Path:
    """A new run folder; `run_id` names it (a sweep chooses its runs' ids before they start),
    else a fresh id. BadInput when the given id is taken."""
    if run_id is not None and not PLAIN_NAME.fullmatch(run_id):
        raise BadInput(f"run id {run_id!r} is not a plain name (letters, digits, '_.-'; no path)")
    root.mkdir(parents=True, exist_ok=True)
    while True:
        path = root / (run_id or new_run_id(experiment))
        try:
            path.mkdir()
            break
        except FileExistsError:
            if run_id:
                raise BadInput(f"run id {run_id} is taken in {root}") from None
            continue
    (path / CHECKPOINTS).mkdir()
    (path / ARTIFACTS).mkdir()
    return path


def list_runs(runs_dir: str | os.PathLike | None = None) -> list[Run]:
    """Every run folder under the runs root, oldest first."""
    root = runs_root(runs_dir)
    try:
        entries = list(os.scandir(root))
    except (FileNotFoundError, NotADirectoryError):
        return []
    runs = []
    for entry in entries:
        if entry.name.startswith(".") or not entry.is_dir():
            continue
        if os.path.exists(os.path.join(entry.path, SUMMARY)) or os.path.exists(os.path.join(entry.path, EVENTS)):
            runs.append(Run.load(entry.path))
    return sorted(runs, key=lambda r: (r.summary.started or 0, r.path.name))


def policy_robustness(run_id: str, runs_dir=None) -> tuple[str, dict] | None:
    """(robustness run id, its robustness.json) of the newest completed run that attacked the
    policy of run `run_id` (cartpole-policy-robustness and the like); None when none has."""
    from lab.files import read_json

    found = [r for r in list_runs(runs_dir) if r.kind == "attribution" and r.state == RunState.COMPLETED
             and r.summary.results.policy_run == run_id and r.artifact(ROBUSTNESS).is_file()]
    for run in sorted(found, key=lambda r: r.summary.started or 0, reverse=True):
        try:
            return run.id, read_json(run.artifact(ROBUSTNESS))
        except (OSError, ValueError):
            continue
    return None


# The states a command works on when it takes an experiment's name for a run (`resolve_run`):
# everything that reads what a run delivered or recorded wants a completed run
COMPLETED_ONLY = (RunState.COMPLETED,)
_STATE_WORDS = {RunState.RUNNING: "is still running", RunState.COMPLETED: "completed", RunState.FAILED: "failed",
                RunState.STOPPED: "was stopped", RunState.CRASHED: "crashed", RunState.CORRUPT: "is corrupt"}


def state_words(run: Run) -> str:
    """'is still running', 'failed', 'was pruned by its sweep'...: a run's state in a sentence."""
    if run.state == RunState.STOPPED and run.summary.stop_reason == "pruned":
        return "was pruned by its sweep"
    return _STATE_WORDS.get(run.state, f"is {run.state}")


def run_by_id(ref: str | os.PathLike, runs: list[Run], runs_dir=None) -> Run | None:
    """The run `ref` names by itself, whatever its state and whether or not a sweep made it: its
    folder's path, its id, a unique prefix of its id, or the random tail its id ends with ('6c5a',
    as sweep tables show it) when one run has it. None when it names none of them (an experiment's
    name, say); BadInput for a prefix several ids start with."""
    from lab.display import printable

    text = str(ref)
    path = Path(text)
    try:
        if path.is_dir() and (path / SUMMARY).exists():
            return Run.load(path)
    except (OSError, ValueError):  # a name too long for a path, a NUL: not a run folder; an id, maybe
        pass
    exact = [r for r in runs if r.path.name == text]
    if exact:
        return exact[0]
    prefixed = [r for r in runs if r.path.name.startswith(text)]
    if len(prefixed) == 1:
        return prefixed[0]
    if len(prefixed) > 1:
        names = ", ".join(r.path.name for r in prefixed[:5])
        raise BadInput(f"run '{printable(text, limit=200)}' is ambiguous in {runs_root(runs_dir)}: {len(prefixed)} runs "
                       f"start with it ({names}); give more of the id")
    if any(r.experiment == text for r in runs):
        return None  # an experiment's name: the rule for names decides
    tailed = [r for r in runs if r.path.name.rsplit("-", 1)[-1] == text]
    if len(tailed) > 1:
        names = ", ".join(r.path.name for r in tailed[:5])
        raise BadInput(f"run '{printable(text, limit=200)}' is ambiguous in {runs_root(runs_dir)}: {len(tailed)} run ids "
                       f"end with it ({names}); give the whole id")
    return tailed[0] if tailed else None


def run_called(name: str, runs: list[Run], states=COMPLETED_ONLY) -> Run | None:
    """The run called `name`: the latest run of experiment `name` in one of `states` that is not a
    sweep's trial (a trial is named by its id). `runs`: oldest first, as `list_runs` gives them."""
    return next((r for r in reversed(runs) if r.experiment == name and not r.summary.sweep and r.state in states), None)


def none_called(name: str, runs: list[Run], states=COMPLETED_ONLY, use: str | None = None) -> str | None:
    """Why no run is called `name` in `states` although `name` is an experiment with runs: what its
    latest run of its own is doing, which of its runs are sweep trials, and the command that names
    one by its id (`use`: 'lab eval'). None when `name` has no run at all."""
    same = [r for r in runs if r.experiment == name]
    if not same:
        return None
    wanted = " or ".join(states)
    parts = []
    own = [r for r in same if not r.summary.sweep]
    if own:
        latest = own[-1]
        # a command that reads a run may take one in another state, by its id; a stop or a resume may not
        anyway = f" (to use it anyway: `{use} {latest.id}`)" if use and tuple(states) == COMPLETED_ONLY else ""
        parts.append(f"its latest run, {latest.id}, {state_words(latest)}{anyway}")
    trials = [r for r in same if r.summary.sweep]
    if trials:
        usable = [r for r in trials if r.state in states]
        sweeps = list(dict.fromkeys(r.summary.sweep for r in trials))
        which = f"sweep {sweeps[0]}" if len(sweeps) == 1 else f"{len(sweeps)} sweeps"
        lead = "its" if not own else "and its"
        if usable:
            latest = usable[-1]
            give = f"`{use} {latest.id}`" if use else latest.id
            runs = f"{len(usable)} {wanted} runs belong" if len(usable) > 1 else f"{wanted} run belongs"
            parts.append(f"{lead} {runs} to {which}, and a name never calls a sweep's run (a trial, or a population's): "
                         f"give its run id, e.g. {give} (the latest; `lab show {latest.summary.sweep}` lists the sweep's runs)")
        else:
            runs = f"other {len(trials)} runs belong" if len(trials) > 1 else "other run belongs"
            parts.append(f"{lead} {runs} to {which}, none {wanted}")
    return f"no {wanted} {name} run{' of its own' if trials and not own else ''}: " + "; ".join(parts)


def resolve_run(ref: str | os.PathLike, runs_dir: str | os.PathLike | None = None, *, states=COMPLETED_ONLY,
                use: str | None = None, note=None) -> Run:
    """The run `ref` names: by its folder's path, its id, a unique prefix of its id or its id's
    random tail (`run_by_id`), whatever its state, a sweep's trial too; or by an experiment's name:
    the run called NAME, the latest run of that experiment in one of `states` that is not a sweep's
    trial (`run_called`; completed by default: what every command that reads a run's results,
    policy or model needs; `lab stop` asks for a running run, `lab resume` a stopped or crashed one).

    BadInput, one line, when it names nothing, or a name has no such run: what the experiment's
    latest run is doing, or that its runs are sweep trials, and `use` (the command, 'lab eval')
    with the id to give instead. `note(line)` hears of a newer run of the name that was passed over
    (one still running, say)."""
    from lab.display import printable

    text = str(ref)
    shown = printable(text, limit=200)  # the ref as typed, escaped and cut: a 100 KB one was a traceback
    runs = list_runs(runs_dir)
    root = runs_root(runs_dir)
    found = run_by_id(text, runs, runs_dir)
    if found is not None:
        return found
    named = run_called(text, runs, states)
    if named is not None:
        newer = [r for r in runs if r.experiment == text and not r.summary.sweep
                 and (r.summary.started or 0) > (named.summary.started or 0)]
        if newer and note is not None:
            note(f"{shown}: {named.id}, its latest {' or '.join(states)} run; a newer one, {newer[-1].id}, "
                 f"{state_words(newer[-1])}")
        return named
    why = none_called(text, runs, states, use)
    if why is not None:
        raise BadInput(f"{printable(why, limit=4000)} (in {root})")
    known = [r.path.name for r in runs] + sorted({r.experiment for r in runs})
    hint = did_you_mean(text, known)
    where = f"{root}" if runs else f"{root} (no runs there yet)"
    raise BadInput(f"no run '{shown}' in {where}{printable(hint)}; `lab runs` lists them")
