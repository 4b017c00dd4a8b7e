"""MountainCar-v0 in torch: gymnasium/envs/classic_control/mountain_car.py's MountainCarEnv, batched.

Velocity += (action - 1) * 0.001 - 0.0025 cos(3 position), clipped to 0.07; position +=
velocity, clipped to [-1.2, 0.6]; at the left wall a negative velocity becomes 0. Terminated at
position >= 0.5 with velocity >= 0; reward -1 on every step; time limit 200 steps.
"""

from __future__ import annotations

import numpy as np
import torch
from gymnasium import spaces

from lab.engine.envs.vector import TorchVecEnv

MIN_POSITION = -1.2
MAX_POSITION = 0.6
MAX_SPEED = 0.07
GOAL_POSITION = 0.5
GOAL_VELOCITY = 0
FORCE = 0.001
GRAVITY = 0.0025


class MountainCar(TorchVecEnv):
    id = "MountainCar-v0"
    max_episode_steps = 200
    shortest_episode = 13  # the goal is 0.9 away at least, at 0.07 a step at most
    state_names = ("position", "velocity")
    reset_low = (-0.6, 0.0)
    reset_high = (-0.4, 0.0)
    gym_observation_space = spaces.Box(np.array([MIN_POSITION, -MAX_SPEED], dtype=np.float32),
                                       np.array([MAX_POSITION, MAX_SPEED], dtype=np.float32), dtype=np.float32)
    gym_action_space = spaces.Discrete(3)
    action_values = (-FORCE, 0.0, FORCE)  # (action - 1) * FORCE: accelerate left, don't, right

    def dynamics(self, state, push):
        position, velocity = state
        velocity = velocity + (push + torch.cos(3 * position) * (-GRAVITY))
        velocity = velocity.clamp(-MAX_SPEED, MAX_SPEED)
        position = (position + velocity).clamp(MIN_POSITION, MAX_POSITION)
        velocity = velocity.masked_fill((position == MIN_POSITION) & (velocity < 0), 0.0)
        terminated = (position >= GOAL_POSITION) & (velocity >= GOAL_VELOCITY)
        reward = torch.full_like(position, -1.0)
        return torch.stack((position, velocity)), reward, terminated
