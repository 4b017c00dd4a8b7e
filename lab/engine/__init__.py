"""lab's torch engine: batched environments that live on a torch device.

    env = make_vec("CartPole-v1", 4096, device="cuda", seed=0)
    obs, info = env.reset()
    obs, reward, terminated, truncated, info = env.step(actions)

Each environment is its Gymnasium namesake step for step (dynamics, reward, termination, time
limit), with Gymnasium's vector API and same-step autoreset; see `envs/vector.py`. An experiment's
environment reaches the agents through `make_env(env_spec, ...)`/`env_spaces(env_spec)`, by one of
three paths (`env_path` names it): one of these, a user's TorchVecEnv subclass, or any other
Gymnasium id through Gymnasium's own vector env (docs/custom-environment.md).
Importing this package does not import torch: `ENVS`, `make_vec` and `TorchVecEnv` live in
`registry.py` and are imported on first use (PEP 562), so validation and the CLI's fast paths
can name the engine's environments (`ENV_IDS`, from `ENV_CLASSES`) without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lab.engine.registry import ENVS, TorchVecEnv, env_spaces, make_env, make_vec

# The engine's own environments: Gymnasium id -> "module:Class", a TorchVecEnv whose `id` is that
# id. The one list of them: registry.ENVS imports the classes on first use, and what must not
# import torch (validating an experiment) reads the ids here. A new environment is its module
# under envs/ and a row here.
ENV_CLASSES: dict[str, str] = {
    "CartPole-v1": "lab.engine.envs.cartpole:CartPole",
    "Acrobot-v1": "lab.engine.envs.acrobot:Acrobot",
    "MountainCar-v0": "lab.engine.envs.mountain_car:MountainCar",
    "Pendulum-v1": "lab.engine.envs.pendulum:Pendulum",
}
ENV_IDS: tuple[str, ...] = tuple(ENV_CLASSES)

_FROM_REGISTRY = ("ENVS", "TorchVecEnv", "env_spaces", "make_env", "make_vec")

GYMNASIUM_PATH = "Gymnasium's vector env (numpy on the CPU)"


def env_path(env_spec) -> str:
    """Which way the engine steps an experiment's environment (`[env]` table), in words: lab's
    torch version of a built-in id, a user's TorchVecEnv class, or any other Gymnasium id through
    Gymnasium's vector env. A run logs it and its summary keeps it (`env_path`). Imports no torch
    for a built-in or Gymnasium id (a user's class's module imports it)."""
    if env_spec.id in ENV_IDS:
        return f"lab's torch {env_spec.id}"
    from lab.rl.envs import env_class

    return f"user torch env {env_spec.id}" if env_class(env_spec.id) is not None else GYMNASIUM_PATH


def __getattr__(name: str):
    if name in _FROM_REGISTRY:
        from lab.engine import registry

        return getattr(registry, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_FROM_REGISTRY})


__all__ = ["ENVS", "ENV_CLASSES", "ENV_IDS", "GYMNASIUM_PATH", "TorchVecEnv", "env_path", "env_spaces", "make_env", "make_vec"]
