"""What an RL run will allocate, sized from its spec and its env's spaces (lab.memory checks it)."""

from __future__ import annotations

import numpy as np

from lab.memory import Need, mlp_bytes


def elements(space) -> int:
    """Numbers per observation or action as stored in a buffer."""
    return int(np.prod(space.shape)) if getattr(space, "shape", None) else 1


def net_input(space) -> int:
    """Width of a network's input: one-hot for Discrete observations (as SB3 encodes them)."""
    return int(space.n) if type(space).__name__ == "Discrete" else elements(space)


def outputs(space) -> int:
    name = type(space).__name__
    if name == "Discrete":
        return int(space.n)
    if name == "MultiDiscrete":
        return int(np.sum(space.nvec))
    return elements(space)


def needs(spec, observation_space, action_space) -> list[Need]:
    """What training with SB3 or lab's own agents on Gymnasium's environments allocates (the torch
    engine's: lab.engine.footprint)."""
    a, algo = spec.agent, spec.algo
    n_envs = spec.env.n_envs
    obs = elements(observation_space) * np.dtype(observation_space.dtype or np.float32).itemsize
    act = elements(action_space) * 4
    out: list[Need] = []
    if algo.buffer == "replay":  # off-policy: observations and next observations of every step kept
        out.append(Need(a.buffer_size * (2 * obs + act + 12), "the replay buffer (buffer_size x 2 observations)",
                        "agent.buffer_size", "lower agent.buffer_size"))
    if algo.buffer == "rollout":  # on-policy rollout: n_steps x n_envs steps, six float32 columns beside obs
        out.append(Need(a.n_steps * n_envs * (obs + act + 24), f"the rollout buffer (n_steps x {n_envs} envs)",
                        "agent.n_steps", "lower agent.n_steps or env.n_envs"))
    if algo.tabular:
        out.append(Need(net_input(observation_space) * outputs(action_space) * 8, "the Q-table (states x actions)",
                        "env.id", "use an environment with fewer states"))
    net_arch = None if algo.tabular else getattr(a, "net_arch", None) or algo.net_arch
    if net_arch and len(getattr(observation_space, "shape", ()) or ()) != 3:  # images get SB3's fixed CNN
        sizes = [net_input(observation_space), *net_arch, outputs(action_space)]
        # two networks (actor and critic, policy and baseline, or Q and target), each with its
        # gradients and Adam moments
        out.append(Need(2 * mlp_bytes(sizes), f"the networks (net_arch {list(net_arch)})", "agent.net_arch",
                        "use smaller hidden layers"))
        if algo.update_batch == "minibatch":  # a minibatch's activations through the widest layer, forward and backward
            rows = min(a.batch_size, a.n_steps * n_envs) if algo.buffer == "rollout" else a.batch_size  # PPO: at most a rollout
            out.append(Need(rows * max(sizes) * 4 * 4, f"a minibatch ({rows:,} x {max(sizes):,} activations)",
                            "agent.batch_size", "lower agent.batch_size"))
    return out
