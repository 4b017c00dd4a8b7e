"""A run's series as TensorBoard event files: `lab export RUN... --tensorboard DIR` for any RL
run (finished, stopped, crashed or still running: what it wrote so far), and live, into the run
folder's artifacts/tensorboard, while a run with `tensorboard = true` trains.

Both read the run's events.jsonl, export from its start and the live writer as the job appends to
it, and turn each event into one TensorBoard event with the same step and the event's time as its
wall time. So the files hold what events.jsonl holds, point for point (as float32, TensorBoard's
scalar type), also where lab aggregated a fast interval's episodes into one `episodes` line.

| tag                          | from                     | value |
|------------------------------|--------------------------|-------|
| episode/return               | episode, episodes        | an episode's return; an aggregated interval's mean return |
| episode/length               | episode, episodes        | its length; the interval's mean length |
| episode/rolling_return       | episode, episodes        | mean return of the last 100 episodes (at the interval's last) |
| eval/mean, eval/std          | eval                     | periodic evaluation: mean and std of the episodes' returns; of a population: of its members' means |
| eval/min, eval/max           | eval of a population     | the lowest and highest member's mean |
| eval/member/<m>              | eval of a population     | member m's mean (m zero-padded to the population's width: 0..9, 00..63), for populations of up to MEMBER_TAGS (64) |
| eval/members                 | eval of a population     | histogram of the members' means (any population size) |
| final_eval/...               | eval with final = true   | the same for the final evaluation of the delivered policy, at the last step |
| train/<name>                 | metric                   | every loss and schedule the agent records: loss, policy_loss, value_loss, entropy, entropy_loss, approx_kl, clip_fraction, explained_variance, learning_rate, clip_range, epsilon, td_error, batch_steps, ... |
| progress/steps_per_second    | progress                 | training speed |

A value recorded as null (NaN or infinity in training) is left out. The run's settings (spec.toml,
every key dotted as `--set` names it, lists and tables as inline TOML, the description left out)
are its hyperparameters in TensorBoard's HParams tab; the session's status is how the run ended
(completed: success; failed or crashed: failure; stopped: unknown, TensorBoard has no such status;
none while it runs).

TensorBoard and torch are imported only when files are written.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from lab.errors import BadInput, one_line
from lab import events as lab_events
from lab.events import _AGGREGATE_FIELD, EventsTooLarge, EventTail, check_size, count_lines, read_events
from lab.files import read_toml
from lab.memory import human
from lab.summary import RunState

LIVE_FOLDER = "tensorboard"  # the live files: the run folder's artifacts/tensorboard
LIVE_FLUSH_SECONDS = 2.0  # the live writer catches up with events.jsonl and flushes at most this often
# TensorBoard's writer takes about 0.1 ms an event on a slow machine (protobuf, a pure-Python CRC,
# a writer thread): `lab export` writes at most one event per EXPORT_LINE bytes of
# lab.events.MAX_EVENTS (262,144 for 32 MiB; lab's lines are 80-200 bytes), about half a minute's work.
EXPORT_LINE = 128
MEMBER_TAGS = 64  # populations up to this size get one tag per member; larger ones their histogram only
_EVENT_FILE = "events.out.tfevents."

# event kind -> (tag, field) of its scalars
_EPISODE = (("episode/return", "return"), ("episode/length", "length"), ("episode/rolling_return", "rolling_return"))
_EPISODES = tuple((tag, _AGGREGATE_FIELD[key]) for tag, key in _EPISODE)  # as lab.events.series reads them
_EVAL = ("mean", "std", "min", "max")

# how a run ended -> the HParams session status (TensorBoard has none for a run stopped on request)
_STATUS = {RunState.COMPLETED: "STATUS_SUCCESS", RunState.FAILED: "STATUS_FAILURE", RunState.CRASHED: "STATUS_FAILURE",
           RunState.STOPPED: "STATUS_UNKNOWN"}


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _eval_prefix(event: dict) -> str:
    return "final_eval" if event.get("final") else "eval"


def _members(event: dict) -> list[float] | None:
    members = event.get("members") if event.get("kind") == "eval" else None
    return members if isinstance(members, list) and members else None


def scalars(event: dict) -> list[tuple[str, float]]:
    """The (tag, value) pairs one lab event stands for; [] for kinds without a series."""
    kind = event.get("kind")
    if kind == "episode":
        pairs = [(tag, event.get(key)) for tag, key in _EPISODE]
    elif kind == "episodes":
        pairs = [(tag, event.get(key)) for tag, key in _EPISODES]
    elif kind == "eval":
        prefix = _eval_prefix(event)
        pairs = [(f"{prefix}/{key}", event.get(key)) for key in _EVAL]
        members = _members(event)
        if members is not None and len(members) <= MEMBER_TAGS:
            width = len(str(len(members) - 1))
            pairs += [(f"{prefix}/member/{m:0{width}d}", v) for m, v in enumerate(members)]
    elif kind == "metric":
        values = event.get("values")
        pairs = [(f"train/{name}", v) for name, v in values.items()] if isinstance(values, dict) else []
    elif kind == "progress" and event.get("phase") is None:  # (an attribution run's phases are not training)
        pairs = [("progress/steps_per_second", event.get("steps_per_second"))]
    else:
        return []
    return [(tag, float(v)) for tag, v in pairs if _number(v)]


def hyperparameters(settings: dict) -> dict[str, bool | float | str]:
    """A spec.toml's settings as TensorBoard hyperparameters: {'agent.learning_rate': 'lin_0.001',
    'env.n_envs': 8, 'agent.net_arch': '[64, 64]', ...}; the free-text description left out."""
    from lab.display import inline_toml

    out: dict[str, bool | float | str] = {}

    def walk(prefix: str, table: dict) -> None:
        for key, value in table.items():
            name = prefix + str(key)
            if isinstance(value, dict):
                walk(name + ".", value)
            elif name != "description":
                out[name] = value if isinstance(value, (bool, int, float, str)) else inline_toml(value)

    walk("", settings)
    return out


def read_settings(run) -> dict | None:
    """The run's spec.toml as a table; None when it cannot be read."""
    try:
        return read_toml(run.spec_path)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None


class EventFiles:
    """TensorBoard event files in one folder, written from lab events (torch's SummaryWriter;
    each lab event becomes one TensorBoard event holding all its scalars)."""

    def __init__(self, folder: Path, flush_secs: float = 120, max_queue: int = 1000):
        from torch.utils.tensorboard import SummaryWriter

        self.folder = Path(folder)
        self.writer = SummaryWriter(str(self.folder), max_queue=max_queue, flush_secs=flush_secs)
        self.points = 0
        self.tags: set[str] = set()

    def add(self, event: dict) -> None:
        from tensorboard.compat.proto.summary_pb2 import Summary

        pairs = scalars(event)
        step, wall_time = event.get("step"), event.get("t")
        step = int(step) if _number(step) else 0
        wall_time = float(wall_time) if _number(wall_time) else None
        if pairs:
            summary = Summary(value=[Summary.Value(tag=tag, simple_value=value) for tag, value in pairs])
            self.writer.file_writer.add_summary(summary, step, wall_time)
            self.points += len(pairs)
            self.tags.update(tag for tag, _ in pairs)
        members = _members(event)
        if members is not None:
            import numpy as np

            values = np.array([v for v in members if _number(v)], dtype=np.float64)
            if values.size:
                tag = f"{_eval_prefix(event)}/members"
                self.writer.add_histogram(tag, values, step, walltime=wall_time)
                self.points += 1
                self.tags.add(tag)

    def start(self, settings: dict, started: float | None) -> None:
        """The run's settings as the HParams plugin's session start."""
        from tensorboard.plugins.hparams import plugin_data_pb2

        info = plugin_data_pb2.SessionStartInfo(start_time_secs=started or time.time())
        for key, value in hyperparameters(settings).items():
            if isinstance(value, bool):
                info.hparams[key].bool_value = value
            elif isinstance(value, (int, float)):
                info.hparams[key].number_value = value
            else:
                info.hparams[key].string_value = value
        self._hparams(plugin_data_pb2.HParamsPluginData(session_start_info=info), started)

    def end(self, state: str, ended: float | None) -> None:
        """How the run ended, as the HParams plugin's session end (nothing while it runs)."""
        from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2

        if state not in _STATUS:
            return
        info = plugin_data_pb2.SessionEndInfo(status=api_pb2.Status.Value(_STATUS[state]), end_time_secs=ended or time.time())
        self._hparams(plugin_data_pb2.HParamsPluginData(session_end_info=info), ended)

    def _hparams(self, data, wall_time: float | None) -> None:
        from tensorboard.compat.proto.summary_pb2 import Summary
        from tensorboard.plugins.hparams import metadata

        tag = metadata.SESSION_START_INFO_TAG if data.HasField("session_start_info") else metadata.SESSION_END_INFO_TAG
        summary = Summary(value=[Summary.Value(tag=tag, metadata=metadata.create_summary_metadata(data))])
        self.writer.file_writer.add_summary(summary, 0, wall_time)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


# ------------------------------------------------------------------------------ lab export

@dataclass
class Exported:
    run_id: str
    path: Path
    state: str
    points: int = 0
    tags: set[str] = field(default_factory=set)


def _is_export(folder: Path) -> bool:
    """Whether `folder` holds only what an export writes (a second export may replace it)."""
    return folder.is_dir() and not folder.is_symlink() and all(
        p.name.startswith(_EVENT_FILE) and p.is_file() for p in folder.iterdir())


def check_export(runs: list, out: str | os.PathLike, runs_dir: str | os.PathLike | None = None) -> Path:
    """Refuses (BadInput, before anything is written) a run that has no series to export or more
    events than lab exports (over lab.events.MAX_EVENTS bytes or MAX_EVENTS / EXPORT_LINE lines),
    or a DIR that cannot take them (`store.check_output`: not a folder, in a run or sweep folder,
    in /proc or /dev); returns DIR, made if missing."""
    from lab.store import EVENTS, check_output

    out = check_output(out, "--tensorboard", "tb", folder=True, runs_dir=runs_dir)
    for run in runs:
        if run.problem is not None:
            raise BadInput(f"{run.id}: cannot be exported: {run.problem}")
        kind = run.kind
        if kind != "rl":
            raise BadInput(f"{run.id}: is an {kind} run; `lab export --tensorboard` exports RL runs' series "
                           "(episode returns, evaluations, losses); `lab show` shows this one")
        try:
            check_size(EVENTS, os.stat(run.events_path).st_size)  # every point is read: not past the limit
        except EventsTooLarge as e:
            raise BadInput(f"{run.id}: cannot be exported: {e}") from None
        except OSError:  # missing or unreadable: an export of no events, as read_events reads it
            pass
        most = lab_events.MAX_EVENTS // EXPORT_LINE
        if count_lines(run.events_path, most) > most:
            raise BadInput(f"{run.id}: cannot be exported: {EVENTS} holds more than {most:,} events, more than lab exports "
                           f"in a minute (limit {human(lab_events.MAX_EVENTS)} / {EXPORT_LINE} bytes; LAB_MAX_EVENTS_MB raises it); "
                           "`lab show` and the dashboard show its latest events")
        target = out / run.id
        if (target.exists() or target.is_symlink()) and not _is_export(target):
            raise BadInput(f"--tensorboard {out}: {target} exists and is not an earlier export (a folder of TensorBoard "
                           "event files only); remove it or choose another folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        why = e.strerror or one_line(e)
    else:
        if os.access(out, os.W_OK | os.X_OK):
            return out
        why = "Permission denied"
    raise BadInput(f"--tensorboard {out}: cannot write there ({why}); choose another folder")


@contextlib.contextmanager
def _writer_failure_reported_once() -> Iterator[None]:
    """TensorBoard's writer thread hands a failed write (a full disk) to threading.excepthook,
    which prints a traceback, and then raises it in the writing thread at its next call, where
    export_run makes it one line. Within the block that thread's OSError is not printed (every
    other thread's exception goes to the hook as before); threading.excepthook is restored after."""
    previous = threading.excepthook

    def hook(args):
        if not (type(args.thread).__module__.startswith("tensorboard.") and isinstance(args.exc_value, OSError)):
            previous(args)

    threading.excepthook = hook
    try:
        yield
    finally:
        threading.excepthook = previous


def export_run(run, out: Path) -> Exported:
    """Write one run's series into out/<run id> (replacing an earlier export of it): the events
    read as a stream (bounded memory however long the run), into a temporary folder renamed into
    place when complete. BadInput when the folder cannot be written."""
    target = out / run.id
    state = run.state
    done = Exported(run.id, target, state)
    tmp = None
    try:
        tmp = Path(tempfile.mkdtemp(dir=out, prefix=f".{run.id}."))
        os.chmod(tmp, 0o755)  # mkdtemp makes 0700; exports are meant to be read by others
        with _writer_failure_reported_once():
            files = EventFiles(tmp)
            try:
                settings = read_settings(run)
                if settings is not None:
                    files.start(settings, run.summary.started)
                for event in read_events(run.events_path):
                    files.add(event)
                files.end(state, run.summary.ended)
                files.flush()  # a write that failed in the writer's thread is raised here, not lost in close()
            finally:
                files.close()
        done.points, done.tags = files.points, files.tags
        if target.exists():  # an earlier export (check_export refused anything else)
            shutil.rmtree(target)
        os.replace(tmp, target)
        tmp = None
    except OSError as e:
        raise BadInput(f"--tensorboard {out}: cannot write {run.id}'s event files ({e.strerror or one_line(e)}); "
                       "free some space or choose another folder") from None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return done


# ------------------------------------------------------------------------------ live, in a run

class LiveFiles:
    """A training run's TensorBoard files, kept up with its events.jsonl: every
    LIVE_FLUSH_SECONDS at most (checked when the job emits an event) it reads what the run's event
    writer has written since, adds it and flushes. Reading the file back instead of taking events
    as they are emitted keeps live files and `lab export` alike, aggregated episodes included, and
    bounds the work at the events file's own rate. A failure to write them is a warning in the
    run's log and ends live writing; training goes on."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.folder = ctx.artifact(LIVE_FOLDER)
        self.files = EventFiles(self.folder, flush_secs=LIVE_FLUSH_SECONDS)
        self.tail = EventTail(ctx.run.events_path)
        self.open = True
        self._last = time.monotonic()
        settings = read_settings(ctx.run)
        if settings is not None:
            self.files.start(settings, ctx.summary.started)
        self.files.flush()
        ctx.emit("artifact", path=ctx.relpath(self.folder),
                 description="TensorBoard event files, written as the run trains (tensorboard --logdir on it)")

    def poll(self) -> None:
        if self.open and time.monotonic() - self._last >= LIVE_FLUSH_SECONDS:
            self.catch_up()

    def catch_up(self) -> None:
        self._last = time.monotonic()
        skipped = self.tail.skipped
        try:
            for event in self.tail.read():
                self.files.add(event)
            self.files.flush()
        except Exception as e:  # the disk, or TensorBoard's writer thread: never the run's end
            self._fail(e)
        if self.tail.note(skipped):  # a resumed run's events past lab.events.MAX_EVENTS: the latest go in
            with contextlib.suppress(OSError):
                self.ctx.log(f"TensorBoard files in {self.ctx.relpath(self.folder)}: {self.tail.note(skipped)}", "warning")

    def _fail(self, error: Exception) -> None:
        self.open = False
        with contextlib.suppress(Exception):
            self.files.close()
        with contextlib.suppress(OSError):
            self.ctx.log(f"TensorBoard files in {self.ctx.relpath(self.folder)} cannot be written "
                         f"({type(error).__name__}: {one_line(error)}); stopped writing them, training goes on", "warning")

    def close(self, state: str) -> None:
        """The events so far (the writer's pending ones flushed first), how the job ended, closed."""
        if not self.open:
            return
        with contextlib.suppress(OSError):  # a full disk: the run's own end handles it
            self.ctx.events.flush()
        self.catch_up()
        if not self.open:
            return
        self.open = False
        try:
            self.files.end(state, time.time())
            self.files.close()
        except Exception as e:
            self._fail(e)


@contextlib.contextmanager
def live(ctx):
    """While the block (a training job) runs, its events go into TensorBoard files in the run
    folder; they are closed when it ends, also when it stops or fails."""
    try:
        files = LiveFiles(ctx)
    except Exception as e:  # an artifacts folder that cannot be written: the run trains without them
        ctx.log(f"TensorBoard files cannot be written in {ctx.relpath(ctx.artifact(LIVE_FOLDER))} "
                f"({type(e).__name__}: {one_line(e)}); training without them", "warning")
        yield None
        return
    events = ctx.events
    previous = events.on_event

    def on_event(event: dict) -> None:
        if previous is not None:
            previous(event)
        files.poll()

    events.on_event = on_event
    state = RunState.FAILED
    try:
        yield files
        state = RunState.STOPPED if ctx.stop_requested else RunState.COMPLETED
    except KeyboardInterrupt:
        state = RunState.STOPPED
        raise
    finally:
        events.on_event = previous
        files.close(state)
