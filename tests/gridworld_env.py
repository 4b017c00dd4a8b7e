"""A batched grid world for lab's torch engine: on a 5 x 5 grid, an agent walks to a goal.

Every environment of the batch is one column of `state`: the agent's cell and the goal's, both
drawn at random when an episode starts. Four actions move the agent up, down, left or right (a
move into the wall stays put); each step costs 0.01, reaching the goal gives +1 and ends the
episode; 50 steps at most.
"""

import numpy as np
import torch
from gymnasium import spaces

from lab.engine import TorchVecEnv

SIZE = 5
MOVES = ((0, 1), (0, -1), (-1, 0), (1, 0))  # up, down, left, right: (dx, dy)


class GridWorld(TorchVecEnv):
    max_episode_steps = 50
    state_names = ("agent_x", "agent_y", "goal_x", "goal_y")
    # reset states are drawn uniformly from this box; a position's cell is its floor
    reset_low = (0.0, 0.0, 0.0, 0.0)
    reset_high = (SIZE, SIZE, SIZE, SIZE)
    gym_observation_space = spaces.Box(0.0, 1.0, (4,), np.float32)  # the four cells' coordinates / (SIZE - 1)
    gym_action_space = spaces.Discrete(4)
    metadata = {**TorchVecEnv.metadata, "render_fps": 8}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.moves = torch.tensor(MOVES, dtype=self.dtype, device=self.device).T  # (2, 4): a column per action

    def dynamics(self, state, actions):
        cells = state.floor()
        agent, goal = cells[:2], cells[2:]
        agent = (agent + self.moves[:, actions]).clamp(0, SIZE - 1)
        terminated = (agent == goal).all(0)
        reward = torch.full_like(agent[0], -0.01).masked_fill(terminated, 1.0)
        return torch.cat((agent, goal)), reward, terminated

    def observe(self, state):
        return (state.floor() / (SIZE - 1)).T

    def draw(self):
        cell = 16
        image = np.full((SIZE * cell + 1, SIZE * cell + 1, 3), 255, np.uint8)
        image[::cell, :] = image[:, ::cell] = 190  # grid lines
        agent_x, agent_y, goal_x, goal_y = self.state[0].floor().long().tolist()
        for (x, y), colour in (((goal_x, goal_y), (40, 160, 60)), ((agent_x, agent_y), (40, 90, 200))):
            row = SIZE - 1 - y  # y grows upwards
            image[row * cell + 3:(row + 1) * cell - 2, x * cell + 3:(x + 1) * cell - 2] = colour
        return image
