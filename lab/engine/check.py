"""Checking a user's batched torch environment class before a run trains on it.

`check_env_class` is what validation runs for `env.id = "module:Class"` on the torch engine: it
reads the class's attributes, builds two environments on the CPU, steps them once with sampled
actions, and says in one line (BadInput, naming the class) the first thing that does not fit
the base class's contract (`TorchVecEnv`'s docstring).
"""

from __future__ import annotations

import numpy as np
import torch
from gymnasium import spaces

from lab.engine.envs.vector import TorchVecEnv
from lab.errors import BadInput, one_line

DOCS = "docs/custom-environment.md"
CHECK_ENVS = 2  # environments the check builds and steps


def check_env_class(cls, ref: str, kwargs: dict | None = None) -> tuple[spaces.Space, spaces.Space]:
    """(observation space, action space) of the environment class `cls` named `ref` in an
    experiment, after checking it; BadInput, one line starting with `ref`, for the first fault
    (key 'env.kwargs' where the constructor refuses env.kwargs, else 'env.id')."""

    def fault(what: str, key: str = "env.id"):
        return BadInput(f"{ref}: {what}", key=key)

    if not (isinstance(cls, type) and issubclass(cls, TorchVecEnv)):
        raise fault(f"{cls.__name__ if isinstance(cls, type) else repr(cls)} is not a subclass of "
                    f"lab.engine.TorchVecEnv, which a batched torch environment extends (see {DOCS})")
    _check_attributes(cls, fault)
    try:
        env = cls(CHECK_ENVS, device="cpu", seed=0, **(kwargs or {}))
    except TypeError as e:
        if kwargs and "argument" in str(e):
            raise fault(f"does not take env.kwargs {sorted(kwargs)} ({one_line(e)})", "env.kwargs") from None
        raise fault(f"raises TypeError: {one_line(e)} when built (num_envs={CHECK_ENVS}, device='cpu')") from None
    except Exception as e:
        raise fault(f"raises {type(e).__name__}: {one_line(e)} when built (num_envs={CHECK_ENVS}, device='cpu')") from None
    _check_step(env, fault)
    return env.single_observation_space, env.single_action_space


def _check_attributes(cls, fault) -> None:
    needed = ("max_episode_steps", "state_names", "reset_low", "reset_high", "gym_observation_space", "gym_action_space")
    missing = [name for name in needed if not hasattr(cls, name)]
    if missing:
        raise fault(f"missing class attribute{'s' if len(missing) > 1 else ''} {', '.join(missing)} (see {DOCS})")
    if cls.dynamics is TorchVecEnv.dynamics:
        raise fault("has no dynamics(self, state, actions) -> (next_state, reward, terminated) method")
    for name in ("max_episode_steps", "shortest_episode"):
        value = getattr(cls, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise fault(f"{name} = {value!r}; must be a whole number >= 1")
    names = cls.state_names
    if not isinstance(names, (tuple, list)) or not names or not all(isinstance(n, str) for n in names):
        raise fault(f"state_names = {names!r}; must be a tuple of the state's variable names")
    for name in ("reset_low", "reset_high"):
        box = getattr(cls, name)
        if not isinstance(box, (tuple, list)) or len(box) != len(names):
            got = f"{len(box)} value{'s' if len(box) != 1 else ''}" if isinstance(box, (tuple, list)) else repr(box)
            raise fault(f"{name} has {got} for {len(names)} state_names {tuple(names)}; give one per name")
    obs, act = cls.gym_observation_space, cls.gym_action_space
    if not isinstance(obs, spaces.Box) or len(obs.shape) != 1:
        raise fault(f"gym_observation_space is {obs!r}; must be a 1-d gymnasium.spaces.Box")
    if not isinstance(act, (spaces.Discrete, spaces.Box)):
        raise fault(f"gym_action_space is {act!r}; must be a gymnasium.spaces.Discrete or Box")
    if cls.action_values is not None and (not isinstance(act, spaces.Discrete) or len(cls.action_values) != act.n):
        raise fault(f"action_values has {len(cls.action_values)} values; give one per action of "
                    f"{act!r}, or none" if isinstance(act, spaces.Discrete)
                    else "action_values is for Discrete actions; its actions are a Box: remove it")


def _check_step(env: TorchVecEnv, fault) -> None:
    """One step of `dynamics` and `observe` from the reset states, with sampled actions: shapes
    and dtypes; then one whole `step`."""
    n, state_dim, obs_dim = env.num_envs, len(env.state_names), env.single_observation_space.shape[0]
    space = env.single_action_space
    space.seed(0)
    actions = torch.as_tensor(np.stack([space.sample() for _ in range(n)]))
    state = env.state.T
    try:
        out = env.dynamics(state, env._as_actions(actions))
    except Exception as e:
        raise fault(f"dynamics raises {type(e).__name__}: {one_line(e)}") from None
    if not isinstance(out, tuple) or len(out) != 3:
        raise fault(f"dynamics returned {type(out).__name__}; must return (next_state, reward, terminated)")
    expected = {"next_state": ((state_dim, n), env.dtype), "reward": ((n,), env.dtype), "terminated": ((n,), torch.bool)}
    for (name, (shape, dtype)), value in zip(expected.items(), out):
        _expect(f"dynamics returned {name}", value, shape, dtype, fault,
                "(state_dim, num_envs): one column per environment" if name == "next_state" else "one per environment")
    try:
        obs = env.observe(out[0])
    except Exception as e:
        raise fault(f"observe raises {type(e).__name__}: {one_line(e)}") from None
    _expect("observe returned obs", obs, (n, obs_dim), env.dtype, fault, "(num_envs, obs_dim) of gym_observation_space")
    try:
        env.step(actions)
    except Exception as e:
        raise fault(f"step raises {type(e).__name__}: {one_line(e)}") from None


def _expect(what: str, value, shape: tuple, dtype: torch.dtype, fault, why: str) -> None:
    if not isinstance(value, torch.Tensor):
        raise fault(f"{what} a {type(value).__name__}; expected a torch.Tensor of shape {shape}, {dtype}")
    if tuple(value.shape) != shape or value.dtype != dtype:
        raise fault(f"{what} of shape {tuple(value.shape)}, {value.dtype}; expected {shape}, {dtype} ({why})")
