"""The one table of RL algorithms: name -> hyperparameter schema and implementation.

The CLI, validation, docs and the dashboard read this table; nothing lists algorithms twice.
Implementations are named by import path and loaded only when a run needs them.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from lab.rl import params


@dataclass(frozen=True)
class Algo:
    name: str
    title: str
    params: type[params.AgentParams]
    agent: str  # "module:Class", imported lazily
    library: str
    action_spaces: tuple[str, ...]  # gymnasium space class names it can act in
    observation_spaces: tuple[str, ...] = ("Box", "Discrete")
    vectorized: bool = True  # can train on env.n_envs > 1

    def agent_class(self):
        module, _, cls = self.agent.partition(":")
        return getattr(importlib.import_module(module), cls)


ALGOS: dict[str, Algo] = {
    a.name: a
    for a in (
        Algo("ppo", "Proximal Policy Optimization", params.PPOParams,
             "lab.rl.sb3_agent:SB3Agent", "stable-baselines3",
             ("Discrete", "Box", "MultiDiscrete", "MultiBinary")),
        Algo("a2c", "Advantage Actor-Critic", params.A2CParams,
             "lab.rl.sb3_agent:SB3Agent", "stable-baselines3",
             ("Discrete", "Box", "MultiDiscrete", "MultiBinary")),
        Algo("dqn", "Deep Q-Network", params.DQNParams,
             "lab.rl.sb3_agent:SB3Agent", "stable-baselines3", ("Discrete",)),
        Algo("reinforce", "REINFORCE (Monte-Carlo policy gradient)", params.ReinforceParams,
             "lab.rl.reinforce:ReinforceAgent", "lab (torch)", ("Discrete", "Box")),
        Algo("qlearning", "Tabular Q-learning", params.QLearningParams,
             "lab.rl.qlearning:QLearningAgent", "lab (numpy)", ("Discrete",), ("Discrete",), vectorized=False),
    )
}
