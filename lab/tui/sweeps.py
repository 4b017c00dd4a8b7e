"""Starting and stopping sweeps from the dashboard: `lab sweep` as a detached process, and a
SIGINT to that process (which stops every run of the sweep cleanly, then ends 'stopped').

The analogue of `lab.launch.spawn` and `lab.launch.stop` for a sweep's own process, whose
identity (pid, its start time, host) is in its sweep.json rather than a run's summary.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from lab import store
from lab.errors import BadInput


def spawn_sweep(ref: str, runs_dir, log_path, args: list[str] = (), nice: int | None = None) -> subprocess.Popen:
    """Start `lab sweep REF --runs-dir ROOT` detached: its own session (a Ctrl-C in the
    dashboard's terminal does not reach it, and it outlives the dashboard), output to `log_path`,
    lower CPU priority as runs launched from the dashboard have. BadInput when the runs root
    cannot be written."""
    from lab.launch import RUN_NICE, _lower_priority

    niceness = RUN_NICE if nice is None else nice
    root = store.runs_root(runs_dir)
    from lab.plugins import child_args, lab_command

    cmd = lab_command("sweep", str(ref), *args, *child_args(), "--runs-dir", str(root))
    try:
        root.mkdir(parents=True, exist_ok=True)
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        log = open(log_path, "ab")
    except OSError as e:
        raise BadInput(f"cannot start a sweep in {root}: {e.strerror}; choose a writable folder with --runs-dir or LAB_RUNS_DIR") from None
    with log:
        return subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                                preexec_fn=(lambda: _lower_priority(niceness)) if niceness else None)


def stop_sweep(record) -> str:
    """Ask a running sweep to stop: SIGINT to its process, which stops each of its runs (they
    checkpoint and end 'stopped') and then ends 'stopped' itself. Refuses (BadInput, saying why)
    a sweep that is not running, or whose process lab cannot be sure is that sweep's on this
    machine (pid, its start time and the host must all match, and its command line must be `lab
    sweep`), as `lab.launch.stop` does for runs."""
    from lab.summary import Summary

    state = record.live_state
    if state != "running":
        raise BadInput(f"sweep {record.id} is {state}, not running")
    why = store.signal_refusal(Summary(pid=record.pid, pid_start=record.pid_start, host=record.host), commands=("sweep",))
    if why is not None:
        raise BadInput(f"not stopping sweep {record.id}: {why.replace('its summary', 'its sweep.json')}")
    try:
        os.kill(record.pid, signal.SIGINT)
    except ProcessLookupError:
        raise BadInput(f"not stopping sweep {record.id}: its process {record.pid} is gone") from None
    except PermissionError:
        raise BadInput(f"not stopping sweep {record.id}: no permission to signal process {record.pid}") from None
    return f"stopping sweep {record.id}: each of its runs checkpoints and ends 'stopped', then the sweep does"
