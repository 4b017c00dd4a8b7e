"""Batched torch environments for tests: one that works (`Walk`) and subclasses of it that break
one rule each of `TorchVecEnv`'s contract; validation must name the class and the fault in one line."""

import numpy as np
import torch
from gymnasium import spaces

from lab.engine import TorchVecEnv


class Walk(TorchVecEnv):
    """A point on a line, pushed left or right; terminated past +-1, reward 1 a step."""

    max_episode_steps = 20
    state_names = ("x", "speed")
    reset_low = (-0.1, 0.0)
    reset_high = (0.1, 0.0)
    gym_observation_space = spaces.Box(-2.0, 2.0, (2,), np.float32)
    gym_action_space = spaces.Discrete(2)
    action_values = (-0.1, 0.1)

    def __init__(self, *args, speed_limit: float = 1.0, **kwargs):
        self.speed_limit = speed_limit
        super().__init__(*args, **kwargs)

    def dynamics(self, state, push):
        x, speed = state
        speed = (speed + push).clamp(-self.speed_limit, self.speed_limit)
        x = x + speed
        return torch.stack((x, speed)), torch.ones_like(x), x.abs() > 1


class NotAnEnv:
    pass


class NoDynamics(TorchVecEnv):
    max_episode_steps = 20
    state_names = ("x",)
    reset_low, reset_high = (0.0,), (1.0,)
    gym_observation_space = spaces.Box(0.0, 1.0, (1,), np.float32)
    gym_action_space = spaces.Discrete(2)


class NoActionSpace(TorchVecEnv):
    max_episode_steps = 20
    state_names = ("x",)
    reset_low, reset_high = (0.0,), (1.0,)
    gym_observation_space = spaces.Box(0.0, 1.0, (1,), np.float32)

    def dynamics(self, state, actions):
        return state, state[0], state[0] > 1


class ShortResetBox(Walk):
    reset_low = (-0.1,)


class RewardPerEnvInAColumn(Walk):
    def dynamics(self, state, push):
        next_state, reward, terminated = super().dynamics(state, push)
        return next_state, reward[:, None], terminated


class FloatTerminated(Walk):
    def dynamics(self, state, push):
        next_state, reward, terminated = super().dynamics(state, push)
        return next_state, reward, terminated.float()


class Float64State(Walk):
    def dynamics(self, state, push):
        next_state, reward, terminated = super().dynamics(state, push)
        return next_state.double(), reward, terminated


class ObservationTooShort(Walk):
    def observe(self, state):
        return state[:1].T


class RaisingDynamics(Walk):
    def dynamics(self, state, push):
        raise ValueError("the walk fell over\n(a second line a library would add)")


class NoLimit(Walk):
    max_episode_steps = 0
