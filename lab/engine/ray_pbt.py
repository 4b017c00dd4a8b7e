"""Population-based training on Ray Tune (`[pbt] backend = "ray"`): the same `[pbt]` table, one
member a Tune trial, through Tune's PopulationBasedTraining scheduler, for populations that
outgrow one machine.

Each trial trains one member on lab's torch engine (the agent of a population of 1, seeded as
the population's member m is) and reports, every `pbt.interval` steps, its fitness (the mean
return of its episodes since its last report) with a checkpoint: the member's resumable state.
Tune's scheduler ranks the trials and makes the bottom ones go on from a top one's checkpoint
with explored settings; `LabPBT` only keeps each trial's member number through that, keeps
perturbed values inside their ranges (Tune's `custom_explore_fn`) and writes each round into
the run's events as the engine does. At the end every member's final weights are loaded into
the run's population agent, which lab.rl.train evaluates and delivers as it does any population:
the run folder, its events and its summary have the same shape as on the engine.

Ray here listens on the loopback only (lab.ray_local). Tune's own storage (its checkpoints) is
the run folder's `tune/`; on a cluster of several machines it must be shared storage.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

from lab.ray_local import RAY_ENV

os.environ.update(RAY_ENV)  # before Ray is imported: this module is imported only for backend "ray"
# a stop (SIGINT, `lab stop`) is lab's to handle (the run stops at the trials' next reports, StopWhenAsked),
# not Tune's, which would end the experiment as if it had finished
os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"

try:
    from ray.tune.schedulers import PopulationBasedTraining
    from ray.tune.stopper import Stopper
except ImportError:  # the ray extra is missing: lab.ray_local.connect says so
    PopulationBasedTraining = Stopper = object

_DRIVERS: dict[int, Driver] = {}  # Tune pickles its scheduler and stopper: they find their driver by key


class TrialTracker:
    """The tracker hooks a trial's agent calls: its episodes' returns since the last report,
    and at the first rollout boundary every `interval` steps a report to Tune with a checkpoint."""

    stops_at_boundary = True

    def __init__(self, agent, member: int, interval: int, step: int):
        self.agent, self.member, self.interval = agent, member, interval
        self.next_report = step + interval
        self.returns: list[float] = []
        self.lengths: list[int] = []

    def episode(self, step: int, ret: float, length: int) -> None:
        self.returns.append(float(ret))
        self.lengths.append(int(length))

    def metrics(self, step: int, values: dict) -> None:
        pass

    def step(self, step: int) -> bool:
        return True

    def evolved(self, record: dict) -> None:
        pass

    def boundary(self, step: int) -> bool:
        if step >= self.next_report:
            self.report(step, ranked=True)
            self.next_report = step + self.interval
        return True

    def report(self, step: int, ranked: bool) -> None:
        """Tune's report: the episodes since the last one, their mean return (the fitness PBT
        ranks by; not at the end, `final`) and the member's resumable state as the checkpoint."""
        from ray import tune

        fitness = sum(self.returns) / len(self.returns) if self.returns else math.nan
        metrics = {"step": int(step), "member": self.member, "returns": self.returns, "lengths": self.lengths,
                   "fitness": fitness, "final": not ranked}
        with tempfile.TemporaryDirectory(prefix="lab-pbt-") as d:
            files, state = self.agent.save_resumable(lambda name: Path(d) / name, "agent")
            (Path(d) / "state.json").write_text(json.dumps({"step": int(step), "agent": state}))
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(d))
        self.returns, self.lengths = [], []


def member_spec(spec, member: int, config: dict):
    """The spec of one member as a run of its own: population 1, the population's member's seed,
    the trial's values of the explored settings; compiled only where the run says 'on' (a trial
    restarts at every round: compiling each time would not pay)."""
    agent = spec.agent.model_copy(update={k: config[k] for k in spec.pbt.explore})
    return spec.model_copy(update={"population": 1, "seed": spec.seed + member, "pbt": None, "members": {},
                                   "agent": agent, "compile": "on" if spec.compile == "on" else "off"})


def _member_trial(config: dict, spec, device: str) -> None:
    """One member as a Tune trial: from its checkpoint (its own after a pause, a better member's
    after an exploit) or from the start, to the end of training."""
    import torch
    from ray import tune

    torch.set_num_threads(spec.threads)
    m = int(config["member"])
    mspec = member_spec(spec, m, config)
    agent = mspec.implementation()(mspec, device)
    step = 0
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as d:
            state = json.loads((Path(d) / "state.json").read_text())
            step = int(state["step"])
            agent.load_resumable({"agent": Path(d) / "agent.pt"}, state["agent"], reseed=mspec.seed + step)
    tracker = TrialTracker(agent, m, spec.pbt.interval, step)
    agent.learn(tracker)
    tracker.report(max(agent.live[0], step), ranked=False)  # the final weights (no ranking at the end)


def _keep_in_ranges(config: dict, ranges: dict) -> dict:
    """Tune's custom_explore_fn: a perturbed value back inside its range (lab's rule)."""
    for name, (lo, hi) in ranges.items():
        config[name] = min(max(config[name], lo), hi)
    return config


class LabPBT(PopulationBasedTraining):
    """Tune's PopulationBasedTraining, which decides; this keeps a trial's member number when it
    takes a better trial's config, and hands each copy and each round to the driver."""

    def __init__(self, key: int, **kw):
        super().__init__(**kw)
        self.key = key

    def _get_new_config(self, trial, trial_to_clone):
        config, operations = super()._get_new_config(trial, trial_to_clone)
        config["member"] = trial.config["member"]  # the trial stays the member it is
        return config, operations

    def _exploit(self, tune_controller, trial, trial_to_clone):
        super()._exploit(tune_controller, trial, trial_to_clone)
        if trial.config.get("member") is not None:  # (_exploit returns early where it copies nothing)
            _DRIVERS[self.key].copied(trial, trial_to_clone,
                                      self._trial_state[trial].last_score, self._trial_state[trial_to_clone].last_score)

    def on_trial_result(self, tune_controller, trial, result):
        driver = _DRIVERS[self.key]
        driver.result(trial, result)  # episodes and progress first
        if result.get("final"):  # the end of training: no round
            return self.CONTINUE
        decision = super().on_trial_result(tune_controller, trial, result)
        driver.maybe_round(result)  # a round is complete once every member reported its step
        return decision


class StopWhenAsked(Stopper):
    def __init__(self, key: int):
        self.key = key

    def __call__(self, trial_id, result) -> bool:
        return False

    def stop_all(self) -> bool:
        return _DRIVERS[self.key].tracker.ctx.stop_requested


class Driver:
    """The run's side of the Tune run: what the trials report, into the run's events (episodes,
    progress, PBT's rounds) through lab.rl.train's tracker; at the end, the members' weights."""

    def __init__(self, agent, tracker):
        self.agent, self.tracker, self.spec = agent, tracker, agent.spec
        self.steps = [0] * self.spec.population
        self.fitness: dict[int, dict[int, float]] = {}  # step -> member -> fitness
        self.copies: list[dict] = []  # since the last round
        self.emitted = 0

    def result(self, trial, result: dict) -> None:
        m, step = int(trial.config["member"]), int(result["step"])
        for ret, length in zip(result.get("returns") or [], result.get("lengths") or []):
            self.tracker.episode(step, ret, length)
        self.steps[m] = step
        if not result.get("final"):
            self.fitness.setdefault(step, {})[m] = result["fitness"]
        self.tracker.step_count = min(self.steps)
        self.tracker.progress()

    def copied(self, trial, parent, fitness: float, parent_fitness: float) -> None:
        m, p = int(trial.config["member"]), int(parent.config["member"])
        values = {k: float(trial.config[k]) for k in self.agent.pbt.values}
        for k, v in values.items():
            self.agent.pbt.values[k][m] = v
        self.copies.append({"member": m, "parent": p, "fitness": round(float(fitness), 4),
                            "parent_fitness": round(float(parent_fitness), 4), "hyperparameters": values})

    def maybe_round(self, result: dict) -> None:
        step = int(result["step"])
        got = self.fitness.get(step, {})
        if result.get("final") or len(got) < self.spec.population or step <= self.emitted:
            return
        import numpy as np

        pbt = self.agent.pbt
        pbt.fitness = np.array([got[m] for m in range(self.spec.population)], dtype=float)
        self.tracker.evolved(pbt.record_round(step, self.copies))
        self.copies, self.emitted = [], step


def learn_on_ray(agent, tracker) -> None:
    """Train `agent`'s population (its spec has [pbt] backend = "ray") as Tune trials; at the end
    the agent holds every member's final weights and PBT's record, and the tracker the step."""
    import torch

    from lab.ray_local import connect
    from lab.rl import resumable
    from lab.rl.pbt import first_values, quantile

    spec, table = agent.spec, agent.spec.pbt
    connection = connect(table.ray_address, table.cpus, "pbt.ray_address", "pbt.backend")
    from ray import tune

    first = first_values(spec)
    mutations, ranges = {}, {}
    for name, how in table.explore.items():
        if how.values is not None:
            mutations[name] = list(how.values)
        else:
            mutations[name] = (tune.loguniform if how.log else tune.uniform)(*how.range)
            ranges[name] = tuple(how.range)
    driver = Driver(agent, tracker)
    key = id(driver)
    _DRIVERS[key] = driver
    param_space = {"member": tune.grid_search(list(range(spec.population))),
                   **{name: tune.sample_from(lambda s, values=values: values[s.config.member])
                      for name, values in first.items()}}
    scheduler = LabPBT(key, time_attr="training_iteration", perturbation_interval=1, metric="fitness", mode="max",
                       hyperparam_mutations=mutations, quantile_fraction=quantile(spec.population, table.fraction)
                       / spec.population, resample_probability=table.resample_probability,
                       perturbation_factors=tuple(table.factors), synch=True, require_attrs=False,
                       custom_explore_fn=lambda c: _keep_in_ranges(c, ranges))
    storage = (tracker.ctx.run.path / "tune").resolve()
    tuner = tune.Tuner(
        tune.with_resources(tune.with_parameters(_member_trial, spec=spec, device=str(agent.device)), {"cpu": 1}),
        param_space=param_space,
        # every trial at once (PBT pauses them in turn); a paused trial goes on in a worker that has lab imported
        tune_config=tune.TuneConfig(scheduler=scheduler, num_samples=1, reuse_actors=True),
        run_config=tune.RunConfig(name="pbt", storage_path=str(storage), verbose=0, stop=StopWhenAsked(key),
                                  checkpoint_config=tune.CheckpointConfig(num_to_keep=4)))
    import warnings

    # Tune's advice for class trainables with reset_config; a trial here is a function that restarts from a checkpoint
    warnings.filterwarnings("ignore", message="Consider boosting PBT performance", category=UserWarning)
    tracker.ctx.log(f"population-based training on Ray Tune: {spec.population} trials, {table.cpus} at once, "
                    f"Tune's storage in {tracker.ctx.relpath(storage)}")
    try:
        grid = tuner.fit()
        failed = [r for r in grid if r.error is not None]
        if failed:
            r = failed[0]
            raise RuntimeError(f"member {r.config.get('member')} failed on Ray: {type(r.error).__name__}: "
                               f"{str(r.error).strip().splitlines()[-1] if str(r.error).strip() else ''}")
        state = agent.net.state_dict()
        with torch.no_grad():
            for r in grid:
                m = int(r.config["member"])
                if r.checkpoint is None:  # stopped before its first report: it stays as it started
                    if tracker.ctx.stop_requested:
                        continue
                    raise RuntimeError(f"member {m} ended on Ray without a checkpoint")
                with r.checkpoint.as_directory() as d:
                    saved = resumable.load(Path(d) / "agent.pt", agent.device, resumable.bound(agent))
                    driver.steps[m] = int(json.loads((Path(d) / "state.json").read_text())["step"])
                for k, v in state.items():
                    v[m] = saved["net"][k][0]
                for k, values in agent.pbt.values.items():  # the values it ended with
                    values[m] = float(r.config[k])
        tracker.step_count = min(driver.steps)
    finally:
        _DRIVERS.pop(key, None)
        connection.close()
