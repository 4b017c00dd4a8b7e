"""The torch engine's environments by Gymnasium id, and `make_vec` to build a batch of one.

Imports torch (the environments are torch modules); `lab.engine` forwards these names lazily,
so that importing the package, and validating an experiment, do not.
"""

from __future__ import annotations

import torch

from lab.engine.envs.acrobot import Acrobot
from lab.engine.envs.cartpole import CartPole
from lab.engine.envs.mountain_car import MountainCar
from lab.engine.envs.pendulum import Pendulum
from lab.engine.envs.vector import TorchVecEnv
from lab.errors import BadInput, did_you_mean, one_of

ENVS: dict[str, type[TorchVecEnv]] = {cls.id: cls for cls in (CartPole, Acrobot, MountainCar, Pendulum)}
"""The environments lab's engine has, by Gymnasium id (the truth that `lab.engine.ENV_IDS` copies)."""


def make_vec(env_id: str, num_envs: int, device: str | torch.device = "cpu", seed: int | None = None,
             dtype: torch.dtype = torch.float32) -> TorchVecEnv:
    """`num_envs` copies of `env_id` in one tensor on `device`, computing in `dtype`
    (torch.float32 or torch.float64), reset with `seed`. BadInput for an id not in ENVS."""
    if env_id not in ENVS:
        raise BadInput(f"unknown engine environment {env_id!r}{did_you_mean(env_id, ENVS)} (allowed: {one_of(ENVS)})")
    return ENVS[env_id](num_envs, device=device, seed=seed, dtype=dtype)


def make_env(env_spec, num_envs: int, device: str | torch.device = "cpu", seed: int | None = None):
    """The batched environment an engine agent trains and evaluates in, for an experiment's
    `[env]` table (`lab.spec.EnvSpec`): `num_envs` copies on `device`, reset with `seed`."""
    return make_vec(env_spec.id, num_envs, device=device, seed=seed)


def env_spaces(env_spec):
    """(observation space, action space) of one environment of `env_spec`, as the agents see them."""
    env = ENVS[env_spec.id]
    return env.gym_observation_space, env.gym_action_space


__all__ = ["ENVS", "TorchVecEnv", "env_spaces", "make_env", "make_vec"]
