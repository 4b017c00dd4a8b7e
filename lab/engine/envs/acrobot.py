"""Acrobot-v1 in torch: gymnasium/envs/classic_control/acrobot.py's AcrobotEnv, batched.

One rk4 step of dt = 0.2 of the "book" dynamics with torque -1, 0 or +1 (no torque noise);
the angles wrapped to [-pi, pi], the velocities bounded to 4 pi and 9 pi. Observation
[cos theta1, sin theta1, cos theta2, sin theta2, dtheta1, dtheta2]; terminated when the tip is
above the bar (-cos theta1 - cos(theta1 + theta2) > 1); reward -1, 0 on the terminating step;
time limit 500 steps.

The step is computed in float64 whatever the env's dtype, the state stored in it: at the top of
the velocity range (|dtheta2| near 9 pi, 5 radians a step) one rk4 step in float32 is off by up
to 2e-3 from float64, and Gymnasium's is float64.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from gymnasium import spaces

from lab.engine.envs.vector import TorchVecEnv

DT = 0.2
LINK_LENGTH_1 = 1.0
LINK_MASS_1 = 1.0
LINK_MASS_2 = 1.0
LINK_COM_POS_1 = 0.5
LINK_COM_POS_2 = 0.5
LINK_MOI = 1.0
MAX_VEL_1 = 4 * math.pi
MAX_VEL_2 = 9 * math.pi
G = 9.8
_HIGH = np.array([1.0, 1.0, 1.0, 1.0, MAX_VEL_1, MAX_VEL_2], dtype=np.float32)


class Acrobot(TorchVecEnv):
    id = "Acrobot-v1"
    max_episode_steps = 500
    shortest_episode = 7  # the tip cannot rise above the bar sooner from rest
    state_names = ("theta1", "theta2", "dtheta1", "dtheta2")
    reset_low = (-0.1,) * 4
    reset_high = (0.1,) * 4
    gym_observation_space = spaces.Box(low=-_HIGH, high=_HIGH, dtype=np.float32)
    gym_action_space = spaces.Discrete(3)
    action_values = (-1.0, 0.0, 1.0)  # AVAIL_TORQUE: the torque on the joint between the links

    def dynamics(self, state, torque):
        ns = rk4(state.double(), torque.double())
        theta1, theta2, dtheta1, dtheta2 = ns
        theta1 = wrap(theta1, -math.pi, math.pi)
        theta2 = wrap(theta2, -math.pi, math.pi)
        dtheta1 = dtheta1.clamp(-MAX_VEL_1, MAX_VEL_1)
        dtheta2 = dtheta2.clamp(-MAX_VEL_2, MAX_VEL_2)
        terminated = -torch.cos(theta1) - torch.cos(theta2 + theta1) > 1.0
        reward = terminated.to(state.dtype) - 1.0
        return torch.stack((theta1, theta2, dtheta1, dtheta2)).to(state.dtype), reward, terminated

    def observe(self, state):
        theta1, theta2, dtheta1, dtheta2 = state
        return torch.stack((torch.cos(theta1), torch.sin(theta1), torch.cos(theta2), torch.sin(theta2), dtheta1, dtheta2)).T


def dsdt(s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """The time derivative of the state (AcrobotEnv._dsdt, book_or_nips="book"); torque `a` is constant."""
    m1, m2, l1, lc1, lc2, I1, I2 = LINK_MASS_1, LINK_MASS_2, LINK_LENGTH_1, LINK_COM_POS_1, LINK_COM_POS_2, LINK_MOI, LINK_MOI
    theta1, theta2, dtheta1, dtheta2 = s
    cos_theta2, sin_theta2 = torch.cos(theta2), torch.sin(theta2)
    d1 = m1 * lc1**2 + m2 * (l1**2 + lc2**2 + 2 * l1 * lc2 * cos_theta2) + I1 + I2
    d2 = m2 * (lc2**2 + l1 * lc2 * cos_theta2) + I2
    phi2 = m2 * lc2 * G * torch.cos(theta1 + theta2 - math.pi / 2.0)
    phi1 = (
        -m2 * l1 * lc2 * dtheta2**2 * sin_theta2
        - 2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * sin_theta2
        + (m1 * lc1 + m2 * l1) * G * torch.cos(theta1 - math.pi / 2)
        + phi2
    )
    ddtheta2 = (a + d2 / d1 * phi1 - m2 * l1 * lc2 * dtheta1**2 * sin_theta2 - phi2) / (m2 * lc2**2 + I2 - d2**2 / d1)
    ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
    return torch.stack((dtheta1, dtheta2, ddtheta1, ddtheta2))


def rk4(y0: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """One classic Runge-Kutta step of DT (acrobot.py's rk4 over t = [0, DT])."""
    dt2 = DT / 2.0
    k1 = dsdt(y0, a)
    k2 = dsdt(y0 + dt2 * k1, a)
    k3 = dsdt(y0 + dt2 * k2, a)
    k4 = dsdt(y0 + DT * k3, a)
    return y0 + DT / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)


def wrap(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """acrobot.py's wrap (add or subtract the period until x is in [low, high]) as one
    subtraction of a whole number of periods; 0 periods, x unchanged, where it is in already."""
    period = high - low
    periods = torch.ceil((x - high) / period).clamp(min=0) - torch.ceil((low - x) / period).clamp(min=0)
    return x - period * periods
