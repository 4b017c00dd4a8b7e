"""Gymnasium environments as lab's torch-engine agents see them: observations as flat float32
vectors (a Box flattened, a Discrete one-hot), Discrete actions counted from 0.

The one statement of that view: the engine's batched Gymnasium path
(`lab.engine.envs.gymnasium_vec`) encodes its batches with it, and `lab.rl.envs.make_env` wraps
the single environments of an engine run with `EngineView` (`lab eval`, `play`, `record`,
policy attribution), so a policy sees the same observations wherever it acts.
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from lab.errors import BadInput


def observation_space(space: spaces.Space) -> spaces.Box:
    """The Box the agents see for a Gymnasium observation space. BadInput for a space other than
    Box and Discrete."""
    if isinstance(space, spaces.Discrete):
        return spaces.Box(0.0, 1.0, (int(space.n),), np.float32)
    if isinstance(space, spaces.Box):
        return spaces.Box(space.low.astype(np.float32).ravel(), space.high.astype(np.float32).ravel(), dtype=np.float32)
    raise BadInput(f"the torch engine reads Box and Discrete observations, not {type(space).__name__}")


def action_space(space: spaces.Space) -> spaces.Space:
    """The action space the agents act in: Discrete(n) from 0, a Box as it is. BadInput for
    another space."""
    if isinstance(space, spaces.Discrete):
        return spaces.Discrete(int(space.n))
    if isinstance(space, spaces.Box):
        return space
    raise BadInput(f"the torch engine acts in Discrete and Box action spaces, not {type(space).__name__}")


def action_start(space: spaces.Space) -> int:
    """What to add to the agents' Discrete actions before the env gets them (0 for a Box)."""
    return int(space.start) if isinstance(space, spaces.Discrete) else 0


def observation_encoder(space: spaces.Space) -> Callable[[np.ndarray], np.ndarray]:
    """A function: a batch of `space`'s observations -> (batch, obs_dim) float32."""
    if isinstance(space, spaces.Discrete):
        one_hot, start = np.eye(int(space.n), dtype=np.float32), int(space.start)
        return lambda obs: one_hot[np.asarray(obs, dtype=np.int64) - start]
    return lambda obs: np.asarray(obs, dtype=np.float32).reshape(len(obs), -1)


def needs_view(env: gym.Env) -> bool:
    """Whether the agents see `env` otherwise than as it is."""
    obs, act = env.observation_space, env.action_space
    flat = isinstance(obs, spaces.Box) and len(obs.shape) == 1 and obs.dtype == np.float32
    return not flat or action_start(act) != 0


class EngineView(gym.Wrapper):
    """One Gymnasium env with the observations and actions of the engine's agents."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self._encode = observation_encoder(env.observation_space)
        self._start = action_start(env.action_space)
        self.observation_space = observation_space(env.observation_space)
        self.action_space = action_space(env.action_space)

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        return self._encode([obs])[0], info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action + self._start if self._start else action)
        return self._encode([obs])[0], reward, terminated, truncated, info
