"""The RL job: train an agent, evaluate it as it learns, deliver the best policy.

Every agent (SB3's or ours) trains through the same `Tracker` hooks: it reports finished
episodes and its losses, and asks after each environment step whether to go on. The tracker
owns everything around learning: progress, periodic deterministic evaluation, the best
checkpoint, early stop at the target return, and stopping on a signal.

Agents follow the agent protocol of lab.rl.agent (`Agent`; `Resumable` for `lab resume`, which
every agent of the algorithm table is; `EvaluatesItself` for lab's torch engine).

Resuming: every `eval.checkpoint_every` steps, at the first boundary after it, the tracker
writes the agent's resumable files (`resume-<step>.*`), a copy of the best checkpoint, and last
`checkpoints/resume.json`: the step, the files, the agent's and the tracker's state and the
global RNGs. resume.json is the commit point (written atomically, naming only complete files),
so a SIGKILL at any moment leaves the previous checkpoint or the new one. A stop (SIGINT) writes
one too, at the step it reached.
"""

from __future__ import annotations

import json
import shutil
import time
import zipfile
from collections import deque
from pathlib import Path

import numpy as np

from lab.rl.agent import EvaluatesItself, Resumable
from lab.rl.evaluate import evaluate
from lab.rl.seeds import EVAL_SEED_OFFSET, FINAL_SEED_OFFSET
from lab.store import atomic_target, write_atomic

PROGRESS_SECONDS = 0.5
SUMMARY_SECONDS = 2.0
RESUME_STATE = "resume.json"  # in checkpoints/: the latest resumable checkpoint
RESUME_STATE_LIMIT = 16 << 20  # bytes: a resume state is tens of kB (its tensors are in files beside it)


def prepare(spec, runs_dir=None, requested: str | None = None, training: bool = True):
    """The Plan of an RL run: its device (`requested`, default the spec's) and why; with
    `training`, once what training allocates is checked against free memory (an evaluation of a
    finished run, `training=False`, allocates a fraction of it)."""
    from lab import memory
    from lab.device import choose_device
    from lab.plan import Plan
    from lab.rl.envs import is_image_space, make_env

    env = make_env(spec)
    observation_space, action_space = env.observation_space, env.action_space
    env.close()
    image = is_image_space(observation_space)
    algo = spec.algo
    from lab.rl.algos import ENGINE_NOTE

    device, reason = choose_device(
        requested or spec.device, algo.device_note,
        why_gpu=ENGINE_NOTE if spec.engine == "torch" else "image observations need a CNN, which runs faster on the GPU" if image else None,
        torch_free=None if algo.uses_torch else f"{algo.name} ({algo.device_note})", source=spec.source)
    if training:
        memory.check_run(spec.footprint(observation_space, action_space), spec.source, device)
    return Plan(device, reason)


def policy_checkpoint(run, spec) -> Path:
    """The checkpoint a run delivers: the one its summary names, else best, else last."""
    from lab.errors import BadInput

    suffix = spec.implementation().suffix
    try:  # a path from the folder's own summary: only ever one inside it
        recorded = [run.inside(run.results.policy, "summary.json: results.policy")] if run.results.policy else []
    except ValueError as e:
        raise BadInput(f"{run.id}: {e}") from None
    for candidate in recorded + [run.checkpoint(f"best{suffix}"), run.checkpoint(f"last{suffix}")]:
        if candidate.is_file():
            return candidate
    raise BadInput(f"{run.id}: no policy checkpoint in {run.checkpoints_dir} (the run saved none before it ended)")


def load_delivered_policy(run, spec, device: str):
    """(agent, checkpoint path) of the policy a run delivers (a population's: its best member).
    Its weights are data: a checkpoint that is missing, corrupt or not this spec's network is
    BadInput, nothing of it runs."""
    from lab.errors import BadInput, checkpoint_error

    path = policy_checkpoint(run, spec)
    try:
        agent = spec.implementation().load(path, spec, device)
        if spec.population > 1:  # a population delivers its best member
            agent.use_member(_member(run.results.best_member or 0, spec.population))
        return agent, path
    except Exception as e:
        raise BadInput(f"{run.id}: {run.relpath(path)} cannot be loaded ({checkpoint_error(e)})") from None


def _finite(v, key: str, low: float = -np.inf) -> float:
    """A number of a resume state: finite (and at least `low`), else ValueError naming the key."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v) or v < low:
        raise ValueError(f"{key}: {v!r} is not a finite number" + (f" >= {low:g}" if low > -np.inf else ""))
    return float(v)


def _count(v, key: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise ValueError(f"{key}: {v!r} is not a count (a whole number >= 0)")
    return v


def _member(m, population: int) -> int:
    if not isinstance(m, int) or not 0 <= m < population:
        raise ValueError(f"its summary names member {m!r} of a population of {population}")
    return m


class Tracker:
    """The hooks an agent calls while it learns."""

    def __init__(self, spec, ctx, agent):
        self.spec, self.ctx, self.agent = spec, ctx, agent
        self.total = spec.agent.total_steps
        self.step_count = 0
        self.episodes = 0
        self.recent = deque(maxlen=100)
        self._recent_sum = 0.0
        self.next_eval = spec.eval.every
        self.next_checkpoint = spec.eval.checkpoint_every
        self.resumable_step: int | None = None  # where the latest resumable checkpoint is
        # an agent with boundaries finishes its rollout on a stop and stops at the next boundary,
        # so that its last checkpoint has nothing half-done
        self.stops_at_boundary = isinstance(agent, Resumable)
        self.last_eval_step = -1
        self.best_mean = -np.inf
        self.best_std = 0.0
        self.best_step = None
        self.best_path: Path | None = None
        self.target_reached = False
        self.started = time.monotonic()
        self.eval_seconds = 0.0
        self._last_progress = self._last_summary = self.started

    # --- called by agents -------------------------------------------------------------
    def episode(self, step: int, ret: float, length: int) -> None:
        self.episodes += 1
        if len(self.recent) == self.recent.maxlen:
            self._recent_sum -= self.recent[0]
        self.recent.append(float(ret))
        self._recent_sum += float(ret)
        self.ctx.emit("episode", step=int(step), length=int(length), rolling_return=round(self._recent_sum / len(self.recent), 4),
                      **{"return": round(float(ret), 4)})

    def metrics(self, step: int, values: dict) -> None:
        clean = {k: float(v) for k, v in values.items() if isinstance(v, (int, float, np.floating, np.integer))}
        if clean:
            self.ctx.emit("metric", step=int(step), values=clean)

    def evolved(self, record: dict) -> None:
        """A round of population-based training (lab.rl.pbt's record): an event with every
        member's fitness and hyperparameters after it, and the copies it made."""
        self.ctx.emit("pbt", **record)
        copies = record["copies"]
        if copies:
            moved = ", ".join(f"{c['member']}<-{c['parent']}" for c in copies[:8]) + (" ..." if len(copies) > 8 else "")
            ranges = "; ".join(f"{k} {min(v):.3g} .. {max(v):.3g}" for k, v in record["hyperparameters"].items())
            self.ctx.log(f"pbt at step {record['step']:,}: {len(copies)} member{'s' if len(copies) > 1 else ''} copied a better one "
                         f"({moved}); {ranges}")

    def step(self, step: int) -> bool:
        """After each env step (of all envs): evaluate when due; False means stop learning."""
        self.step_count = int(step)
        if step >= self.next_eval:
            self.evaluate_now()
            while self.next_eval <= step:
                self.next_eval += self.spec.eval.every
        now = time.monotonic()
        if now - self._last_progress >= PROGRESS_SECONDS:
            self.progress(now)
        return not ((self.ctx.stop_requested and not self.stops_at_boundary) or self.target_reached)

    def boundary(self, step: int) -> bool:
        """Where the agent has nothing half-done (between updates): write a resumable
        checkpoint when one is due, or when a stop was asked for; False: stop now."""
        if (step >= self.next_checkpoint or self.ctx.stop_requested) and self.stops_at_boundary:
            self.step_count = int(step)
            while self.next_checkpoint <= step:
                self.next_checkpoint += self.spec.eval.checkpoint_every
            self.save_resumable()
        return not self.ctx.stop_requested

    # --- owned here -----------------------------------------------------------------------
    def save_resumable(self) -> None:
        ctx, step = self.ctx, self.step_count
        stem = f"resume-{step}"
        files, agent_state = self.agent.save_resumable(ctx.checkpoint, stem)
        if self.best_path is not None and self.best_path.is_file():
            files["best"] = ctx.checkpoint(f"{stem}.best{self.agent.suffix}")
            with atomic_target(files["best"]) as tmp:
                shutil.copyfile(self.best_path, tmp)
        state = {"version": 1, "step": step, "files": {k: ctx.relpath(v) for k, v in files.items()},
                 "agent": agent_state, "tracker": self.state_dict(), "rng": _global_rng_state()}
        path = ctx.checkpoint(RESUME_STATE)
        write_atomic(path, json.dumps(state))
        for old in ctx.run.checkpoints_dir.glob("resume-*"):  # earlier checkpoints' files
            if old not in files.values():
                old.unlink(missing_ok=True)
        self.resumable_step = step
        ctx.emit("checkpoint", step=step, label="resume", path=ctx.relpath(path))

    def state_dict(self) -> dict:
        return {"episodes": self.episodes, "recent": list(self.recent), "next_eval": self.next_eval,
                "last_eval_step": self.last_eval_step, "next_checkpoint": self.next_checkpoint,
                "best_mean": None if self.best_step is None else self.best_mean, "best_std": self.best_std,
                "best_step": self.best_step, "target_reached": self.target_reached,
                "train_seconds": self.train_seconds(), "eval_seconds": self.eval_seconds}

    def restore(self, state: dict, step: int) -> None:
        """The tracker's counters as they were at the checkpoint (ValueError, KeyError or
        TypeError for a state that is not one a tracker wrote); nothing is written."""
        self.step_count = step
        self.episodes = _count(state["episodes"], "episodes")
        recent = state["recent"]
        if not isinstance(recent, list) or len(recent) > self.recent.maxlen:
            raise ValueError(f"recent: not a list of at most {self.recent.maxlen} returns")
        self.recent.clear()
        self.recent.extend(_finite(x, "recent") for x in recent)
        self._recent_sum = float(sum(self.recent))
        self.next_eval, self.last_eval_step = _count(state["next_eval"], "next_eval"), int(state["last_eval_step"])
        self.next_checkpoint = _count(state["next_checkpoint"], "next_checkpoint")
        if self.next_eval <= step - self.spec.eval.every or self.next_checkpoint <= step - self.spec.eval.checkpoint_every:
            raise ValueError(f"next_eval {self.next_eval} or next_checkpoint {self.next_checkpoint} is behind step {step}")
        best_step = state["best_step"]
        if best_step is not None and not (isinstance(best_step, int) and 0 <= best_step <= step):
            raise ValueError(f"best_step {best_step!r} is not within 0 .. {step}")
        self.best_step, self.best_std = best_step, _finite(state["best_std"], "best_std")
        self.best_mean = -np.inf if state["best_mean"] is None else _finite(state["best_mean"], "best_mean")
        self.target_reached = bool(state["target_reached"])
        self.eval_seconds = _finite(state["eval_seconds"], "eval_seconds", 0.0)
        self.started = time.monotonic() - _finite(state["train_seconds"], "train_seconds", 0.0) - self.eval_seconds

    def load_state(self, state: dict, step: int, best: Path | None) -> None:
        """The tracker as it was at the checkpoint; the best checkpoint as it was then too (an
        evaluation after the checkpoint, now undone, may have replaced it)."""
        self.restore(state, step)
        target = self.ctx.checkpoint(f"best{self.agent.suffix}")
        if best is not None:
            with atomic_target(target) as tmp:
                shutil.copyfile(best, tmp)
            self.best_path = target
        else:
            target.unlink(missing_ok=True)

    def train_seconds(self) -> float:
        return time.monotonic() - self.started - self.eval_seconds

    def steps_per_second(self) -> float:
        return self.step_count / max(self.train_seconds(), 1e-9)

    def progress(self, now: float | None = None) -> None:
        now = now or time.monotonic()
        sps = self.steps_per_second()
        remaining = max(self.total - self.step_count, 0)
        fraction = min(self.step_count / self.total, 1.0)
        self.ctx.emit("progress", step=self.step_count, total=self.total, fraction=round(fraction, 4),
                      steps_per_second=round(sps, 1), eta_seconds=round(remaining / sps, 1) if sps > 0 else None,
                      elapsed=round(now - self.started, 2),
                      rolling_return=round(float(np.mean(self.recent)), 4) if self.recent else None)
        self._last_progress = now
        if now - self._last_summary >= SUMMARY_SECONDS:
            self.write_summary()

    def write_summary(self) -> None:
        self.ctx.update_summary(results=self.running_results())  # progress: the last progress event's
        self._last_summary = time.monotonic()

    def running_results(self) -> dict:
        return {
            "best_eval_return_mean": None if self.best_step is None else round(self.best_mean, 4),
            "best_eval_step": self.best_step,
            "rolling_return": round(float(np.mean(self.recent)), 4) if self.recent else None,
            "episodes": self.episodes,
            "steps_per_second": round(self.steps_per_second(), 1),
        }

    def evaluate_members(self, episodes: int, seed: int, agent=None) -> tuple[np.ndarray, np.ndarray]:
        """Returns and lengths (members, episodes) of `agent` (the one learning): on the device
        where the agent evaluates itself (lab's engine, whose environments are Gymnasium's step
        for step: every member at once), else in Gymnasium envs."""
        agent = agent or self.agent
        if isinstance(agent, EvaluatesItself):
            return agent.evaluate(episodes, seed, self.spec.eval.deterministic)
        returns, lengths = evaluate(agent.act, self.spec, episodes, seed, self.spec.eval.deterministic)
        return returns[None], lengths[None]

    def evaluate_now(self) -> None:
        t0 = time.monotonic()
        ev = self.spec.eval
        returns = self.evaluate_members(ev.episodes, self.spec.seed + EVAL_SEED_OFFSET)[0][0]
        mean, std = float(returns.mean()), float(returns.std())
        best = mean > self.best_mean or (mean == self.best_mean and std < self.best_std)
        if best:
            self.best_mean, self.best_std, self.best_step = mean, std, self.step_count
            self.best_path = self.save("best")
        self.last_eval_step = self.step_count
        self.ctx.emit("eval", step=self.step_count, mean=round(mean, 4), std=round(std, 4), episodes=ev.episodes, best=best)
        if ev.target_return is not None and mean >= ev.target_return and not self.target_reached:
            self.target_reached = True
            self.ctx.log(f"target return {ev.target_return:g} reached at step {self.step_count} (eval mean {mean:.2f}): stopping early")
        self.eval_seconds += time.monotonic() - t0
        self.write_summary()

    def save(self, label: str, **how) -> Path:
        path = self.ctx.checkpoint(f"{label}{self.agent.suffix}")
        self.agent.save(path, **how)
        self.ctx.emit("checkpoint", step=self.step_count, label=label, path=self.ctx.relpath(path))
        return path

    def deliver(self, results: dict) -> None:
        """The best policy found by evaluation (RL Zoo's --load-best), with a fresh evaluation."""
        spec, ctx, agent = self.spec, self.ctx, self.agent
        delivered = self.best_path or ctx.checkpoint(f"last{agent.suffix}")
        policy = type(agent).load(delivered, spec, ctx.device)
        returns, lengths = (x[0] for x in self.evaluate_members(spec.eval.final_episodes, spec.seed + FINAL_SEED_OFFSET, policy))
        results.update(
            final_eval_return_mean=round(float(returns.mean()), 4),
            final_eval_return_std=round(float(returns.std()), 4),
            final_eval_episodes=len(returns),
            final_eval_length_mean=round(float(lengths.mean()), 2),
            policy=ctx.relpath(delivered),
        )
        ctx.emit("eval", step=self.step_count, mean=results["final_eval_return_mean"],
                 std=results["final_eval_return_std"], episodes=len(returns), final=True)
        agent.export_artifacts(ctx, policy)
        ctx.update_summary(results=results)
        ctx.log(f"delivered {results['policy']} (best eval at step {self.best_step}): final evaluation "
                f"{results['final_eval_return_mean']:.2f} +/- {results['final_eval_return_std']:.2f} over {len(returns)} episodes")


class PopulationTracker(Tracker):
    """A population's hooks (lab's torch engine, `population` > 1): every member is evaluated at
    once on the device, each member's best weights are kept (best.pt holds every member at its
    best evaluation), and the target return stops the run once every member has reached it.
    Events carry each member's evaluation; the figures of a plain run are over members' means."""

    def __init__(self, spec, ctx, agent):
        super().__init__(spec, ctx, agent)
        n = spec.population
        self.member_best = np.full(n, -np.inf)
        self.member_best_std = np.zeros(n)
        self.member_best_step: list[int | None] = [None] * n

    def state_dict(self) -> dict:
        return {**super().state_dict(), "member_best": [None if s is None else float(b) for b, s in
                                                        zip(self.member_best, self.member_best_step)],
                "member_best_std": self.member_best_std.tolist(), "member_best_step": self.member_best_step}

    def restore(self, state: dict, step: int) -> None:
        super().restore(state, step)
        n = self.spec.population
        best, std, steps = state["member_best"], state["member_best_std"], state["member_best_step"]
        if not all(isinstance(x, list) and len(x) == n for x in (best, std, steps)):
            raise ValueError(f"member_best, member_best_std, member_best_step: not one entry per member ({n})")
        if not all(s is None or isinstance(s, int) and 0 <= s <= step for s in steps):
            raise ValueError(f"member_best_step: not steps within 0 .. {step}")
        self.member_best = np.array([-np.inf if b is None else _finite(b, "member_best") for b in best], dtype=float)
        self.member_best_std = np.array([_finite(x, "member_best_std") for x in std], dtype=float)
        self.member_best_step = list(steps)

    def evaluate_now(self) -> None:
        t0 = time.monotonic()
        ev = self.spec.eval
        returns = self.evaluate_members(ev.episodes, self.spec.seed + EVAL_SEED_OFFSET)[0]
        means, stds = returns.mean(1), returns.std(1)
        improved = (means > self.member_best) | ((means == self.member_best) & (stds < self.member_best_std))
        if improved.any():
            self.member_best[improved], self.member_best_std[improved] = means[improved], stds[improved]
            for m in np.flatnonzero(improved):
                self.member_best_step[m] = self.step_count
            self.agent.record_best(improved)
            self.best_path = self.save("best", best=True)
            self.best_mean, self.best_step = float(self.member_best.mean()), self.step_count
        self.last_eval_step = self.step_count
        self.ctx.emit("eval", step=self.step_count, mean=round(float(means.mean()), 4), std=round(float(means.std()), 4),
                      min=round(float(means.min()), 4), max=round(float(means.max()), 4), episodes=ev.episodes,
                      best=bool(improved.any()), members=[round(float(x), 4) for x in means])
        if ev.target_return is not None and (means >= ev.target_return).all() and not self.target_reached:
            self.target_reached = True
            self.ctx.log(f"target return {ev.target_return:g} reached by every member at step {self.step_count} "
                         f"(lowest eval mean {means.min():.2f}): stopping early")
        self.eval_seconds += time.monotonic() - t0
        self.write_summary()

    def running_results(self) -> dict:
        return {**super().running_results(), "population": self.spec.population}

    def deliver(self, results: dict) -> None:
        """Every member at its best, evaluated afresh; the best of them is the run's policy."""
        spec, ctx, agent = self.spec, self.ctx, self.agent
        delivered = self.best_path or ctx.checkpoint(f"last{agent.suffix}")
        policy = type(agent).load(delivered, spec, ctx.device)
        returns, lengths = self.evaluate_members(spec.eval.final_episodes, spec.seed + FINAL_SEED_OFFSET, policy)
        means = returns.mean(1)
        best = int(np.argmax(means))
        pbt = getattr(agent, "pbt", None)  # population-based training: what each member ended with, and its line
        members = [{"member": m, "seed": spec.seed + m, **_own_settings(spec, m, pbt),
                    "final_eval_return_mean": round(float(means[m]), 4),
                    "best_eval_return_mean": None if self.member_best_step[m] is None else round(float(self.member_best[m]), 4),
                    "best_eval_step": self.member_best_step[m], **(pbt.member_record(m) if pbt else {})}
                   for m in range(spec.population)]
        if pbt is not None:
            results["pbt"] = {"backend": spec.pbt.backend, "evolve": spec.pbt.evolve, "rounds": len(pbt.rounds),
                              "copies": sum(len(r["copies"]) for r in pbt.rounds)}
        results.update(
            population=spec.population,
            final_eval_return_mean=round(float(means.mean()), 4),
            final_eval_return_std=round(float(means.std()), 4),
            final_eval_return_min=round(float(means.min()), 4),
            final_eval_episodes=returns.shape[1],
            final_eval_length_mean=round(float(lengths.mean()), 2),
            best_member=best,
            members=members,
            policy=ctx.relpath(delivered),
        )
        ctx.emit("eval", step=self.step_count, mean=results["final_eval_return_mean"], std=results["final_eval_return_std"],
                 min=results["final_eval_return_min"], max=round(float(means.max()), 4), episodes=returns.shape[1],
                 final=True, members=[round(float(x), 4) for x in means])
        ctx.update_summary(results=results)
        target = spec.eval.target_return
        reached = f"; {int((means >= target).sum())} of {len(means)} at or above {target:g}" if target is not None else ""
        ctx.log(f"delivered {results['policy']} (each member at its best evaluation): final evaluation over "
                f"{returns.shape[1]} episodes each, mean of members {means.mean():.2f} +/- {means.std():.2f}, "
                f"lowest {means.min():.2f}{reached}; best member {best} (seed {spec.seed + best}, {means[best]:.2f})")


def _own_settings(spec, m: int, pbt) -> dict:
    """Member m's [members.agent] settings, less those PBT explores (its record says where they went)."""
    return {k: v for k, v in spec.member_settings(m).items() if pbt is None or k.removeprefix("agent.") not in pbt.values}


def run(spec, ctx, resume: dict | None = None) -> None:
    """The job: train, evaluate as it learns, deliver the best policy with a fresh evaluation;
    with `tensorboard = true`, TensorBoard files of its events in the run folder as it goes.
    `resume`: the `resume_state` of the run's folder, to go on from."""
    if spec.tensorboard:
        from lab.tensorboard import live

        with live(ctx):
            _train(spec, ctx, resume)
    else:
        _train(spec, ctx, resume)


def resumable_algos(engine: str = "gymnasium") -> list[str]:
    """The algorithms whose agents on `engine` can be resumed."""
    from lab.rl.algos import ALGOS

    return [name for name, a in ALGOS.items()
            if (engine != "torch" or a.torch_agent) and issubclass(a.agent_class(engine), Resumable)]


def resume_state(run, spec) -> dict:
    """The latest resumable checkpoint of a run folder: its state with the files' paths; BadInput
    (one line) for an agent without the protocol's resumable hooks, or a checkpoint missing or unreadable."""
    from lab.errors import BadInput, one_line
    from lab.files import open_regular

    if not issubclass(spec.implementation(), Resumable):
        engine = " on lab's torch engine" if spec.engine == "torch" else ""
        raise BadInput(f"{run.id}: '{spec.algo.name}'{engine} runs cannot be resumed (resumable: "
                       f"{', '.join(resumable_algos(spec.engine))})")
    if spec.pbt is not None and spec.pbt.backend == "ray":
        raise BadInput(f"{run.id}: a run with pbt.backend = 'ray' cannot be resumed (its trials' checkpoints are "
                       "Tune's); run it again, or with pbt.backend = \"engine\", whose runs resume")
    path = run.checkpoint(RESUME_STATE)
    if not path.is_file():
        raise BadInput(f"{run.id}: no resumable checkpoint ({run.relpath(path)} is missing: the run ended before "
                       f"its first, due every eval.checkpoint_every = {spec.eval.checkpoint_every:,} steps)")
    try:
        with open_regular(path) as f:
            text = f.read(RESUME_STATE_LIMIT + 1)
        if len(text) > RESUME_STATE_LIMIT:
            raise ValueError(f"larger than the {RESUME_STATE_LIMIT >> 20} MiB a resume state takes")
        state = json.loads(text)
        step = state["step"]
        if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= spec.agent.total_steps:
            raise ValueError(f"step {step!r} is not within 0 .. {spec.agent.total_steps:,}")
        files = {k: run.inside(v, f"its {k} file") for k, v in state["files"].items()}
        for label, file in files.items():
            if not file.is_file():
                raise ValueError(f"its {label} file {state['files'][label]} is missing")
            if file.suffix in (".zip", ".npz", ".pt"):  # SB3's, numpy's and torch's files are zips: a truncated one shows here
                with zipfile.ZipFile(file) as z:
                    # lab's zips are stored, not compressed: one that unpacks to far more than it
                    # holds is forged, and testing it would inflate gigabytes
                    unpacked, held = sum(i.file_size for i in z.infolist()), file.stat().st_size
                    if unpacked > 8 * held + (1 << 20):
                        raise ValueError(f"its {label} file {state['files'][label]} unpacks to {unpacked:,} bytes from "
                                         f"{held:,}: not a file lab wrote (lab's are stored uncompressed)")
                    bad = z.testzip()
                if bad is not None:
                    raise ValueError(f"its {label} file {state['files'][label]} is corrupt ({bad})")
        state["files"] = files
        for key in ("agent", "tracker", "rng"):
            if not isinstance(state[key], dict):
                raise ValueError(f"{key} is not a table")
    except (ValueError, KeyError, TypeError, AttributeError, OSError, RecursionError, zipfile.BadZipFile) as e:
        raise BadInput(f"{run.id}: {run.relpath(path)} is unreadable ({type(e).__name__}: {one_line(e)})") from None
    return state


def load_resume(run, spec, device: str, state: dict) -> dict:
    """`state` (resume_state's) with the agent brought back from it in this process: a fresh
    agent for the spec, its resumable files loaded and checked (weights of this spec's network,
    optimizer, buffers and environments of its shapes), the tracker's state and the global RNGs
    checked too. Before the run folder is touched, so that a checkpoint or spec.toml that does
    not fit is BadInput (one line) and the run stays as it was. `_train` goes on with the agent."""
    import torch

    from lab.errors import BadInput, checkpoint_error

    step = state["step"]
    torch.set_num_threads(spec.threads)  # (put back by the launcher when the resume ends)
    try:
        agent_state = state["agent"]
        if "step" in agent_state and agent_state["step"] != step:
            raise ValueError(f"its agent is at step {agent_state['step']!r}, its tracker at {step}")
        agent = spec.implementation()(spec, device)
        # an agent whose environments cannot be saved whole restarts them from reset, seeded from
        # the step: deterministic, and not the start states the run began with
        agent.load_resumable(state["files"], agent_state, reseed=spec.seed + step)
        if "best" in state["files"]:  # the best policy then, copied back as best: of this spec's shapes too
            type(agent).load(state["files"]["best"], spec, device)
        tracker = (PopulationTracker if spec.population > 1 else Tracker)(spec, None, agent)
        tracker.restore(state["tracker"], step)
        _set_global_rng(state["rng"])  # (set again when training starts; the launcher puts the caller's back)
    except BadInput:
        raise
    except Exception as e:  # whatever the libraries raise for a file that is not what it should be
        raise BadInput(f"{run.id}: its resumable checkpoint (step {step:,}) cannot be loaded: "
                       f"{checkpoint_error(e)}; the run is left as it was") from None
    return {**state, "loaded_agent": agent}


def _global_rng_state() -> dict:
    import random

    import torch

    legacy = np.random.get_state()
    return {"python": [random.getstate()[0], list(random.getstate()[1]), random.getstate()[2]],
            "numpy": [legacy[0], legacy[1].tolist(), *legacy[2:]], "torch": torch.get_rng_state().tolist()}


def _set_global_rng(state: dict) -> None:
    import random

    import torch

    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, np.array(keys, dtype=np.uint32), *rest))
    torch.set_rng_state(torch.tensor(state["torch"], dtype=torch.uint8))


def _train(spec, ctx, resume: dict | None = None) -> None:
    import torch

    torch.set_num_threads(spec.threads)
    algo = spec.algo
    library = "lab's torch engine" if spec.engine == "torch" else algo.library
    if spec.agent_class is not None:
        library += f", agent_class {spec.agent_class}"
    path = {}
    if spec.engine == "torch":  # which of the engine's three ways to its environments this run takes
        path = {"env_path": spec.env_path()}
        decision = spec.compile_decision(torch.device(ctx.device).type)
        ctx.update_summary(**path, compile=f"{'on' if decision.on else 'off'} ({decision.reason})")
        ctx.log(f"compile {'on' if decision.on else 'off'}: {decision.reason}")
    through = f", through {path['env_path']}" if path else ""
    if spec.population > 1:
        ctx.log(f"{algo.title} ({library}) on {spec.env.id}: a population of {spec.population} (seeds {spec.seed} .. "
                f"{spec.seed + spec.population - 1}), each x{spec.env.n_envs} envs and {spec.agent.total_steps:,} steps"
                f"{through}", **path)
    else:
        ctx.log(f"{algo.title} ({library}) on {spec.env.id} x{spec.env.n_envs}, {spec.agent.total_steps:,} steps, "
                f"seed {spec.seed}{through}", **path)
    # a resumed run's agent was brought back by `load_resume`, before the folder was touched
    agent = spec.implementation()(spec, ctx.device) if resume is None else resume["loaded_agent"]
    tracker = (PopulationTracker if spec.population > 1 else Tracker)(spec, ctx, agent)
    if resume is not None:
        step, files = resume["step"], resume["files"]
        tracker.load_state(resume["tracker"], step, files.get("best"))
        _set_global_rng(resume["rng"])
        ctx.log(f"resumed at step {step:,} of {spec.agent.total_steps:,} from {ctx.relpath(ctx.checkpoint(RESUME_STATE))}")
    try:
        if spec.pbt is not None and spec.pbt.backend == "ray":
            tracker.stops_at_boundary = False  # no resumable checkpoints of lab's: the trials' are Tune's
            agent.learn_on_ray(tracker)
        else:
            agent.learn(tracker)
    except ValueError as e:
        if "invalid values" not in str(e) and "nan" not in str(e).lower():
            raise
        # torch.distributions refuses NaN parameters with the whole tensor in its message
        raise RuntimeError(f"training diverged near step {tracker.step_count:,}: the policy's outputs became NaN; "
                           "lower agent.learning_rate or agent.max_grad_norm") from None
    tracker.progress()  # the step reached, also when stopped, goes into every summary written after
    stopped = ctx.stop_requested
    if not stopped and tracker.last_eval_step != tracker.step_count:
        tracker.evaluate_now()  # the final policy is a candidate too
    tracker.save("last")
    if stopped and tracker.stops_at_boundary and tracker.resumable_step != tracker.step_count:
        tracker.save_resumable()  # `lab resume` goes on from here
    results = {**tracker.running_results(), "total_steps": tracker.step_count,
               "train_seconds": round(tracker.train_seconds(), 2)}
    if stopped:
        ctx.update_summary(results=results)
        return
    tracker.deliver(results)
