"""lab's torch engine: batched environments that live on a torch device.

    env = make_vec("CartPole-v1", 4096, device="cuda", seed=0)
    obs, info = env.reset()
    obs, reward, terminated, truncated, info = env.step(actions)

Each environment is its Gymnasium namesake step for step (dynamics, reward, termination, time
limit), with Gymnasium's vector API and same-step autoreset; see `envs/vector.py`.
Importing this package imports torch: callers on a fast path (the CLI's help, the dashboard's
first paint) import it inside the function that needs it.
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
"""The environments lab's engine has, by Gymnasium id."""


def make_vec(env_id: str, num_envs: int, device: str | torch.device = "cpu", seed: int | None = None,
             dtype: torch.dtype = torch.float32) -> TorchVecEnv:
    """`num_envs` copies of `env_id` in one tensor on `device`, computing in `dtype`
    (torch.float32 or torch.float64), reset with `seed`. BadInput for an id not in ENVS."""
    if env_id not in ENVS:
        raise BadInput(f"unknown engine environment {env_id!r}{did_you_mean(env_id, ENVS)} (allowed: {one_of(ENVS)})")
    return ENVS[env_id](num_envs, device=device, seed=seed, dtype=dtype)


__all__ = ["ENVS", "TorchVecEnv", "make_vec"]
