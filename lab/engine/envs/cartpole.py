"""CartPole-v1 in torch: gymnasium/envs/classic_control/cartpole.py's CartPoleEnv, batched.

Euler integration with tau = 0.02; the episode terminates when |x| > 2.4 or |theta| > 12
degrees; reward 1 on every step, the terminating one included; time limit 500 steps.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import torch
from gymnasium import spaces

from lab.engine.envs.vector import TorchVecEnv

GRAVITY = 9.8
MASSCART = 1.0
MASSPOLE = 0.1
TOTAL_MASS = MASSPOLE + MASSCART
LENGTH = 0.5  # half the pole's length
POLEMASS_LENGTH = MASSPOLE * LENGTH
FORCE_MAG = 10.0
TAU = 0.02  # seconds between state updates
THETA_THRESHOLD = 12 * 2 * math.pi / 360
X_THRESHOLD = 2.4
_HIGH = np.array([X_THRESHOLD * 2, np.inf, THETA_THRESHOLD * 2, np.inf], dtype=np.float32)


class CartPole(TorchVecEnv):
    id = "CartPole-v1"
    max_episode_steps = 500
    shortest_episode = 8  # the pole's fastest fall from the reset box
    state_names = ("x", "x_dot", "theta", "theta_dot")
    reset_low = (-0.05,) * 4
    reset_high = (0.05,) * 4
    gym_observation_space = spaces.Box(-_HIGH, _HIGH, dtype=np.float32)
    gym_action_space = spaces.Discrete(2)

    action_values = (-FORCE_MAG, FORCE_MAG)  # push left, push right

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # the constants as 0-dim tensors: on a CPU, an op with a Python number costs a microsecond
        # more, and this step is a few dozen ops
        constant = partial(torch.tensor, dtype=self.dtype, device=self.device)
        self._gravity, self._total_mass, self._length = constant(GRAVITY), constant(TOTAL_MASS), constant(LENGTH)
        self._four_thirds, self._masspole_share = constant(4.0 / 3.0), constant(-MASSPOLE / TOTAL_MASS)
        self._x_threshold, self._theta_threshold = constant(X_THRESHOLD), constant(THETA_THRESHOLD)

    def dynamics(self, state, force):
        x, x_dot, theta, theta_dot = state
        costheta, sintheta = torch.cos(theta), torch.sin(theta)
        # Gymnasium's step, with its multiply-adds fused (this is the hot loop of every CartPole
        # run, and on a CPU each torch op costs microseconds whatever its size); in its terms,
        #   temp = (force + POLEMASS_LENGTH * theta_dot**2 * sintheta) / TOTAL_MASS
        #   thetaacc = (GRAVITY * sintheta - costheta * temp) / (LENGTH * (4/3 - MASSPOLE * costheta**2 / TOTAL_MASS))
        #   xacc = temp - POLEMASS_LENGTH * thetaacc * costheta / TOTAL_MASS
        #   Euler: x, x_dot, theta, theta_dot += TAU * (x_dot, xacc, theta_dot, thetaacc)
        temp = torch.addcmul(force, theta_dot.square(), sintheta, value=POLEMASS_LENGTH).div_(self._total_mass)
        thetaacc = torch.addcmul(self._gravity * sintheta, costheta, temp, value=-1.0).div_(
            costheta.square().mul_(self._masspole_share).add_(self._four_thirds).mul_(self._length))
        xacc = torch.addcmul(temp, thetaacc, costheta, value=-POLEMASS_LENGTH / TOTAL_MASS)
        next_state = torch.add(state, torch.stack((x_dot, xacc, theta_dot, thetaacc)), alpha=TAU)
        terminated = (next_state[0].abs() > self._x_threshold).logical_or_(next_state[2].abs() > self._theta_threshold)
        return next_state, torch.ones_like(x), terminated
