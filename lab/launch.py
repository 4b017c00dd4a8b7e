"""Running an experiment: make its run folder, run its job, record how it ended.

`run` is what `lab run` does in the foreground and what the dashboard starts as a detached
child process (`start_detached`). The job itself (RL training, attribution) lives in the
domain packages and talks to the folder only through `RunContext`.
"""

from __future__ import annotations

import os
import platform
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lab import store
from lab.errors import BadInput
from lab.events import EventWriter

# kind -> "module:function(spec, ctx)", imported only when a run of that kind starts
JOBS = {"rl": "lab.rl.train:train", "attribution": "lab.xai.job:run"}


class RunContext:
    """What a job sees of its run: the event sink, the summary, the stop flag, the folder."""

    def __init__(self, path: Path, spec, device: str, device_reason: str, on_event=None):
        self.path = path
        self.spec = spec
        self.device = device
        self.device_reason = device_reason
        self.events = EventWriter(path / "events.jsonl", on_event)
        self.stop_requested = False
        self.stop_reason = ""
        self.summary: dict = {}

    def emit(self, kind: str, **fields) -> dict:
        return self.events.emit(kind, **fields)

    def log(self, message: str, level: str = "info") -> None:
        self.emit("log", level=level, message=message)

    def update_summary(self, **fields) -> None:
        self.summary.update(fields)
        store.write_json_atomic(self.path / "summary.json", self.summary)

    def relpath(self, path: Path) -> str:
        return str(Path(path).relative_to(self.path))


@dataclass
class RunResult:
    """A finished run: its folder, its summary and its event series."""

    path: Path
    summary: dict
    events: list[dict] = field(default_factory=list)

    @property
    def state(self) -> str:
        return self.summary.get("state", "")

    @property
    def results(self) -> dict:
        return self.summary.get("results", {})

    def series(self, kind: str, key: str) -> tuple[list[float], list[float]]:
        """(steps, values) of one field, e.g. series('episode', 'return'), series('metric', 'value_loss')."""
        from lab.events import series

        return series(self.events, kind, key)


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("lab", "torch", "stable-baselines3", "gymnasium", "numpy"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


class _StopSignals:
    """SIGINT/SIGTERM ask the job to stop (checkpoint, state 'stopped'); a second one exits now."""

    def __init__(self, ctx: RunContext):
        self.ctx = ctx
        self.previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.ctx.stop_requested:
            raise KeyboardInterrupt
        self.ctx.stop_requested = True
        self.ctx.stop_reason = signal.Signals(signum).name
        self.ctx.log(f"{self.ctx.stop_reason} received: stopping after the current step", "warning")

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def prepare(spec, runs_dir=None) -> tuple[str, str]:
    """Checks that need the machine or the runs root, before any folder exists: (device, reason)."""
    from lab.device import choose_device

    if spec.kind == "attribution":
        from lab.xai.job import prepare as prepare_attribution

        return prepare_attribution(spec, runs_dir)

    image = False
    if spec.kind == "rl":
        from lab.rl.envs import is_image_space, make_env

        env = make_env(spec)
        image = is_image_space(env.observation_space)
        env.close()
    return choose_device(spec.device, spec.agent.algo, image, spec.source)


def run(spec, runs_dir=None, on_event: Callable[[dict], None] | None = None) -> RunResult:
    """Run an experiment spec to its end in this process; returns its RunResult.

    The run's state is 'completed', 'stopped' (SIGINT/SIGTERM) or 'failed' (an exception in
    the job, whose traceback is in the log events). Bad input raises BadInput before any
    folder is made.
    """
    import importlib

    device, reason = prepare(spec, runs_dir)
    root = store.runs_root(runs_dir)
    try:
        path = store.create_run_folder(root, spec.name)
    except OSError as e:
        raise BadInput(f"cannot create a run folder in {root}: {e.strerror}; choose another with --runs-dir or LAB_RUNS_DIR") from None
    events: list[dict] = []

    def sink(event):
        events.append(event)
        if on_event is not None:
            on_event(event)

    ctx = RunContext(path, spec, device, reason, sink)
    store.write_atomic(path / "spec.toml", spec.to_toml())
    started = time.time()
    ctx.update_summary(
        id=path.name, experiment=spec.name, kind=spec.kind, state="running",
        started=started, ended=None, duration_seconds=None,
        algo=getattr(getattr(spec, "agent", None), "algo", None), env=getattr(getattr(spec, "env", None), "id", None),
        seed=spec.seed, device=device, device_reason=reason, threads=spec.threads,
        progress={"step": 0, "total": getattr(getattr(spec, "agent", None), "total_steps", None), "fraction": 0.0},
        results={}, versions=_versions(), error=None, **store.process_identity(),
    )
    ctx.emit("status", state="running", message=f"device {device} ({reason}), {spec.threads} thread(s)")
    module, _, func = JOBS[spec.kind].partition(":")
    state, error = "completed", None
    try:
        with _StopSignals(ctx):
            getattr(importlib.import_module(module), func)(spec, ctx)
        if ctx.stop_requested:
            state = "stopped"
    except KeyboardInterrupt:
        state = "stopped"
    except Exception as e:
        state, error = "failed", f"{type(e).__name__}: {e}"
        ctx.log(traceback.format_exc(), "error")
    ended = time.time()
    ctx.update_summary(state=state, ended=ended, duration_seconds=round(ended - started, 3), error=error)
    ctx.emit("status", state=state, message=error or ctx.stop_reason or "")
    ctx.events.close()
    return RunResult(path, dict(ctx.summary), events)


# Runs started from the dashboard yield the CPU to it (and to the user's other work): at nice 10 a
# run still gets every cycle nobody else wants, and a key press in the dashboard is not queued
# behind training processes. LAB_RUN_NICE=0 turns this off.
RUN_NICE = int(os.environ.get("LAB_RUN_NICE", "10"))


def _lower_priority(niceness: int) -> None:
    """In the child, after setsid: nice, and the same for its autogroup, where Linux has them
    (with autogroups on, each session is scheduled as one group and plain nice means little)."""
    os.nice(niceness)
    try:
        with open("/proc/self/autogroup", "w") as f:
            f.write(str(niceness))
    except OSError:
        pass


def start_detached(ref: str, args: list[str] = (), runs_dir=None, nice: int | None = None) -> int:
    """Start `lab run REF ARGS...` as a detached process (own session, output to a file, lower
    CPU priority); its pid."""
    import subprocess

    niceness = RUN_NICE if nice is None else nice

    cmd = [sys.executable, "-m", "lab", "run", str(ref), *args, "--json"]
    if runs_dir is not None:
        cmd += ["--runs-dir", str(runs_dir)]
    root = store.runs_root(runs_dir)
    root.mkdir(parents=True, exist_ok=True)
    log = open(root / ".launch.log", "ab")
    proc = subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"},
                            preexec_fn=(lambda: _lower_priority(niceness)) if niceness else None)
    log.close()
    return proc.pid
