"""REINFORCE: Monte-Carlo policy gradient with an optional learned baseline.

Read top to bottom: hyperparameters are `lab.rl.params.ReinforceParams`; then the networks;
then the learning loop. Episodes come from `env.n_envs` vectorized envs; every
`episodes_per_update` finished episodes make one gradient step on

    loss = -mean_t[ log pi(a_t|s_t) * A_t ] - ent_coef * entropy,
    A_t  = G_t - V(s_t)   (G_t when there is no baseline),

where G_t is the discounted return from t to the episode's end. An episode cut by a time
limit (truncated, not terminated) is bootstrapped with V of its last state when a baseline
exists. An episode that straddles an update was partly sampled by the previous policy: a
small bias that vectorized REINFORCE implementations commonly accept.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from lab.rl.envs import make_vec_env
from lab.rl.params import schedule
from lab.store import ARCHIVE_SLACK, read_torch, tensor_bytes, write_torch


def mlp(sizes: list[int], activation: str) -> nn.Sequential:
    act = {"tanh": nn.Tanh, "relu": nn.ReLU}[activation]
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


class Policy(nn.Module):
    """Categorical logits for Discrete actions; a Gaussian with learned log-std for Box."""

    def __init__(self, obs_dim: int, n_actions: int, continuous: bool, net_arch: list[int], activation: str):
        super().__init__()
        self.continuous = continuous
        self.net = mlp([obs_dim, *net_arch, n_actions], activation)
        if continuous:
            self.log_std = nn.Parameter(torch.zeros(n_actions))

    def distribution(self, obs: torch.Tensor):
        out = self.net(obs)
        if self.continuous:
            return torch.distributions.Independent(torch.distributions.Normal(out, self.log_std.exp()), 1)
        return torch.distributions.Categorical(logits=out)

    def mode(self, obs: torch.Tensor) -> torch.Tensor:
        out = self.net(obs)
        return out if self.continuous else out.argmax(-1)


def _spaces(obs_space, act_space):
    continuous = type(act_space).__name__ == "Box"
    n_actions = int(np.prod(act_space.shape)) if continuous else int(act_space.n)
    return int(np.prod(obs_space.shape)), n_actions, continuous, act_space


class ReinforceAgent:
    suffix = ".pt"

    def __init__(self, spec, device: str, train: bool = True):
        p = spec.agent
        self.spec, self.device = spec, torch.device(device)
        torch.manual_seed(spec.seed)
        obs_dim, n_actions, continuous, self.action_space = _spaces(*self.env_spaces(spec))
        self.policy = Policy(obs_dim, n_actions, continuous, p.net_arch, p.activation).to(self.device)
        self.value = mlp([obs_dim, *p.net_arch, 1], p.activation).to(self.device) if p.baseline else None
        self.resumed: dict | None = None  # what `load_resumable` brought back, for learn
        self.live = None  # learn's state at its latest boundary (save_resumable's)
        if train:
            self.lr = schedule(p.learning_rate)
            self.pi_opt = torch.optim.Adam(self.policy.parameters(), lr=self._lr(1.0))
            if self.value is not None:
                self.v_opt = torch.optim.Adam(self.value.parameters(), lr=p.baseline_learning_rate)

    @staticmethod
    def env_spaces(spec):
        """(observation space, action space) of the spec's environment."""
        from lab.rl.envs import make_env

        env = make_env(spec)
        try:
            return env.observation_space, env.action_space
        finally:
            env.close()

    def _lr(self, progress_remaining: float) -> float:
        return self.lr(progress_remaining) if callable(self.lr) else self.lr

    def _obs(self, obs) -> torch.Tensor:
        return torch.as_tensor(np.asarray(obs, dtype=np.float32), device=self.device).reshape(len(obs), -1)

    # --- learning ------------------------------------------------------------------------
    def learn(self, tracker) -> None:
        p = self.spec.agent
        resumed, self.resumed = self.resumed or {"step": 0, "reseed": self.spec.seed}, None
        env = make_vec_env(self.spec, resumed["reseed"])
        n = env.num_envs
        obs = env.reset()
        running = [[] for _ in range(n)]  # per env: (obs, action, reward) of the episode so far
        finished: list[tuple[list, np.ndarray | None]] = []  # (steps, bootstrap obs if truncated)
        step = resumed["step"]
        try:
            while step < p.total_steps:
                # with no finished episode waiting for an update, a resumable checkpoint may be
                # written (the episodes under way are not kept: a resumed run restarts its envs)
                if not finished:
                    self.live = step
                    if not tracker.boundary(step):
                        break
                with torch.no_grad():
                    actions = self.policy.distribution(self._obs(obs)).sample().cpu().numpy()
                next_obs, rewards, dones, infos = env.step(self._clip(actions))
                step += n
                for i in range(n):
                    running[i].append((obs[i], actions[i], float(rewards[i])))
                    if dones[i]:
                        truncated = infos[i].get("TimeLimit.truncated", False)
                        finished.append((running[i], infos[i]["terminal_observation"] if truncated else None))
                        running[i] = []
                        ep = infos[i].get("episode")
                        if ep is not None:
                            tracker.episode(step, ep["r"], ep["l"])
                obs = next_obs
                if len(finished) >= p.episodes_per_update:
                    self._update(finished, step, tracker)
                    finished = []
                if not tracker.step(step):
                    break
        finally:
            env.close()

    def _clip(self, actions: np.ndarray) -> np.ndarray:
        if self.policy.continuous:
            return np.clip(actions, self.action_space.low, self.action_space.high)
        return actions

    def _update(self, episodes, step: int, tracker) -> None:
        p = self.spec.agent
        obs_list, act_list, ret_list = [], [], []
        for steps, bootstrap_obs in episodes:
            g = 0.0
            if bootstrap_obs is not None and self.value is not None:
                with torch.no_grad():
                    g = float(self.value(self._obs([bootstrap_obs]))[0, 0])
            returns = np.empty(len(steps), dtype=np.float32)
            for t in range(len(steps) - 1, -1, -1):
                g = steps[t][2] + p.gamma * g
                returns[t] = g
            obs_list.extend(s[0] for s in steps)
            act_list.extend(s[1] for s in steps)
            ret_list.append(returns)
        obs = self._obs(obs_list)
        actions = torch.as_tensor(np.asarray(act_list), device=self.device)
        returns = torch.as_tensor(np.concatenate(ret_list), device=self.device)

        losses, lr = self.learn_from(obs, actions, returns, step)
        tracker.metrics(step, {**{k: v.item() for k, v in losses.items()}, "learning_rate": lr, "batch_steps": len(returns)})

    def learn_from(self, obs, actions, returns, step: int, distribution=None) -> tuple[dict, float]:
        """One gradient step of the baseline (if any), then of the policy, from these steps and
        their returns: the losses as 0-d tensors (no host sync) and the policy's step size.
        `distribution`: obs -> the policy's distribution (default `self.policy.distribution`)."""
        p = self.spec.agent
        losses = {}
        if self.value is not None:
            values = self.value(obs).squeeze(-1)
            value_loss = nn.functional.mse_loss(values, returns)
            self.v_opt.zero_grad()
            value_loss.backward()
            nn.utils.clip_grad_norm_(self.value.parameters(), p.max_grad_norm)
            self.v_opt.step()
            advantages = returns - values.detach()
            losses["value_loss"] = value_loss.detach()
        else:
            advantages = returns
        if p.normalize_advantage and len(advantages) > 1:
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)

        lr = self._lr(max(1.0 - step / p.total_steps, 0.0))
        for group in self.pi_opt.param_groups:
            group["lr"] = lr
        dist = (distribution or self.policy.distribution)(obs)
        entropy = dist.entropy().mean()
        policy_loss = -(dist.log_prob(actions) * advantages).mean() - p.ent_coef * entropy
        self.pi_opt.zero_grad()
        policy_loss.backward()
        nn.utils.clip_grad_norm_(self.policy.parameters(), p.max_grad_norm)
        self.pi_opt.step()
        losses.update(policy_loss=policy_loss.detach(), entropy=entropy.detach())
        return losses, lr

    # --- resumable checkpoints (lab resume) --------------------------------------------------
    def learner_state(self) -> dict:
        """The networks' and their optimizers' state dicts."""
        state = {"policy": self.policy.state_dict(), "pi_opt": self.pi_opt.state_dict()}
        if self.value is not None:
            state.update(value=self.value.state_dict(), v_opt=self.v_opt.state_dict())
        return state

    def load_learner_state(self, state: dict) -> None:
        """ValueError (or torch's RuntimeError) for a state of other networks than this spec's."""
        from lab.rl.resumable import check_optimizer_state

        self.policy.load_state_dict(state["policy"])
        check_optimizer_state("pi_opt", state["pi_opt"]["state"], self.policy.parameters())
        self.pi_opt.load_state_dict(state["pi_opt"])
        if self.value is not None:
            self.value.load_state_dict(state["value"])
            check_optimizer_state("v_opt", state["v_opt"]["state"], self.value.parameters())
            self.v_opt.load_state_dict(state["v_opt"])

    def save_resumable(self, path_for, stem: str) -> tuple[dict, dict]:
        """The networks and optimizers (`stem`.pt), the step (JSON); written where no finished
        episode waits for an update. The global RNGs are the tracker's to save."""
        files = {"agent": path_for(f"{stem}.pt")}
        write_torch(files["agent"], self.learner_state())
        return files, {"step": int(self.live)}

    def load_resumable(self, files: dict, state: dict, reseed: int) -> None:
        """Networks and optimizers now; `learn` goes on from the step with its environments
        restarted from a reset seeded with `reseed` (Gymnasium's envs cannot be saved whole)."""
        bound = 4 * tensor_bytes(self.policy, self.value) + ARCHIVE_SLACK  # the networks and their optimizers
        self.load_learner_state(read_torch(files["agent"], self.device, bound))
        self.resumed = {"step": int(state["step"]), "reseed": int(reseed)}

    # --- acting, saving, loading ---------------------------------------------------------------
    def act(self, obs, deterministic: bool = True):
        with torch.no_grad():
            x = self._obs(obs)
            out = self.policy.mode(x) if deterministic else self.policy.distribution(x).sample()
        return self._clip(out.cpu().numpy())

    def save(self, path: Path) -> None:
        state = {"policy": self.policy.state_dict()}
        if self.value is not None:
            state["value"] = self.value.state_dict()
        write_torch(path, state)

    @classmethod
    def load(cls, path: Path, spec, device: str) -> ReinforceAgent:
        agent = cls(spec, device, train=False)
        state = read_torch(path, agent.device, 2 * tensor_bytes(agent.policy, agent.value) + ARCHIVE_SLACK)
        agent.policy.load_state_dict(state["policy"])
        if agent.value is not None and "value" in state:
            agent.value.load_state_dict(state["value"])
        return agent

    def scores_module(self) -> nn.Module:
        """The policy network: observations -> action logits (or Gaussian means)."""
        return self.policy.net

    def export_artifacts(self, ctx, policy) -> None:
        """The delivered checkpoint holds the policy's state dict; nothing more to export."""
