"""Tabular Q-learning (Watkins, 1989): the first RL method people learn.

For environments with Discrete observations and actions (FrozenLake-v1, Taxi-v4, CliffWalking).
epsilon-greedy behaviour with linearly decaying epsilon; greedy ties broken at random so an
all-zero table does not always pick action 0. The delivered Q-table is saved as
`artifacts/q_table.npy` (states x actions).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lab.rl.envs import make_env
from lab.rl.params import schedule
from lab.store import atomic_target

METRIC_EVERY = 1000


class QLearningAgent:
    suffix = ".npy"

    def __init__(self, spec, device: str = "cpu", table: np.ndarray | None = None):
        self.spec = spec
        if table is None:
            env = make_env(spec)
            table = np.zeros((env.observation_space.n, env.action_space.n))
            env.close()
        self.q = table

    def epsilon(self, step: int) -> float:
        p = self.spec.agent
        frac = min(step / (p.exploration_fraction * p.total_steps), 1.0)
        return p.exploration_initial_eps + frac * (p.exploration_final_eps - p.exploration_initial_eps)

    def learn(self, tracker) -> None:
        p = self.spec.agent
        rng = np.random.default_rng(self.spec.seed)
        lr = schedule(p.learning_rate)
        env = make_env(self.spec)
        env.action_space.seed(self.spec.seed)
        n_actions = self.q.shape[1]
        obs, _ = env.reset(seed=self.spec.seed)
        ep_return, ep_length, td_sum = 0.0, 0, 0.0
        try:
            for step in range(1, p.total_steps + 1):
                eps = self.epsilon(step)
                if rng.random() < eps:
                    action = int(rng.integers(n_actions))
                else:
                    row = self.q[obs]
                    action = int(rng.choice(np.flatnonzero(row == row.max())))
                next_obs, reward, terminated, truncated, _ = env.step(action)
                alpha = lr(1.0 - step / p.total_steps) if callable(lr) else lr
                target = reward + (0.0 if terminated else p.gamma * self.q[next_obs].max())
                td = target - self.q[obs, action]
                self.q[obs, action] += alpha * td
                td_sum += abs(td)
                ep_return += reward
                ep_length += 1
                obs = next_obs
                if terminated or truncated:
                    tracker.episode(step, ep_return, ep_length)
                    obs, _ = env.reset()
                    ep_return, ep_length = 0.0, 0
                if step % METRIC_EVERY == 0:
                    tracker.metrics(step, {"epsilon": eps, "learning_rate": alpha, "td_error": td_sum / METRIC_EVERY})
                    td_sum = 0.0
                if not tracker.step(step):
                    break
        finally:
            env.close()

    def act(self, obs, deterministic: bool = True):
        obs = np.asarray(obs, dtype=np.int64).reshape(-1)
        return self.q[obs].argmax(axis=1)

    def save(self, path: Path) -> None:
        with atomic_target(path) as tmp:
            np.save(tmp, self.q)

    @classmethod
    def load(cls, path: Path, spec, device: str = "cpu") -> QLearningAgent:
        return cls(spec, device, table=np.load(path, allow_pickle=False))

    def scores_module(self):
        from lab.errors import BadInput

        raise BadInput("model.from_run: a qlearning policy is a table, with no gradients to attribute; "
                       "explain a neural policy (ppo, a2c, dqn, reinforce)")

    def export_artifacts(self, ctx, policy) -> None:
        path = ctx.artifact("q_table.npy")
        policy.save(path)
        ctx.emit("artifact", path=ctx.relpath(path), description="delivered Q-table, states x actions")
