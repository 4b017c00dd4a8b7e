"""Any Gymnasium environment for lab's engine agents: Gymnasium's own vector env behind the
interface of `TorchVecEnv`.

The environments step on the CPU in numpy (Gymnasium's SyncVectorEnv, same-step autoreset); each
step's observations, final observations, rewards and flags travel to the agent's device as one
array. Observations reach the agents as flat float32 vectors, a Box flattened, a Discrete one-hot,
and Discrete actions count from 0 (`lab.rl.engine_view`, which the single envs of `lab eval`,
`play` and attribution share).
"""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar

import numpy as np
import torch

from lab.errors import BadInput
from lab.rl import engine_view


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
        obs, act = self.env.single_observation_space, self.env.single_action_space
        self.single_observation_space = engine_view.observation_space(obs)
        self.single_action_space = engine_view.action_space(act)
        self._flat = engine_view.observation_encoder(obs)
        self._obs_dim = self.single_observation_space.shape[0]
        self._action_start = engine_view.action_start(act)
        self._action_dtype = np.int64 if act.shape == () else act.dtype  # Discrete, else a Box's
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
