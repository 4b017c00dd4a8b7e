"""lab's torch engine: batched environments that live on a torch device.

    env = make_vec("CartPole-v1", 4096, device="cuda", seed=0)
    obs, info = env.reset()
    obs, reward, terminated, truncated, info = env.step(actions)

Each environment is its Gymnasium namesake step for step (dynamics, reward, termination, time
limit), with Gymnasium's vector API and same-step autoreset; see `envs/vector.py`.
Importing this package does not import torch: `ENVS`, `make_vec` and `TorchVecEnv` live in
`registry.py` and are imported on first use (PEP 562), so validation and the CLI's fast paths
can name the engine's environments (`ENV_IDS`) without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lab.engine.registry import ENVS, TorchVecEnv, env_spaces, make_env, make_vec

# The ids of registry.ENVS, in its order, for what must not import torch (validating an
# experiment). ENVS, built from the environment classes' own `id`, is the truth; this is a copy,
# and tests/test_engine_envs.py pins the two equal.
ENV_IDS: tuple[str, ...] = ("CartPole-v1", "Acrobot-v1", "MountainCar-v0", "Pendulum-v1")

_FROM_REGISTRY = ("ENVS", "TorchVecEnv", "env_spaces", "make_env", "make_vec")


def __getattr__(name: str):
    if name in _FROM_REGISTRY:
        from lab.engine import registry

        return getattr(registry, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_FROM_REGISTRY})


__all__ = ["ENVS", "ENV_IDS", "TorchVecEnv", "env_spaces", "make_env", "make_vec"]
