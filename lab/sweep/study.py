"""The Optuna study behind a sweep: which settings to try next, and which trials to prune.

Every backend asks and tells through this one place (ask/tell: the runs themselves never talk to
Optuna). The study is an SQLite file in the sweep folder, so a stopped sweep resumes where it was.
Choices that Optuna cannot store (lists, tables) are stored as their TOML text and read back.
Intermediate values are reported per evaluation index (1st, 2nd, ... evaluation of a trial), so
trials whose settings change the rollout size still compare at the same point.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from lab.store import STUDY_DB
from lab.sweep.record import COMPLETE, PRUNED
from lab.sweep.spec import Range, SweepSpec


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, (bool, int, float, str))


def _encode(choices: list) -> list:
    return [c if _scalar(c) else "toml:" + json.dumps(c) for c in choices]


def _decode(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("toml:"):
        return json.loads(value[5:])
    return value


class Study:
    def __init__(self, spec: SweepSpec, folder: Path, seed: int = 0):
        import optuna

        optuna.logging.set_verbosity(logging.WARNING)
        self.spec, self.optuna = spec, optuna
        s = spec.sweep
        self.space = {k: v if isinstance(v, Range) else _encode(v) for k, v in s.params.items()}
        if s.method in ("grid", "random"):  # a grid asks for each combination by name (`ask(params)`)
            sampler = optuna.samplers.RandomSampler(seed=seed)
        else:  # tpe; parallel workers ask before the others tell: the constant liar keeps them apart
            sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(8, max(s.trials // 3, 2)),
                                                 constant_liar=True)
        if s.pruner == "median":
            # a trial is stopped at an evaluation when its value is below the median of earlier
            # trials' values at that evaluation; the first 4 trials always finish
            pruner = optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=0, n_min_trials=2)
        elif s.pruner == "asha":
            pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
        else:
            pruner = optuna.pruners.NopPruner()
        self.storage = f"sqlite:///{Path(folder).resolve() / STUDY_DB}"
        self.study = optuna.create_study(study_name="sweep", storage=self.storage, sampler=sampler, pruner=pruner,
                                         direction=s.direction, load_if_exists=True)

    # --- asking
    def ask(self, params: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        """A new trial: (its Optuna number, its settings). `params` asks for these settings again
        (a trial to rerun after a crash or a stop)."""
        if params is not None:
            self.study.enqueue_trial({k: v if isinstance(self.space[k], Range) else _encode([v])[0]
                                      for k, v in params.items()}, skip_if_exists=False)
        trial = self.study.ask()
        out = {}
        for key, space in self.space.items():
            if isinstance(space, Range):
                if space.int_:
                    out[key] = trial.suggest_int(key, int(space.low), int(space.high), log=space.log)
                else:
                    out[key] = trial.suggest_float(key, float(space.low), float(space.high), log=space.log)
            else:
                out[key] = _decode(trial.suggest_categorical(key, space))
        return trial.number, out

    # --- telling
    def _trial(self, number: int):
        return self.optuna.trial.Trial(self.study, self.study._storage.get_trial_id_from_study_id_trial_number(
            self.study._study_id, number))

    def report(self, number: int, index: int, value: float) -> bool:
        """Report a trial's value at its `index`-th evaluation; True when it should be pruned."""
        trial = self._trial(number)
        trial.report(value, index)
        return trial.should_prune()

    def tell(self, number: int, value: float | None = None, state: str = COMPLETE) -> None:
        """A trial's end: its value (complete), or pruned / failed (a crash, a stop)."""
        TrialState = self.optuna.trial.TrialState
        st = {COMPLETE: TrialState.COMPLETE, PRUNED: TrialState.PRUNED}.get(state, TrialState.FAIL)
        if st == TrialState.COMPLETE and value is None:
            st = TrialState.FAIL
        frozen = self.study._storage.get_trial(self.study._storage.get_trial_id_from_study_id_trial_number(
            self.study._study_id, number))
        if frozen.state.is_finished():
            return
        self.study.tell(number, value if st == TrialState.COMPLETE else None, state=st)

    def importance(self) -> dict[str, float]:
        """Each setting's importance for the metric (Optuna's fANOVA), over completed trials; {}
        when there are too few, or one setting only."""
        import warnings

        completed = self.study.get_trials(deepcopy=False, states=(self.optuna.trial.TrialState.COMPLETE,))
        if len(completed) < 3 or len(self.space) < 1:
            return {}
        if len(self.space) == 1:
            return {next(iter(self.space)): 1.0}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return dict(self.optuna.importance.get_param_importances(
                    self.study, evaluator=self.optuna.importance.FanovaImportanceEvaluator(seed=0)))
        except (RuntimeError, ValueError, ImportError):
            return {}


def open_study(spec: SweepSpec, folder) -> Study:
    """The study of a sweep folder whose record `folder.read()` has checked (study.db with it);
    SweepCorrupt, one line, when Optuna still cannot open it (another Optuna's schema, ...)."""
    from lab.errors import one_line
    from lab.sweep.record import SweepCorrupt

    try:
        return Study(spec, folder.path)
    except Exception as e:  # SQLAlchemy's, Optuna's and sqlite3's errors alike
        raise SweepCorrupt(f"{STUDY_DB}: Optuna cannot open it ({type(e).__name__}: {one_line(e, 160)})") from None
