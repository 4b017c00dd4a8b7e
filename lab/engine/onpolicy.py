"""What lab's on-policy agents on the torch engine share: the actor-critic network, the rollout
on the device, advantages (GAE), evaluation on the device, episode accounting, and the agent
protocol (`lab.rl.train`). PPO (`ppo.py`) and A2C (`a2c.py`) differ only in their update.

Every tensor has a leading member dimension M: a run trains `spec.population` independent agents
at once (M = 1 for a plain run). Member m steps its own `env.n_envs` environments (rows
m*n_envs .. of one batched env), has its own actor and critic (networks 2m and 2m+1 of one
stack, drawn as a run with seed `seed + m` would draw them), its own hyperparameters where
`[members.agent]` gives them, and its own optimizer state (lab.engine.optim). Losses are summed
over members, so each member's gradient is its own.

SB3's details that change results are kept: separate actor and critic MLPs with orthogonal
initialisation, and an episode cut by the time limit bootstrapped with the value of its last
observation (`reward += gamma * V(final_obs)`). Nothing in a rollout reads a tensor on the host:
episodes are counted with masks on the device, and the host looks once per rollout (the finished
episodes, for the tracker) and once per update (the losses).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lab.engine import resumable
from lab.engine.nets import StackedMLP
from lab.engine.optim import MemberOptimizer
from lab.rl.params import schedule
from lab.store import write_torch


class ActorCritic(nn.Module):
    """M members' policies (categorical logits, or a Gaussian mean with a learned log-std) and
    values: 2M MLPs computed as one stack (lab.engine.nets), SB3's output gains 0.01 and 1."""

    def __init__(self, obs_dim: int, n_actions: int, continuous: bool, net_arch: list[int], activation: str,
                 members: int = 1, seed: int = 0, bf16: bool = False):
        super().__init__()
        self.args = (obs_dim, n_actions, continuous, net_arch, activation)
        self.members, self.continuous = members, continuous
        # the update's matmuls in bf16 (learning_pass); weights, outputs and everything after stay
        # float32, and so do rollouts, evaluation and acting: their passes are small (a rollout step
        # of 9 members here: 0.55 ms with both networks under bf16 autocast, 0.43 ms in float32)
        self.bf16 = bf16
        # member 0 draws from torch's global generator (seeded by the agent), member m from seed + m
        generators = [None] + [torch.Generator().manual_seed(seed + m) for m in range(1, members)]
        self.nets = StackedMLP(2 * members, [obs_dim, *net_arch, n_actions], activation, [0.01, 1.0] * members,
                               [g for g in generators for _ in ("actor", "critic")])
        if continuous:
            self.log_std = nn.Parameter(torch.zeros(members, n_actions))

    def forward(self, obs: torch.Tensor):
        """(the action distributions, the values (M, batch)) at `obs` (M, batch, obs) or (batch,
        obs), in one float32 pass with autograd (the reference `learning_pass` is tested against)."""
        m = self.members
        if obs.dim() == 2:
            obs = obs.expand(m, *obs.shape)
        x = obs.unsqueeze(1).expand(m, 2, *obs.shape[1:]).reshape(2 * m, *obs.shape[1:])
        out = self.nets(x).view(m, 2, obs.shape[1], -1)
        return self.distribution(out[:, 0]), out[:, 1, :, 0]

    def actors_now(self):
        """The actors as they are now (StackedMLP.frozen), for passes without gradients until the
        next update: obs (M, batch, obs) -> outputs (M, batch, actions), float32."""
        return self.nets.frozen(slice(0, None, 2))

    def critics_now(self):
        """The critics as they are now: obs (M, batch, obs) -> values (M, batch), float32."""
        critics = self.nets.frozen(slice(1, None, 2))
        return lambda obs: critics(obs)[..., 0]

    def learning_pass(self, obs: torch.Tensor):
        """`forward(obs)` for an update, without autograd: (distributions, values, backward).
        A loss L that reaches the networks through each sample's log-probability of its action,
        its value and its policy's entropy has its gradient set by `backward(actions, dL/dlog_prob,
        dL/dvalue, dL/dentropy)` (each (M, batch), or broadcast to it): the distribution's part
        written out (Categorical/Gaussian.output_grads), then the networks' (StackedMLP.backward_saved).
        Against autograd from the loss to the outputs, a PPO minibatch step on this CPU went from
        1.21 to 0.97-1.01 ms (one member) and from 3.7-4.0 to 3.3-3.6 ms (9 members, bf16)
        (benchmarks/results-engine-update.md)."""
        m, batch = self.members, obs.shape[1]
        x = obs.unsqueeze(1).expand(m, 2, *obs.shape[1:]).reshape(2 * m, *obs.shape[1:])
        out, saved = self.nets.forward_saved(x, torch.bfloat16 if self.bf16 else None)
        view = out.view(m, 2, batch, -1)
        dist = Gaussian(view[:, 0], self.log_std.detach()) if self.continuous else Categorical(view[:, 0])

        def backward(actions: torch.Tensor, g_log_prob: torch.Tensor, g_value: torch.Tensor,
                     g_entropy: torch.Tensor) -> None:
            grad = torch.zeros_like(view)
            if self.continuous:
                grad[:, 0], self.log_std.grad = dist.output_grads(actions, g_log_prob, g_entropy)
            else:
                grad[:, 0] = dist.output_grads(actions, g_log_prob, g_entropy)
            grad[:, 1, :, 0] = g_value
            self.nets.backward_saved(saved, grad.view_as(out))

        return dist, view[:, 1, :, 0], backward

    def distribution(self, actor_out: torch.Tensor):
        """The action distributions for the actors' outputs (M, batch, actions): a Categorical of
        logits, or a Gaussian of means with the members' learned log-std. (No argument validation:
        a NaN policy is caught where the run ends, lab.rl.train.)"""
        if self.continuous:
            return Gaussian(actor_out, self.log_std)
        return Categorical(actor_out)

    def actor(self, obs: torch.Tensor) -> torch.Tensor:
        """The actors' outputs alone (M, batch, actions): logits, or the action means; the
        critics are not computed. Float32, with autograd where it is on (attribution)."""
        if obs.dim() == 2:
            obs = obs.expand(self.members, *obs.shape)
        return self.nets(obs, slice(0, None, 2))

    def policy(self, obs: torch.Tensor):
        """The action distributions alone (float32, no critics): for acting and evaluation."""
        return self.distribution(self.actor(obs))

    def mode(self, obs: torch.Tensor) -> torch.Tensor:
        out = self.actor(obs)
        return out if self.continuous else out.argmax(-1)

    def member(self, m: int) -> ActorCritic:
        """Member m alone, as a network of one member (a copy)."""
        one = ActorCritic(*self.args, members=1, bf16=self.bf16)
        one.load_state_dict(member_state(self.state_dict(), m, self.members))
        return one.to(next(self.parameters()).device)


class Categorical:
    """torch.distributions.Categorical's sample, log_prob and entropy from logits, in fewer ops
    (its construction alone cost 60 us a step on a CPU, as much as a CartPole step of 32 envs).
    Samples by the Gumbel-max trick: argmax(log p - log E), E ~ Exponential(1)."""

    def __init__(self, logits: torch.Tensor):
        self.log_p = torch.log_softmax(logits, -1)

    def sample(self) -> torch.Tensor:
        with torch.no_grad():
            return (self.log_p - torch.empty_like(self.log_p).exponential_().log_()).argmax(-1)

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        return self.log_p.gather(-1, actions.unsqueeze(-1)).squeeze(-1)

    @functools.cached_property
    def _p(self) -> torch.Tensor:
        return self.log_p.exp()

    @functools.cached_property
    def _entropy(self) -> torch.Tensor:
        return -(self._p * self.log_p).sum(-1)

    def entropy(self) -> torch.Tensor:
        return self._entropy

    @torch.no_grad()
    def output_grads(self, actions: torch.Tensor, g_log_prob: torch.Tensor, g_entropy: torch.Tensor) -> torch.Tensor:
        """dL/dlogits from dL/dlog_prob(actions) and dL/dentropy per sample: with p = softmax,
        dlog p_a/dz = onehot(a) - p and dH/dz = -p (log p + H) (p and H as the loss had them)."""
        p = self._p
        onehot = torch.zeros_like(p).scatter_(-1, actions.unsqueeze(-1), 1.0)
        return ((onehot - p).mul_(g_log_prob.unsqueeze(-1))
                - (self.log_p + self._entropy.unsqueeze(-1)).mul_(p).mul_(g_entropy.unsqueeze(-1)))


class Gaussian:
    """Independent normals per action dimension: means (M, batch, D), each member's log-std (M, D)
    shared over its batch; torch.distributions.Normal's formulas (and its sampling, draw for draw),
    summed over D."""

    def __init__(self, mean: torch.Tensor, log_std: torch.Tensor):
        self.mean, self.log_std = mean, log_std[:, None, :]
        self.std = self.log_std.exp()

    def sample(self) -> torch.Tensor:
        with torch.no_grad():
            return torch.normal(self.mean, self.std.expand_as(self.mean))

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        return (-((actions - self.mean) ** 2) / (2 * self.std**2) - self.log_std - math.log(math.sqrt(2 * math.pi))).sum(-1)

    def entropy(self) -> torch.Tensor:
        return (0.5 + 0.5 * math.log(2 * math.pi) + self.log_std).sum(-1).expand(self.mean.shape[:-1])

    @torch.no_grad()
    def output_grads(self, actions: torch.Tensor, g_log_prob: torch.Tensor,
                     g_entropy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(dL/dmeans (M, batch, D), dL/dlog_std (M, D)) from dL/dlog_prob(actions) and dL/dentropy
        per sample: dlog_prob/dmean = z / std, dlog_prob/dlog_std = z^2 - 1 (z = (a - mean) / std),
        dentropy/dlog_std = 1."""
        z = (actions - self.mean) / self.std
        g = g_log_prob.unsqueeze(-1)
        g_log_std = (g * (z * z - 1)).sum(1) + g_entropy.expand(self.mean.shape[:-1]).sum(1, keepdim=True)
        return g * z / self.std, g_log_std


def member_state(state: dict, m: int, members: int) -> dict:
    """Member m's rows of a stacked state dict (each tensor's leading dimension is members x rows)."""
    return {k: v.view(members, -1, *v.shape[1:])[m] for k, v in state.items()}


class ActorScores(nn.Module):
    """Observations -> one member's actor output (what attribution explains)."""

    def __init__(self, net: ActorCritic):
        super().__init__()
        self.net = net

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net.actor(obs)[0]


@dataclass
class Rollout:
    """One rollout, flattened over steps and environments per member: tensors (M, steps x envs, ...)."""

    obs: torch.Tensor
    actions: torch.Tensor
    log_probs: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor
    values: torch.Tensor

    def __len__(self) -> int:
        return self.obs.shape[1]


def diverged(loss: float) -> None:
    """A NaN loss ends the run; lab.rl.train turns this into 'training diverged near step N ...'."""
    if not math.isfinite(loss):
        raise ValueError("the policy's outputs became nan")


def report_episodes(tracker, done_buf, ep_ret_buf, ep_len_buf, first_step: int, n_envs: int) -> None:
    """The finished episodes of buffers (steps, ..., n_envs) (every member's, where there are
    members) to the tracker, in step order: one transfer to the host."""
    where = done_buf.nonzero(as_tuple=True)
    rets, lens = ep_ret_buf[where].tolist(), ep_len_buf[where].tolist()
    for ti, r, n in zip(((where[0] + 1) * n_envs + first_step).tolist(), rets, lens):
        tracker.episode(ti, r, n)


def _spaces(spec):
    from lab.engine import ENVS

    env = ENVS[spec.env.id]
    obs_space, act_space = env.gym_observation_space, env.gym_action_space
    continuous = act_space.shape != ()
    return obs_space, act_space, continuous


def _at(value, progress_remaining: float) -> float:
    rate = schedule(value)
    return rate(progress_remaining) if callable(rate) else rate


class OnPolicyAgent:
    """Actor-critics trained from rollouts of `agent.n_steps` steps in `env.n_envs` environments
    per member. Subclasses give `make_optimizer()` and `update(optimizer, rollout, progress_remaining)`,
    and name the settings that may differ per member (`member_settings`)."""

    suffix = ".pt"
    member_settings: tuple[str, ...] = ()

    def __init__(self, spec, device: str):
        self.spec, self.device = spec, torch.device(device)
        self.members = spec.population
        obs_space, act_space, continuous = _spaces(spec)
        self.continuous = continuous
        self.low = None if not continuous else torch.as_tensor(act_space.low, device=self.device)
        self.high = None if not continuous else torch.as_tensor(act_space.high, device=self.device)
        torch.manual_seed(spec.seed)
        n_actions = act_space.shape[0] if continuous else int(act_space.n)
        self.net = ActorCritic(obs_space.shape[0], n_actions, continuous, list(spec.agent.net_arch or [64, 64]),
                               spec.agent.activation, self.members, spec.seed, spec.bf16).to(self.device)
        self.acting = self.net  # the network `act` and attribution use: one member's (use_member)
        self.best_state: dict | None = None  # each member's weights at its best evaluation (populations)
        self.resumed: dict | None = None  # the training state `load_resumable` brought back, for learn
        self.live: tuple = ()  # learn's state at its latest rollout boundary (save_resumable's)

    def hyper(self, key: str, progress_remaining: float = 1.0) -> torch.Tensor:
        """agent.<key> of each member at this point of training (schedules evaluated): (M,)."""
        return torch.tensor([_at(v, progress_remaining) for v in self.spec.member_values(key)], device=self.device)

    # --- learning -------------------------------------------------------------------------
    def learn(self, tracker) -> None:
        from lab.engine import make_vec

        spec, p, dev, net = self.spec, self.spec.agent, self.device, self.net
        m, n_envs, n_steps = self.members, spec.env.n_envs, p.n_steps
        env = make_vec(spec.env.id, m * n_envs, device=dev, seed=spec.seed)
        optimizer = self.make_optimizer()
        gamma, gae_lambda = self.hyper("gamma")[:, None], self.hyper("gae_lambda")[:, None]
        obs_shape, act_shape = env.single_observation_space.shape, env.single_action_space.shape
        obs_buf = torch.zeros((n_steps, m, n_envs, *obs_shape), device=dev)
        act_buf = torch.zeros((n_steps, m, n_envs, *act_shape), device=dev,
                              dtype=torch.float32 if self.continuous else torch.long)
        logp_buf, rew_buf, val_buf, ep_ret_buf = (torch.zeros((n_steps, m, n_envs), device=dev) for _ in range(4))
        done_buf, cut_buf = (torch.zeros((n_steps, m, n_envs), device=dev, dtype=torch.bool) for _ in range(2))
        final_buf = torch.zeros_like(obs_buf)
        ep_len_buf = torch.zeros((n_steps, m, n_envs), device=dev, dtype=torch.long)
        ep_ret = torch.zeros((m, n_envs), device=dev)
        ep_len = torch.zeros((m, n_envs), device=dev, dtype=torch.long)
        obs = env.reset(seed=spec.seed)[0].view(m, n_envs, *obs_shape)
        step = 0
        if self.resumed is not None:
            step, obs, ep_ret, ep_len = self._go_on(env, optimizer)
        while step < p.total_steps:
            # 0. a rollout boundary: nothing is half-done, a resumable checkpoint may be written here
            self.live = (step, env, optimizer, obs, ep_ret, ep_len)
            if not tracker.boundary(step):
                break
            # 1. a rollout of n_steps in every environment, on the device: the actors at each
            # step, the critics once after it (values do not choose actions)
            with torch.no_grad():
                actors = net.actors_now()
                for t in range(n_steps):
                    obs_buf[t] = obs
                    dist = net.distribution(actors(obs))
                    action = dist.sample()
                    act_buf[t], logp_buf[t] = action, dist.log_prob(action)
                    env_action = action.clamp(self.low, self.high) if self.continuous else action
                    obs, reward, terminated, truncated, info = env.step(env_action.reshape(m * n_envs, *act_shape))
                    obs = obs.view(m, n_envs, *obs_shape)
                    reward, terminated, truncated = (x.view(m, n_envs) for x in (reward, terminated, truncated))
                    ep_ret += reward
                    ep_len += 1
                    rew_buf[t] = reward
                    cut_buf[t] = truncated & ~terminated
                    final_buf[t] = info["final_obs"].view(m, n_envs, *obs_shape)
                    done_buf[t] = terminated | truncated
                    ep_ret_buf[t], ep_len_buf[t] = ep_ret, ep_len
                    done = done_buf[t]
                    ep_ret = ep_ret.masked_fill(done, 0.0)
                    ep_len = ep_len.masked_fill(done, 0)
                # the values of every step's observation, of its final observation (an episode cut
                # by the time limit was not over: it is bootstrapped with V(last obs)) and of the
                # observation after the rollout, in one pass
                rows = n_steps * n_envs
                values = net.critics_now()(torch.cat([x.transpose(0, 1).reshape(m, rows, *obs_shape)
                                                      for x in (obs_buf, final_buf)] + [obs], 1))
                val_buf.copy_(values[:, :rows].view(m, n_steps, n_envs).transpose(0, 1))
                rew_buf += gamma * values[:, rows:2 * rows].view(m, n_steps, n_envs).transpose(0, 1) * cut_buf
                # 2. advantages (GAE) and returns, bootstrapped from the value after the rollout
                next_value = values[:, 2 * rows:]
                adv = torch.zeros_like(rew_buf)
                last = torch.zeros((m, n_envs), device=dev)
                for t in reversed(range(n_steps)):
                    nv = next_value if t == n_steps - 1 else val_buf[t + 1]
                    # after a terminal step there is no next value; after a truncated one the
                    # bootstrap is already in the reward, and the next obs starts a new episode
                    nonterminal = (~done_buf[t]).float()
                    delta = rew_buf[t] + gamma * nv * nonterminal - val_buf[t]
                    last = delta + gamma * gae_lambda * nonterminal * last
                    adv[t] = last
                returns = adv + val_buf
            first_step = step
            step += n_steps * n_envs  # steps per member: a population's x axis is a single run's
            report_episodes(tracker, done_buf, ep_ret_buf, ep_len_buf, first_step, n_envs)
            # 3. learn from it
            progress_remaining = max(1.0 - first_step / p.total_steps, 0.0)
            rollout = Rollout(*(x.transpose(0, 1).reshape(m, n_steps * n_envs, *x.shape[3:])
                                for x in (obs_buf, act_buf, logp_buf, adv, returns, val_buf)))
            lr = self.hyper("learning_rate", progress_remaining)
            stats = self.update(optimizer, lr, rollout, progress_remaining)
            # how much of the returns' variance the values explained (SB3's), each member's, averaged
            var = rollout.returns.var(1)
            explained = 1 - (rollout.returns - rollout.values).var(1) / var
            stats["explained_variance"] = float(explained[var > 0].mean()) if bool((var > 0).any()) else float("nan")
            tracker.metrics(step, {**stats, "learning_rate": float(lr.mean())})
            if not tracker.step(step):
                break

    def make_optimizer(self) -> MemberOptimizer:
        raise NotImplementedError

    # --- resumable checkpoints (lab resume), at rollout boundaries --------------------------
    def save_resumable(self, path_for, stem: str) -> tuple[dict, dict]:
        """Every member's weights and optimizer state, the environments (states, time-limit
        counters, generator), the current observations and episode counters, the device's RNG:
        `stem`.pt. The step goes in the JSON state; the CPU's RNGs are the tracker's to save."""
        step, env, optimizer, obs, ep_ret, ep_len = self.live
        files = {"agent": path_for(f"{stem}.pt")}
        resumable.save(files["agent"], {"net": self.net.state_dict(), "optimizer": optimizer.state_dict(),
                                        "env": env.snapshot(), "obs": obs, "ep_ret": ep_ret, "ep_len": ep_len,
                                        "device_rng": resumable.device_rng_state(self.device)})
        return files, {"step": int(step)}

    def load_resumable(self, files: dict, state: dict, reseed: int) -> None:
        """The weights now, the rest when `learn` starts. The environments go on from the states
        they were in (`reseed` is not needed: nothing restarts), so a run resumed from a boundary
        steps as the uninterrupted run did. A population's best weights come back from the
        checkpoint's copy of best.pt, whose members improve one by one (record_best)."""
        saved = resumable.load(files["agent"], self.device)
        self.net.load_state_dict(saved["net"])
        if self.members > 1 and "best" in files:
            self.best_state = resumable.load(files["best"], self.device)
        self.resumed = {**saved, "step": int(state["step"])}

    def _go_on(self, env, optimizer: MemberOptimizer):
        """(step, obs, episode returns, episode lengths) of the resumed state, env and optimizer restored."""
        saved, self.resumed = self.resumed, None
        env.restore(saved["env"])
        optimizer.load_state_dict(saved["optimizer"])
        resumable.set_device_rng_state(self.device, saved["device_rng"])
        return saved["step"], saved["obs"], saved["ep_ret"], saved["ep_len"]

    def update(self, optimizer: MemberOptimizer, lr: torch.Tensor, rollout: Rollout, progress_remaining: float) -> dict:
        """Learn from one rollout with step sizes `lr` (M,); the losses, averaged over members, as
        floats (one host sync)."""
        raise NotImplementedError

    @torch.no_grad()
    def evaluate(self, episodes: int, seed: int, deterministic: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Returns and lengths (M, episodes): each member's first episode in `episodes` fresh
        environments of the engine, all members at once."""
        from lab.engine import make_vec

        m, net = self.members, self.net
        actors = net.actors_now()
        env = make_vec(self.spec.env.id, m * episodes, device=self.device, seed=seed)
        obs = env.reset(seed=seed)[0]
        ret = torch.zeros(m * episodes, device=self.device)
        length = torch.zeros(m * episodes, device=self.device, dtype=torch.long)
        running = torch.ones(m * episodes, device=self.device, dtype=torch.bool)
        for t in range(env.max_episode_steps):  # every episode ends by the time limit
            out = actors(obs.view(m, episodes, -1))
            if deterministic:
                action = out if self.continuous else out.argmax(-1)
            else:
                action = net.distribution(out).sample()
            if self.continuous:
                action = action.clamp(self.low, self.high)
            obs, reward, terminated, truncated, _ = env.step(action.reshape(m * episodes, *env.single_action_space.shape))
            ret += reward * running
            length += running
            running &= ~(terminated | truncated)
            if t % 64 == 63 and not bool(running.any()):  # a host look every 64 steps
                break
        return ret.view(m, episodes).cpu().numpy(), length.view(m, episodes).cpu().numpy()

    def record_best(self, improved: np.ndarray) -> None:
        """Members whose evaluation improved: keep their current weights in `best_state`."""
        state = self.net.state_dict()
        if self.best_state is None:
            self.best_state = {k: v.detach().clone() for k, v in state.items()}
            return
        mask = torch.as_tensor(improved, device=self.device)
        for k, v in state.items():
            self.best_state[k].view(self.members, -1)[mask] = v.view(self.members, -1)[mask]

    def use_member(self, m: int) -> None:
        """Act (and be explained) as member m of the population."""
        self.acting = self.net.member(m) if self.members > 1 else self.net

    # --- the protocol's other half ---------------------------------------------------------
    @torch.no_grad()
    def act(self, obs, deterministic: bool = True):
        x = torch.as_tensor(np.asarray(obs), dtype=torch.float32, device=self.device)
        action = (self.acting.mode(x) if deterministic else self.acting.policy(x).sample())[0]
        if self.continuous:
            action = action.clamp(self.low, self.high)
        return action.cpu().numpy()

    def save(self, path: Path, best: bool = False) -> None:
        """The weights (every member's) as a plain state dict; `best`: each member at its best."""
        write_torch(path, self.best_state if best else self.net.state_dict())

    @classmethod
    def load(cls, path: Path, spec, device: str) -> OnPolicyAgent:
        agent = cls(spec, device)
        agent.net.load_state_dict(torch.load(path, map_location=device, weights_only=True))
        agent.use_member(0)
        return agent

    def scores_module(self) -> nn.Module:
        """Action logits (discrete), or the action mean (continuous), of the acting member."""
        return ActorScores(self.acting)

    def export_artifacts(self, ctx, policy) -> None:
        """The checkpoint is a plain state dict (torch.load(..., weights_only=True)); nothing more."""
