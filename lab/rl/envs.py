"""Building environments from a spec: single envs for evaluation, vector envs for training."""

from __future__ import annotations

import sys

from lab.plugins import import_module


def _registered_id(env_id: str) -> str:
    """The registry id; 'module:Id' imports the module that registers it first."""
    module, sep, name = env_id.rpartition(":")
    if sep:
        import_module(module)
        return name
    return env_id


def env_class(env_id: str) -> type | None:
    """The class an id 'module:Class' names (a user's batched torch environment; validation checks
    that it is one), or None for a Gymnasium id ('Id', or 'module:Id' registered by the module).
    Imports the module (from Python's path or the current directory); imports no torch of its own."""
    import gymnasium as gym

    module, sep, name = env_id.rpartition(":")
    if not sep or not name.isidentifier():
        return None
    found = getattr(import_module(module), name, None)
    if not isinstance(found, type):
        return None
    vector = sys.modules.get("lab.engine.envs.vector")  # loaded wherever a TorchVecEnv subclass is
    if name in gym.registry and not (vector and issubclass(found, vector.TorchVecEnv)):
        return None  # a Gymnasium id that is also a class's name: the registered env
    return found


def make_env(spec, render_mode: str | None = None):
    """One environment of an experiment (see `make_gym_env`) as its agent sees it: on the torch
    engine, with the engine's flat float32 observations (`lab.rl.engine_view`)."""
    env = make_gym_env(spec.env, render_mode)
    if spec.engine == "torch":
        from lab.rl.engine_view import EngineView, needs_view

        if needs_view(env):
            return EngineView(env)
    return env


def make_gym_env(env_spec, render_mode: str | None = None):
    """One environment of an experiment's [env] table as a Gymnasium Env: Gymnasium's own, with
    env.kwargs and env.max_episode_steps, or for a user's batched torch environment class, one
    of it on the CPU (its constructor gets env.kwargs)."""
    cls = env_class(env_spec.id)
    if cls is not None:
        return cls.gym_env(render_mode, **env_spec.kwargs)
    import gymnasium as gym

    kwargs = dict(env_spec.kwargs)
    if env_spec.max_episode_steps is not None:
        kwargs["max_episode_steps"] = env_spec.max_episode_steps
    if render_mode:
        kwargs["render_mode"] = render_mode
    return gym.make(_registered_id(env_spec.id), **kwargs)


def make_vec_env(spec, seed: int):
    """SB3's DummyVecEnv of env.n_envs Monitor-wrapped envs (episode stats in infos), seeded."""
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv

    venv = DummyVecEnv([lambda: Monitor(make_env(spec)) for _ in range(spec.env.n_envs)])
    venv.seed(seed)
    return venv


def is_image_space(space) -> bool:
    return type(space).__name__ == "Box" and len(space.shape) == 3
