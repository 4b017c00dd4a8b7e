"""The ray backend: each run of a sweep is a Ray Tune trial.

The sweep's driver (lab.sweep.runner) still asks Optuna for settings and decides pruning; Tune
places and runs the trials. A Tune searcher hands Tune the runs the driver queues; each trial
runs the same `lab run` a local sweep would, as a child process on its Ray node, writing its run
folder in the runs root (on a cluster of several machines that folder must be shared storage, as
Tune's own storage is). To stop or prune a run the driver writes a signal file in the sweep
folder; the trial passes the signal on to its `lab run`.

Ray on these machines must listen on the loopback only (../shared/RAY.md): lab sets
RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 and RAY_USAGE_STATS_ENABLED=0 before importing Ray, starts its
own Ray with `address="local"` when no address is given, and stops only what it started.
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path

from lab.errors import BadInput, one_line

# loopback only, no usage reports; Tune's console output off (lab draws its own table)
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0", "RAY_AIR_NEW_OUTPUT": "0"}
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


# Joining a cluster: Ray itself retries an address that does not answer for minutes, and its C++
# client prints a warning to our stderr every second or five while it does (before ray.init lets
# its log settings apply). So lab asks the address itself first, in two steps: before Ray is
# imported, whether a gRPC server answers there at all (Ray's GCS and its ray:// client server
# are gRPC servers); then, with Ray's own description of its GCS, whether that server is a GCS.
# Ray is given the address only then, and whatever it says is Ray's answer.
PROBE_SECONDS = 3.0  # for the TCP connection, the gRPC server's first answer, and the GCS's reply
JOIN_SECONDS = float(os.environ.get("LAB_RAY_JOIN_SECONDS", "15"))  # ray.init once a GCS answers there

# HTTP/2 (RFC 9113, 3.4): the client's preface is this string and a SETTINGS frame; a server's own
# preface is a SETTINGS frame (a 9-byte frame header: length, type 0x4, flags, stream 0)
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes.fromhex("000000" "04" "00" "00000000")
_H2_SETTINGS = 0x4


def _cannot_join(address: str, why: str) -> BadInput:
    return BadInput(f"sweep.address: cannot join Ray at {address}: {why}; check the address with "
                    "`ray status` (or leave it out, and lab starts a Ray of its own)")


def _tls() -> bool:
    return os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true")  # as ray._private.grpc_utils reads it


def _check_answers(address: str) -> None:
    """BadInput (one line naming the address) unless a gRPC server answers at `address` (host:port,
    or ray://host:port): a TCP connection within PROBE_SECONDS, then the server's HTTP/2 preface
    within PROBE_SECONDS more. With RAY_USE_TLS on only the connection is checked. "auto" is Ray's
    to find."""
    import socket

    if address == "auto":
        return
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise BadInput(f"sweep.address: {address!r} is not host:port (e.g. 127.0.0.1:6379) or ray://host:port")
    try:
        conn = socket.create_connection((host, int(port)), timeout=PROBE_SECONDS)
    except OSError as e:
        why = "no answer" if isinstance(e, TimeoutError) else e.strerror or type(e).__name__
        raise _cannot_join(address, why.lower()) from None
    answer = b""
    with conn:
        if _tls():  # a TLS server waits for a TLS hello, not for HTTP/2 in the clear
            return
        try:
            conn.sendall(_H2_PREFACE)
            deadline = time.monotonic() + PROBE_SECONDS
            while len(answer) < 9 and (left := deadline - time.monotonic()) > 0:
                conn.settimeout(left)
                chunk = conn.recv(9 - len(answer))
                if not chunk:
                    break
                answer += chunk
        except TimeoutError:
            pass
        except OSError as e:
            raise _cannot_join(address, f"the connection failed ({(e.strerror or type(e).__name__).lower()})") from None
    if len(answer) == 9 and answer[3] == _H2_SETTINGS and answer[5:9] == bytes(4):
        return
    if not answer:
        raise _cannot_join(address, f"something accepts connections there but sent nothing within {PROBE_SECONDS:g} s "
                                    "(a Ray cluster answers at once)")
    raise _cannot_join(address, "what answers there is not a Ray cluster (it does not speak gRPC)")


def _check_gcs(address: str) -> None:
    """BadInput (one line naming the address) unless the gRPC server at `address` (host:port) knows
    the GCS's first call of a joining driver (GetClusterId, named as Ray's installed protocol names
    it) and answers it within PROBE_SECONDS. A refusal for want of a token is a GCS's answer: ray.init
    tells it. A ray:// address is Ray's client server, and "auto" Ray's to find: not checked here."""
    if address == "auto" or address.startswith("ray://") or _tls():
        return
    import grpc
    from ray._private import ray_constants
    from ray.core.generated import gcs_service_pb2

    service = gcs_service_pb2.DESCRIPTOR.services_by_name.get("NodeInfoGcsService")
    if service is None or "GetClusterId" not in service.methods_by_name:  # another Ray's protocol: ray.init decides
        return
    # Ray's own channel options (no HTTP proxy unless RAY_grpc_enable_http_proxy says so)
    with grpc.insecure_channel(address, options=getattr(ray_constants, "GLOBAL_GRPC_OPTIONS", ())) as channel:
        try:
            channel.unary_unary(f"/{service.full_name}/GetClusterId")(b"", timeout=PROBE_SECONDS)
        except grpc.RpcError as e:
            code = e.code()
            if code == grpc.StatusCode.UNIMPLEMENTED:
                raise _cannot_join(address, "a gRPC server answers there, but not Ray's GCS (for Ray's client "
                                            "server, write ray://host:port)") from None
            if code in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE):
                raise _cannot_join(address, f"a gRPC server answers there, but not as Ray's GCS within "
                                            f"{PROBE_SECONDS:g} s ({code.name.lower()})") from None


def _within(seconds: float, call, message: str) -> None:
    """`call()` in a thread, waited for `seconds`: BadInput(message) when it has not returned by
    then (the thread is left to Ray; it ends with the process). Its exception is raised here."""
    outcome: list = []

    def attempt() -> None:
        try:
            call()
            outcome.append(None)
        except BaseException as e:  # handed to the caller
            outcome.append(e)

    thread = threading.Thread(target=attempt, name="lab-ray-join", daemon=True)
    thread.start()
    thread.join(seconds)
    if not outcome:
        raise BadInput(message)
    if outcome[0] is not None:
        raise outcome[0]


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
        os.environ.update(RAY_ENV)
        if address:
            _check_answers(address)  # before importing Ray: a closed port is told in milliseconds
        try:
            import ray
            from ray import tune
            from ray.tune.search import Searcher
        except ImportError as e:
            raise BadInput(f"sweep.backend: 'ray' needs Ray Tune ({e}); pip install -e '.[ray]'") from None
        if address and not ray.is_initialized():
            _check_gcs(address)
        self.ray, self.folder = ray, folder
        self.jobs: queue.Queue = queue.Queue()
        self.done: dict[str, int] = {}
        self.trial_runs: dict[str, str] = {}
        self.finished = False
        self.error: str | None = None
        (folder.path / "signals").mkdir(exist_ok=True)
        self.started_ray, self._tmp = False, None
        try:
            if not ray.is_initialized():
                quiet = dict(log_to_driver=False, logging_level=logging.ERROR)
                if address:
                    _within(JOIN_SECONDS, lambda: ray.init(address=address, **quiet), str(_cannot_join(
                        address, f"no answer from a Ray cluster there within {JOIN_SECONDS:g} s")))
                else:
                    self._tmp = tempfile.mkdtemp(prefix="lab-ray-")  # short: Ray's socket paths have a length limit
                    ray.init(address="local", num_cpus=workers, include_dashboard=False, _temp_dir=self._tmp, **quiet)
                self.started_ray = True
        except BadInput:
            raise
        except Exception as e:  # a wrong address, a cluster that is gone
            key = "sweep.address" if address else "sweep.backend"
            what = f"cannot join Ray at {address}" if address else "cannot start a local Ray"
            raise BadInput(f"{key}: {what} ({type(e).__name__}: {one_line(e)[:300]}); "
                           + ("check the address with `ray status`" if address else "see Ray's message above")) from None
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
        if self.started_ray:
            self.ray.shutdown()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
