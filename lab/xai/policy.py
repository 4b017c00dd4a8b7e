"""A trained RL policy as the model to explain: states from its own rollouts, its action as target."""

from __future__ import annotations

import numpy as np
import torch

from lab.errors import BadInput

# Observation feature names of Gymnasium's classic-control and Box2D envs, by id prefix.
OBSERVATION_NAMES = {
    "CartPole": ["cart position", "cart velocity", "pole angle", "pole angular velocity"],
    "Acrobot": ["cos(theta1)", "sin(theta1)", "cos(theta2)", "sin(theta2)", "theta1 velocity", "theta2 velocity"],
    "MountainCar": ["car position", "car velocity"],
    "Pendulum": ["cos(theta)", "sin(theta)", "angular velocity"],
    "LunarLander": ["x", "y", "x velocity", "y velocity", "angle", "angular velocity", "left leg contact", "right leg contact"],
}


def observation_names(env_id: str, n: int) -> list[str]:
    prefix = env_id.rsplit(":", 1)[-1].split("-")[0]
    names = OBSERVATION_NAMES.get(prefix)
    return names if names and len(names) == n else [f"observation[{i}]" for i in range(n)]


def rollout_states(spec, agent, episodes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """States visited by the deterministic policy over `episodes` episodes, and its actions there."""
    from lab.rl.envs import make_env

    env = make_env(spec)
    states, actions = [], []
    try:
        for ep in range(episodes):
            obs, _ = env.reset(seed=seed + ep)
            done = False
            while not done:
                action = agent.act(np.asarray(obs)[None], True)[0]
                states.append(np.asarray(obs, dtype=np.float32))
                actions.append(int(action))
                obs, _, terminated, truncated, _ = env.step(int(action))
                done = terminated or truncated
    finally:
        env.close()
    return np.stack(states), np.asarray(actions)


def load_policy(run, spec, device: str):
    """(agent, module) of an RL run's delivered policy; `spec`: the run's."""
    if type(_action_space(spec)).__name__ != "Discrete":
        raise BadInput(f"model.from_run: {run.path.name} acts in a continuous action space; lab explains discrete-action policies")
    from lab.rl.train import load_delivered_policy

    agent, _ = load_delivered_policy(run, spec, device)
    return agent, explained_module(agent, device)


def explained_module(agent, device: str):
    """The acting member's scores as attribution explains them: on the device, in eval mode, its
    weights constant (no gradients kept for them)."""
    module = agent.scores_module().to(device).eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def _action_space(spec):
    from lab.rl.envs import make_env

    env = make_env(spec)
    space = env.action_space
    env.close()
    return space


def policy_inputs_check(module, states: np.ndarray, actions: np.ndarray, device: str) -> float:
    """Share of rollout states where the module's argmax is the action the agent took."""
    with torch.no_grad():
        pred = module(torch.as_tensor(states, device=device)).argmax(1).cpu().numpy()
    return float((pred == actions).mean())
