"""What lab's on-policy agents on the torch engine share: the actor-critic network, the rollout
on the device, advantages (GAE), episode accounting, and the agent protocol (`lab.rl.train`).
PPO (`ppo.py`) and A2C (`a2c.py`) differ only in their optimizer and their update.

SB3's details that change results are kept: separate actor and critic MLPs (computed as one
stack) with orthogonal initialisation, and an episode cut by the time limit bootstrapped with the
value of its last observation (`reward += gamma * V(final_obs)`). Nothing in a rollout reads a
tensor on the host: episodes are counted with masks on the device, and the host looks once per
rollout (the finished episodes, for the tracker) and once per update (the losses).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lab.engine.nets import StackedMLP
from lab.rl.params import schedule
from lab.store import atomic_target


class ActorCritic(nn.Module):
    """A policy (categorical logits, or a Gaussian mean with a learned log-std) and a value: two
    MLPs computed as one stack (lab.engine.nets), SB3's output gains 0.01 and 1."""

    def __init__(self, obs_dim: int, n_actions: int, continuous: bool, net_arch: list[int], activation: str):
        super().__init__()
        self.continuous = continuous
        self.nets = StackedMLP(2, [obs_dim, *net_arch, n_actions], activation, [0.01, 1.0])  # the critic reads column 0
        if continuous:
            self.log_std = nn.Parameter(torch.zeros(n_actions))

    def forward(self, obs: torch.Tensor):
        """(the action distribution, the value) at `obs`, in one pass."""
        out = self.nets(obs)
        return self._distribution(out[0]), out[1, :, 0]

    def _distribution(self, actor_out: torch.Tensor):
        # (no argument validation: its checks cost more than the distribution on a CPU, and a
        # NaN policy is caught where the run ends, lab.rl.train)
        if self.continuous:
            normal = torch.distributions.Normal(actor_out, self.log_std.exp(), validate_args=False)
            return torch.distributions.Independent(normal, 1, validate_args=False)
        return torch.distributions.Categorical(logits=actor_out, validate_args=False)

    def actor(self, obs: torch.Tensor) -> torch.Tensor:
        """The actor's output alone: logits, or the action mean."""
        return self.nets(obs)[0]

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.nets(obs)[1, :, 0]

    def mode(self, obs: torch.Tensor) -> torch.Tensor:
        out = self.actor(obs)
        return out if self.continuous else out.argmax(-1)


class ActorScores(nn.Module):
    """Observations -> the actor's output (what attribution explains)."""

    def __init__(self, net: ActorCritic):
        super().__init__()
        self.net = net

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net.actor(obs)


@dataclass
class Rollout:
    """One rollout, flattened over steps and environments: what an update learns from."""

    obs: torch.Tensor
    actions: torch.Tensor
    log_probs: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor
    values: torch.Tensor

    def __len__(self) -> int:
        return len(self.obs)


def diverged(loss: float) -> None:
    """A NaN loss ends the run; lab.rl.train turns this into 'training diverged near step N ...'."""
    if not math.isfinite(loss):
        raise ValueError("the policy's outputs became nan")


def _spaces(spec):
    from lab.engine import ENVS

    env = ENVS[spec.env.id]
    obs_space, act_space = env.gym_observation_space, env.gym_action_space
    continuous = act_space.shape != ()
    return obs_space, act_space, continuous


class OnPolicyAgent:
    """An actor-critic trained from rollouts of `agent.n_steps` steps in `env.n_envs` environments.
    Subclasses give `make_optimizer(lr)` and `update(optimizer, rollout, progress_remaining)`."""

    suffix = ".pt"

    def __init__(self, spec, device: str):
        self.spec, self.device = spec, torch.device(device)
        obs_space, act_space, continuous = _spaces(spec)
        self.continuous = continuous
        self.low = None if not continuous else torch.as_tensor(act_space.low, device=self.device)
        self.high = None if not continuous else torch.as_tensor(act_space.high, device=self.device)
        torch.manual_seed(spec.seed)
        n_actions = act_space.shape[0] if continuous else int(act_space.n)
        self.net = ActorCritic(obs_space.shape[0], n_actions, continuous, list(spec.agent.net_arch or [64, 64]),
                               spec.agent.activation).to(self.device)

    # --- learning -------------------------------------------------------------------------
    def learn(self, tracker) -> None:
        from lab.engine import make_vec

        spec, p, dev, net = self.spec, self.spec.agent, self.device, self.net
        n_envs, n_steps = spec.env.n_envs, p.n_steps
        env = make_vec(spec.env.id, n_envs, device=dev, seed=spec.seed)
        lr = schedule(p.learning_rate)
        optimizer = self.make_optimizer(lr(1.0) if callable(lr) else lr)
        act_shape = env.single_action_space.shape
        obs_buf = torch.zeros((n_steps, n_envs, *env.single_observation_space.shape), device=dev)
        act_buf = torch.zeros((n_steps, n_envs, *act_shape), device=dev, dtype=torch.float32 if self.continuous else torch.long)
        logp_buf, rew_buf, val_buf = (torch.zeros((n_steps, n_envs), device=dev) for _ in range(3))
        done_buf = torch.zeros((n_steps, n_envs), device=dev, dtype=torch.bool)
        ep_ret_buf = torch.zeros((n_steps, n_envs), device=dev)
        ep_len_buf = torch.zeros((n_steps, n_envs), device=dev, dtype=torch.long)
        ep_ret = torch.zeros(n_envs, device=dev)
        ep_len = torch.zeros(n_envs, device=dev, dtype=torch.long)
        obs, _ = env.reset(seed=spec.seed)
        step = 0
        while step < p.total_steps:
            # 1. a rollout of n_steps in every environment, on the device
            with torch.no_grad():
                for t in range(n_steps):
                    obs_buf[t] = obs
                    dist, value = net(obs)
                    action = dist.sample()
                    act_buf[t], logp_buf[t], val_buf[t] = action, dist.log_prob(action), value
                    env_action = action.clamp(self.low, self.high) if self.continuous else action
                    obs, reward, terminated, truncated, info = env.step(env_action)
                    ep_ret += reward
                    ep_len += 1
                    # an episode cut by the time limit was not over: bootstrap it with V(last obs)
                    rew_buf[t] = reward + p.gamma * net.value(info["final_obs"]) * (truncated & ~terminated)
                    done_buf[t] = terminated | truncated
                    ep_ret_buf[t], ep_len_buf[t] = ep_ret, ep_len
                    done = done_buf[t]
                    ep_ret = ep_ret.masked_fill(done, 0.0)
                    ep_len = ep_len.masked_fill(done, 0)
                # 2. advantages (GAE) and returns, bootstrapped from the value after the rollout
                next_value = net.value(obs)
                adv = torch.zeros_like(rew_buf)
                last = torch.zeros(n_envs, device=dev)
                for t in reversed(range(n_steps)):
                    nv = next_value if t == n_steps - 1 else val_buf[t + 1]
                    # after a terminal step there is no next value; after a truncated one the
                    # bootstrap is already in the reward, and the next obs starts a new episode
                    nonterminal = (~done_buf[t]).float()
                    delta = rew_buf[t] + p.gamma * nv * nonterminal - val_buf[t]
                    last = delta + p.gamma * p.gae_lambda * nonterminal * last
                    adv[t] = last
                returns = adv + val_buf
            step += n_steps * n_envs
            self._report_episodes(tracker, done_buf, ep_ret_buf, ep_len_buf, step - n_steps * n_envs, n_envs)
            # 3. learn from it
            progress_remaining = max(1.0 - (step - n_steps * n_envs) / p.total_steps, 0.0)
            rate = lr(progress_remaining) if callable(lr) else lr
            for group in optimizer.param_groups:
                group["lr"] = rate
            n = n_steps * n_envs
            rollout = Rollout(obs_buf.reshape(n, *obs_buf.shape[2:]), act_buf.reshape(n, *act_buf.shape[2:]),
                              logp_buf.reshape(n), adv.reshape(n), returns.reshape(n), val_buf.reshape(n))
            stats = self.update(optimizer, rollout, progress_remaining)
            var = rollout.returns.var()  # how much of the returns' variance the values explained (SB3's)
            stats["explained_variance"] = (float(1 - (rollout.returns - rollout.values).var() / var)
                                           if float(var) > 0 else float("nan"))
            tracker.metrics(step, {**stats, "learning_rate": rate})
            if not tracker.step(step):
                break

    def make_optimizer(self, lr: float) -> torch.optim.Optimizer:
        raise NotImplementedError

    def update(self, optimizer, rollout: Rollout, progress_remaining: float) -> dict:
        """Learn from one rollout; the losses as floats (one host sync)."""
        raise NotImplementedError

    @staticmethod
    def _report_episodes(tracker, done_buf, ep_ret_buf, ep_len_buf, first_step: int, n_envs: int) -> None:
        """The rollout's finished episodes to the tracker: one transfer to the host."""
        t, e = done_buf.nonzero(as_tuple=True)
        rets, lens = ep_ret_buf[t, e].tolist(), ep_len_buf[t, e].tolist()
        for ti, r, n in zip(((t + 1) * n_envs + first_step).tolist(), rets, lens):
            tracker.episode(ti, r, n)

    # --- the protocol's other half ---------------------------------------------------------
    @torch.no_grad()
    def act(self, obs, deterministic: bool = True):
        x = torch.as_tensor(np.asarray(obs), dtype=torch.float32, device=self.device)
        action = self.net.mode(x) if deterministic else self.net(x)[0].sample()
        if self.continuous:
            action = action.clamp(self.low, self.high)
        return action.cpu().numpy()

    def save(self, path: Path) -> None:
        with atomic_target(path) as tmp:
            torch.save(self.net.state_dict(), tmp)

    @classmethod
    def load(cls, path: Path, spec, device: str) -> OnPolicyAgent:
        agent = cls(spec, device)
        agent.net.load_state_dict(torch.load(path, map_location=device, weights_only=True))
        return agent

    def scores_module(self) -> nn.Module:
        """Action logits (discrete), or the action mean (continuous)."""
        return ActorScores(self.net)

    def export_artifacts(self, ctx, policy) -> None:
        """The checkpoint is a plain state dict (torch.load(..., weights_only=True)); nothing more."""

