"""REINFORCE on lab's torch engine: `lab.rl.reinforce` with its episodes collected on the device.

The algorithm, networks, hyperparameters (`lab.rl.params.ReinforceParams`), checkpoints and
acting are `lab.rl.reinforce.ReinforceAgent`'s (this agent is one, with another `learn`): every
`episodes_per_update` finished episodes make one gradient step on

    loss = -mean_t[ log pi(a_t|s_t) * A_t ] - ent_coef * entropy,
    A_t  = G_t - V(s_t)   (G_t when there is no baseline),

G_t the discounted return to the episode's end, bootstrapped with V(last obs) where the time
limit cut the episode and there is a baseline. What changes is where episodes live: the
`env.n_envs` environments step on the device, every step goes into a window of steps not yet
learned from, and episodes are told apart by masks, never by the host. The host looks once per
block of `BLOCK` env.step calls (the finished episodes, for the tracker, and the step at which
the count of finished episodes reached episodes_per_update, if it did) and once per update.

One difference from lab.rl.reinforce: an update happens at the step where the count is reached,
as there, but the steps after it in the same block were sampled before the update. That adds at
most BLOCK - 1 steps per environment to the bias both accept from episodes that straddle an
update.
"""

from __future__ import annotations

import math

import torch

from lab.engine.agent import diverged, report_episodes
from lab.rl import resumable
from lab.rl.reinforce import ReinforceAgent

BLOCK = 16  # env.step calls between the host's looks


def _distribution(policy, obs: torch.Tensor):
    """`Policy.distribution` without argument checks: they read the logits on the host (a sync
    per step on a GPU). A NaN policy is caught by `diverged` at the update."""
    out = policy.net(obs)
    if policy.continuous:
        normal = torch.distributions.Normal(out, policy.log_std.exp(), validate_args=False)
        return torch.distributions.Independent(normal, 1, validate_args=False)
    return torch.distributions.Categorical(logits=out, validate_args=False)


class TorchReinforceAgent(ReinforceAgent):
    @staticmethod
    def env_spaces(spec):
        from lab.engine import env_spaces

        return env_spaces(spec.env)

    def learn(self, tracker) -> None:
        from lab.engine import make_env

        spec, p, dev = self.spec, self.spec.agent, self.device
        n_envs = spec.env.n_envs
        env = make_env(spec.env, n_envs, device=dev, seed=spec.seed)
        obs, _ = env.reset(seed=spec.seed)
        window: list[tuple] = []  # (obs, action, reward, done, bootstrap) of each env.step since the oldest step not learned from
        start = torch.zeros(n_envs, dtype=torch.long, device=dev)  # per env: its first step in `window` not learned from
        finished = torch.zeros((), dtype=torch.long, device=dev)  # episodes that ended in `window`, not learned from
        no_bootstrap = torch.zeros(n_envs, device=dev)
        done_buf = torch.zeros((BLOCK, n_envs), dtype=torch.bool, device=dev)
        ep_ret_buf = torch.zeros((BLOCK, n_envs), device=dev)
        ep_len_buf = torch.zeros((BLOCK, n_envs), dtype=torch.long, device=dev)
        ep_ret = torch.zeros(n_envs, device=dev)
        ep_len = torch.zeros(n_envs, dtype=torch.long, device=dev)
        step = 0
        if self.resumed is not None:
            step, obs, window, start, finished, ep_ret, ep_len = self._go_on(env)
        while step < p.total_steps:
            # 0. between blocks nothing is half-done: a resumable checkpoint may be written here
            self.live = (step, env, obs, window, start, finished, ep_ret, ep_len)
            if not tracker.boundary(step):
                break
            # 1. a block of env.step calls in every environment, on the device
            block = min(BLOCK, math.ceil((p.total_steps - step) / n_envs))
            counts = []  # episodes finished and not learned from, after each call
            with torch.no_grad():
                for t in range(block):
                    action = _distribution(self.policy, obs).sample()
                    next_obs, reward, terminated, truncated, info = env.step(action)  # the env clips Box actions
                    done = terminated | truncated
                    bootstrap = no_bootstrap
                    if self.value is not None:  # an episode cut by the time limit goes on from V(last obs)
                        bootstrap = self.value(info["final_obs"]).squeeze(-1) * (truncated & ~terminated)
                    window.append((obs, action, reward, done, bootstrap))
                    obs = next_obs
                    finished = finished + done.sum()
                    counts.append(finished)
                    ep_ret += reward
                    ep_len += 1
                    done_buf[t], ep_ret_buf[t], ep_len_buf[t] = done, ep_ret, ep_len
                    ep_ret = ep_ret.masked_fill(done, 0.0)
                    ep_len = ep_len.masked_fill(done, 0)
            first_step, step = step, step + block * n_envs
            # 2. a gradient step at each call where episodes_per_update episodes had finished (the
            # episodes up to it reported first, so that events come in step order)
            counts = torch.stack(counts)
            updated, reported = False, 0
            while (t := _first_true(counts >= p.episodes_per_update)) >= 0:
                report_episodes(tracker, done_buf[reported:t + 1], ep_ret_buf[reported:t + 1], ep_len_buf[reported:t + 1],
                                first_step + reported * n_envs, n_envs)
                reported = t + 1
                end = len(window) - block + t  # the window's index of that call
                start = self._update(window[:end + 1], start, first_step + (t + 1) * n_envs, tracker)
                counts = counts - counts[t]  # what finished after it
                updated = True
            report_episodes(tracker, done_buf[reported:block], ep_ret_buf[reported:block], ep_len_buf[reported:block],
                            first_step + reported * n_envs, n_envs)
            finished = counts[-1]
            if updated:  # drop the steps every environment has learned from
                drop = int(start.min())
                window, start = window[drop:], start - drop
            if not tracker.step(step):
                break

    # --- resumable checkpoints (lab resume), between blocks ---------------------------------
    def save_resumable(self, path_for, stem: str) -> tuple[dict, dict]:
        """The networks and their optimizers, the steps not learned from yet (the window, its
        fields stacked), the environments (states, time-limit counters, generator), the current
        observations and episode counters, the device's RNG: `stem`.pt; the step in the JSON state."""
        step, env, obs, window, start, finished, ep_ret, ep_len = self.live
        files = {"agent": path_for(f"{stem}.pt")}
        resumable.save(files["agent"], {
            **self.learner_state(), "window": [torch.stack(x) for x in zip(*window)] if window else [],
            "start": start, "finished": finished, "env": env.snapshot(), "obs": obs, "ep_ret": ep_ret, "ep_len": ep_len,
            "device_rng": resumable.device_rng_state(self.device)})
        return files, {"step": int(step)}

    def load_resumable(self, files: dict, state: dict, reseed: int) -> None:
        """The networks and optimizers now, the rest when `learn` starts; the environments go on
        from the states they were in (`reseed` is not needed: nothing restarts)."""
        from lab.engine import make_env

        saved = resumable.load(files["agent"], self.device, resumable.bound(self))
        self.load_learner_state(saved)
        resumed = self.resumed = {**saved, "step": int(state["step"]), "reseed": reseed}
        # `_go_on` on throwaway environments, as `learn` will: what does not fit this spec fails
        # here, where `lab resume` refuses it before touching the run folder
        env = make_env(self.spec.env, self.spec.env.n_envs, device=self.device, seed=self.spec.seed)
        try:
            self._go_on(env)
        finally:
            self.resumed = resumed
            env.close()

    def _go_on(self, env):
        """(step, obs, window, start, finished, episode returns, episode lengths) of the resumed state."""
        saved, self.resumed = self.resumed, None
        resumable.set_device_rng_state(self.device, saved["device_rng"])
        n = self.spec.env.n_envs
        for name, shape in (("ep_ret", (n,)), ("ep_len", (n,)), ("start", (n,)), ("finished", ())):
            resumable.check_shape(name, saved[name], shape)
        if not getattr(env, "resumes_exactly", True):  # a Gymnasium env starts afresh: no window to go on with
            obs, zeros = env.reset(seed=saved["reseed"])[0], torch.zeros_like(saved["ep_ret"])
            return saved["step"], obs, [], torch.zeros_like(saved["start"]), torch.zeros_like(saved["finished"]), zeros, zeros.long()
        env.restore(saved["env"])
        resumable.check_shape("obs", saved["obs"], (n, *env.single_observation_space.shape))
        fields = saved["window"]  # (obs, action, reward, done, bootstrap), each stacked over the window's steps
        if not isinstance(fields, list) or len(fields) not in (0, 5) or any(
                not isinstance(x, torch.Tensor) or x.shape[1:2] != (n,) or len(x) != len(fields[0]) for x in fields):
            raise ValueError(f"window: not the steps of {n} environments")
        window = list(zip(*(x.unbind(0) for x in fields)))
        return saved["step"], saved["obs"], window, saved["start"], saved["finished"], saved["ep_ret"], saved["ep_len"]

    def _update(self, window: list[tuple], start: torch.Tensor, step: int, tracker) -> torch.Tensor:
        """One gradient step on the episodes that ended in `window` and were not learned from
        (steps at or after `start`); the new `start`."""
        p = self.spec.agent
        obs, actions, rewards, dones, bootstraps = (torch.stack(x) for x in zip(*window))  # (steps, n_envs, ...)
        n_steps = len(window)
        not_learned = torch.arange(n_steps, device=self.device)[:, None] >= start
        ended = dones & not_learned
        used = not_learned & (ended.flip(0).cumsum(0).flip(0) > 0)  # an episode's end is still to come
        returns = torch.empty_like(rewards)
        g = torch.zeros_like(rewards[0])
        with torch.no_grad():
            for t in reversed(range(n_steps)):
                g = rewards[t] + p.gamma * torch.where(dones[t], bootstraps[t], g)
                returns[t] = g
        new_start = torch.where(ended.any(0), n_steps - ended.flip(0).int().argmax(0), start)
        obs, actions, returns = obs[used], actions[used], returns[used]

        losses, lr = self.learn_from(obs, actions, returns, step, lambda x: _distribution(self.policy, x))
        values = dict(zip(losses, torch.stack(list(losses.values())).tolist()))  # one host sync
        diverged(values["policy_loss"])
        tracker.metrics(step, {**values, "learning_rate": lr, "batch_steps": len(returns)})
        return new_start


def _first_true(mask: torch.Tensor) -> int:
    """The index of the first true element of a 1-d mask, -1 if none (one host sync)."""
    return int(torch.where(mask.any(), mask.int().argmax(), -1))
