"""Pendulum-v1 in torch: gymnasium/envs/classic_control/pendulum.py's PendulumEnv, batched (g = 10).

A continuous torque, clipped to [-2, 2]; cost = angle_normalize(theta)^2 + 0.1 thdot^2 +
0.001 u^2 from the state before the step, reward = -cost; thdot clipped to 8, theta left
unwrapped in the state. Observation [cos theta, sin theta, thdot]; never terminates; time
limit 200 steps.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from gymnasium import spaces

from lab.engine.envs.vector import TorchVecEnv

MAX_SPEED = 8
MAX_TORQUE = 2.0
DT = 0.05
G = 10.0
M = 1.0
L = 1.0
_HIGH = np.array([1.0, 1.0, MAX_SPEED], dtype=np.float32)


class Pendulum(TorchVecEnv):
    id = "Pendulum-v1"
    max_episode_steps = 200
    shortest_episode = 200  # it never terminates
    state_names = ("theta", "thdot")
    reset_low = (-math.pi, -1.0)
    reset_high = (math.pi, 1.0)
    gym_observation_space = spaces.Box(low=-_HIGH, high=_HIGH, dtype=np.float32)
    gym_action_space = spaces.Box(low=-MAX_TORQUE, high=MAX_TORQUE, shape=(1,), dtype=np.float32)

    def dynamics(self, state, actions):
        th, thdot = state
        u = actions[:, 0].clamp(-MAX_TORQUE, MAX_TORQUE)
        costs = angle_normalize(th).square() + 0.1 * thdot.square() + 0.001 * u.square()
        newthdot = thdot + (3 * G / (2 * L) * torch.sin(th) + 3.0 / (M * L**2) * u) * DT
        newthdot = newthdot.clamp(-MAX_SPEED, MAX_SPEED)
        newth = th + newthdot * DT
        terminated = torch.zeros_like(th, dtype=torch.bool)
        return torch.stack((newth, newthdot)), -costs, terminated

    def observe(self, state):
        th, thdot = state
        return torch.stack((torch.cos(th), torch.sin(th), thdot)).T


def angle_normalize(x: torch.Tensor) -> torch.Tensor:
    return torch.remainder(x + math.pi, 2 * math.pi) - math.pi
