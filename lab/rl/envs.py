"""Building environments from a spec: single envs for evaluation, vector envs for training."""

from __future__ import annotations

import importlib


def env_id(spec) -> str:
    """The registry id; 'module:Id' imports the module that registers it first."""
    module, sep, name = spec.env.id.rpartition(":")
    if sep:
        importlib.import_module(module)
        return name
    return spec.env.id


def make_env(spec, render_mode: str | None = None):
    import gymnasium as gym

    kwargs = dict(spec.env.kwargs)
    if spec.env.max_episode_steps is not None:
        kwargs["max_episode_steps"] = spec.env.max_episode_steps
    if render_mode:
        kwargs["render_mode"] = render_mode
    return gym.make(env_id(spec), **kwargs)


def make_vec_env(spec, seed: int):
    """SB3's DummyVecEnv of env.n_envs Monitor-wrapped envs (episode stats in infos), seeded."""
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv

    venv = DummyVecEnv([lambda: Monitor(make_env(spec)) for _ in range(spec.env.n_envs)])
    venv.seed(seed)
    return venv


def is_image_space(space) -> bool:
    return type(space).__name__ == "Box" and len(space.shape) == 3
