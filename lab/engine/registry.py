"""The torch engine's environments: its own by Gymnasium id (`ENVS`, `make_vec`), and
`make_env`/`env_spaces`, the one way agents build and read an experiment's environment, whichever
of the three paths it takes (lab's torch built-in, a user's TorchVecEnv, Gymnasium's vector env).

Imports torch (the environments are torch modules); `lab.engine` forwards these names lazily,
so that importing the package, and validating an experiment, do not.
"""

from __future__ import annotations

import importlib

import torch

from lab.engine import ENV_CLASSES
from lab.engine.envs.vector import TorchVecEnv
from lab.errors import BadInput, did_you_mean, one_of


def _env_class(env_id: str, path: str) -> type[TorchVecEnv]:
    module, _, name = path.partition(":")
    cls = getattr(importlib.import_module(module), name)
    if cls.id != env_id:  # a row of ENV_CLASSES that names another environment's class
        raise ImportError(f"lab.engine.ENV_CLASSES[{env_id!r}] names {path}, whose id is {cls.id!r}")
    return cls


ENVS: dict[str, type[TorchVecEnv]] = {env_id: _env_class(env_id, path) for env_id, path in ENV_CLASSES.items()}
"""The environments lab's engine has, by Gymnasium id: `lab.engine.ENV_CLASSES`, imported."""


def make_vec(env_id: str, num_envs: int, device: str | torch.device = "cpu", seed: int | None = None,
             dtype: torch.dtype = torch.float32) -> TorchVecEnv:
    """`num_envs` copies of `env_id` in one tensor on `device`, computing in `dtype`
    (torch.float32 or torch.float64), reset with `seed`. BadInput for an id not in ENVS."""
    if env_id not in ENVS:
        raise BadInput(f"unknown engine environment {env_id!r}{did_you_mean(env_id, ENVS)} (allowed: {one_of(ENVS)})")
    return ENVS[env_id](num_envs, device=device, seed=seed, dtype=dtype)


def make_env(env_spec, num_envs: int, device: str | torch.device = "cpu", seed: int | None = None):
    """The batched environment an engine agent trains and evaluates in, for an experiment's
    `[env]` table (`lab.spec.EnvSpec`): `num_envs` copies on `device`, reset with `seed`.

    One of three, as `lab.engine.env_path` names them: lab's torch version of a built-in id
    (ENVS), a user's TorchVecEnv subclass ('module:Class', built with env.kwargs), or any other
    Gymnasium id through Gymnasium's own vector env (`GymnasiumVecEnv`). All have the
    interface the agents use: num_envs, single_observation_space (a 1-d Box),
    single_action_space, max_episode_steps, reset(seed=), step(actions), snapshot(), restore(),
    and resumes_exactly (False where a resumed run must reset them)."""
    if env_spec.id in ENVS:
        return make_vec(env_spec.id, num_envs, device=device, seed=seed)
    from lab.rl.envs import env_class

    cls = env_class(env_spec.id)
    if cls is not None:
        return cls(num_envs, device=device, seed=seed, **env_spec.kwargs)
    from lab.engine.envs.gymnasium_vec import GymnasiumVecEnv

    return GymnasiumVecEnv(env_spec, num_envs, device=device, seed=seed)


def env_spaces(env_spec):
    """(observation space, action space) of one environment of `env_spec`, as the agents see them
    (observations always a 1-d Box: a Gymnasium env's Discrete ones one-hot)."""
    if env_spec.id in ENVS:
        env = ENVS[env_spec.id]
        return env.gym_observation_space, env.gym_action_space
    from lab.rl.envs import env_class, make_gym_env

    cls = env_class(env_spec.id)
    if cls is not None:
        env = cls(1, device="cpu", seed=0, **env_spec.kwargs)
        return env.single_observation_space, env.single_action_space
    from lab.rl import engine_view

    env = make_gym_env(env_spec)
    try:
        return engine_view.observation_space(env.observation_space), engine_view.action_space(env.action_space)
    finally:
        env.close()


__all__ = ["ENVS", "TorchVecEnv", "env_spaces", "make_env", "make_vec"]
