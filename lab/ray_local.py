"""Ray on these machines: loopback only, no usage reports (../shared/RAY.md), for both of lab's
uses of it (sweeps' ray backend, lab.sweep.ray_backend; population-based training on Ray Tune,
lab.engine.ray_pbt). `RAY_ENV` goes into the environment before Ray is imported; `connect` starts
a local Ray (address "local", on the loopback) or joins a cluster after checking, before Ray is
imported, that one answers at the address; `Connection.close` stops only what it started.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time

from lab.errors import BadInput, one_line

# loopback only, no usage reports; Tune's console output off (lab draws its own table)
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0", "RAY_AIR_NEW_OUTPUT": "0"}


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


def _cannot_join(address: str, why: str, key: str = "sweep.address") -> BadInput:
    return BadInput(f"{key}: cannot join Ray at {address}: {why}; check the address with "
                    "`ray status` (or leave it out, and lab starts a Ray of its own)")


def _tls() -> bool:
    return os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true")  # as ray._private.grpc_utils reads it


def _check_answers(address: str, key: str = "sweep.address") -> None:
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
        raise BadInput(f"{key}: {address!r} is not host:port (e.g. 127.0.0.1:6379) or ray://host:port")
    try:
        conn = socket.create_connection((host, int(port)), timeout=PROBE_SECONDS)
    except OSError as e:
        why = "no answer" if isinstance(e, TimeoutError) else e.strerror or type(e).__name__
        raise _cannot_join(address, why.lower(), key) from None
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
            raise _cannot_join(address, f"the connection failed ({(e.strerror or type(e).__name__).lower()})", key) from None
    if len(answer) == 9 and answer[3] == _H2_SETTINGS and answer[5:9] == bytes(4):
        return
    if not answer:
        raise _cannot_join(address, f"something accepts connections there but sent nothing within {PROBE_SECONDS:g} s "
                                    "(a Ray cluster answers at once)", key)
    raise _cannot_join(address, "what answers there is not a Ray cluster (it does not speak gRPC)", key)


def _check_gcs(address: str, key: str = "sweep.address") -> None:
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
                                            "server, write ray://host:port)", key) from None
            if code in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE):
                raise _cannot_join(address, f"a gRPC server answers there, but not as Ray's GCS within "
                                            f"{PROBE_SECONDS:g} s ({code.name.lower()})", key) from None


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


class Connection:
    """Ray, started or joined for one sweep or run: `close()` shuts down what `connect` started."""

    def __init__(self, ray, started: bool, tmp: str | None):
        self.ray, self.started, self.tmp = ray, started, tmp

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()
            self.started = False
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None


def connect(address: str | None, cpus: int, key: str, backend_key: str) -> Connection:
    """Ray for this process: the one already initialised, the cluster at `address` (checked
    first: BadInput naming `key` when nothing, or not Ray, answers there), or a local Ray of
    `cpus` CPUs on the loopback. BadInput naming `backend_key` when Ray Tune is not installed."""
    os.environ.update(RAY_ENV)
    if address:
        _check_answers(address, key)  # before importing Ray: a closed port is told in milliseconds
    try:
        import ray
        from ray import tune  # noqa: F401 (Tune is what lab uses of Ray)
    except ImportError as e:
        raise BadInput(f"{backend_key}: 'ray' needs Ray Tune ({e}); pip install -e '.[ray]'") from None
    if ray.is_initialized():
        return Connection(ray, False, None)
    if address:
        _check_gcs(address, key)
    tmp = None
    try:
        quiet = dict(log_to_driver=False, logging_level=logging.ERROR)
        if address:
            _within(JOIN_SECONDS, lambda: ray.init(address=address, **quiet), str(_cannot_join(
                address, f"no answer from a Ray cluster there within {JOIN_SECONDS:g} s", key)))
        else:
            tmp = tempfile.mkdtemp(prefix="lab-ray-")  # short: Ray's socket paths have a length limit
            ray.init(address="local", num_cpus=cpus, include_dashboard=False, _temp_dir=tmp, **quiet)
    except BadInput:
        raise
    except Exception as e:  # a wrong address, a cluster that is gone
        what = f"cannot join Ray at {address}" if address else "cannot start a local Ray"
        raise BadInput(f"{key if address else backend_key}: {what} ({type(e).__name__}: {one_line(e)[:300]}); "
                       + ("check the address with `ray status`" if address else "see Ray's message above")) from None
    return Connection(ray, True, tmp)
