"""Any Gymnasium environment for lab's engine agents: Gymnasium's own vector env behind the
interface of `TorchVecEnv`.

The environments step on the CPU in numpy (Gymnasium's SyncVectorEnv, same-step autoreset); each
step's observations, final observations, rewards and flags travel to the agent's device as one
array. Observations reach the agents as flat float32 vectors: a Box flattened, a Discrete one-hot
(`observation_space` says which Box that is).
"""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar

import numpy as np
import torch
from gymnasium import spaces

from lab.errors import BadInput


def observation_space(space: spaces.Space) -> spaces.Box:
    """The Box the agents see for a Gymnasium observation space: a Box flattened to 1-d (float32),
    a Discrete(n) as one-hot vectors of n. BadInput for any other space."""
    if isinstance(space, spaces.Discrete):
        return spaces.Box(0.0, 1.0, (int(space.n),), np.float32)
    if isinstance(space, spaces.Box):
        return spaces.Box(space.low.astype(np.float32).ravel(), space.high.astype(np.float32).ravel(), dtype=np.float32)
    raise BadInput(f"the torch engine reads Box and Discrete observations, not {type(space).__name__}")


def action_space(space: spaces.Space) -> spaces.Space:
    """The action space the agents act in: Discrete(n) from 0 (a Discrete with another start
    is shifted on the way in), a Box as it is. BadInput for any other space."""
    if isinstance(space, spaces.Discrete):
        return spaces.Discrete(int(space.n))
    if isinstance(space, spaces.Box):
        return space
    raise BadInput(f"the torch engine acts in Discrete and Box action spaces, not {type(space).__name__}")


class GymnasiumVecEnv:
    """`num_envs` copies of an experiment's Gymnasium environment (`env_spec`: its [env] table,
    kwargs and max_episode_steps applied), with a TorchVecEnv's interface: tensors on `device`
    out, actions as tensors in, `info["final_obs"]`/`info["_final_obs"]` in every step's info."""

    # Gymnasium environments cannot be saved whole: a resumed run resets them (with its seed)
    resumes_exactly: ClassVar[bool] = False

    def __init__(self, env_spec, num_envs: int, device: str | torch.device = "cpu", seed: int | None = None):
        from gymnasium.vector import AutoresetMode, SyncVectorEnv

        from lab.rl.envs import make_gym_env

        self.id = env_spec.id
        self.num_envs = num_envs
        self.device = torch.device(device)
        self.env = SyncVectorEnv([partial(make_gym_env, env_spec)] * num_envs, autoreset_mode=AutoresetMode.SAME_STEP)
        raw = self.env.single_observation_space
        self._one_hot = np.eye(raw.n, dtype=np.float32) if isinstance(raw, spaces.Discrete) else None
        self._obs_start = int(raw.start) if self._one_hot is not None else 0
        self.single_observation_space = observation_space(raw)
        self._obs_dim = self.single_observation_space.shape[0]
        act = self.env.single_action_space
        self.single_action_space = action_space(act)
        self._discrete = isinstance(act, spaces.Discrete)
        self._action_start = int(act.start) if self._discrete else 0
        self._action_dtype = np.int64 if self._discrete else act.dtype
        limit = env_spec.max_episode_steps or self.env.envs[0].spec.max_episode_steps
        if not limit:
            raise BadInput(f"{self.id} has no time limit; set env.max_episode_steps")
        self.max_episode_steps = int(limit)
        self.reset(seed=seed)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[torch.Tensor, dict]:
        """Start new episodes in every environment (env i seeded with seed + i, as Gymnasium does)."""
        obs, _ = self.env.reset(seed=seed, options=options)
        return torch.from_numpy(self._flat(obs)).to(self.device), {}

    def step(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        actions = actions.detach().cpu().numpy().astype(self._action_dtype, copy=False) + self._action_start
        obs, reward, terminated, truncated, info = self.env.step(actions)
        obs = self._flat(obs)
        done = terminated | truncated
        final = obs.copy()
        if done.any():
            ended = np.flatnonzero(done)
            final[ended] = self._flat(np.stack([info["final_obs"][i] for i in ended]))
        # one array to the device: rows obs, final obs, reward, terminated, truncated (feature-major,
        # as a TorchVecEnv's observations are)
        d = self._obs_dim
        packed = np.concatenate([obs.T, final.T, reward[None], terminated[None], truncated[None]]).astype(np.float32)
        packed = torch.from_numpy(packed).to(self.device)
        terminated_t, truncated_t = packed[2 * d + 1] > 0, packed[2 * d + 2] > 0
        return (packed[:d].T, packed[2 * d], terminated_t, truncated_t,
                {"final_obs": packed[d:2 * d].T, "_final_obs": terminated_t | truncated_t})

    def snapshot(self) -> dict:
        """Nothing: a Gymnasium env cannot be saved whole (`resumes_exactly` is False)."""
        return {}

    def restore(self, snapshot: dict) -> None:
        """Nothing to restore (see `snapshot`): a resumed run resets these environments."""

    def close(self) -> None:
        self.env.close()

    def __repr__(self) -> str:
        return f"GymnasiumVecEnv({self.id}, num_envs={self.num_envs}, device={self.device})"

    def _flat(self, obs: np.ndarray) -> np.ndarray:
        """A batch of observations as (num_envs, obs_dim) float32."""
        if self._one_hot is not None:
            return self._one_hot[np.asarray(obs, dtype=np.int64) - self._obs_start]
        return np.asarray(obs, dtype=np.float32).reshape(len(obs), -1)
