"""A third-party-style env module for tests: registers 'Exploding-v0', which raises after 300 steps."""

import gymnasium as gym
import numpy as np


class ExplodingEnv(gym.Env):
    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self):
        self.steps = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self.steps += 1
        if self.steps > 300:
            raise RuntimeError("the env blew up on purpose:\n[[nan, nan],\n [nan, nan]]")  # libraries dump tensors so
        return np.zeros(2, np.float32), 1.0, self.steps % 10 == 0, False, {}


gym.register("Exploding-v0", entry_point=ExplodingEnv)
