"""DQN on lab's torch engine: environments, replay buffer, exploration and updates on one device.

Read top to bottom as CleanRL's dqn.py. The hyperparameters are SB3's (`lab.rl.params.DQNParams`:
same names, schedules and defaults), and so are the details that change results:

- the Q-network is SB3's QNetwork: an MLP with ReLU (net_arch [64, 64] when unset), PyTorch's
  default initialisation, Adam with its default eps; the target network is a copy, moved towards
  it by `tau` (1: a hard copy) every max(target_update_interval // n_envs, 1) env.step calls;
- `train_freq` counts env.step calls (each one n_envs transitions); after each block of them,
  once more than `learning_starts` steps are taken, `gradient_steps` gradient steps (-1: one per
  transition of the block) on minibatches drawn uniformly from the replay buffer, Huber loss,
  gradients clipped to `max_grad_norm`, the learning rate set from the schedule once per block;
- epsilon decays linearly from exploration_initial_eps to exploration_final_eps over the first
  exploration_fraction of total_steps, and actions are uniform before `learning_starts`;
- SB3's timeout handling: a transition cut by the time limit (truncated, not terminated) is
  stored as not terminal, with the episode's last observation (info["final_obs"]) as its next
  observation, so its target bootstraps from Q(last obs).

One difference: SB3 tosses one coin per env.step for all environments together (explore all or
none); here each environment tosses its own, as vectorised DQNs usually do (with many
environments, one coin makes whole batches random).

The replay buffer is preallocated on the device, (rows, n_envs) transitions, capacity
min(buffer_size, total_steps). Nothing in a block of env steps reads a tensor on the host: the
random actions and minibatch indices come from a torch.Generator on the device seeded from the
spec's seed, episodes are counted with masks, and the host looks once per block (the finished
episodes, for the tracker) and once per training (the mean loss).
"""

from __future__ import annotations

import copy
import math
import torch
from torch import nn

from lab.engine.agent import EngineAgent
from lab.engine.agent import diverged, report_episodes
from lab.rl import resumable
from lab.rl.params import schedule
from lab.rl.reinforce import mlp


def linear_epsilon(p, progress_remaining: float) -> float:
    """SB3's exploration schedule (get_linear_fn) at `progress_remaining` (1 -> 0)."""
    progress = 1.0 - progress_remaining
    if progress > p.exploration_fraction:
        return p.exploration_final_eps
    return p.exploration_initial_eps + progress * (p.exploration_final_eps - p.exploration_initial_eps) / p.exploration_fraction


class ReplayBuffer:
    """Transitions in preallocated tensors on the device, one column per environment (SB3's
    layout): `add` writes one env.step of all environments, `sample` draws uniformly."""

    def __init__(self, capacity: int, n_envs: int, obs_dim: int, device: torch.device, generator: torch.Generator):
        self.rows, self.n_envs, self.device, self.generator = max(capacity // n_envs, 1), n_envs, device, generator
        self.obs = torch.zeros((self.rows, n_envs, obs_dim), device=device)
        self.next_obs = torch.zeros((self.rows, n_envs, obs_dim), device=device)
        self.actions = torch.zeros((self.rows, n_envs), dtype=torch.long, device=device)
        self.rewards = torch.zeros((self.rows, n_envs), device=device)
        self.terminated = torch.zeros((self.rows, n_envs), device=device)  # 1.0: no bootstrap
        self.pos, self.full = 0, False  # host counters, not tensor values

    def add(self, obs, next_obs, actions, rewards, terminated, truncated, info) -> None:
        """One env.step of every environment (what it was given and what it returned). A
        transition cut by the time limit is not terminal: its next obs is the episode's last,
        from which its target bootstraps (SB3's timeout handling)."""
        done = terminated | truncated
        self.obs[self.pos], self.actions[self.pos], self.rewards[self.pos] = obs, actions, rewards
        self.next_obs[self.pos] = torch.where(done[:, None], info["final_obs"], next_obs)
        self.terminated[self.pos] = terminated
        self.pos += 1
        if self.pos == self.rows:
            self.pos, self.full = 0, True

    def state_dict(self) -> dict:
        """The filled rows only, compactly: actions as bytes where they fit (a resumable
        checkpoint's; `load_state_dict` puts them back)."""
        n = self.rows if self.full else self.pos
        actions = self.actions[:n]
        fits = n == 0 or int(actions.max()) < 256
        return {"obs": self.obs[:n], "next_obs": self.next_obs[:n], "actions": actions.to(torch.uint8 if fits else torch.int32),
                "rewards": self.rewards[:n], "terminated": self.terminated[:n].bool()}

    def load_state_dict(self, state: dict, pos: int, full: bool) -> None:
        n = len(state["obs"])
        if n > self.rows or n != (self.rows if full else pos) or state["obs"].shape[1:] != self.obs.shape[1:]:
            raise ValueError(f"a replay buffer of {tuple(state['obs'].shape)} (pos {pos}, full {full}) does not fit "
                             f"{tuple(self.obs.shape)}")
        for name in ("obs", "next_obs", "actions", "rewards", "terminated"):
            into = getattr(self, name)
            if not isinstance(state[name], torch.Tensor) or state[name].shape != (n, *into.shape[1:]):
                raise ValueError(f"a replay buffer's {name} does not fit {(n, *into.shape[1:])}")
            into[:n] = state[name].to(into.dtype)
        self.pos, self.full = pos, full

    def sample(self, n_batches: int, batch_size: int):
        """`n_batches` minibatches of (obs, actions, rewards, terminated, next_obs), drawn at once."""
        shape = (n_batches, batch_size)
        rows = torch.randint(self.rows if self.full else self.pos, shape, generator=self.generator, device=self.device)
        envs = torch.randint(self.n_envs, shape, generator=self.generator, device=self.device)
        return (self.obs[rows, envs], self.actions[rows, envs], self.rewards[rows, envs],
                self.terminated[rows, envs], self.next_obs[rows, envs])


class TorchDQNAgent(EngineAgent):
    def __init__(self, spec, device: str):
        super().__init__(spec, device)
        obs_space, act_space = self.spaces
        self.obs_dim, self.n_actions = obs_space.shape[0], int(act_space.n)
        self.q_net = mlp([self.obs_dim, *(spec.agent.net_arch or spec.algo.net_arch), self.n_actions], "relu").to(self.device)
        self.net = self.acting = self.q_net  # (EngineAgent's checkpoints, evaluation and acting)
        self.epsilon = spec.agent.exploration_final_eps  # act(deterministic=False) explores with it
        self.gradient_step = self.compiled(self.gradient_step)

    # --- learning -------------------------------------------------------------------------
    def _parts(self):
        """What learning keeps beside the Q-network, fresh: (environments, target network,
        optimizer, replay buffer with its generator)."""
        spec, p, dev = self.spec, self.spec.agent, self.device
        env = self.make_env(spec.env.n_envs, spec.seed)
        generator = torch.Generator(device=dev)
        generator.manual_seed(spec.seed)
        target_net = copy.deepcopy(self.q_net).requires_grad_(False)
        lr = schedule(p.learning_rate)
        # the step size as a tensor: a compiled step reads it instead of baking a number in
        optimizer = torch.optim.Adam(self.q_net.parameters(), lr=torch.tensor(lr(1.0) if callable(lr) else lr), fused=True)
        buffer = ReplayBuffer(min(p.buffer_size, p.total_steps), spec.env.n_envs, self.obs_dim, dev, generator)
        return env, target_net, optimizer, buffer

    def learn(self, tracker) -> None:
        spec, p, dev, q_net = self.spec, self.spec.agent, self.device, self.q_net
        n_envs = spec.env.n_envs
        env, target_net, optimizer, buffer = self._parts()
        generator = buffer.generator
        target_every = max(p.target_update_interval // n_envs, 1)  # in env.step calls, as SB3
        lr = schedule(p.learning_rate)
        done_buf = torch.zeros((p.train_freq, n_envs), dtype=torch.bool, device=dev)
        ep_ret_buf = torch.zeros((p.train_freq, n_envs), device=dev)
        ep_len_buf = torch.zeros((p.train_freq, n_envs), dtype=torch.long, device=dev)
        ep_ret = torch.zeros(n_envs, device=dev)
        ep_len = torch.zeros(n_envs, dtype=torch.long, device=dev)
        obs, _ = env.reset(seed=spec.seed)
        step = calls = 0
        if self.resumed is not None:
            step, calls, obs, ep_ret, ep_len = self._go_on(env, target_net, optimizer, buffer)
        while step < p.total_steps:
            # 0. between blocks nothing is half-done: a resumable checkpoint may be written here
            self.live = (step, calls, env, target_net, optimizer, buffer, obs, ep_ret, ep_len)
            if not tracker.boundary(step):
                break
            # 1. a block of train_freq env.step calls (fewer at the end), into the replay buffer
            block = min(p.train_freq, math.ceil((p.total_steps - step) / n_envs))
            with torch.no_grad():
                for t in range(block):
                    self.epsilon = linear_epsilon(p, 1.0 - (step + t * n_envs) / p.total_steps)
                    explore_rate = 1.0 if step + t * n_envs < p.learning_starts else self.epsilon
                    explore = torch.rand(n_envs, generator=generator, device=dev) < explore_rate
                    random_action = torch.randint(self.n_actions, (n_envs,), generator=generator, device=dev)
                    action = torch.where(explore, random_action, q_net(obs).argmax(1))
                    next_obs, reward, terminated, truncated, info = env.step(action)
                    buffer.add(obs, next_obs, action, reward, terminated, truncated, info)
                    obs, done = next_obs, terminated | truncated
                    ep_ret += reward
                    ep_len += 1
                    done_buf[t], ep_ret_buf[t], ep_len_buf[t] = done, ep_ret, ep_len
                    ep_ret = ep_ret.masked_fill(done, 0.0)
                    ep_len = ep_len.masked_fill(done, 0)
                    calls += 1
                    if calls % target_every == 0:
                        _polyak(q_net, target_net, p.tau)
            first_step, step = step, step + block * n_envs
            report_episodes(tracker, done_buf[:block], ep_ret_buf[:block], ep_len_buf[:block], first_step, n_envs)
            stats = {"epsilon": self.epsilon}
            # 2. learn from the replay buffer
            if step > p.learning_starts:
                rate = lr(max(1.0 - step / p.total_steps, 0.0)) if callable(lr) else lr
                for group in optimizer.param_groups:
                    group["lr"].fill_(rate)
                n_updates = p.gradient_steps if p.gradient_steps >= 0 else block * n_envs
                if n_updates > 0:
                    stats.update(loss=self._train(q_net, target_net, optimizer, buffer, n_updates), learning_rate=rate)
            tracker.metrics(step, stats)
            if not tracker.step(step):
                break

    def _train(self, q_net, target_net, optimizer, buffer: ReplayBuffer, n_updates: int) -> float:
        """`n_updates` gradient steps; the mean loss (one host sync)."""
        b_obs, b_act, b_rew, b_term, b_next = buffer.sample(n_updates, self.spec.agent.batch_size)
        losses = torch.stack([self.gradient_step(q_net, target_net, optimizer, b_obs[k], b_act[k], b_rew[k], b_term[k],
                                                 b_next[k]) for k in range(n_updates)])
        loss = losses.mean().item()
        diverged(loss)
        return loss

    def gradient_step(self, q_net, target_net, optimizer, obs, actions, rewards, terminated, next_obs) -> torch.Tensor:
        """One step on a minibatch: the Huber loss to the target network's bootstrapped target."""
        p = self.spec.agent
        with torch.no_grad():
            target = rewards + (1.0 - terminated) * p.gamma * target_net(next_obs).max(1).values
        q = q_net(obs).gather(1, actions[:, None]).squeeze(1)
        loss = nn.functional.smooth_l1_loss(q, target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(q_net.parameters(), p.max_grad_norm)
        optimizer.step()
        return loss.detach()

    # --- resumable checkpoints (lab resume), between blocks ---------------------------------
    def save_resumable(self, path_for, stem: str) -> tuple[dict, dict]:
        """The Q- and target networks, Adam's state, the replay buffer (its filled rows only),
        the environments (states, time-limit counters, generator), the current observations and
        episode counters, the agent's generator and the device's RNG: `stem`.pt. The step and
        env.step count go in the JSON state (epsilon and the learning rate follow from the step)."""
        step, calls, env, target_net, optimizer, buffer, obs, ep_ret, ep_len = self.live
        files = {"agent": path_for(f"{stem}.pt")}
        resumable.save(files["agent"], {
            "q_net": self.q_net.state_dict(), "target_net": target_net.state_dict(), "optimizer": optimizer.state_dict(),
            "buffer": buffer.state_dict(), "env": env.snapshot(), "obs": obs, "ep_ret": ep_ret, "ep_len": ep_len,
            "generator": buffer.generator.get_state(), "device_rng": resumable.device_rng_state(self.device)})
        return files, {"step": int(step), "calls": int(calls), "buffer_pos": buffer.pos, "buffer_full": buffer.full}

    def load_resumable(self, files: dict, state: dict, reseed: int) -> None:
        """The Q-network now, the rest when `learn` starts; the environments go on from the
        states they were in (`reseed` is not needed: nothing restarts)."""
        p = self.spec.agent
        buffer_bytes = (min(p.buffer_size, p.total_steps) + self.spec.env.n_envs) * (8 * self.obs_dim + 16)
        saved = resumable.load(files["agent"], self.device, resumable.bound(self, buffer_bytes))
        self.q_net.load_state_dict(saved["q_net"])
        resumed = self.resumed = {**saved, "step": int(state["step"]), "calls": int(state["calls"]), "reseed": reseed,
                                  "buffer_pos": int(state["buffer_pos"]), "buffer_full": bool(state["buffer_full"])}
        # `_go_on` on throwaway parts, as `learn` will: what does not fit this spec fails here,
        # where `lab resume` refuses it before touching the run folder
        env, target_net, optimizer, buffer = self._parts()
        try:
            self._go_on(env, target_net, optimizer, buffer)
        finally:
            self.resumed = resumed
            env.close()

    def _go_on(self, env, target_net, optimizer, buffer: ReplayBuffer):
        """(step, env.step calls, obs, episode returns, episode lengths) of the resumed state;
        the target network, optimizer, replay buffer, env and generators restored."""
        saved, self.resumed = self.resumed, None
        target_net.load_state_dict(saved["target_net"])
        resumable.check_optimizer_state("optimizer", saved["optimizer"]["state"], self.q_net.parameters())
        # Adam's moments and step counts; its settings stay this run's (the step size follows from the step)
        optimizer.load_state_dict({"state": saved["optimizer"]["state"], "param_groups": optimizer.state_dict()["param_groups"]})
        buffer.load_state_dict(saved["buffer"], saved["buffer_pos"], saved["buffer_full"])
        buffer.generator.set_state(saved["generator"].cpu())
        resumable.set_device_rng_state(self.device, saved["device_rng"])
        self.epsilon = linear_epsilon(self.spec.agent, 1.0 - saved["step"] / self.spec.agent.total_steps)
        n = self.spec.env.n_envs
        resumable.check_shape("ep_ret", saved["ep_ret"], (n,))
        resumable.check_shape("ep_len", saved["ep_len"], (n,))
        if not getattr(env, "resumes_exactly", True):  # a Gymnasium env starts afresh, seeded from the step
            obs = env.reset(seed=saved["reseed"])[0]
            return saved["step"], saved["calls"], obs, torch.zeros_like(saved["ep_ret"]), torch.zeros_like(saved["ep_len"])
        env.restore(saved["env"])
        resumable.check_shape("obs", saved["obs"], (n, self.obs_dim))
        return saved["step"], saved["calls"], saved["obs"], saved["ep_ret"], saved["ep_len"]

    # --- the protocol's other half (the rest is EngineAgent's) -----------------------------------
    def policy_actions(self, net, obs: torch.Tensor, deterministic: bool) -> torch.Tensor:
        """Greedy actions, or epsilon-greedy ones with the current epsilon."""
        action = net(obs).argmax(-1)
        if not deterministic:
            explore = torch.rand(action.shape, device=self.device) < self.epsilon
            action = torch.where(explore, torch.randint_like(action, self.n_actions), action)
        return action

    def scores_module(self) -> nn.Module:
        """The Q-network: observations -> one Q-value per action."""
        return self.q_net


@torch.no_grad()
def _polyak(net: nn.Module, target: nn.Module, tau: float) -> None:
    """target <- (1 - tau) * target + tau * net, as SB3's polyak_update (tau 1: a copy)."""
    params, targets = list(net.parameters()), list(target.parameters())
    torch._foreach_mul_(targets, 1.0 - tau)
    torch._foreach_add_(targets, params, alpha=tau)
