"""The ray backend: each run of a sweep is a Ray Tune trial.

The sweep's driver (lab.sweep.runner) still asks Optuna for settings and decides pruning; Tune
places and runs the trials. A Tune searcher hands Tune the runs the driver queues; each trial
runs the same `lab run` a local sweep would, as a child process on its Ray node, writing its run
folder in the runs root (on a cluster of several machines that folder must be shared storage, as
Tune's own storage is). To stop or prune a run the driver writes a signal file in the sweep
folder; the trial passes the signal on to its `lab run`.

Ray on these machines must listen on the loopback only (../shared/RAY.md): lab.ray_local sets
RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 and RAY_USAGE_STATS_ENABLED=0 before importing Ray, starts its
own Ray with `address="local"` when no address is given, and stops only what it started.
"""

from __future__ import annotations

import os
import queue
import signal
import threading
import time
from pathlib import Path

from lab.errors import one_line
from lab.ray_local import RAY_ENV

os.environ.update(RAY_ENV)  # before Ray is imported: this module is imported only for the ray backend

try:
    from ray.tune.search import Searcher
except ImportError:  # the ray extra is missing: RayExecutor says so
    Searcher = object


def _trainable(config: dict) -> None:
    """One run as a Tune trial: `lab run` as a child, its signals passed on, its exit reported."""
    import subprocess

    from ray import tune

    job = config["job"]
    Path(job["log"]).parent.mkdir(parents=True, exist_ok=True)
    with open(job["log"], "ab") as log:
        from lab.plugins import lab_command

        proc = subprocess.Popen(lab_command("run", job["ref"], *job["args"], "--runs-dir", job["runs_dir"]),
                                stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"}, cwd=job["cwd"])
    flag, sent = Path(job["flag"]), 0
    try:
        while proc.poll() is None:
            if flag.exists():
                sigs = [int(x) for x in flag.read_text().split()]
                for sig in sigs[sent:]:
                    os.kill(proc.pid, sig)
                sent = len(sigs)
            time.sleep(0.2)
    except BaseException:  # Tune stopping the trial: the run stops as on Ctrl-C
        os.kill(proc.pid, signal.SIGINT)
        proc.wait()
        raise
    tune.report({"returncode": proc.returncode})


_EXECUTORS: dict[int, RayExecutor] = {}  # Tune pickles its searcher: it finds its executor by key


class QueuedRuns(Searcher):
    """Tune's searcher: the runs the driver queued, one trial each (a module-level class, so that
    pickling it does not take the executor along)."""

    def __init__(self, key: int):
        super().__init__()
        self.key = key

    def suggest(self, trial_id):
        executor = _EXECUTORS[self.key]
        try:
            job = executor.jobs.get_nowait()
        except queue.Empty:
            return Searcher.FINISHED if executor.finished else None
        executor.trial_runs[trial_id] = job["run"]
        return {"job": job}

    def save(self, checkpoint_path: str) -> None:  # the sweep's own record is sweep.json
        pass

    def restore(self, checkpoint_path: str) -> None:
        pass

    def on_trial_complete(self, trial_id, result=None, error=False):
        executor = _EXECUTORS[self.key]
        run = executor.trial_runs.get(trial_id)
        if run is not None:
            executor.done[run] = (result or {}).get("returncode", 1 if error else 0)


class RayHandle:
    def __init__(self, executor: RayExecutor, run_id: str, flag: Path):
        self.executor, self.run_id, self.flag = executor, run_id, flag

    def poll(self) -> int | None:
        if self.run_id in self.executor.done:
            return self.executor.done[self.run_id]
        if self.executor.error is not None:  # Tune itself died: the run cannot be followed further
            return -1
        return None

    def signal(self, sig: int) -> None:
        with open(self.flag, "a") as f:
            f.write(f"{int(sig)}\n")


class RayExecutor:
    name = "ray"

    def __init__(self, folder, workers: int, address: str | None):
        from lab.ray_local import connect

        self.connection = connect(address, workers, "sweep.address", "sweep.backend")
        from ray import tune

        self.folder = folder
        self.jobs: queue.Queue = queue.Queue()
        self.done: dict[str, int] = {}
        self.trial_runs: dict[str, str] = {}
        self.finished = False
        self.error: str | None = None
        (folder.path / "signals").mkdir(exist_ok=True)
        _EXECUTORS[id(self)] = self
        self.tuner = tune.Tuner(
            tune.with_resources(_trainable, {"cpu": 1}),
            tune_config=tune.TuneConfig(search_alg=QueuedRuns(id(self)), num_samples=-1, max_concurrent_trials=workers),
            run_config=tune.RunConfig(name="tune", storage_path=str(folder.path.resolve()), verbose=0),
        )
        self.thread = threading.Thread(target=self._fit, name="lab-ray-tune", daemon=True)
        self.thread.start()

    def _fit(self) -> None:
        try:
            self.tuner.fit()
        except Exception as e:  # recorded; the driver sees its runs end
            self.error = f"{type(e).__name__}: {one_line(e)}"

    def start(self, ref: str, args: list[str], runs_dir, log_path: Path) -> RayHandle:
        from lab import store

        run_id = args[args.index("--run-id") + 1]
        flag = self.folder.path / "signals" / run_id
        from lab.plugins import child_args

        # a trial's settings are the sweep folder's data: the run gets this sweep's allowance, explicitly
        args = [*args, "--spec-is-data", *child_args()]
        self.jobs.put({"ref": ref, "args": list(args), "runs_dir": str(store.runs_root(runs_dir).resolve()),
                       "log": str(Path(log_path).resolve()), "flag": str(flag), "run": run_id, "cwd": os.getcwd()})
        return RayHandle(self, run_id, flag)

    def close(self) -> None:
        if self.finished:
            return
        self.finished = True
        self.thread.join(timeout=120)
        _EXECUTORS.pop(id(self), None)
        self.connection.close()
