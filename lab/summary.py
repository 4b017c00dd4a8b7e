"""The schema of a run's `summary.json`: the one place its keys are named.

Jobs write it through `RunContext.update_summary` (which validates every field here) and every
reader gets a `Summary` back from `lab.store`. Reading is lenient so that run folders written
by older versions of lab stay readable: every field has a default and unknown keys are kept.
Writing is strict: a results key this schema does not name is a programming error.
"""

from __future__ import annotations

import json
import math
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lab.events import finite
from lab.files import json_data

class RunState(StrEnum):
    """A run's state (a sweep's too). A run writes RUNNING, then COMPLETED, FAILED or STOPPED
    (summary.json's `state`); readers add CRASHED (its process died without saying so) and
    CORRUPT (its summary cannot be read). A str: it equals its value, and JSON writes it as that."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    STOPPED = "stopped"
    CRASHED = "crashed"
    CORRUPT = "corrupt"


STATES = (RunState.RUNNING, RunState.COMPLETED, RunState.FAILED, RunState.STOPPED)  # what a run writes


class _Record(BaseModel):
    model_config = ConfigDict(extra="allow", validate_assignment=True)


class Progress(_Record):
    """The run's last progress event (`RunContext.emit`): how far it is, for whoever reads the
    summary rather than the events (the runs table, `lab runs`, the API)."""

    step: int = 0
    total: int | None = None
    fraction: float | None = None
    phase: str | None = Field(None, description="the part of a job of several parts the fraction is of ('train', "
                              "'explain', 'compare', 'robustness', 'prerequisite'); None for a run of one part (RL training)")
    method: str | None = Field(None, description="what the phase works on: a method, or a prerequisite's experiment")


class Results(_Record):
    """What a run produced. RL runs fill the first group, attribution runs the second."""

    # RL
    final_eval_return_mean: float | None = None
    final_eval_return_std: float | None = None
    final_eval_episodes: int | None = None
    final_eval_length_mean: float | None = None
    best_eval_return_mean: float | None = None
    best_eval_step: int | None = None
    rolling_return: float | None = None
    episodes: int | None = None
    steps_per_second: float | None = None
    total_steps: int | None = None
    train_seconds: float | None = None
    policy: str | None = Field(None, description="the delivered checkpoint, relative to the run folder")
    # RL populations (population > 1): the final_eval_* fields above are over members' means
    population: int | None = None
    final_eval_return_min: float | None = None
    best_member: int | None = Field(None, description="the member the run delivers (lab eval, attribution)")
    members: list[dict[str, Any]] | None = Field(None, description="per member: seed, settings, final and best evaluation")
    pbt: dict[str, Any] | None = Field(None, description="population-based training: backend, evolve, rounds, copies "
                                       "(each member's lineage and final hyperparameters are in `members`)")
    # attribution: the classifier
    test_accuracy: float | None = None
    test_macro_f1: float | None = None
    test_roc_auc: float | None = None
    confusion_matrix: list[list[int]] | None = None
    epochs: int | None = None
    best_epoch: int | None = None
    best_val_loss: float | None = None
    # attribution: an RL policy as the model
    policy_run: str | None = None
    rollout_states: int | None = None
    module_matches_agent: float | None = None
    policy_final_eval_return_mean: float | None = None
    # attribution: the explanation
    source_run: str | None = None
    samples_explained: int | None = None
    methods: list[str] | None = None
    skipped_methods: dict[str, str] | None = None
    most_faithful_method: str | None = None
    seconds_per_sample: dict[str, float | None] | None = None
    implementations: dict[str, str] | None = Field(None, description="per method, what computed it (lab's batched "
                                                   "path or the reference package)")
    deletion_auc: dict[str, float | None] | None = None
    random_deletion_auc: float | None = None
    best_ranked_method: str | None = Field(None, description="first across the metrics (LATEC's median-standardised aggregate)")
    failing_sanity_check: list[str] | None = Field(None, description="methods whose maps stay alike when the model's weights are randomised")
    population_agreement: dict[str, float | None] | None = Field(None, description="per method, Spearman between the members of a population explained on the same states")
    relied_on_by_all_members: dict[str, list[str]] | None = Field(None, description="per method, the features in every member's top k")
    # attribution: [robustness] (artifacts/robustness.json has the curves)
    robustness_epsilon: float | None = Field(None, description="the largest epsilon of the robustness grid")
    robust_accuracy: dict[str, dict[str, float]] | None = Field(None, description="per model: clean accuracy and accuracy per attack at robustness_epsilon")
    robust_return: dict[str, float] | None = Field(None, description="a policy's mean return per observation attack at robustness_epsilon")

    def __getitem__(self, key: str):
        """results["final_eval_return_mean"] for scripts written against the dict of lab 0.1."""
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None

    def get(self, key: str, default=None):
        return getattr(self, key, default)


class Summary(_Record):
    """summary.json. `state` is what the run recorded; `lab.store.Run.state` adds crash detection."""

    id: str | None = None
    experiment: str = "?"
    kind: str = "rl"
    state: str = RunState.CRASHED
    started: float | None = None
    ended: float | None = None
    duration_seconds: float | None = None
    algo: str | None = None
    env: str | None = None
    env_path: str | None = Field(None, description="how the torch engine steps the environment: lab's torch <id>, "
                                 "Gymnasium's vector env (numpy on the CPU), or user torch env <module:Class>")
    compile: str | None = Field(None, description="whether the torch engine compiled its gradient step, and why: "
                                "'on (requested)', 'off (auto: ...)'")
    seed: int | None = None
    device: str | None = None
    device_reason: str | None = None
    threads: int | None = None
    progress: Progress = Field(default_factory=Progress)
    results: Results = Field(default_factory=Results)
    versions: dict[str, str] = Field(default_factory=dict)
    error: str | None = None
    prerequisites: list[str] = Field(default_factory=list, description="runs this run trained or used first")
    sweep: str | None = Field(None, description="the sweep this run is a trial of")
    stop_reason: str | None = Field(None, description="why a stopped run stopped: SIGINT, SIGTERM, SIGHUP (its terminal closed), "
                                                   "or 'pruned' by its sweep")
    segments: list[dict[str, Any]] = Field(
        default_factory=list, description="a resumed run's stretches of training, in order: started, ended, "
                                          "from_step, to_step, state (empty for a run never resumed)")
    # the process that writes the folder: all three must match for lab to signal it
    pid: int | None = None
    pid_start: str | None = None
    host: str | None = None

    def to_json(self) -> str:
        return json.dumps(finite(self.model_dump(mode="json")), indent=2, allow_nan=False) + "\n"

    def seconds_until(self, end: float) -> float | None:
        """How long the run has run by `end` (its `ended`, or now while it runs): from its start,
        less the time a resumed run spent stopped between its segments; so for a finished run
        its `duration_seconds`. The one definition of a run's elapsed time (`Run.seconds`)."""
        if not _number(self.started):
            return None
        start, earlier = self.started, 0.0
        segments = [s for s in self.segments if isinstance(s, dict) and _number(s.get("started"))]
        if len(segments) > 1:
            *before, last = segments
            earlier = sum(max(s["ended"] - s["started"], 0.0) for s in before if _number(s.get("ended")))
            start = max(last["started"], start)
        return earlier + max(end - start, 0.0)


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


class SummaryError(ValueError):
    """summary.json does not hold a summary (one line saying why)."""


def parse(text: str | bytes) -> Summary:
    """A summary as lab writes them; SummaryError (one line) for anything else: not JSON, nested
    too deeply, a field of the wrong type, a number no run has (`implausible`)."""
    if len(text) > MAX_BYTES:  # (a reader passes at most MAX_BYTES + 1: read_regular's limit)
        raise SummaryError(f"summary.json: over {MAX_BYTES >> 20} MiB, more than any run writes")
    data = text.encode() if isinstance(text, str) else text
    if sum(data.count(c) for c in (b",", b"[", b"{")) > MAX_VALUES:  # objects cost memory, text far less
        raise SummaryError(f"summary.json: more than {MAX_VALUES:,} values, more than any run writes")
    try:
        data = json_data(text)
    except ValueError as e:
        raise SummaryError(f"summary.json: not JSON ({e})") from None
    if not isinstance(data, dict):
        raise SummaryError(f"summary.json: a JSON {type(data).__name__}, not an object")
    try:
        summary = Summary.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise SummaryError(f"summary.json: {where}: {err['msg']}") from None
    problem = implausible(summary)
    if problem is not None:
        raise SummaryError(f"summary.json: {problem}")
    return summary


MAX_BYTES = 256 << 20  # a population of 65,536 members writes about 30 MB; a long error is text
MAX_VALUES = 4_000_000  # ... and under a million values (each a comma, or an opening bracket)
MAX_TIME = 10**11  # unix time (the year 5138): a later start or end is no run's
MAX_COUNT = 10**15  # steps and episodes: 100,000 times what a spec may ask for
_RANGES = {  # field -> (lowest, highest) a run can write
    "started": (0, MAX_TIME), "ended": (0, MAX_TIME), "duration_seconds": (0, MAX_TIME),
    "progress.step": (0, MAX_COUNT), "progress.total": (0, MAX_COUNT), "progress.fraction": (0, 1),
    "results.total_steps": (0, MAX_COUNT), "results.episodes": (0, MAX_COUNT), "results.final_eval_episodes": (0, MAX_COUNT),
    "results.best_eval_step": (0, MAX_COUNT), "results.steps_per_second": (0, MAX_COUNT), "results.train_seconds": (0, MAX_TIME),
    "results.population": (1, 65_536), "seed": (0, 2**32), "threads": (1, 4096),
}
CLOCK_STEP_SECONDS = 60  # an end this much before the start is no clock adjustment, but a doctored file


def _all_finite(value) -> bool:
    """Every float in `value` (dicts and lists, however nested) is finite: the dashboard reads a
    thousand summaries as it opens, so this walk names no places (half the time of one that does)."""
    stack = [value]
    while stack:
        value = stack.pop()
        if isinstance(value, float):
            if not math.isfinite(value):
                return False
        elif isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return True


def implausible(summary: Summary) -> str | None:
    """Why a summary that has the right types still cannot be a run's (a damaged or doctored
    file): a number that is not finite (pydantic takes the text 'nan' for a float), out of the
    range lab writes, or a run that ended before it started. None when nothing is wrong."""
    dumped = summary.model_dump()
    if not _all_finite(dumped):  # (then, and only then, the walk that names where)
        stack = [("", dumped)]
        while stack:
            where, value = stack.pop()
            if isinstance(value, float) and not math.isfinite(value):
                return f"{where}: not a finite number ({value})"
            if isinstance(value, dict):
                stack.extend((f"{where}.{k}" if where else str(k), v) for k, v in value.items())
            elif isinstance(value, list):
                stack.extend((f"{where}[{i}]", v) for i, v in enumerate(value))
    for key, (low, high) in _RANGES.items():
        value = dumped
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, (int, float)) and not low <= value <= high:
            return f"{key}: {str(value)[:30]} is not a value a run writes (from {low:,} to {high:,})"
    if summary.started is not None and summary.ended is not None and summary.ended < summary.started - CLOCK_STEP_SECONDS:
        return f"ended: {summary.ended} is before started ({summary.started})"
    return None


def check_known(fields: dict[str, Any]) -> None:
    """Writers may only use keys the schema names (readers tolerate others, for old folders)."""
    unknown = set(fields) - set(Summary.model_fields)
    results = fields.get("results")
    if isinstance(results, dict):
        unknown |= {f"results.{k}" for k in set(results) - set(Results.model_fields)}
    if unknown:
        raise KeyError(f"summary.json has no field {', '.join(sorted(unknown))}; add it to lab/summary.py")

