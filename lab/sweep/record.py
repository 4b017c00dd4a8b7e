"""The sweep folder: its layout, `sweep.json`, and finding sweeps in a runs root.

A sweep folder sits in the runs root beside the runs (its id: time, sweep name, short random
suffix) and holds `sweep.toml` (the resolved sweep file), `sweep.json` (every trial: settings,
seeds, run ids, per-seed values, mean, std, state; the best), `study.db` (the Optuna study) and
`logs/` (each run's console output). The runs themselves are ordinary run folders, each naming
its sweep in its summary. `sweep.json` is written atomically on every change.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lab import store
from lab.errors import BadInput, did_you_mean
from lab.files import bounded_int, open_regular
from lab.sweep.spec import MAX_RUNS, MAX_SEEDS

from lab.store import BEST_TOML, STUDY_DB, SWEEP_JSON, SWEEP_TOML  # the folder's files (lab.store names them)
from lab.summary import RunState

# the states of a trial, and of a job (one run of a trial), that are not a run's: not started yet
# (PENDING), stopped by the pruner (PRUNED: its run ended 'stopped'), a trial done with its value
# (COMPLETE, Optuna's word); their other states are their runs' (lab.summary.RunState), as a sweep's are
PENDING, PRUNED, COMPLETE = "pending", "pruned", "complete"
TRIAL_STATES = (PENDING, RunState.RUNNING, COMPLETE, PRUNED, RunState.FAILED, RunState.CRASHED, RunState.STOPPED)
UNFINISHED = (PENDING, RunState.RUNNING, RunState.FAILED, RunState.CRASHED, RunState.STOPPED)  # what --resume runs again
JOB_STATES = (PENDING, RunState.RUNNING, RunState.COMPLETED, RunState.STOPPED, PRUNED, RunState.FAILED, RunState.CRASHED)
SWEEP_STATES = (RunState.RUNNING, RunState.COMPLETED, RunState.STOPPED, RunState.FAILED)
# an id or a name in sweep.json (the sweep's, its experiment's, its runs'): one plain path component,
# as the ids and names lab makes are
PLAIN_NAME = store.PLAIN_NAME
# Optuna trials a sweep's study may hold, reruns included: lab reads a study.db only in work this
# bounds (Optuna loads every trial of a study at each ask; a study of 100,000 takes tens of seconds)
MAX_STUDY_TRIALS = MAX_RUNS
# bytes of sweep.json lab reads: thousands of trials with their evaluations take a few MiB, and
# parsing this much of the worst JSON (tiny objects) stays under 2 GB of memory
JSON_LIMIT = 64 << 20


@dataclass
class Job:
    """One run of a trial: a seed (a member, on the population backend)."""

    seed: int
    run: str  # its run id (chosen before it starts)
    state: str = PENDING  # pending, running, completed, stopped, pruned, failed, crashed
    value: float | None = None
    steps: int = 0  # environment steps it trained
    evals: list[float] = field(default_factory=list)  # its evaluations' means so far, in order
    fraction: float = 0.0  # its progress


@dataclass
class Trial:
    number: int  # the sweep's own numbering, 0..
    params: dict[str, Any]
    jobs: list[Job]
    state: str = PENDING
    value: float | None = None
    std: float | None = None
    study_number: int | None = None  # its Optuna trial (a rerun gets a new one)
    pruned_at: int | None = None  # the evaluation index it was pruned at
    reported: int = 0  # evaluations reported to the pruner so far

    @property
    def values(self) -> list[float | None]:
        return [j.value for j in self.jobs]

    @property
    def iqm(self) -> float | None:
        """The interquartile mean of its seeds' values (the mean of the middle half, as rliable's
        IQM: int(n / 4) cut from each end; the value itself for one or two seeds); what trials
        are ranked by. None without a value."""
        from lab.stats import iqm

        if self.value is None:
            return None
        done = [v for v in self.values if v is not None]
        return iqm(done) if done else self.value

    @property
    def finished(self) -> bool:
        """Neither waiting to start nor running: counted as done in a sweep's progress."""
        return self.state not in (PENDING, RunState.RUNNING)

    @property
    def runs(self) -> list[str]:
        return [j.run for j in self.jobs]

    def close(self) -> None:
        """State, value (mean over seeds) and std from its runs, once none is pending or running.
        A pruned trial stays pruned; otherwise the worst run decides: crashed, failed, stopped,
        else complete. A pruned trial's value is over the runs that got to their metric."""
        states = {j.state for j in self.jobs}
        if states & {PENDING, RunState.RUNNING}:
            return
        if self.state != PRUNED:
            self.state = next((s for s in (RunState.CRASHED, RunState.FAILED, RunState.STOPPED) if s in states), COMPLETE)
        values = [j.value for j in self.jobs if j.value is not None]
        if self.state == COMPLETE and len(values) != len(self.jobs):
            self.state = RunState.FAILED  # a run completed without the metric
        ok = self.state in (COMPLETE, PRUNED) and values
        self.value = statistics.fmean(values) if ok else None
        self.std = statistics.pstdev(values) if ok else None


@dataclass
class SweepRecord:
    id: str
    name: str
    experiment: str
    metric: str
    direction: str
    method: str
    backend: str
    seeds: list[int]
    state: str = RunState.RUNNING  # running, completed, stopped, failed
    started: float = field(default_factory=time.time)
    ended: float | None = None
    pid: int | None = None
    pid_start: str | None = None
    host: str | None = None
    total_trials: int = 0
    trials: list[Trial] = field(default_factory=list)
    error: str | None = None
    # Optuna trials asked of the study so far, reruns included (a rerun's old number is forgotten
    # by its trial, not by the study): with total_trials, the most its study.db may hold
    study_trials: int = 0

    def asked(self) -> int:
        """Optuna trials this sweep has asked for, as far as its record knows."""
        return max(self.study_trials, 1 + max((t.study_number for t in self.trials if t.study_number is not None),
                                              default=-1))

    def study_limit(self) -> int:
        """The most trials its study.db may hold: those asked, and as many again as it has trials
        (a population sweep asks for all of them before it writes its record; a crash between
        can leave them unrecorded)."""
        return self.asked() + self.total_trials

    def best(self) -> Trial | None:
        done = [t for t in self.trials if t.state == COMPLETE and t.value is not None]
        if not done:
            return None
        return (max if self.direction == "maximize" else min)(done, key=lambda t: t.iqm)

    def to_dict(self) -> dict:
        out = asdict(self)
        for t, raw in zip(self.trials, out["trials"]):
            raw["runs"], raw["values"] = t.runs, t.values
        best = self.best()
        out["best"] = None if best is None else {"trial": best.number, "params": best.params, "value": best.value,
                                                 "std": best.std, "runs": best.runs}
        out["steps"] = sum(j.steps for t in self.trials for j in t.jobs)
        out["study_trials"] = self.asked()
        return out

    def result_line(self) -> dict:
        """What `lab sweep --json` prints at the end."""
        d = self.to_dict()
        return {"sweep": self.id, "state": self.state, "best": d["best"] and {"params": d["best"]["params"], "value": d["best"]["value"]},
                "trials": [{"number": t.number, "params": t.params, "runs": t.runs, "values": t.values, "value": t.value,
                            "std": t.std, "state": t.state} for t in self.trials],
                "steps": d["steps"]}

    # --- the process that runs the sweep: is it alive?
    @property
    def live_state(self) -> str:
        """The recorded state; 'crashed' when the sweep's process died while running."""
        if self.state == RunState.RUNNING:
            from lab.summary import Summary

            if not store.process_alive(Summary(pid=self.pid, pid_start=self.pid_start, host=self.host)):
                return RunState.CRASHED
        return self.state


def finite(v):
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


class SweepFolder:
    def __init__(self, path: Path):
        self.path = Path(path)

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def toml_path(self) -> Path:
        return self.path / SWEEP_TOML

    @property
    def json_path(self) -> Path:
        return self.path / SWEEP_JSON

    @property
    def best_path(self) -> Path:
        """The best trial's settings as an experiment file (lab.sweep.report.write_best)."""
        return self.path / BEST_TOML

    @property
    def logs_dir(self) -> Path:
        return self.path / "logs"

    def log(self, run_id: str) -> Path:
        return self.logs_dir / f"{run_id}.log"

    @classmethod
    def create(cls, root: Path, name: str) -> SweepFolder:
        root.mkdir(parents=True, exist_ok=True)
        while True:
            path = root / store.new_run_id(name)
            try:
                path.mkdir()
                break
            except FileExistsError:
                continue
        (path / "logs").mkdir()
        return cls(path)

    def write(self, record: SweepRecord) -> None:
        store.write_atomic(self.json_path, json.dumps(record.to_dict(), indent=1, allow_nan=False) + "\n")

    @property
    def study_path(self) -> Path:
        return self.path / STUDY_DB

    def read(self) -> SweepRecord:
        """sweep.json as a SweepRecord, checked as strictly as summary.json is (lab.summary), and
        study.db checked against it: SweepCorrupt (a BadInput, one line saying why) for a folder
        that does not hold what lab writes there, so that readers show it 'corrupt' and
        `lab sweep --resume` refuses it."""
        try:
            with open_regular(self.json_path) as f:
                text = f.read(JSON_LIMIT + 1)
        except FileNotFoundError:
            raise BadInput(f"{self.path}: no {SWEEP_JSON}; not a sweep folder") from None
        except OSError as e:
            raise SweepCorrupt(f"{SWEEP_JSON}: cannot be read ({e.strerror})") from None
        if len(text) > JSON_LIMIT:
            raise SweepCorrupt(f"{SWEEP_JSON}: larger than the {JSON_LIMIT >> 20} MiB lab reads")
        try:
            data = json.loads(text, parse_int=bounded_int)
        except (ValueError, RecursionError) as e:
            raise SweepCorrupt(f"{SWEEP_JSON}: not JSON ({type(e).__name__}: {str(e)[:120]})") from None
        record = parse_record(data)
        if record.id != self.id:
            raise SweepCorrupt(f"{SWEEP_JSON}: id: {record.id!r} is not this folder's name ({self.id!r})")
        check_study(self.study_path, record)
        return record


class SweepCorrupt(BadInput):
    """A sweep folder whose sweep.json or study.db is not what lab writes there (one line saying why)."""


_MISSING = object()


def _short(v) -> str:
    if isinstance(v, (list, dict)) and len(repr(v)) > 40:
        return f"a {'list' if isinstance(v, list) else 'table'} of {len(v):,}"
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _get(data: dict, key: str, where: str, check, default=_MISSING):
    """data[key] after `check(value)` (None, or what is wrong with it); SweepCorrupt naming the key."""
    if key not in data:
        if default is _MISSING:
            raise SweepCorrupt(f"{SWEEP_JSON}: {where}{key}: missing")
        return default
    value = data[key]
    problem = check(value)
    if problem is not None:
        raise SweepCorrupt(f"{SWEEP_JSON}: {where}{key}: {_short(value)} is not {problem}")
    return value


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _plain(v):
    return None if isinstance(v, str) and PLAIN_NAME.fullmatch(v) else "a plain id or name (letters, digits, '_.-')"


def _text(optional: bool = False, limit: int = 10_000):
    return lambda v: None if (v is None and optional) or (isinstance(v, str) and len(v) <= limit) else "a text"


def _choice(choices):
    return lambda v: None if v in choices else f"one of {', '.join(choices)}"


def _count(low: int = 0, high: int | None = None, optional: bool = False):
    def check(v):
        if v is None and optional:
            return None
        ok = _is_int(v) and v >= low and (high is None or v <= high)
        return None if ok else f"a whole number in {low:,} .. {high:,}" if high is not None else f"a whole number >= {low}"
    return check


def _number(optional: bool = True, low: float = -math.inf, high: float = math.inf):
    def check(v):
        if v is None and optional:
            return None
        ok = finite(v) is not None and low <= v <= high
        return None if ok else "a finite number" + (f" in {low:g} .. {high:g}" if high < math.inf else "")
    return check


def _list(limit: int):
    return lambda v: None if isinstance(v, list) and len(v) <= limit else f"a list of at most {limit:,} entries"


def parse_record(data) -> SweepRecord:
    """sweep.json's content as a SweepRecord, or SweepCorrupt: every key lab writes there has
    its type and range (ids and names are plain path components, numbers finite, states known,
    counts within what a sweep file allows); unknown keys are ignored (written by other versions)."""
    if not isinstance(data, dict):
        raise SweepCorrupt(f"{SWEEP_JSON}: a JSON {type(data).__name__}, not an object")
    r = {"id": _get(data, "id", "", _plain), "name": _get(data, "name", "", _plain),
         "experiment": _get(data, "experiment", "", _plain),
         "metric": _get(data, "metric", "", lambda v: None if isinstance(v, str) and re.fullmatch(r"\w{1,64}", v)
                        else "a results key"),
         "direction": _get(data, "direction", "", _choice(("maximize", "minimize"))),
         "method": _get(data, "method", "", _choice(("grid", "random", "tpe"))),
         "backend": _get(data, "backend", "", _choice(("local", "population", "ray"))),
         "seeds": _get(data, "seeds", "", lambda v: None if isinstance(v, list) and 0 < len(v) <= MAX_SEEDS and all(
             _is_int(x) and x >= 0 for x in v) and len(set(v)) == len(v) else f"1 to {MAX_SEEDS} distinct seeds >= 0"),
         "state": _get(data, "state", "", _choice(SWEEP_STATES), RunState.RUNNING),
         "started": _get(data, "started", "", _number(optional=False, low=0)),
         "ended": _get(data, "ended", "", _number(low=0), None),
         "pid": _get(data, "pid", "", _count(1, 2**31, optional=True), None),
         "pid_start": _get(data, "pid_start", "", _text(optional=True, limit=64), None),
         "host": _get(data, "host", "", _text(optional=True, limit=255), None),
         "total_trials": _get(data, "total_trials", "", _count(0, MAX_RUNS), 0),
         "error": _get(data, "error", "", _text(optional=True), None),
         "study_trials": _get(data, "study_trials", "", _count(0, MAX_STUDY_TRIALS), 0)}
    if r["total_trials"] * len(r["seeds"]) > MAX_RUNS:  # a product of lengths, as sweep.toml's is checked
        raise SweepCorrupt(f"{SWEEP_JSON}: total_trials x seeds: {r['total_trials']:,} x {len(r['seeds']):,} runs, more "
                           f"than the {MAX_RUNS:,} a sweep starts")
    trials = _get(data, "trials", "", _list(r["total_trials"]), [])
    r["trials"] = [_parse_trial(t, i, len(r["seeds"])) for i, t in enumerate(trials)]
    record = SweepRecord(**r)
    record.study_trials = record.asked()  # kept when a resume makes its trials forget their numbers
    return record


def _parse_trial(data, i: int, seeds: int) -> Trial:
    where = f"trials[{i}]."
    if not isinstance(data, dict):
        raise SweepCorrupt(f"{SWEEP_JSON}: trials[{i}]: not an object")
    params = _get(data, "params", where, lambda v: None if isinstance(v, dict) and all(
        isinstance(k, str) and len(k) <= 200 and _setting(x) for k, x in v.items()) else
        f"a table of settings (numbers, text, true/false, or lists and tables of them {MAX_SETTING_DEPTH} deep)")
    jobs = _get(data, "jobs", where, lambda v: None if isinstance(v, list) and len(v) in (0, seeds) else
                f"a list of one run per seed ({seeds})")
    return Trial(
        number=_get(data, "number", where, lambda v: None if v == i and _is_int(v) else f"{i} (its place in the list)"),
        params=params, jobs=[_parse_job(j, f"{where}jobs[{k}].") for k, j in enumerate(jobs)],
        state=_get(data, "state", where, _choice(TRIAL_STATES), PENDING),
        value=_get(data, "value", where, _number(), None), std=_get(data, "std", where, _number(low=0), None),
        study_number=_get(data, "study_number", where, _count(0, MAX_STUDY_TRIALS - 1, optional=True), None),
        pruned_at=_get(data, "pruned_at", where, _count(optional=True), None),
        reported=_get(data, "reported", where, _count(), 0))


MAX_SETTING_DEPTH = 4  # a sweep's choices are numbers, text, [64, 64] or {is_slippery = false}


def _setting(value, depth: int = 0) -> bool:
    """A trial's setting as sweep.toml's choices are: a finite number, text, true/false, or a list
    or table of them at most MAX_SETTING_DEPTH deep (a 900-deep list was a RecursionError in
    the readers that print it)."""
    if isinstance(value, (list, dict)):
        return depth < MAX_SETTING_DEPTH and all(
            _setting(x, depth + 1) for x in (value.values() if isinstance(value, dict) else value))
    return isinstance(value, (str, bool)) or finite(value) is not None


def _parse_job(data, where: str) -> Job:
    if not isinstance(data, dict):
        raise SweepCorrupt(f"{SWEEP_JSON}: {where[:-1]}: not an object")
    return Job(seed=_get(data, "seed", where, _count()), run=_get(data, "run", where, _plain),
               state=_get(data, "state", where, _choice(JOB_STATES), PENDING),
               value=_get(data, "value", where, _number(), None), steps=_get(data, "steps", where, _count(), 0),
               evals=_get(data, "evals", where, lambda v: None if isinstance(v, list) and all(
                   finite(x) is not None for x in v) else "a list of finite numbers", []),
               fraction=_get(data, "fraction", where, _number(optional=False, low=0, high=1), 0.0))


def check_fits(record: SweepRecord, spec) -> None:
    """sweep.json is the record of sweep.toml's sweep: the same seeds, metric, method and number
    of trials, and every trial's settings among sweep.toml's choices (a trial's settings become
    `lab run --set` arguments: sweep.json may not add others). SweepCorrupt when not."""
    from lab.sweep.spec import Range

    s = spec.sweep
    for key, mine, theirs in (("seeds", record.seeds, s.seeds), ("metric", record.metric, s.metric),
                              ("direction", record.direction, s.direction), ("method", record.method, s.method),
                              ("total_trials", record.total_trials, spec.trial_count())):
        if mine != theirs:
            raise SweepCorrupt(f"{SWEEP_JSON}: {key}: {_short(mine)} is not sweep.toml's ({_short(theirs)})")
    for trial in record.trials:
        where = f"{SWEEP_JSON}: trials[{trial.number}].params"
        if set(trial.params) != set(s.params):
            raise SweepCorrupt(f"{where}: {_short(sorted(trial.params))} are not sweep.toml's settings "
                               f"({', '.join(s.params)})")
        for key, value in trial.params.items():
            space = s.params[key]
            if isinstance(space, Range):
                ok = (isinstance(value, int) and not isinstance(value, bool) if space.int_ else
                      isinstance(value, (int, float)) and not isinstance(value, bool)) and space.low <= value <= space.high
            else:
                ok = any(type(value) is type(choice) and value == choice for choice in space)
            if not ok:
                raise SweepCorrupt(f"{where}: {_short(key)} = {_short(value)} is not among sweep.toml's choices for it")


def _read_only(path: Path):
    """An sqlite3 connection that can only read `path` (no Optuna, no SQLAlchemy: nothing is
    created, migrated or loaded whole)."""
    import sqlite3
    from urllib.parse import quote

    return sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True, timeout=2.0)


def study_trial_count(path: Path) -> int | None:
    """How many trials study.db holds (one SQL count); None when it cannot be read."""
    import sqlite3

    try:
        db = _read_only(path)
        try:
            return db.execute("SELECT count(*) FROM trials").fetchone()[0]
        finally:
            db.close()
    except (sqlite3.Error, OSError):
        return None


def check_study(path: Path, record: SweepRecord) -> None:
    """study.db holds the Optuna study of this sweep, with every trial sweep.json names and no
    more trials than its record can have asked for (`SweepRecord.study_limit`); else SweepCorrupt
    saying why (missing, empty, not SQLite, damaged, another program's database, another study,
    too many trials). Read-only, without Optuna: nothing is created or changed, and the work is
    bounded by sweep.json (the trials are counted before any is read). A study being written
    right now (locked) is taken as it is."""
    import sqlite3

    named = {t.study_number for t in record.trials if t.study_number is not None}
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        if named:
            raise SweepCorrupt(f"{STUDY_DB}: missing, and {SWEEP_JSON} names {len(named)} of its trials") from None
        return
    if not stat.S_ISREG(st.st_mode):
        raise SweepCorrupt(f"{STUDY_DB}: not a regular file")
    if st.st_size == 0:
        if named:
            raise SweepCorrupt(f"{STUDY_DB}: empty, and {SWEEP_JSON} names {len(named)} of its trials")
        return
    with open(path, "rb") as f:
        if f.read(16) != b"SQLite format 3\x00":
            raise SweepCorrupt(f"{STUDY_DB}: not an SQLite database")
    try:
        db = _read_only(path)
    except sqlite3.Error as e:
        raise SweepCorrupt(f"{STUDY_DB}: cannot be opened ({e})") from None
    try:
        check = db.execute("PRAGMA quick_check(1)").fetchone()
        if check is None or check[0] != "ok":
            raise SweepCorrupt(f"{STUDY_DB}: damaged (SQLite's check: {str(check and check[0])[:120]})")
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not {"studies", "trials", "version_info"} <= tables:
            raise SweepCorrupt(f"{STUDY_DB}: an SQLite database, but not an Optuna study (another program's)")
        studies = [row[0] for row in db.execute("SELECT study_name FROM studies")]
        if any(name != "sweep" for name in studies):
            raise SweepCorrupt(f"{STUDY_DB}: holds studies other than this sweep's ({_short(studies)})")
        (count,) = db.execute("SELECT count(*) FROM trials").fetchone()
        if count > record.study_limit():
            raise SweepCorrupt(f"{STUDY_DB}: holds {count:,} trials, more than {SWEEP_JSON} accounts for (at most "
                               f"{record.study_limit():,}: the {record.asked():,} it asked for, and "
                               f"{record.total_trials:,} more it may not have recorded yet)")
        numbers = {row[0] for row in db.execute(
            "SELECT number FROM trials JOIN studies USING (study_id) WHERE study_name = 'sweep'")}
    except sqlite3.OperationalError as e:
        if "locked" in str(e):  # its sweep is writing it right now
            return
        raise SweepCorrupt(f"{STUDY_DB}: not an Optuna study ({e})") from None
    except sqlite3.DatabaseError as e:
        raise SweepCorrupt(f"{STUDY_DB}: damaged ({e})") from None
    finally:
        db.close()
    missing = sorted(named - numbers)
    if missing:
        raise SweepCorrupt(f"{STUDY_DB}: has no trial {missing[0]}, which {SWEEP_JSON} names "
                           f"({len(missing)} missing of {len(named)})")


def is_sweep_folder(path: str | os.PathLike) -> bool:
    return os.path.isfile(os.path.join(path, SWEEP_JSON))


def list_sweeps(runs_dir=None) -> list[SweepFolder]:
    """Every sweep folder under the runs root, oldest first."""
    root = store.runs_root(runs_dir)
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [SweepFolder(Path(e.path)) for e in entries if not e.name.startswith(".") and e.is_dir() and is_sweep_folder(e.path)]


def find_sweep(ref: str, runs_dir=None) -> SweepFolder | None:
    """The sweep `ref` names (id, prefix, folder, or a sweep's name), if it names one: None, for
    the command lines and API calls that take a run or a sweep, where `ref` is then a run's."""
    if is_sweep_folder(ref):
        return resolve_sweep(ref, runs_dir)
    sweeps = list_sweeps(runs_dir)
    if not any(s.id.startswith(ref) or s.id[16:-5] == ref for s in sweeps):
        return None
    try:
        return resolve_sweep(ref, runs_dir)
    except BadInput:
        return None


def resolve_sweep(ref: str, runs_dir=None) -> SweepFolder:
    """A sweep by id, unique id prefix, path, or sweep name (its latest)."""
    path = Path(ref)
    if is_sweep_folder(path):
        return SweepFolder(path)
    sweeps = list_sweeps(runs_dir)
    exact = [s for s in sweeps if s.id == ref]
    if exact:
        return exact[0]
    prefixed = [s for s in sweeps if s.id.startswith(ref)]
    if len(prefixed) == 1:
        return prefixed[0]
    if len(prefixed) > 1:
        raise BadInput(f"sweep '{ref[:200]!a}' is ambiguous: {len(prefixed)} sweeps start with it; give more of the id")
    named = [s for s in sweeps if s.id[16:-5] == ref]  # yyyymmdd-hhmmss-NAME-abcd
    if named:
        return named[-1]
    root = store.runs_root(runs_dir)
    known = [s.id for s in sweeps] + sorted({s.id[16:-5] for s in sweeps})
    from lab.display import printable

    raise BadInput(f"no sweep '{printable(ref, limit=200)}' in {root}{printable(did_you_mean(ref, known))}; `lab runs` lists sweeps")
