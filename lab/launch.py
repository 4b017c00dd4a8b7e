"""Running an experiment: resolve what it needs, make its run folder, run its job, record how
it ended; and the processes of runs and sweeps: starting them detached, stopping them.

`run` is what `lab run` does in the foreground and what the dashboard starts as a detached
child process (`start_detached`). The job itself (RL training, attribution) lives in the
domain packages and talks to the folder only through `RunContext`. A job that needs another
run first says so in its `Plan`; the launcher runs that prerequisite here, inside the outer
run, so its progress shows in the outer run's log and a Ctrl-C stops both.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import signal
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path

from lab import store
from lab.errors import BadInput, one_line
from lab.events import EventWriter
from lab.summary import Progress, RunState, Summary, check_known

# kind -> job module, imported only when a run of that kind starts; each has prepare(spec,
# runs_dir) -> lab.plan.Plan and run(spec, ctx)
JOBS = {"rl": "lab.rl.train", "attribution": "lab.xai.job"}
PROGRESS_WRITE_SECONDS = 2.0  # a job of phases writes its progress into its summary at least this often


def _job(kind: str):
    import importlib

    return importlib.import_module(JOBS[kind])


class RunContext:
    """What a job sees of its run: the event sink, the summary, the stop flag, the folder."""

    def __init__(self, path: Path, spec, plan, on_event=None, **summary):
        self.run = store.Run(Path(path))
        self.path = self.run.path
        self.spec = spec
        self.device = plan.device
        self.device_reason = plan.device_reason
        self.summary = Summary()
        self.prerequisites: list[store.Run] = []  # finished runs the plan asked for, in order
        self.stop_requested = False
        self.stop_reason = ""
        self.update_summary(**summary)  # the folder has its summary before it has events
        self.events = EventWriter(self.run.events_path, on_event)

    def emit(self, kind: str, **fields) -> dict:
        if kind == "progress" and isinstance(fields.get("step"), int):
            # the summary's progress is the job's last progress event, in every write from now on
            # (a run stopped at once still records the step it reached)
            phase, method = fields.get("phase"), fields.get("method")
            before = self.summary.progress
            self.summary.progress = Progress(step=fields["step"], total=fields.get("total"), fraction=fields.get("fraction"),
                                             phase=phase, method=method)
            # A job of phases (attribution) writes its summary nowhere else while a phase runs: its
            # progress goes there as each phase begins and every PROGRESS_WRITE_SECONDS, so that
            # readers of the summary (the runs table, `lab runs`) see what the events say. (RL
            # training writes its summary on its own clock.)
            if phase is not None and ((before.phase, before.method) != (phase, method)
                                      or time.monotonic() - self._written >= PROGRESS_WRITE_SECONDS):
                self.update_summary()
        return self.events.emit(kind, **fields)

    def log(self, message: str, level: str = "info", **fields) -> None:
        self.emit("log", level=level, message=message, **fields)

    def update_summary(self, **fields) -> None:
        """Set summary fields and write summary.json atomically; `results` and `progress` are
        merged into what is there, so a job adds its figures as it goes."""
        check_known(fields)
        data = self.summary.model_dump()
        for key in ("results", "progress"):
            if key in fields:
                fields[key] = {**data[key], **fields[key]}
        self.summary = Summary.model_validate({**data, **fields})
        store.write_atomic(self.run.summary_path, self.summary.to_json())
        self._written = time.monotonic()

    def checkpoint(self, name: str) -> Path:
        return self.run.checkpoint(name)

    def artifact(self, name: str) -> Path:
        return self.run.artifact(name)

    def relpath(self, path: Path) -> str:
        return self.run.relpath(path)


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("lab", "torch", "stable-baselines3", "gymnasium", "numpy"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


GRACE_SECONDS = 1.0


PRUNE_SIGNAL = signal.SIGUSR1  # a sweep's pruner stopping a trial: as SIGINT, recorded as 'pruned'


class _StopSignals:
    """SIGINT/SIGTERM ask the job to stop: it checkpoints and ends 'stopped' (SIGHUP too: the
    terminal of a foreground `lab run` was closed; SIGUSR1 too: a sweep pruning the run, recorded
    as stop_reason 'pruned'). A second signal
    within GRACE_SECONDS of the first is absorbed (people press Ctrl-C twice; the run is already
    stopping); a later second one, or a third, stops at once (state 'stopped', without waiting
    for the checkpoint). While the run writes its end (`finishing`) every signal is absorbed, so
    it always ends recorded. The caller's handlers are put back when the run ends."""

    def __init__(self, ctx: RunContext):
        self.ctx = ctx
        self.previous = {}
        self.first: float | None = None
        self.count = 0
        self.finishing = False

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, PRUNE_SIGNAL):
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        name = signal.Signals(signum).name
        if self.finishing or (signum == PRUNE_SIGNAL and self.first is not None):
            return
        self.count += 1
        if self.first is None:
            self.first = time.monotonic()
            self.ctx.stop_requested = True
            if signum == PRUNE_SIGNAL:
                self.ctx.stop_reason = "pruned"
                self.ctx.log("pruned by its sweep: stopping after the current step", "warning")
                return
            self.ctx.stop_reason = name
            self.ctx.log(f"{name} received: stopping after the current step (a third signal stops at once)", "warning")
            return
        if self.count == 2 and time.monotonic() - self.first < GRACE_SECONDS:
            self.ctx.log(f"{name} again: already stopping", "warning")
            return
        self.ctx.log(f"{name} again: stopping now, without waiting for the checkpoint", "warning")
        raise KeyboardInterrupt

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _caller_state_kept():
    """What a job changes process-wide (torch threads, the global RNGs, warnings filters) is put
    back as it was when the run ends, so `lab.run` in a notebook leaves the notebook alone."""
    import random

    import numpy as np
    import torch  # every job uses it; importing it here costs nothing extra

    threads = torch.get_num_threads()
    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    try:
        with warnings.catch_warnings():
            yield
    finally:
        torch.set_num_threads(threads)
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])


def prepare(spec, runs_dir=None):
    """Checks that need the machine or the runs root, before any folder exists: a Plan."""
    return _job(spec.kind).prepare(spec, runs_dir)


def run(spec, runs_dir=None, on_event: Callable[[dict], None] | None = None, run_id: str | None = None,
        sweep: str | None = None) -> store.Run:
    """Run an experiment spec to its end in this process; returns the finished `Run`.

    The run's state is 'completed', 'stopped' (SIGINT/SIGTERM, also during a prerequisite) or
    'failed' (an exception in the job, whose traceback is in the log events). Bad input raises
    BadInput before any folder is made. Signal handlers, torch threads, the global RNG states
    and warnings filters are as they were when it returns. `run_id` names the folder (a sweep
    chooses its runs' ids); `sweep` records the sweep the run is a trial of.
    """
    with _caller_state_kept():  # also around prepare: the libraries it imports add warnings filters
        return _run(spec, runs_dir, on_event, run_id, sweep)


def _run(spec, runs_dir, on_event, run_id=None, sweep=None) -> store.Run:
    plan = prepare(spec, runs_dir)
    root = store.runs_root(runs_dir)
    path = None
    started = time.time()
    agent, env = getattr(spec, "agent", None), getattr(spec, "env", None)
    held = contextlib.ExitStack()  # the folder's writer lock, from its making to the run's end
    try:
        path = store.create_run_folder(root, spec.name, run_id)
        held.enter_context(store.writer_lock(path, path.name))
        store.write_atomic(path / store.SPEC, spec.to_toml())
        ctx = RunContext(
            path, spec, plan, on_event,
            id=path.name, experiment=spec.name, kind=spec.kind, state=RunState.RUNNING, started=started,
            algo=getattr(agent, "algo", None), env=getattr(env, "id", None), seed=spec.seed,
            device=plan.device, device_reason=plan.device_reason, threads=spec.threads,
            progress={"step": 0, "total": getattr(agent, "total_steps", None), "fraction": 0.0},
            versions=_versions(), sweep=sweep, **store.process_identity(),
        )
        ctx.emit("status", state=RunState.RUNNING, message=f"device {plan.device} ({plan.device_reason}), {spec.threads} thread(s)")
    except OSError as e:  # a read-only or full runs root: no half-made folder stays behind
        held.close()
        if path is not None:
            shutil.rmtree(path, ignore_errors=True)
        raise BadInput(f"cannot start a run in {root}: {e.strerror}; free some space, or choose another "
                       "folder with --runs-dir or LAB_RUNS_DIR") from None

    def body():
        _run_prerequisites(plan.prerequisites, ctx, runs_dir)
        if not ctx.stop_requested:
            _job(spec.kind).run(spec, ctx)

    with held:
        return _execute(ctx, body, started)


def _execute(ctx: RunContext, body: Callable[[], None], started: float, earlier_seconds: float = 0.0) -> store.Run:
    """Run the job (`body`) under the stop signals and record how it ended; `earlier_seconds`:
    the durations of a resumed run's earlier segments."""
    state, error = RunState.COMPLETED, None
    with _StopSignals(ctx) as signals:
        try:
            body()
            if ctx.stop_requested:
                state = RunState.STOPPED
        except KeyboardInterrupt:
            state = RunState.STOPPED
        except Exception as e:
            # one line in the summary and the log (libraries put tensors in messages); the
            # traceback rides along in the log event for whoever reads events.jsonl
            state, error = RunState.FAILED, f"{type(e).__name__}: {one_line(e)}"
            with contextlib.suppress(OSError):  # the failure may be the disk itself
                ctx.log(error, "error", traceback=traceback.format_exc())
        signals.finishing = True
        ended = time.time()
        segments = ctx.summary.segments
        if segments:  # a resumed run: this segment's end too
            segments = [*segments[:-1], {**segments[-1], "ended": ended, "to_step": ctx.summary.progress.step, "state": state}]
        _record_end(ctx, state=state, ended=ended, duration_seconds=round(earlier_seconds + ended - started, 3),
                    error=error, stop_reason=(ctx.stop_reason or None) if state == RunState.STOPPED else None,
                    **({"segments": segments} if segments else {}))
        with contextlib.suppress(OSError):  # the summary holds the end; the log line is a courtesy
            ctx.emit("status", state=state, message=error or ctx.stop_reason or "")
            ctx.events.close()
    return store.Run(ctx.path, ctx.summary)


# ------------------------------------------------------------------------------ lab resume

def resumable(run: store.Run):
    """(spec, resume state) of a run `resume` can continue; BadInput, one line, for any other:
    a completed, failed, running or unreadable run, an attribution run, an agent that cannot
    resume yet, a resumable checkpoint missing or unreadable."""
    from lab.spec import load_experiment

    state = run.state
    if state == RunState.CORRUPT:
        raise BadInput(f"{run.id} cannot be resumed: {run.problem}")
    job = _job(run.kind) if run.kind in JOBS else None
    if not hasattr(job, "resume_state"):
        raise BadInput(f"{run.id} is {'an' if run.kind[:1] in 'aeiou' else 'a'} {run.kind} run: only RL runs resume "
                       "(explain it again with `lab explain`)")
    if state not in (RunState.STOPPED, RunState.CRASHED):
        why = {RunState.COMPLETED: "it has nothing left to do", RunState.RUNNING: "stop it first (lab stop), or let it finish",
               RunState.FAILED: "it ended with an error; fix it and `lab run` the run folder again"}.get(state, "")
        raise BadInput(f"{run.id} is {state}, not stopped or crashed: {why}")
    why = store.write_refusal(run.path, f"cannot resume {run.id}")  # before anything is read or written
    if why is not None:
        raise BadInput(why)
    bad = next((i for i, s in enumerate(run.summary.segments) if not _is_segment(s)), None)
    if bad is not None:  # the resume goes on from them
        raise BadInput(f"{run.id} cannot be resumed: summary.json: segments[{bad}] is not a stretch of training lab "
                       "wrote (started, ended, from_step, to_step, state)")
    spec = load_experiment(run.spec_path)
    return spec, job.resume_state(run, spec)


def _is_segment(s) -> bool:
    import math

    def number(v, kind=(int, float)):
        return v is None or isinstance(v, kind) and not isinstance(v, bool) and math.isfinite(v) and v >= 0

    return (isinstance(s, dict) and {"started", "ended", "from_step", "to_step", "state"} <= set(s)
            and number(s["started"]) and number(s["ended"]) and number(s["from_step"], int) and number(s["to_step"], int)
            and (s["state"] is None or isinstance(s["state"], str)))


def resume(run: store.Run, on_event: Callable[[dict], None] | None = None) -> store.Run:
    """Continue a stopped or crashed RL run in its own folder from its latest resumable
    checkpoint (`lab resume`); returns the finished `Run`, as `run` does.

    events.jsonl loses a partial last line and every event of a step after the checkpoint's
    (the resumed run does those steps again), then goes on being appended to, so its step axis
    is one continuous line with no step counted twice. The summary keeps its fields and records
    each stretch of training in `segments`.

    All or nothing: under the folder's writer lock (one writer at a time), the agent and every
    part of its resumable state are loaded here and checked against the spec before the folder
    is touched; anything wrong (an edited spec.toml, a damaged or foreign checkpoint, a second
    `lab resume` at once) is BadInput, one line, and the run stays as it was, resumable once the
    cause is put right."""
    with _caller_state_kept(), contextlib.ExitStack() as held:
        try:
            held.enter_context(store.writer_lock(run.path, run.id))
        except OSError as e:
            raise BadInput(f"cannot resume {run.id}: {e.strerror}") from None
        run = store.Run.load(run.path)  # as it is now that nobody else writes it
        spec, saved = resumable(run)
        plan = prepare(spec, run.path.parent)
        saved = _job(spec.kind).load_resume(run, spec, plan.device, saved)
        return _resume(run, spec, plan, saved, on_event)


def _resume(run: store.Run, spec, plan, saved: dict, on_event) -> store.Run:
    from lab.summary import Results

    step, old, started = saved["step"], run.summary, time.time()
    try:
        reached = _drop_events_after(run.events_path, step, spec.agent.total_steps)
    except OSError as e:
        raise BadInput(f"cannot resume {run.id}: {e.strerror}") from None
    except ValueError as e:
        raise BadInput(f"cannot resume {run.id}: {run.relpath(run.events_path)}: {e}; the run is left as it was") from None
    segments = [dict(s) for s in old.segments]
    if not segments:  # the run's first stretch, recorded now
        segments = [{"started": old.started, "ended": None, "from_step": 0, "to_step": None, "state": None}]
    if segments[-1]["ended"] is None:  # crashed: it ended when it last wrote its summary
        segments[-1].update(ended=old.ended or run.summary_path.stat().st_mtime, state=run.state)
    if segments[-1]["to_step"] is None or segments[-1]["to_step"] < reached:  # a crashed run's summary lags its events
        segments[-1]["to_step"] = max(reached, old.progress.step)
    earlier = sum((s["ended"] or 0) - (s["started"] or 0) for s in segments)
    segments.append({"started": started, "ended": None, "from_step": step, "to_step": None, "state": RunState.RUNNING})
    kept = {k: v for k, v in old.model_dump().items() if k in type(old).model_fields}
    kept["results"] = {k: v for k, v in kept["results"].items() if k in Results.model_fields}
    total = spec.agent.total_steps
    ctx = RunContext(
        run.path, spec, plan, on_event,
        **{**kept, "state": RunState.RUNNING, "ended": None, "duration_seconds": None, "error": None, "stop_reason": None,
           "device": plan.device, "device_reason": plan.device_reason, "versions": _versions(),
           "progress": {"step": step, "total": total, "fraction": round(min(step / total, 1.0), 4)},
           "segments": segments, **store.process_identity()},
    )
    ctx.emit("status", state=RunState.RUNNING, message=f"resumed at step {step:,} (segment {len(segments)}); device "
             f"{plan.device} ({plan.device_reason}), {spec.threads} thread(s)")
    return _execute(ctx, lambda: _job(spec.kind).run(spec, ctx, resume=saved), started, earlier)


# How far back from its end a resume reads events.jsonl for the place its checkpoint was written:
# the events of one checkpoint interval fit many times over; a file whose last RESUME_SCAN bytes
# hold no event at or before the checkpoint's step is not that run's record.
RESUME_SCAN = 64 << 20


def _drop_events_after(path: Path, step: int, total: int) -> int:
    """Rewrite events.jsonl (atomically) without a partial last line and without the events of
    steps after `step`; events without a step (logs, status) are history and stay. Returns the
    last step the file had reached (of the steps within 0 .. `total`). The file up to its last
    event at or before `step` is copied as it is, found by reading back from the end (at most
    RESUME_SCAN bytes, whatever the file's size); only the lines after it are parsed. A line longer
    than any event (events.MAX_LINE) there is dropped. ValueError: no such event in that stretch."""
    import json
    import shutil

    from lab.events import MAX_LINE
    from lab.files import open_regular

    def step_of(line: bytes):
        try:
            value = json.loads(line).get("step")
        except (ValueError, AttributeError, RecursionError):
            return None
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    with open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        start = max(size - RESUME_SCAN, 0)
        f.seek(start)
        lines = f.read(size - start).split(b"\n")
        lines.pop()  # after the last newline: empty, or a partial last line
        if start > 0 and lines:
            start += len(lines.pop(0)) + 1  # the stretch began inside a line
        offsets, at = [], start
        for line in lines:
            offsets.append(at)
            at += len(line) + 1
        keep_from = 0 if start == 0 else None  # the index of the first line after the cut
        steps = [None] * len(lines)
        for i in range(len(lines) - 1, -1, -1):
            if len(lines[i]) > MAX_LINE:
                continue
            steps[i] = step_of(lines[i])
            if steps[i] is not None and steps[i] <= step:
                keep_from = i + 1
                break
        if keep_from is None:
            raise ValueError(f"its last {RESUME_SCAN >> 20} MiB hold no event at or before step {step:,}: "
                             "not this run's record")
        head = offsets[keep_from] if keep_from < len(lines) else at
        reached = max((int(v) for v in steps if v is not None and 0 <= v <= total), default=0)
        with store.atomic_target(path) as tmp, open(tmp, "wb") as out:
            f.seek(0)
            shutil.copyfileobj(_Limited(f, head), out, 1 << 20)
            for line, value in zip(lines[keep_from:], steps[keep_from:]):
                if len(line) > MAX_LINE:
                    continue
                if value is None:
                    value = step_of(line)
                if value is not None and 0 <= value <= total:
                    reached = max(reached, int(value))
                if value is not None and not value <= step:  # after the checkpoint (or NaN)
                    continue
                out.write(line + b"\n")
    return reached


class _Limited:
    """The first `n` bytes of a binary file, for shutil.copyfileobj."""

    def __init__(self, f, n: int):
        self.f, self.left = f, n

    def read(self, size: int = -1) -> bytes:
        size = self.left if size < 0 else min(size, self.left)
        data = self.f.read(size) if size > 0 else b""
        self.left -= len(data)
        return data


# How long a run whose summary cannot be written (disk full) keeps trying before it gives up;
# a run that gives up is shown 'crashed' (its process is gone), its folder readable as it was.
END_RETRY_SECONDS = float(os.environ.get("LAB_END_RETRY_SECONDS", "300"))


def _record_end(ctx: RunContext, **fields) -> None:
    """Write the run's end into its summary, retrying while the disk is full: the end is written
    as soon as a write succeeds. Raises the OSError when it never does within END_RETRY_SECONDS."""
    deadline = time.monotonic() + END_RETRY_SECONDS
    wait, told = 0.1, False
    while True:
        try:
            ctx.update_summary(**fields)
            return
        except OSError as e:
            if time.monotonic() + wait > deadline:
                raise
            if not told:
                print(f"lab: {ctx.run.id}: {e.strerror}; retrying for up to {END_RETRY_SECONDS:.0f} s "
                      "to record how the run ended", file=sys.stderr, flush=True)
                told = True
            time.sleep(wait)
            wait = min(wait * 2, 5.0)


def _run_prerequisites(specs, ctx: RunContext, runs_dir) -> None:
    """Run each prerequisite here, its progress and evaluations shown in the outer run's log;
    a stop during one stops the outer run too."""
    for spec in specs:
        ctx.log(f"{spec.name} is needed first and has no completed run in {ctx.path.parent}: training it now")
        pre = run(spec, runs_dir, on_event=_forwarder(ctx, spec.name))
        ctx.update_summary(prerequisites=[*ctx.summary.prerequisites, pre.id])
        if pre.state == RunState.STOPPED:
            ctx.stop_requested = True
            ctx.stop_reason = ctx.stop_reason or f"prerequisite {pre.id} stopped"
            return
        if pre.state != RunState.COMPLETED:
            raise RuntimeError(f"prerequisite {pre.id} ended {pre.state}: {pre.summary.error}")
        ctx.log(f"{spec.name}: trained {pre.id}, final eval return {pre.results.final_eval_return_mean}")
        ctx.prerequisites.append(pre)


def _forwarder(ctx: RunContext, name: str) -> Callable[[dict], None]:
    def forward(e: dict) -> None:
        kind = e["kind"]
        if kind == "progress":
            ctx.emit("progress", phase="prerequisite", method=name, step=e.get("step"), total=e.get("total"),
                     fraction=e.get("fraction"), steps_per_second=e.get("steps_per_second"),
                     eta_seconds=e.get("eta_seconds"), elapsed=e.get("elapsed"))
        elif kind == "eval":
            tag = "final eval" if e.get("final") else "eval"
            ctx.log(f"{name}: step {e.get('step', 0):,} {tag} {e.get('mean', 0):.2f} +/- {e.get('std', 0):.2f}")
        elif kind == "log":
            ctx.log(f"{name}: {e.get('message', '')}", e.get("level", "info"))
        elif kind == "checkpoint":
            ctx.log(f"{name}: checkpoint {e.get('label')} at step {e.get('step', 0):,}")
    return forward


RUN_COMMANDS = ("run", "resume", "explain")  # the lab commands whose process a run's summary names


def stop(target) -> str:
    """Ask a running run (a `store.Run`) or sweep (the `SweepRecord` of its sweep.json) to stop:
    SIGINT to its process. A run checkpoints and ends 'stopped'; a sweep stops each of its runs
    so, then ends 'stopped' itself. Refuses (BadInput, saying why) one that is not running, or
    whose process lab cannot be sure is its own on this machine: the pid, its start time and the
    host must all match, and the process must be a `lab run`, `lab resume` or `lab explain` that
    writes the run's events.jsonl, or a `lab sweep`."""
    if isinstance(target, store.Run):
        # as the folder is now: a caller's copy (the dashboard's, read a second ago) may predate
        # the run's end, and a run that ended is not stopped, nor said to be gone or crashed
        target = store.Run.load(target.path)
        name, state, identity = target.id, target.state, target.summary
        writes, commands, record = target.events_path, RUN_COMMANDS, "summary"
        then = "it checkpoints, then ends 'stopped'"
    else:  # a sweep: its own process, named in its sweep.json
        name, state = f"sweep {target.id}", target.live_state
        identity = Summary(pid=target.pid, pid_start=target.pid_start, host=target.host)
        writes, commands, record = None, ("sweep",), store.SWEEP_JSON
        then = "each of its runs checkpoints and ends 'stopped', then the sweep does"
    if state != RunState.RUNNING:
        raise BadInput(f"{name} is {state}, not running")
    why = store.signal_refusal(identity, writes=writes, commands=commands)
    if why is not None:
        raise BadInput(f"not stopping {name}: {why.replace('its summary', f'its {record}')}")
    try:
        os.kill(identity.pid, signal.SIGINT)
    except ProcessLookupError:
        raise BadInput(f"not stopping {name}: its process {identity.pid} is gone") from None
    except PermissionError:
        raise BadInput(f"not stopping {name}: no permission to signal process {identity.pid}") from None
    return f"stopping {name}: {then}"


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
    return spawn(ref, args, runs_dir, nice).pid


def _parent_death_signal():
    """Linux's prctl, to ask for a signal when the process that started this one dies; None elsewhere.
    Looked up in the parent: the child, between fork and exec, only calls it."""
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


PR_SET_PDEATHSIG = 1


def spawn(ref: str, args: list[str] = (), runs_dir=None, nice: int | None = None, log_path=None, json: bool = True,
          stop_with_parent: bool = False, data: bool = False, command: str = "run"):
    """`start_detached`, returning the Popen (its parent can tell when it exits, and reaps it).
    `command`: 'run' (`lab run REF ARGS...`) or 'sweep' (`lab sweep REF ARGS...`, whose process
    starts its runs in turn, `stop` stops it and its runs alike). Output (JSON lines, or plain lines
    with json=False) goes to `log_path`, default the runs root's .launch.log. BadInput when the
    runs root cannot be written. `stop_with_parent`: the run gets SIGTERM (it checkpoints and ends
    'stopped') if this process dies first, even by SIGKILL (a sweep's trials; Linux only): a run
    the dashboard started outlives the dashboard. `data`: REF and ARGS were read from a folder (a
    sweep's trials): the run imports only modules this process allows, which it is given
    explicitly, as any run this starts (`lab.plugins.child_args`)."""
    import subprocess

    niceness = RUN_NICE if nice is None else nice
    prctl, parent = (_parent_death_signal() if stop_with_parent else None), os.getpid()

    def in_child() -> None:
        if niceness:
            _lower_priority(niceness)
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
            if os.getppid() != parent:  # it died before the prctl
                os.kill(os.getpid(), signal.SIGTERM)

    from lab import plugins

    cmd = plugins.lab_command(command, str(ref), *args, *(["--spec-is-data"] if data else []), *plugins.child_args(),
                              *(["--json"] if json else []))
    if runs_dir is not None:
        cmd += ["--runs-dir", str(runs_dir)]
    root = store.runs_root(runs_dir)
    try:
        root.mkdir(parents=True, exist_ok=True)
        if log_path is not None:
            Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        log = open(log_path or root / ".launch.log", "ab")
    except OSError as e:  # read-only, full, or a file in the way: the run could not write its folder either
        raise BadInput(f"cannot start a {command} in {root}: {e.strerror}; choose a writable folder with --runs-dir or "
                       "LAB_RUNS_DIR") from None
    with log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                                preexec_fn=in_child if niceness or prctl is not None else None)
    return proc
