"""What lab's on-policy agents on the torch engine share: the rollout on the device, advantages
(GAE), the gradient step and the loop around them. PPO (`ppo.py`) and A2C (`a2c.py`) differ in
their loss and in how they split a rollout into gradient steps.

Every tensor has a leading member dimension M (`spec.population`; 1 for a plain run): member m
steps its own `env.n_envs` environments, has its own networks, hyperparameters and optimizer
state, and its own loss, whose gradient is its own. SB3's details that change results are kept:
separate actor and critic MLPs, and an episode cut by the time limit bootstrapped with the value
of its last observation. The host reads the device once per rollout (the finished episodes, the
steps where an episode was cut) and once per update (the losses).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from lab.engine.agent import EngineAgent, diverged, report_episodes
from lab.engine.nets import ActorCritic
from lab.engine.optim import MemberOptimizer


@dataclass
class Rollout:
    """One rollout, flattened over steps and environments per member: tensors (M, steps x envs, ...)."""

    obs: torch.Tensor
    actions: torch.Tensor
    log_probs: torch.Tensor
    values: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor

    def __len__(self) -> int:
        return self.obs.shape[1]

    def minibatch(self, idx: torch.Tensor) -> Rollout:
        return Rollout(*(getattr(self, f.name).index_select(1, idx) for f in fields(self)))


class OnPolicyAgent(EngineAgent):
    """Actor-critics trained from rollouts of `agent.n_steps` steps in `env.n_envs` environments
    per member. A subclass gives `make_optimizer()` (lab.engine.optim), `loss(batch, h)` and
    `update(optimizer, lr, rollout, progress_remaining) -> figures` (floats, "loss" among them),
    and names the settings that may differ per member (`member_settings`)."""

    def __init__(self, spec, device: str):
        super().__init__(spec, device)
        obs_space, act_space = self.spaces
        n_actions = act_space.shape[0] if self.continuous else int(act_space.n)
        self.net = ActorCritic(obs_space.shape[0], n_actions, self.continuous, list(spec.agent.net_arch or spec.algo.net_arch),
                               spec.agent.activation, self.members, spec.seed).to(self.device)
        self.acting = self.net  # the network `act` and attribution use: one member's (use_member)
        self.train_step = self.compiled(self.train_step)
        self.sample = self.compiled(self.sample, rollout=True)

    def loss(self, batch: Rollout, h: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Each member's loss on `batch` (M, 1), and the figures to report (name -> (M, 1)).
        `h`: the hyperparameters of this update, each (M, 1). Override it to change the algorithm."""
        raise NotImplementedError

    def stops_early(self, stats: dict[str, torch.Tensor], h: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """Members (M, 1) whose update ends before this gradient step (PPO's target_kl); None: none."""
        return None

    def train_step(self, optimizer: MemberOptimizer, lr: torch.Tensor, h: dict, batch: Rollout,
                   active: torch.Tensor) -> tuple[dict, torch.Tensor]:
        """One gradient step of every active member (M,) on `batch`: the loss, autograd's gradient,
        each member's gradient clipped to its max_grad_norm, the optimizer. The figures and the
        members still active after it."""
        with torch.autocast(self.device.type, torch.bfloat16, enabled=self.spec.bf16):  # `precision`
            loss, stats = self.loss(batch, h)
        stop = self.stops_early(stats, h)
        if stop is not None:
            active = active & ~stop[:, 0]
        optimizer.zero_grad()
        loss.sum().backward()  # summed over members: each member's gradient is its own loss's
        optimizer.step(lr, h["max_grad_norm"][:, 0], active)
        return stats, active

    def hyperparameters(self, progress_remaining: float) -> dict[str, torch.Tensor]:
        """Every member's hyperparameters of the loss and the step, schedules evaluated: (M, 1) each."""
        return {k: self.hyper(k, progress_remaining)[:, None] for k in self.member_settings if k != "learning_rate"}

    def learn(self, tracker) -> None:
        spec, p, dev, net = self.spec, self.spec.agent, self.device, self.net
        m, n_envs, n_steps = self.members, spec.env.n_envs, p.n_steps
        env = self.make_env(m * n_envs, spec.seed)
        optimizer = self.make_optimizer()
        obs_shape, act_shape = env.single_observation_space.shape, env.single_action_space.shape
        obs_buf = torch.zeros((n_steps, m, n_envs, *obs_shape), device=dev)
        final_buf = torch.zeros_like(obs_buf)
        act_buf = torch.zeros((n_steps, m, n_envs, *act_shape), device=dev,
                              dtype=torch.float32 if self.continuous else torch.long)
        logp_buf, rew_buf, ep_ret_buf = (torch.zeros((n_steps, m, n_envs), device=dev) for _ in range(3))
        done_buf, cut_buf = (torch.zeros((n_steps, m, n_envs), device=dev, dtype=torch.bool) for _ in range(2))
        ep_len_buf = torch.zeros((n_steps, m, n_envs), device=dev, dtype=torch.long)
        step, obs, ep_ret, ep_len = self.start(env, optimizer, (m, n_envs))
        obs = obs.view(m, n_envs, *obs_shape)
        if self.pbt is not None and step == 0:  # PBT's first draws, in the events
            tracker.evolved(self.pbt.first_record())
        while step < p.total_steps:
            # 0. a rollout boundary: nothing is half-done; PBT's round when one is due, then a
            # resumable checkpoint may be written here
            if self.pbt is not None and self.pbt.due(step):
                self.evolve(step, optimizer, self.pbt_fitness, tracker)
            self.live = (step, env, optimizer, obs, ep_ret, ep_len)
            if not tracker.boundary(step):
                break
            gamma, gae_lambda = self.hyper("gamma")[:, None], self.hyper("gae_lambda")[:, None]
            # 1. a rollout of n_steps in every environment, on the device
            with torch.no_grad():
                for t in range(n_steps):
                    obs_buf[t] = obs
                    action, logp_buf[t] = self.sample(obs)
                    act_buf[t] = action
                    obs, reward, terminated, truncated, info = env.step(self.env_actions(action))
                    obs = obs.view(m, n_envs, *obs_shape)
                    reward, terminated, truncated = (x.view(m, n_envs) for x in (reward, terminated, truncated))
                    rew_buf[t], done_buf[t] = reward, terminated | truncated
                    cut_buf[t] = truncated & ~terminated
                    final_buf[t] = info["final_obs"].view(m, n_envs, *obs_shape)
                    ep_ret, ep_len = ep_ret + reward, ep_len + 1
                    ep_ret_buf[t], ep_len_buf[t] = ep_ret, ep_len
                    ep_ret, ep_len = ep_ret.masked_fill(done_buf[t], 0.0), ep_len.masked_fill(done_buf[t], 0)
                # the values of every step's observation and of the observation after the rollout,
                # in one pass of the critics
                rows = n_steps * n_envs
                values = net.value(torch.cat([obs_buf.transpose(0, 1).reshape(m, rows, *obs_shape), obs], 1))
                val_buf = values[:, :rows].view(m, n_steps, n_envs).transpose(0, 1)
                # an episode cut by the time limit was not over: its last reward is bootstrapped
                # with the value of its final observation (the critics see the steps where an
                # episode was cut, which a host look finds)
                cut_steps = cut_buf.flatten(1).any(1).nonzero()[:, 0]
                if len(cut_steps):
                    final = final_buf[cut_steps].transpose(0, 1).reshape(m, -1, *obs_shape)
                    final_values = net.value(final).view(m, len(cut_steps), n_envs).transpose(0, 1)
                    rew_buf[cut_steps] += gamma * final_values * cut_buf[cut_steps]
                # 2. advantages (GAE) and returns, bootstrapped from the value after the rollout
                next_value, last = values[:, rows:], torch.zeros((m, n_envs), device=dev)
                adv = torch.zeros_like(rew_buf)
                for t in reversed(range(n_steps)):
                    # after a terminal step there is no next value; after a truncated one the
                    # bootstrap is already in the reward, and the next obs starts a new episode
                    nonterminal = (~done_buf[t]).float()
                    delta = rew_buf[t] + gamma * next_value * nonterminal - val_buf[t]
                    adv[t] = last = delta + gamma * gae_lambda * nonterminal * last
                    next_value = val_buf[t]
            first_step = step
            step += n_steps * n_envs  # steps per member: a population's x axis is a single run's
            report_episodes(tracker, done_buf, ep_ret_buf, ep_len_buf, first_step, n_envs)
            if self.pbt is not None:  # each member's returns and episodes since PBT's last round: its fitness
                self.pbt_fitness += torch.stack(((ep_ret_buf * done_buf).sum((0, 2)), done_buf.sum((0, 2))))
            # 3. learn from it
            progress_remaining = max(1.0 - first_step / p.total_steps, 0.0)
            rollout = Rollout(*(x.transpose(0, 1).reshape(m, rows, *x.shape[3:])
                                for x in (obs_buf, act_buf, logp_buf, val_buf, adv, adv + val_buf)))
            lr = self.hyper("learning_rate", progress_remaining)
            stats = self.update(optimizer, lr, rollout, progress_remaining)
            diverged(stats["loss"])
            # how much of the returns' variance the values explained (SB3's), each member's, averaged
            var = rollout.returns.var(1)
            explained = 1 - (rollout.returns - rollout.values).var(1) / var
            stats["explained_variance"] = float(explained[var > 0].mean()) if bool((var > 0).any()) else float("nan")
            tracker.metrics(step, {**stats, "learning_rate": float(lr.mean())})
            if not tracker.step(step):
                break
        self.live = (step, env, optimizer, obs, ep_ret, ep_len)  # where it ended (a Ray trial's last report)

    def sample(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Actions (M, envs, ...) drawn from the policies at `obs`, and their log-probabilities."""
        dist = self.net.policy(obs)
        action = dist.sample()
        return action, dist.log_prob(action)

