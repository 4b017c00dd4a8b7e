"""What every agent on lab's torch engine does the same way, around its algorithm: building its
environments, evaluating on the device, acting, checkpoints and resuming (the agent protocol of
lab.rl.agent), and compiling its gradient step (`compile`).

An agent keeps M members (`spec.population`; 1 for a plain run). A subclass builds `net` (every
member's weights) and gives `learn(tracker)`, `scores_module()` and, where its policy is not a
distribution (`net.policy(obs)`), `policy_actions`. `save_resumable` keeps what an on-policy
`learn` leaves in `live`; an agent with more state (DQN's replay buffer) overrides it.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lab.engine.legacy import upgrade_net_state, upgrade_optimizer_state
from lab.rl import resumable
from lab.rl.params import schedule
from lab.store import ARCHIVE_SLACK, read_torch, tensor_bytes, write_torch


def _at(value, progress_remaining: float) -> float:
    rate = schedule(value)
    return rate(progress_remaining) if callable(rate) else rate


def report_episodes(tracker, done_buf, ep_ret_buf, ep_len_buf, first_step: int, n_envs: int) -> None:
    """The finished episodes of buffers (steps, ..., n_envs) (every member's, where there are
    members) to the tracker, in step order: one transfer to the host."""
    where = done_buf.nonzero(as_tuple=True)
    rets, lens = ep_ret_buf[where].tolist(), ep_len_buf[where].tolist()
    for ti, r, n in zip(((where[0] + 1) * n_envs + first_step).tolist(), rets, lens):
        tracker.episode(ti, r, n)


def diverged(loss: float) -> None:
    """A NaN loss ends the run; lab.rl.train turns this into 'training diverged near step N ...'."""
    if not math.isfinite(loss):
        raise ValueError("the policy's outputs became nan")


class ActorScores(nn.Module):
    """Observations -> one member's actor output (what attribution explains)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net.scores(obs)[0]


class EngineAgent:
    suffix = ".pt"
    member_settings: tuple[str, ...] = ()  # the settings that may differ per member (the algorithm table's)

    def __init__(self, spec, device: str):
        from lab.engine import env_spaces

        self.spec, self.device = spec, torch.device(device)
        self.members = spec.population
        self.spaces = env_spaces(spec.env)
        act_space = self.spaces[1]
        self.continuous = act_space.shape != ()
        self.low = torch.as_tensor(act_space.low, device=self.device) if self.continuous else None
        self.high = torch.as_tensor(act_space.high, device=self.device) if self.continuous else None
        torch.manual_seed(spec.seed)
        self.net: nn.Module  # every member's weights (a subclass builds it)
        self.acting: nn.Module  # the network `act` and attribution use: one member's (use_member)
        self.best_state: dict | None = None  # each member's weights at its best evaluation (populations)
        self.resumed: dict | None = None  # the training state `load_resumable` brought back, for learn
        self.live: tuple = ()  # learn's state at its latest boundary (save_resumable's)
        # population-based training ([pbt]): the members' current values of the settings it explores
        self.pbt = None
        if spec.pbt is not None:
            from lab.rl.pbt import Evolution

            self.pbt = Evolution(spec)
            self.pbt_fitness = torch.zeros((2, self.members), device=self.device)  # returns, episodes since its last round

    def hyper(self, key: str, progress_remaining: float = 1.0) -> torch.Tensor:
        """agent.<key> of each member at this point of training (schedules evaluated; PBT's
        current values of a setting it explores): (M,)."""
        if self.pbt is not None and key in self.pbt.values:
            return torch.as_tensor(self.pbt.values[key], dtype=torch.float32, device=self.device)
        return torch.tensor([_at(v, progress_remaining) for v in self.spec.member_values(key)], device=self.device)

    def compiled(self, fn, rollout: bool = False):
        """`fn` compiled with torch.compile where the run's `compile` setting says so, in CUDA
        graphs where it says that (mode 'reduce-overhead'); else `fn` itself. `rollout`: a step
        of the rollout, compiled only into CUDA graphs (on a CPU compiling it did not pay)."""
        from lab.engine.compiling import compile_decision

        decision = compile_decision(self.spec, self.device.type)
        if not decision.on or (rollout and not decision.cuda_graphs):
            return fn
        return torch.compile(fn, mode="reduce-overhead" if decision.cuda_graphs else None)

    def make_env(self, num_envs: int, seed: int):
        from lab.engine import make_env

        return make_env(self.spec.env, num_envs, self.device, seed)

    def env_actions(self, actions: torch.Tensor) -> torch.Tensor:
        """Actions (M, envs, ...) as the batched env takes them: (M x envs, ...), clipped to a Box's bounds."""
        if self.continuous:
            actions = actions.clamp(self.low, self.high)
        return actions.reshape(-1, *self.spaces[1].shape)

    def start(self, env, optimizer, shape: tuple[int, ...]):
        """(step, obs, episode returns, episode lengths) to learn from: a fresh start, or where
        `load_resumable` left off (the environments restored whole where they can be; otherwise
        reset with the resume seed: deterministic, not the states the run was in)."""
        zeros = torch.zeros(shape, device=self.device)
        if self.resumed is None:
            return 0, env.reset(seed=self.spec.seed)[0], zeros, zeros.long()
        saved, self.resumed = self.resumed, None
        optimizer.load_state_dict(saved["optimizer"])
        if self.pbt is not None:
            self.pbt_fitness.copy_(saved["pbt_fitness"])
        resumable.set_device_rng_state(self.device, saved["device_rng"])
        if not getattr(env, "resumes_exactly", True):
            return saved["step"], env.reset(seed=saved["reseed"])[0], zeros, zeros.long()
        env.restore(saved["env"])
        resumable.check_shape("obs", saved["obs"], (*shape, *env.single_observation_space.shape))
        resumable.check_shape("ep_ret", saved["ep_ret"], shape)
        resumable.check_shape("ep_len", saved["ep_len"], shape)
        return saved["step"], saved["obs"], saved["ep_ret"], saved["ep_len"]

    # --- population-based training ([pbt]) ------------------------------------------------------
    @torch.no_grad()
    def evolve(self, step: int, optimizer, fitness: torch.Tensor, tracker) -> None:
        """A round of PBT at a boundary: `fitness` (2, M) holds each member's returns summed and
        episodes counted since the last round. The members PBT picks copy their parents' weights
        and optimizer state (rows of the stacked tensors) and go on with explored values."""
        sums, counts = fitness.cpu().double().numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            record = self.pbt.round(step, np.where(counts > 0, sums / counts, np.nan))
        fitness.zero_()
        if record["copies"]:
            members = torch.tensor([c["member"] for c in record["copies"]], device=self.device)
            parents = torch.tensor([c["parent"] for c in record["copies"]], device=self.device)
            for value in self.net.state_dict().values():  # views of the parameters: copied in place
                value[members] = value[parents]
            optimizer.copy_members(members, parents)
        tracker.evolved(record)

    def learn_on_ray(self, tracker) -> None:
        """Train the population as Ray Tune trials under Tune's PBT scheduler ([pbt] backend =
        "ray"; lab.engine.ray_pbt): this agent ends with every member's final weights."""
        from lab.engine.ray_pbt import learn_on_ray

        learn_on_ray(self, tracker)

    # --- evaluation and acting ----------------------------------------------------------------
    def policy_actions(self, net: nn.Module, obs: torch.Tensor, deterministic: bool) -> torch.Tensor:
        """Actions of `net`'s members (M, batch, ...) at `obs` (M, batch, obs), before clipping."""
        dist = net.policy(obs)
        return dist.mode() if deterministic else dist.sample()

    @torch.no_grad()
    def evaluate(self, episodes: int, seed: int, deterministic: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Returns and lengths (M, episodes): each member's first episode in `episodes` fresh
        environments of the engine, all members at once."""
        m = self.members
        env = self.make_env(m * episodes, seed)
        obs = env.reset(seed=seed)[0]
        ret = torch.zeros(m * episodes, device=self.device)
        length = torch.zeros(m * episodes, device=self.device, dtype=torch.long)
        running = torch.ones(m * episodes, device=self.device, dtype=torch.bool)
        for t in range(env.max_episode_steps):  # every episode ends by the time limit
            action = self.policy_actions(self.net, obs.view(m, episodes, -1), deterministic)
            obs, reward, terminated, truncated, _ = env.step(self.env_actions(action))
            ret += reward * running
            length += running
            running &= ~(terminated | truncated)
            if t % 64 == 63 and not bool(running.any()):  # a host look every 64 steps
                break
        env.close()  # (a Gymnasium env's resources: pybullet's physics clients)
        return ret.view(m, episodes).cpu().numpy(), length.view(m, episodes).cpu().numpy()

    @torch.no_grad()
    def act(self, obs, deterministic: bool = True):
        x = torch.as_tensor(np.asarray(obs), dtype=torch.float32, device=self.device)
        action = self.policy_actions(self.acting, x[None], deterministic)[0]
        return (action.clamp(self.low, self.high) if self.continuous else action).cpu().numpy()

    def record_best(self, improved: np.ndarray) -> None:
        """Members whose evaluation improved: keep their current weights in `best_state`."""
        state = self.net.state_dict()
        if self.best_state is None:
            self.best_state = {k: v.detach().clone() for k, v in state.items()}
            return
        mask = torch.as_tensor(improved, device=self.device)
        for k, v in state.items():
            self.best_state[k][mask] = v[mask]

    def use_member(self, m: int) -> None:
        """Act (and be explained) as member m of the population."""
        self.acting = self.net.member(m) if self.members > 1 else self.net

    def scores_module(self) -> nn.Module:
        """What attribution explains: observations -> the acting member's action logits
        (discrete) or action means (continuous)."""
        return ActorScores(self.acting)

    # --- checkpoints -----------------------------------------------------------------------------
    def save(self, path: Path, best: bool = False) -> None:
        """The weights (every member's) as a plain state dict; `best`: each member at its best."""
        write_torch(path, self.best_state if best else self.net.state_dict())

    @classmethod
    def load(cls, path: Path, spec, device: str) -> EngineAgent:
        agent = cls(spec, device)
        state = read_torch(path, device, 2 * tensor_bytes(agent.net) + ARCHIVE_SLACK)
        agent.net.load_state_dict(upgrade_net_state(state))
        agent.use_member(0)
        return agent

    def export_artifacts(self, ctx, policy) -> None:
        """The checkpoint is a plain state dict (torch.load(..., weights_only=True)); nothing more."""

    # --- resumable checkpoints (lab resume), at the boundaries `learn` marks ---------------------
    def save_resumable(self, path_for, stem: str) -> tuple[dict, dict]:
        """Every member's weights and optimizer state, the environments (states, time-limit
        counters, generator), the current observations and episode counters, the device's RNG:
        `stem`.pt. The step goes in the JSON state; the CPU's RNGs are the tracker's to save."""
        step, env, optimizer, obs, ep_ret, ep_len = self.live
        files = {"agent": path_for(f"{stem}.pt")}
        resumable.save(files["agent"], {"net": self.net.state_dict(), "optimizer": optimizer.state_dict(),
                                        "env": env.snapshot(), "obs": obs, "ep_ret": ep_ret, "ep_len": ep_len,
                                        "device_rng": resumable.device_rng_state(self.device),
                                        **({"pbt_fitness": self.pbt_fitness} if self.pbt is not None else {})})
        return files, {"step": int(step), **({"pbt": self.pbt.state_dict()} if self.pbt is not None else {})}

    def load_resumable(self, files: dict, state: dict, reseed: int) -> None:
        """The weights now, the rest when `learn` starts (`start`). A population's best weights
        come back from the checkpoint's copy of best.pt, whose members improve one by one."""
        saved = resumable.load(files["agent"], self.device, resumable.bound(self))
        self.net.load_state_dict(upgrade_net_state(saved["net"]))
        saved["optimizer"] = upgrade_optimizer_state(saved["optimizer"], self.net, self.members)
        if self.members > 1 and "best" in files:
            best = upgrade_net_state(resumable.load(files["best"], self.device, resumable.bound(self)))
            for key, value in self.net.state_dict().items():
                resumable.check_shape(f"best {key}", best.get(key) if isinstance(best, dict) else None, value.shape)
            self.best_state = best
        if self.pbt is not None:
            self.pbt.load_state_dict(state["pbt"])
            resumable.check_shape("pbt_fitness", saved.get("pbt_fitness"), (2, self.members))
        self.resumed = {**saved, "step": int(state["step"]), "reseed": reseed}
        self.rehearse_start()

    def rehearse_start(self) -> None:
        """`start` with the resumed state on throwaway environments and optimizer, as `learn`
        will: a state that does not fit this spec (its environments, their number, the
        optimizer) fails here, where `lab resume` refuses it before touching the run folder.
        (Making an optimizer moves the parameters into a flat tensor; `learn`'s does it again.)"""
        n = self.spec.env.n_envs
        env, saved = self.make_env(self.members * n, self.spec.seed), self.resumed
        try:
            self.start(env, self.make_optimizer(), (self.members, n))
        finally:
            self.resumed = saved
            env.close()
