"""Torch-engine checkpoints written before the autograd rewrite (lab before 2026-12-06), read
into today's layout, so that `lab eval`, play, attribution and `lab resume` go on working on
older runs. Then an actor-critic was one stack of 2M networks, actor and critic interleaved
(`nets.weights.i`, `nets.biases.i`; the critic's output layer as wide as the actor's, its first
column the value), and a member optimizer's state one tensor per parameter with an int step count.
"""

from __future__ import annotations

import torch


def upgrade_net_state(state: dict) -> dict:
    """An ActorCritic state dict in today's keys (`actor.*`, `critic.*`); today's is returned as is."""
    if not any(k.startswith("nets.") for k in state):
        return state
    out = {k: v for k, v in state.items() if not k.startswith("nets.")}
    layers = sum(k.startswith("nets.weights.") for k in state)
    for i in range(layers):
        for kind in ("weights", "biases"):
            both = state[f"nets.{kind}.{i}"]
            out[f"actor.{kind}.{i}"] = both[0::2]
            out[f"critic.{kind}.{i}"] = both[1::2][..., :1] if i == layers - 1 else both[1::2]
    return out


def upgrade_optimizer_state(state: dict, net: torch.nn.Module, members: int) -> dict:
    """A member optimizer's state (per-parameter buffers in the old parameter order: nets.weights,
    nets.biases, log_std) as today's flat (members, n) buffers in `net`'s parameter order."""
    if isinstance(state["steps"], torch.Tensor):
        return state
    layers = sum(1 for name, _ in net.named_parameters() if name.startswith("actor.weights."))
    old_names = [f"nets.{kind}.{i}" for kind in ("weights", "biases") for i in range(layers)] + ["log_std"]
    out = {"steps": torch.full((members, 1), float(state["steps"]))}
    for key, buffers in state.items():
        if key != "steps":
            named = upgrade_net_state(dict(zip(old_names, buffers)))
            out[key] = torch.cat([named[name].reshape(members, -1) for name, _ in net.named_parameters()], 1)
    return out
