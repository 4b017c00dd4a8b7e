"""Running a sweep: ask the study for settings, run each setting's seeds, prune, record.

One driver for every backend. It asks the Optuna study for a trial's settings, starts one run per
seed (`lab run` with --set overrides, a run id chosen here, one torch thread), follows each run's
events.jsonl for its evaluations (the pruner's intermediate values) and progress, and records the
end of each run from its summary. Backends differ only in where a run's process lives:

- local: child processes on this machine, `workers` at a time;
- ray: Ray Tune trials (`lab.sweep.ray_backend`), each running the same `lab run` on a Ray node;
- population: every trial x seed as members of one population run on the torch engine.

Ctrl-C (or SIGTERM) stops every run cleanly (each checkpoints and ends 'stopped') and the sweep
ends 'stopped'; `resume` runs again only what did not finish. A run killed outright is 'crashed',
its trial too, and the sweep goes on.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from lab import store
from lab.errors import BadInput
from lab.events import EventTail
from lab.summary import RunState
from lab.sweep.record import (MAX_STUDY_TRIALS, PENDING, PRUNED, UNFINISHED, Job, SweepFolder, SweepRecord, Trial,
                              check_fits, finite)
from lab.sweep.spec import SweepSpec, load_sweep, overrides_for

POLL_SECONDS = 0.25
WRITE_SECONDS = 1.0


# ------------------------------------------------------------------------------ executors

class LocalProcess:
    """A run as a child process of this one (its own session: a terminal's Ctrl-C reaches the
    sweep, which stops its runs itself)."""

    def __init__(self, ref: str, args: list[str], runs_dir, log_path: Path):
        from lab.launch import spawn

        # a sweep killed outright (SIGKILL) stops its runs too, rather than leave them going unrecorded
        # its settings come from a sweep folder (sweep.json, sweep.toml): data, given this sweep's allowance
        self.proc = spawn(ref, args, runs_dir, nice=0, log_path=log_path, json=False, stop_with_parent=True, data=True)
        self.exited = _pidfd(self.proc.pid)  # readable once it exits (the driver waits on it); None: no pidfd

    def poll(self) -> int | None:
        rc = self.proc.poll()
        if rc is not None and self.exited is not None:
            os.close(self.exited)
            self.exited = None
        return rc

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, sig)


def _pidfd(pid: int) -> int | None:
    """A file descriptor that turns readable when process `pid` exits (Linux 5.3+); None elsewhere."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


class LocalExecutor:
    name = "local"

    def start(self, ref: str, args: list[str], runs_dir, log_path: Path):
        return LocalProcess(ref, args, runs_dir, log_path)

    def close(self) -> None:
        pass


# ------------------------------------------------------------------------------ the driver

class _Signals:
    """SIGINT/SIGTERM while a sweep runs: stop its runs cleanly; the caller's handlers come back.
    SIGHUP too: its terminal was closed, and its runs (each in a session of its own) would go on
    without it, the sweep left 'running'."""

    def __init__(self, on_signal: Callable[[str], None]):
        self.on_signal, self.previous = on_signal, {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                self.previous[sig] = signal.signal(sig, lambda s, f: self.on_signal(signal.Signals(s).name))
        return self

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


class Driver:
    def __init__(self, spec: SweepSpec, folder: SweepFolder, record: SweepRecord, runs_dir, executor,
                 on_change: Callable[[SweepRecord], None] | None = None, workers: int | None = None):
        from lab.spec import find_experiment

        self.spec, self.folder, self.record, self.runs_dir = spec, folder, record, runs_dir
        self.executor, self.on_change = executor, on_change
        self.workers = workers or spec.sweep.workers
        self.ref = str(find_experiment(spec.sweep.experiment).resolve())
        self.handles: dict[str, object] = {}  # run id -> process handle
        self.tails: dict[str, EventTail] = {}
        self.pruning: set[str] = set()  # runs asked to stop by the pruner
        self.stopping: str | None = None
        self._written = 0.0
        self._closed = {t.number for t in record.trials if t.finished}

    @functools.cached_property
    def study(self):
        """The Optuna study, opened on first use (0.7 s): a population run starts before it."""
        from lab.sweep.study import Study

        return Study(self.spec, self.folder.path)

    # --- the loop
    def run(self) -> SweepRecord:
        with _Signals(self._stop):
            try:
                while True:
                    if self.stopping:
                        self._stop_runs()
                    else:
                        self._fill()
                    changed = self._poll()
                    if not self.handles and (self.stopping or not self._has_work()):
                        break
                    self._write(force=changed)
                    self._wait(POLL_SECONDS)
            except BaseException as e:
                self._abandon(e)
                raise
        _ = self.study  # opened now if never asked (stopped before starting): every sweep folder has its study
        r = self.record
        if self.stopping:
            for trial in r.trials:  # a trial some of whose seeds never started: stopped with the sweep, not running
                if trial.state == RunState.RUNNING and not any(j.state == RunState.RUNNING for j in trial.jobs):
                    trial.state = RunState.STOPPED
        r.state = RunState.STOPPED if self.stopping else RunState.COMPLETED
        r.ended = time.time()
        self._write(force=True)
        self.executor.close()
        return r

    def _wait(self, seconds: float) -> None:
        """Until the next poll: `seconds`, or less when a run's process exits first, so that
        its end is seen at once (a run on Ray is polled only)."""
        fds = [h.exited for h in self.handles.values() if getattr(h, "exited", None) is not None]
        if not fds:
            time.sleep(seconds)
            return
        exits = select.poll()  # not select.select: any fd number
        for fd in fds:
            exits.register(fd, select.POLLIN)
        exits.poll(seconds * 1000)

    def _stop(self, why: str) -> None:
        """A signal to the sweep: the first stops every run (in the loop, not in the handler);
        later ones are passed on to the runs (a run's third signal stops it at once)."""
        if self.stopping is None:
            self.stopping = why
            self._log(f"{why}: stopping every run (each checkpoints and ends 'stopped')")
            return
        for h in list(self.handles.values()):
            h.signal(signal.SIGINT)

    def _stop_runs(self) -> None:
        for run_id, h in self.handles.items():
            if run_id not in self.pruning and not getattr(h, "asked_to_stop", False):
                h.signal(signal.SIGINT)
                h.asked_to_stop = True

    def _abandon(self, error: BaseException) -> None:
        """The driver itself failed: stop the runs it started, record the sweep failed."""
        for h in self.handles.values():
            h.signal(signal.SIGINT)
        self.record.state, self.record.error = RunState.FAILED, f"{type(error).__name__}: {error}"
        self.record.ended = time.time()
        with contextlib.suppress(OSError):
            self.folder.write(self.record)

    def _has_work(self) -> bool:
        return any(j.state == PENDING for t in self.record.trials for j in t.jobs) or self._can_ask()

    def _can_ask(self) -> bool:
        return len(self.record.trials) < self.record.total_trials

    def _fill(self) -> None:
        while len(self.handles) < self.workers:
            found = next(((t, j) for t in self.record.trials for j in t.jobs if j.state == PENDING), None)
            if found is None:
                if not self._can_ask():
                    return
                found = self._new_trial()
                if found is None:
                    return
            self._start(*found)

    def _new_trial(self):
        # a grid in file order (each combination asked for by name); random and tpe: the sampler's
        grid = self.spec.sweep.method == "grid"
        number, params = self.study.ask(self.spec.combination(len(self.record.trials)) if grid else None)
        trial = Trial(len(self.record.trials), params, [], study_number=number)
        trial.jobs = [Job(seed, store.new_run_id(self.record.experiment)) for seed in self.spec.sweep.seeds]
        self.record.trials.append(trial)
        self._log(f"trial {trial.number}: {_params_text(params)}")
        return trial, trial.jobs[0]

    def _start(self, trial: Trial, job: Job) -> None:
        if trial.study_number is None:  # a rerun: ask for the same settings again
            trial.study_number, _ = self.study.ask(trial.params)
        args = overrides_for(trial.params) + ["--seed", str(job.seed), "--run-id", job.run, "--sweep", self.record.id]
        if "threads" not in trial.params:
            args += ["--set", "threads=1"]
        self.handles[job.run] = self.executor.start(self.ref, args, self.runs_dir, self.folder.log(job.run))
        self.tails[job.run] = EventTail(store.runs_root(self.runs_dir) / job.run / store.EVENTS)
        job.state, trial.state = RunState.RUNNING, RunState.RUNNING
        self._write(force=True)

    # --- following runs
    def _poll(self) -> bool:
        changed = False
        for trial in self.record.trials:
            for job in trial.jobs:
                if job.run in self.handles:
                    changed |= self._follow(job)
            if trial.state == RunState.RUNNING:
                changed |= self._prune(trial)
            if trial.number not in self._closed and trial.state in (RunState.RUNNING, PRUNED) and not any(
                    j.state in (PENDING, RunState.RUNNING) for j in trial.jobs):
                self._close(trial)
                changed = True
        return changed

    def _follow(self, job: Job) -> bool:
        changed = False
        for e in self.tails[job.run].read():
            kind = e.get("kind")
            if kind == "eval" and not e.get("final") and isinstance(e.get("mean"), (int, float)):
                job.evals.append(float(e["mean"]))
                changed = True
            elif kind == "progress" and e.get("phase") != "prerequisite":
                job.fraction = float(e.get("fraction") or 0.0)
                job.steps = int(e.get("step") or 0)
        rc = self.handles[job.run].poll()
        if rc is None:
            return changed
        del self.handles[job.run]
        for e in self.tails.pop(job.run).read():  # what it wrote last
            if e.get("kind") == "eval" and not e.get("final") and isinstance(e.get("mean"), (int, float)):
                job.evals.append(float(e["mean"]))
        self._ended(job, rc)
        return True

    def _ended(self, job: Job, rc: int) -> None:
        path = store.runs_root(self.runs_dir) / job.run
        if not (path / store.SUMMARY).exists():  # never started: stopped while starting, bad input, an import error
            if self.stopping:
                job.state = RunState.STOPPED
                return
            job.state = RunState.FAILED
            self._log(f"run {job.run} did not start (exit {rc}); its output: {self.folder.log(job.run)}")
            return
        run = store.Run.load(path)
        state = run.state
        if state == RunState.RUNNING:  # its process is gone without recording an end
            state = RunState.CRASHED
        job.state = PRUNED if (state == RunState.STOPPED and job.run in self.pruning) else state
        job.value = finite(run.results.get(self.spec.sweep.metric))
        job.steps = run.results.total_steps or run.summary.progress.step or job.steps
        job.fraction = run.summary.progress.fraction or job.fraction
        self.pruning.discard(job.run)
        self._log(f"run {job.run} (seed {job.seed}) {job.state}" + (f": {self.spec.sweep.metric} {job.value:.4g}"
                                                                     if job.value is not None else ""))

    def _prune(self, trial: Trial) -> bool:
        """Report the trial's evaluations as they complete across its started runs (their mean at
        each index); prune it when the study says so."""
        if self.spec.sweep.pruner == "none" or self.stopping:
            return False
        started = [j for j in trial.jobs if j.state != PENDING]
        changed = False
        while started:
            k = trial.reported + 1
            have = [j.evals[k - 1] for j in started if len(j.evals) >= k]
            waiting = [j for j in started if len(j.evals) < k and j.state == RunState.RUNNING]
            if waiting or not have:
                break
            trial.reported = k
            changed = True
            if self.study.report(trial.study_number, k, sum(have) / len(have)):
                trial.state, trial.pruned_at = PRUNED, k
                self._log(f"trial {trial.number} pruned at evaluation {k} ({sum(have) / len(have):.4g})")
                from lab.launch import PRUNE_SIGNAL

                for j in trial.jobs:
                    if j.state == PENDING:
                        j.state = PRUNED
                    elif j.run in self.handles:
                        self.pruning.add(j.run)
                        self.handles[j.run].signal(PRUNE_SIGNAL)
                break
        return changed

    def _close(self, trial: Trial) -> None:
        self._closed.add(trial.number)
        trial.close()
        if trial.study_number is not None:
            self.study.tell(trial.study_number, trial.value, trial.state)
        value = "" if trial.value is None else f": {self.spec.sweep.metric} {trial.value:.4g} +/- {trial.std:.3g}"
        self._log(f"trial {trial.number} {trial.state}{value}")

    # --- recording
    def _write(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._written < WRITE_SECONDS:
            return
        self._written = now
        self.folder.write(self.record)
        if self.on_change is not None:
            self.on_change(self.record)

    def _log(self, message: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {message}\n"
        with contextlib.suppress(OSError), open(self.folder.path / "sweep.log", "a") as f:
            f.write(line)
        if self.on_log is not None:
            self.on_log(message)

    on_log: Callable[[str], None] | None = None


def _params_text(params: dict) -> str:
    from lab.display import inline_toml

    return ", ".join(f"{k}={inline_toml(v)}" for k, v in params.items())


# ------------------------------------------------------------------------------ population backend

class PopulationDriver(Driver):
    """Every trial x seed as a member of one population run: member m = trial m // S, seed index
    m % S (S seeds), with seed `seeds[0] + m` (a population numbers its members' seeds)."""

    def _fill(self) -> None:
        r, s = self.record, self.spec.sweep
        if not r.trials:
            if s.method == "grid":  # the settings are the spec's: the study is asked once the run has started
                r.trials = [Trial(i, params, []) for i, params in enumerate(self.spec.grid())]
            else:
                for _ in range(r.total_trials):
                    number, params = self.study.ask()
                    r.trials.append(Trial(len(r.trials), params, [], study_number=number))
        pending = [j for t in r.trials for j in t.jobs if j.state == PENDING]
        if self.handles or (r.trials[0].jobs and not pending):
            return
        run_id = store.new_run_id(r.experiment)
        n = len(r.trials) * len(s.seeds)
        for i, t in enumerate(r.trials):
            first = s.seeds[0] + i * len(s.seeds)
            t.jobs = [Job(first + j, run_id, state=RunState.RUNNING) for j in range(len(s.seeds))]
            t.state = RunState.RUNNING
        args = ["--set", f"population={n}", "--seed", str(s.seeds[0]), "--run-id", run_id, "--sweep", r.id]
        from lab.display import inline_toml

        member_settings, members = _member_settings(self.spec), {}
        for key in self.spec.sweep.params:
            values = [t.params[key] for t in r.trials for _ in s.seeds]
            shared = all(v == values[0] for v in values)
            if shared and (not key.startswith("agent.") or key.removeprefix("agent.") not in member_settings):
                args += ["--set", f"{key}={inline_toml(values[0])}"]  # the same for all: the run's own setting
            else:
                members[key] = values
        if members:  # one value per member: a file in the sweep's folder (too long for a command line)
            path = self.folder.path / f"{run_id}.members.json"
            store.write_atomic(path, json.dumps(members))
            args += ["--members", str(path)]
        self._log(f"one population run {run_id}: {len(r.trials)} settings x {len(s.seeds)} seeds = {n} members")
        self.handles[run_id] = self.executor.start(self.ref, args, self.runs_dir, self.folder.log(run_id))
        self.tails[run_id] = EventTail(store.runs_root(self.runs_dir) / run_id / store.EVENTS)
        for t in r.trials:  # a grid's (or a rerun's) Optuna trials, in trial order, while the run starts
            if t.study_number is None:
                t.study_number, _ = self.study.ask(t.params)
        self._write(force=True)

    def _has_work(self) -> bool:
        return any(j.state == PENDING for t in self.record.trials for j in t.jobs)

    def _poll(self) -> bool:
        if not self.handles:
            return False
        run_id = next(iter(self.handles))
        jobs = [j for t in self.record.trials for j in t.jobs]
        for e in self.tails[run_id].read():
            kind = e.get("kind")
            if kind == "eval" and not e.get("final") and isinstance(e.get("members"), list):
                for j, v in zip(jobs, e["members"]):
                    j.evals.append(float(v))
            elif kind == "progress":
                for j in jobs:
                    j.fraction, j.steps = float(e.get("fraction") or 0.0), int(e.get("step") or 0)
        rc = self.handles[run_id].poll()
        if rc is None:
            return False
        del self.handles[run_id]
        self.tails.pop(run_id)
        path = store.runs_root(self.runs_dir) / run_id
        run = store.Run.load(path) if (path / store.SUMMARY).exists() else None
        if run is None:  # it never started: stopped while starting (as in Driver._ended), bad input, an import error
            state = RunState.STOPPED if self.stopping else RunState.FAILED
        else:
            state = RunState.CRASHED if run.state == RunState.RUNNING else run.state
        members = (run.results.members or []) if run is not None else []
        metric = self.spec.sweep.metric
        for m, j in enumerate(jobs):
            j.state = state
            own = members[m] if m < len(members) and isinstance(members[m], dict) else {}
            j.value = finite(own.get(metric))
            if run is not None:
                j.steps = run.results.total_steps or run.summary.progress.step or j.steps
        self._log(f"population run {run_id} {state}")
        for t in self.record.trials:
            self._close(t)
        return True


def _check_population_run(spec: SweepSpec, runs_dir) -> None:
    """The population run the sweep will start passes `lab run`'s checks of the machine (memory
    for members x environments x buffers) before the sweep's folder exists: BadInput if not."""
    from lab.launch import prepare
    from lab.spec import load_experiment

    s = spec.sweep
    shared = {key: values[0] for key, values in s.params.items()
              if isinstance(values, list) and all(v == values[0] for v in values)}
    n = spec.trial_count() * len(s.seeds)
    run_spec = load_experiment(s.experiment, {**shared, "population": n, "seed": s.seeds[0]})
    try:
        prepare(run_spec, runs_dir)
    except BadInput as e:
        why = str(e).split(": ", 1)[-1].removeprefix("population: ")
        raise BadInput(f"{spec.source}: sweep: its population run of {n:,} members ({spec.trial_count():,} settings x "
                       f"{len(s.seeds)} seeds) does not fit: {why}; or fewer trials or seeds") from None


def _member_settings(spec: SweepSpec) -> tuple[str, ...]:
    from lab.spec import load_experiment

    return load_experiment(spec.sweep.experiment).member_setting_names


# ------------------------------------------------------------------------------ entry points

def executor_for(backend: str, spec: SweepSpec, folder: SweepFolder, workers: int, address: str | None):
    if backend == "ray":
        from lab.sweep.ray_backend import RayExecutor

        return RayExecutor(folder, workers, address)
    return LocalExecutor()


def check_backend(backend: str) -> None:
    if backend == "ray":
        import importlib.util

        # Ray reads its loopback-only settings when it is first imported, and looking for ray.tune
        # imports ray: they go into the environment first (lab.sweep.ray_backend's RAY_ENV)
        os.environ.update({"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"})
        if importlib.util.find_spec("ray") is None or importlib.util.find_spec("ray.tune") is None:
            raise BadInput("sweep.backend: 'ray' needs Ray Tune, which is not installed; "
                           "pip install -e '.[ray]' (or use backend = \"local\")")


def start(spec: SweepSpec, runs_dir=None, backend: str | None = None, workers: int | None = None,
          address: str | None = None, on_change=None, on_log=None) -> SweepRecord:
    """Run a sweep to its end in this process (its runs are child processes, or Ray trials).
    A signal from the moment it starts stops it cleanly (before its loop too: Ray takes seconds)."""
    early: list[str] = []
    with _Signals(early.append):
        return _start(spec, runs_dir, backend, workers, address, on_change, on_log, early)


def _start(spec, runs_dir, backend, workers, address, on_change, on_log, early) -> SweepRecord:
    from lab.spec import validate  # noqa: F401  (the experiment was validated with the sweep)
    from lab.sweep.record import SWEEP_TOML

    spec, backend, workers, address = _resolved(spec, backend, workers, address)
    check_backend(backend)
    if backend == "population":
        _check_population_run(spec, runs_dir)
    root = store.runs_root(runs_dir)
    try:
        folder = SweepFolder.create(root, spec.name)
        store.write_atomic(folder.path / SWEEP_TOML, spec.to_toml())
    except OSError as e:
        raise BadInput(f"cannot start a sweep in {root}: {e.strerror}; choose another folder with --runs-dir") from None
    with _writer_lock(folder):
        experiment = _experiment_name(spec)
        record = SweepRecord(id=folder.id, name=spec.name, experiment=experiment, metric=spec.sweep.metric,
                             direction=spec.sweep.direction, method=spec.sweep.method, backend=backend,
                             seeds=list(spec.sweep.seeds), total_trials=spec.trial_count(), **store.process_identity())
        folder.write(record)
        return _drive(spec, folder, record, runs_dir, backend, workers, address, on_change, on_log, early)


def _writer_lock(folder: SweepFolder) -> contextlib.ExitStack:
    """Hold the sweep folder's writer lock (lab.store.writer_lock): one `lab sweep` writes a
    sweep at a time; a second is refused in one line before it reads or writes anything."""
    held = contextlib.ExitStack()
    try:
        held.enter_context(store.writer_lock(folder.path, f"sweep {folder.id}"))
    except OSError as e:
        raise BadInput(f"cannot write sweep {folder.id}: {e.strerror}") from None
    return held


def resume(ref: str, runs_dir=None, workers: int | None = None, address: str | None = None,
           on_change=None, on_log=None) -> SweepRecord:
    """Continue a stopped (or crashed) sweep: its unfinished trials run again, keeping the runs of
    theirs that completed; then any trials it had not reached."""
    from lab.plugins import folder_data
    from lab.sweep.record import resolve_sweep

    # a link in it (a study.db, sweep.log or logs/ of another sweep's) is never written through
    folder = resolve_sweep(ref, runs_dir)
    why = store.write_refusal(folder.path, f"cannot resume sweep {folder.id}")
    if why is not None:
        raise BadInput(why)
    early: list[str] = []
    with _Signals(early.append), folder_data():  # everything it reads came from the sweep's folder
        return _resume(ref, runs_dir, workers, address, on_change, on_log, early)


def _resume(ref, runs_dir, workers, address, on_change, on_log, early) -> SweepRecord:
    from lab.sweep.record import resolve_sweep

    folder = resolve_sweep(ref, runs_dir)
    with _writer_lock(folder):  # taken before reading: a second --resume of it is refused here
        record = folder.read()  # sweep.json and study.db checked: a broken one is refused in one line
        if record.live_state == RunState.RUNNING:
            raise BadInput(f"sweep {folder.id} is still running (pid {record.pid}); stop it first (Ctrl-C in its terminal)")
        spec = load_sweep(folder.toml_path)
        check_fits(record, spec)
        asks = record.asked() + sum(t.state in UNFINISHED for t in record.trials) + max(
            record.total_trials - len(record.trials), 0)
        if asks > MAX_STUDY_TRIALS:  # a study lab would then call corrupt (lab.sweep.record.check_study)
            raise BadInput(f"sweep {folder.id}: resuming it would make {asks:,} Optuna trials in its study, more than "
                           f"the {MAX_STUDY_TRIALS:,} lab keeps in one; start a new sweep instead")
        backend = record.backend
        spec, backend, workers, address = _resolved(spec, backend, workers, address)
        check_backend(backend)
        from lab.sweep.study import open_study

        study = open_study(spec, folder)
        again = 0
        for trial in record.trials:
            if trial.state not in UNFINISHED:
                continue
            again += 1
            if trial.study_number is not None:
                study.tell(trial.study_number, None, RunState.FAILED)
            trial.study_number, trial.state, trial.value, trial.std, trial.reported = None, PENDING, None, None, 0
            for job in trial.jobs:
                if job.state != RunState.COMPLETED or backend == "population":
                    job.run, job.state, job.value, job.evals, job.steps, job.fraction = (
                        store.new_run_id(record.experiment), PENDING, None, [], 0, 0.0)
        record.state, record.ended, record.error = RunState.RUNNING, None, None
        record.__dict__.update(store.process_identity())
        folder.write(record)
        if on_log is not None:
            on_log(f"resuming {folder.id}: {again} unfinished trial(s) run again, "
                   f"{max(record.total_trials - len(record.trials), 0)} not started yet")
        return _drive(spec, folder, record, runs_dir, backend, workers, address, on_change, on_log, early)


def _resolved(spec, backend, workers, address):
    s = spec.sweep
    backend = backend or s.backend
    if backend != s.backend:  # the command line chose another backend: the file's checks apply to it too
        from lab.sweep.spec import load_sweep_raw

        raw = spec.model_dump(mode="json", exclude_none=True, by_alias=True)
        raw["sweep"]["backend"] = backend
        if backend != "ray":
            raw["sweep"].pop("address", None)
        spec = load_sweep_raw(raw, f"{spec.source} (--backend {backend})")
    if workers is not None and workers < 1:
        raise BadInput(f"--workers {workers}: must be at least 1")
    if address is not None and backend != "ray":  # (not a sweep that ignores it: it would run here, not on the cluster)
        raise BadInput(f"--address {address}: only the ray backend joins a cluster, and this sweep's backend is "
                       f"{backend!r}; add --backend ray, or remove --address")
    return spec, backend, workers or s.workers, address or s.address


def _experiment_name(spec: SweepSpec) -> str:
    from lab.files import read_toml
    from lab.spec import find_experiment

    path = find_experiment(spec.sweep.experiment)
    return read_toml(path).get("name", path.stem)


def _drive(spec, folder, record, runs_dir, backend, workers, address, on_change, on_log, early) -> SweepRecord:
    try:
        executor = executor_for(backend, spec, folder, workers, address)
    except BaseException as e:  # Ray would not start or join
        if not any(j.state != PENDING for t in record.trials for j in t.jobs) and record.state == RunState.RUNNING \
                and not record.trials:
            import shutil

            shutil.rmtree(folder.path, ignore_errors=True)  # a new sweep that never started: no folder stays
        else:  # a resumed sweep keeps its folder, and says why it could not go on
            record.state, record.error, record.ended = RunState.FAILED, f"{type(e).__name__}: {e}", time.time()
            folder.write(record)
        raise
    cls = PopulationDriver if backend == "population" else Driver
    driver = cls(spec, folder, record, runs_dir, executor, on_change, workers)
    driver.on_log = on_log
    if early:  # a signal came while it was getting ready: it stops before starting anything
        driver._stop(early[0])
    try:
        return driver.run()
    finally:
        executor.close()
        sys.stdout.flush()
