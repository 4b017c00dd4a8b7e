"""The vector API that lab's torch environments share: Gymnasium's, with tensors on a device.

An environment class states its physics and nothing else: its constants, the layout of its
state, the box its reset state is drawn from, its spaces, what each discrete action applies,
and two pure functions, `dynamics(state, actions) -> (next_state, reward, terminated)` and
`observe(state) -> obs`. They see the state feature-major, (state_dim, num_envs), so that each
variable is one contiguous row (`x, x_dot, theta, theta_dot = state`); users see
(num_envs, state_dim). `TorchVecEnv` adds the rest, the same for all of them: the time limit
(Gymnasium's TimeLimit), same-step autoreset, seeding, the spaces in the requested dtype and the
`state` property.

Nothing here reads a tensor's value on the host: `step` and `reset` are a fixed sequence of
tensor operations (episodes end with `torch.where` on the done mask, never with a Python branch),
so a loop of steps on a GPU never waits for it. Actions are not range-checked for the same
reason: a discrete action outside the action space is an IndexError on the CPU and a device-side
assert on CUDA (index_select's); a continuous one is clipped as Gymnasium clips it.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from lab.errors import BadInput

DTYPES = {torch.float32: np.float32, torch.float64: np.float64}
MAX_RESET_DRAW_INTERVAL = 8


class TorchVecEnv(VectorEnv):
    """`num_envs` copies of one Gymnasium environment as rows of one tensor on `device`.

    Writing one (the four built-ins do, and so can a user: `env.id = "module:Class"` with
    `engine = "torch"` trains lab's agents on it; docs/custom-environment.md builds a grid world).
    A subclass states, as class attributes:
        max_episode_steps   the time limit (Gymnasium's TimeLimit): an int >= 1
        state_names         the names of the state's variables, in order: a tuple of str
        reset_low, reset_high   the box reset states are drawn from uniformly, one float per name
                            (an environment with discrete states rounds them in `dynamics`)
        gym_observation_space   a 1-d float32 `gymnasium.spaces.Box` (what `observe` returns)
        gym_action_space    `spaces.Discrete(n)` or a `spaces.Box`
    and may state `id` (default: the class's name), `action_values` (for Discrete actions, the
    value `dynamics` gets for each one, a force or a torque; default: the action's index, int64),
    `shortest_episode` (see Randomness; default 1, which is always right) and `metadata["render_fps"]`.
    It defines `dynamics(state, actions) -> (next_state, reward, terminated)` and may define
    `observe(state) -> obs` (default: the state itself) and `draw() -> (H, W, 3) uint8 array`, a
    picture of environment 0 (`lab play`, `lab record` and the dashboard's play pane show it).
    Both see the state feature-major, (state_dim, num_envs), and return reward (num_envs,) in
    `dtype`, terminated (num_envs,) bool and obs (num_envs, obs_dim) in `dtype`. A subclass whose
    `__init__` takes keyword arguments gets `env.kwargs` from the experiment. Validation builds
    two of them on the CPU and steps them once, and says in one line what does not fit
    (`lab.engine.check.check_env_class`).

    Gymnasium's vector API with torch tensors in and out: `reset(seed=) -> (obs, info)` and
    `step(actions) -> (obs, reward, terminated, truncated, info)`, observations and rewards in
    `dtype` (float32, or float64 on request), flags as bool tensors, all of shape (num_envs, ...).
    Observations are stored feature-major: (num_envs, obs_dim) views of (obs_dim, num_envs)
    tensors (on a CPU a transposing copy per step would cost as much as the physics); torch's
    layers and copies take them as they are, `.contiguous()` makes a row-major copy.

    Autoreset is Gymnasium's SAME_STEP (`metadata["autoreset_mode"]`): where an episode ends, the
    observation returned is the first of the next episode, and the last observation of the one
    that ended is in `info["final_obs"]`, a (num_envs, obs_dim) tensor valid where
    `info["_final_obs"]` (the done mask) is true. Both keys are in every step's info (a key that
    came and went with the data would need the host to look at the mask).

    Randomness: reset states are drawn from a torch.Generator on the env's device, seeded from
    `seed` (nondeterministically when it is None), one stream for the whole batch. Given a seed
    they are reproducible, but not the numbers Gymnasium's numpy generators would draw: lab's
    env is Gymnasium's step for step from the same state (`env.state`), not its random stream.
    Which environments finish in a step is known only on the device, so a step cannot draw for
    those alone: it takes them from a pool of one next reset state per environment, which it
    redraws whole every `min(shortest_episode, 8)` steps. No episode that starts from a reset
    state is shorter than that, so each pooled state starts at most one episode, and reset states
    stay independent uniform draws, at a fraction of the cost of a draw per step (the largest
    cost of a CartPole step on a CPU). Setting `state` or `elapsed` by hand redraws the pool at
    the next step, as an episode from a hand-set state may end at once.
    """

    metadata: ClassVar[dict[str, Any]] = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}
    # a `snapshot` holds everything the next steps depend on: a resumed run steps on exactly
    # (lab.engine.envs.gymnasium_vec.GymnasiumVecEnv cannot say so)
    resumes_exactly: ClassVar[bool] = True

    # What each environment class states: its Gymnasium id and time limit, the names of the
    # columns of `state` (Gymnasium's `env.unwrapped.state`, in its order), the box that reset
    # states are drawn from uniformly, a lower bound on the length of an episode that starts in
    # it (tests/test_engine_envs.py checks it), Gymnasium's spaces for one environment and, for
    # discrete actions, the value each one applies (a force, a torque): `dynamics` gets those.
    id: ClassVar[str]
    max_episode_steps: ClassVar[int]
    state_names: ClassVar[tuple[str, ...]]
    reset_low: ClassVar[tuple[float, ...]]
    reset_high: ClassVar[tuple[float, ...]]
    shortest_episode: ClassVar[int] = 1
    gym_observation_space: ClassVar[spaces.Box]
    gym_action_space: ClassVar[spaces.Space]
    action_values: ClassVar[tuple[float, ...] | None] = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "id" not in cls.__dict__:
            cls.id = cls.__name__

    def __init__(self, num_envs: int, device: str | torch.device = "cpu", seed: int | None = None,
                 dtype: torch.dtype = torch.float32):
        if dtype not in DTYPES:
            raise BadInput(f"{self.id}: dtype {dtype} is not supported; use torch.float32 or torch.float64")
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise BadInput(f"{self.id}: num_envs must be a whole number >= 1, got {num_envs!r}")
        self.num_envs = num_envs
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise BadInput(f"{self.id}: device {str(self.device)!r} requested but torch sees no CUDA device; use 'cpu'")
        self.dtype = dtype
        self.single_observation_space = _in_dtype(self.gym_observation_space, dtype)
        self.single_action_space = _in_dtype(self.gym_action_space, dtype)
        self._action_shape = (num_envs, *self.single_action_space.shape)
        self._state_shape = (len(self.state_names), num_envs)
        self._action_values = (None if self.action_values is None
                               else torch.tensor(self.action_values, dtype=dtype, device=self.device))
        # 0-dim tensors: on a CPU an op with a Python number costs a microsecond more
        self._one = torch.tensor(1, device=self.device)
        self._limit = torch.tensor(self.max_episode_steps, device=self.device)
        self._generator = torch.Generator(device=self.device)
        self._reset_pool = torch.empty(self._state_shape, dtype=dtype, device=self.device)
        self._draw_interval = min(self.shortest_episode, MAX_RESET_DRAW_INTERVAL)
        self._steps_to_draw = 0
        self._elapsed = torch.zeros(num_envs, dtype=torch.int64, device=self.device)
        self.reset(seed=seed)

    # The physics, one pair of pure functions per environment class.

    def dynamics(self, state: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(next_state, reward, terminated) of one step from `state` (state_dim, num_envs);
        `actions` are the values of `action_values` for discrete actions (num_envs,) (without
        action_values: the actions' indices, int64), the actions themselves in `dtype` for
        continuous ones (num_envs, *action_shape)."""
        raise NotImplementedError

    def observe(self, state: torch.Tensor) -> torch.Tensor:
        """The observations (num_envs, obs_dim) of `state` (state_dim, num_envs); the state itself
        unless the environment says otherwise."""
        return state.T

    def draw(self) -> np.ndarray:
        """A picture of environment 0 in its current state, (height, width, 3) uint8; an
        environment without one cannot be played or recorded (lab says so in one line)."""
        raise NotImplementedError

    @classmethod
    def can_draw(cls) -> bool:
        return cls.draw is not TorchVecEnv.draw

    @classmethod
    def gym_env(cls, render_mode: str | None = None, **kwargs) -> gym.Env:
        """One of these environments on the CPU as a plain Gymnasium Env (what `lab eval`, `lab
        play`, `lab record` and policy attribution step); `kwargs` go to the constructor."""
        from lab.engine.envs.single import SingleTorchEnv

        return SingleTorchEnv(cls, render_mode, kwargs)

    # Gymnasium's vector API.

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[torch.Tensor, dict]:
        """Start new episodes: all of them, or those where `options["reset_mask"]` (a bool tensor
        of shape (num_envs,)) is true, as Gymnasium's vector envs do. `seed` reseeds the generator."""
        unknown = set(options or {}) - {"reset_mask"}
        if unknown:
            raise BadInput(f"{self.id}: reset option {sorted(unknown)[0]!r} is not supported; the only option is 'reset_mask'")
        if seed is not None:
            self._generator.manual_seed(seed)
        elif not hasattr(self, "_state"):
            self._generator.seed()
        fresh = self._draw_reset_states(torch.empty(self._state_shape, dtype=self.dtype, device=self.device))
        self._steps_to_draw = 0  # the pool follows the new stream from the next step on
        mask = (options or {}).get("reset_mask")
        if mask is None:
            self._state = fresh
            self._elapsed = torch.zeros_like(self._elapsed)
        else:
            mask = torch.as_tensor(mask, dtype=torch.bool, device=self.device)
            if mask.shape != (self.num_envs,):
                raise BadInput(f"{self.id}: options['reset_mask'] has shape {tuple(mask.shape)}; expected ({self.num_envs},)")
            self._state = torch.where(mask, fresh, self._state)
            self._elapsed = self._elapsed.masked_fill(mask, 0)
        return self._observation(), {}

    def step(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        # No autograd: actions come in detached and nothing else needs grad (cheaper than
        # torch.no_grad(), which costs a CartPole step 5%)
        actions = self._as_actions(actions)
        state, reward, terminated = self.dynamics(self._state, actions)
        self._elapsed = self._elapsed + self._one
        # Gymnasium's TimeLimit: truncated at the limit whether or not the step also terminated
        truncated = self._elapsed >= self._limit
        done = terminated | truncated
        if self._steps_to_draw == 0:  # a count of steps on the host, not a tensor's value
            self._draw_reset_states(self._reset_pool)
            self._steps_to_draw = self._draw_interval
        self._steps_to_draw -= 1
        self._state = torch.where(done, self._reset_pool, state)
        self._elapsed = self._elapsed.masked_fill(done, 0)
        return self._observation(), reward, terminated, truncated, {"final_obs": self.observe(state), "_final_obs": done}

    @property
    def state(self) -> torch.Tensor:
        """The physical state, one row per environment, columns `state_names` (Gymnasium's
        `env.unwrapped.state` layout): a copy; assigning to it copies the value in (`elapsed` is
        left as is)."""
        return self._state.T.clone()

    @state.setter
    def state(self, value) -> None:
        value = torch.as_tensor(value, dtype=self.dtype, device=self.device).detach()
        if value.shape != self._state_shape[::-1]:
            raise BadInput(f"{self.id}: state of shape {tuple(value.shape)}; expected {self._state_shape[::-1]} "
                           f"(num_envs, {', '.join(self.state_names)})")
        self._state = value.T.clone(memory_format=torch.contiguous_format)  # a copy even where .T is contiguous
        self._steps_to_draw = 0

    @property
    def elapsed(self) -> torch.Tensor:
        """Steps taken in each environment's current episode (Gymnasium's TimeLimit counter)."""
        return self._elapsed.clone()

    @elapsed.setter
    def elapsed(self, value) -> None:
        value = torch.as_tensor(value, dtype=torch.int64, device=self.device)
        if value.shape != (self.num_envs,):
            raise BadInput(f"{self.id}: elapsed of shape {tuple(value.shape)}; expected ({self.num_envs},)")
        self._elapsed = value.clone()
        self._steps_to_draw = 0

    def snapshot(self) -> dict[str, torch.Tensor]:
        """Everything the next steps depend on (state, time-limit counters, the reset pool and
        its countdown, the generator): `restore` of it steps on exactly as this env would."""
        return {"state": self._state.clone(), "elapsed": self._elapsed.clone(), "reset_pool": self._reset_pool.clone(),
                "steps_to_draw": torch.tensor(self._steps_to_draw), "generator": self._generator.get_state()}

    def restore(self, snapshot: dict[str, torch.Tensor]) -> None:
        """Go on from a `snapshot` of an env of the same class and num_envs (on any device)."""
        state = snapshot["state"]
        if state.shape != self._state_shape:
            raise ValueError(f"{self.id}: a snapshot of state shape {tuple(state.shape)} does not fit {self._state_shape}")
        for key, mine in (("elapsed", self._elapsed), ("reset_pool", self._reset_pool)):
            if not isinstance(snapshot[key], torch.Tensor) or snapshot[key].shape != mine.shape:
                raise ValueError(f"{self.id}: a snapshot's {key} does not fit {tuple(mine.shape)}")
        self._state = state.to(self.device, self.dtype).contiguous()
        self._elapsed = snapshot["elapsed"].to(self.device, torch.int64)
        self._reset_pool = snapshot["reset_pool"].to(self.device, self.dtype).contiguous()
        self._steps_to_draw = int(snapshot["steps_to_draw"])
        self._generator.set_state(snapshot["generator"].cpu())

    @cached_property
    def observation_space(self) -> spaces.Space:
        return batch_space(self.single_observation_space, self.num_envs)

    @cached_property
    def action_space(self) -> spaces.Space:
        return batch_space(self.single_action_space, self.num_envs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.id}, num_envs={self.num_envs}, device={self.device}, dtype={self.dtype})"

    # Helpers.

    def _observation(self) -> torch.Tensor:
        """The observation of the current state, never the state itself (a caller may change
        what it gets in place)."""
        obs = self.observe(self._state)
        return obs.clone() if obs.data_ptr() == self._state.data_ptr() else obs

    def _draw_reset_states(self, out: torch.Tensor) -> torch.Tensor:
        """Uniform draws in the reset box for every environment, into `out`."""
        if len(set(self.reset_low)) == len(set(self.reset_high)) == 1:
            return out.uniform_(self.reset_low[0], self.reset_high[0], generator=self._generator)
        for row, low, high in zip(out, self.reset_low, self.reset_high):
            if low == high:
                row.fill_(low)
            else:
                row.uniform_(low, high, generator=self._generator)
        return out

    def _as_actions(self, actions) -> torch.Tensor:
        actions = torch.as_tensor(actions, device=self.device)
        if actions.shape != self._action_shape:
            raise BadInput(f"{self.id}: actions of shape {tuple(actions.shape)}; expected {self._action_shape}")
        if self._action_values is not None:
            return self._action_values.index_select(0, actions.long())
        if isinstance(self.single_action_space, spaces.Discrete):
            return actions.detach().long()
        return actions.detach().to(self.dtype)


def _in_dtype(space: spaces.Space, dtype: torch.dtype) -> spaces.Space:
    """Gymnasium's space, with a float64 Box (same bounds) when the env computes in float64."""
    if not isinstance(space, spaces.Box) or space.dtype == DTYPES[dtype]:
        return space
    np_dtype = DTYPES[dtype]
    return spaces.Box(space.low.astype(np_dtype), space.high.astype(np_dtype), space.shape, np_dtype)
