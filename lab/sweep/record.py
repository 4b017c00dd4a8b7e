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
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lab import store
from lab.errors import BadInput, did_you_mean
from lab.files import read_regular

SWEEP_TOML, SWEEP_JSON = "sweep.toml", "sweep.json"
# trial states; a trial's runs have the run states (completed, stopped, failed, crashed)
TRIAL_STATES = ("pending", "running", "complete", "pruned", "failed", "crashed", "stopped")
UNFINISHED = ("pending", "running", "failed", "crashed", "stopped")  # what --resume runs again


@dataclass
class Job:
    """One run of a trial: a seed (a member, on the population backend)."""

    seed: int
    run: str  # its run id (chosen before it starts)
    state: str = "pending"  # pending, running, completed, stopped, pruned, failed, crashed
    value: float | None = None
    steps: int = 0  # environment steps it trained
    evals: list[float] = field(default_factory=list)  # its evaluations' means so far, in order
    fraction: float = 0.0  # its progress


@dataclass
class Trial:
    number: int  # the sweep's own numbering, 0..
    params: dict[str, Any]
    jobs: list[Job]
    state: str = "pending"
    value: float | None = None
    std: float | None = None
    study_number: int | None = None  # its Optuna trial (a rerun gets a new one)
    pruned_at: int | None = None  # the evaluation index it was pruned at
    reported: int = 0  # evaluations reported to the pruner so far

    @property
    def values(self) -> list[float | None]:
        return [j.value for j in self.jobs]

    @property
    def runs(self) -> list[str]:
        return [j.run for j in self.jobs]

    def close(self) -> None:
        """State, value (mean over seeds) and std from its runs, once none is pending or running.
        A pruned trial stays pruned; otherwise the worst run decides: crashed, failed, stopped,
        else complete. A pruned trial's value is over the runs that got to their metric."""
        states = {j.state for j in self.jobs}
        if states & {"pending", "running"}:
            return
        if self.state != "pruned":
            self.state = next((s for s in ("crashed", "failed", "stopped") if s in states), "complete")
        values = [j.value for j in self.jobs if j.value is not None]
        if self.state == "complete" and len(values) != len(self.jobs):
            self.state = "failed"  # a run completed without the metric
        ok = self.state in ("complete", "pruned") and values
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
    state: str = "running"  # running, completed, stopped, failed
    started: float = field(default_factory=time.time)
    ended: float | None = None
    pid: int | None = None
    pid_start: str | None = None
    host: str | None = None
    total_trials: int = 0
    trials: list[Trial] = field(default_factory=list)
    error: str | None = None

    def best(self) -> Trial | None:
        done = [t for t in self.trials if t.state == "complete" and t.value is not None]
        if not done:
            return None
        return (max if self.direction == "maximize" else min)(done, key=lambda t: t.value)

    def to_dict(self) -> dict:
        out = asdict(self)
        for t, raw in zip(self.trials, out["trials"]):
            raw["runs"], raw["values"] = t.runs, t.values
        best = self.best()
        out["best"] = None if best is None else {"trial": best.number, "params": best.params, "value": best.value,
                                                 "std": best.std, "runs": best.runs}
        out["steps"] = sum(j.steps for t in self.trials for j in t.jobs)
        return out

    def result_line(self) -> dict:
        """What `lab sweep --json` prints at the end."""
        d = self.to_dict()
        return {"sweep": self.id, "state": self.state, "best": d["best"] and {"params": d["best"]["params"], "value": d["best"]["value"]},
                "trials": [{"number": t.number, "params": t.params, "runs": t.runs, "values": t.values, "value": t.value,
                            "std": t.std, "state": t.state} for t in self.trials],
                "steps": d["steps"]}

    @classmethod
    def from_dict(cls, d: dict) -> SweepRecord:
        d = dict(d)
        d.pop("best", None)
        d.pop("steps", None)
        trials = []
        for t in d.pop("trials", []):
            t = dict(t)
            t.pop("runs", None)
            t.pop("values", None)
            jobs = [Job(**j) for j in t.pop("jobs", [])]
            trials.append(Trial(jobs=jobs, **t))
        known = set(cls.__dataclass_fields__)
        return cls(trials=trials, **{k: v for k, v in d.items() if k in known})

    # --- the process that runs the sweep: is it alive?
    @property
    def live_state(self) -> str:
        """The recorded state; 'crashed' when the sweep's process died while running."""
        if self.state == "running":
            from lab.summary import Summary

            if not store.process_alive(Summary(pid=self.pid, pid_start=self.pid_start, host=self.host)):
                return "crashed"
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

    def read(self) -> SweepRecord:
        try:
            return SweepRecord.from_dict(json.loads(read_regular(self.json_path)))
        except FileNotFoundError:
            raise BadInput(f"{self.path}: no {SWEEP_JSON}; not a sweep folder") from None
        except (OSError, ValueError, TypeError) as e:
            raise BadInput(f"{self.json_path}: cannot be read ({getattr(e, 'strerror', None) or e})") from None


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
        raise BadInput(f"sweep '{ref}' is ambiguous: {len(prefixed)} sweeps start with it; give more of the id")
    named = [s for s in sweeps if s.id[16:-5] == ref]  # yyyymmdd-hhmmss-NAME-abcd
    if named:
        return named[-1]
    root = store.runs_root(runs_dir)
    known = [s.id for s in sweeps] + sorted({s.id[16:-5] for s in sweeps})
    raise BadInput(f"no sweep '{ref}' in {root}{did_you_mean(ref, known)}; `lab runs` lists sweeps")
