"""One environment of a batched torch environment class as a plain Gymnasium `Env`, on the CPU.

What lab steps one episode at a time: `lab eval`, `lab play`/`record` (frames from the class's
`draw`), policy attribution's rollouts. Built by `TorchVecEnv.gym_env(render_mode, **kwargs)`.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch


class SingleTorchEnv(gym.Env):
    """A `TorchVecEnv` class with num_envs = 1: numpy in and out, and Gymnasium's episode ends
    rather than the vector env's autoreset (the state after the last step stays, to be drawn),
    with the class's time limit; `reset(seed=)` seeds its reset states."""

    def __init__(self, cls, render_mode: str | None = None, kwargs: dict[str, Any] | None = None):
        self.vec = cls(1, device="cpu", **(kwargs or {}))
        self.observation_space = self.vec.single_observation_space
        self.action_space = self.vec.single_action_space
        self.metadata = {"render_modes": ["rgb_array"] if cls.can_draw() else [],
                         "render_fps": cls.metadata.get("render_fps", 30)}
        self.render_mode = render_mode
        self.max_episode_steps = self.vec.max_episode_steps
        self._discrete = isinstance(self.action_space, gym.spaces.Discrete)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        obs, _ = self.vec.reset(seed=seed)
        return obs[0].numpy().copy(), {}

    def step(self, action):
        vec = self.vec
        actions = torch.as_tensor(np.asarray(action), dtype=torch.int64 if self._discrete else vec.dtype)
        state, reward, terminated = vec.dynamics(vec.state.T, vec._as_actions(actions.reshape(1, *self.action_space.shape)))
        elapsed = vec.elapsed + 1
        vec.state, vec.elapsed = state.T, elapsed  # the setters copy
        truncated = bool(elapsed[0] >= vec.max_episode_steps)
        return vec.observe(state)[0].numpy().copy(), float(reward[0]), bool(terminated[0]), truncated, {}

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        return np.asarray(self.vec.draw(), dtype=np.uint8)
