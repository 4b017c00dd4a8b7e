"""Resumable checkpoints of lab's torch agents, the engine's and lab.rl.reinforce's (`lab resume`;
the protocol is lab.rl.agent's `Resumable`): an agent's training state as one torch file of
tensors, written atomically and read back with weights_only=True, and the device's random
generator, which the tracker's saved global RNGs (the CPU's) do not cover on a GPU."""

from __future__ import annotations

from pathlib import Path

import torch

from lab.store import ARCHIVE_SLACK, read_torch, tensor_bytes, write_torch


def save(path: Path, state: dict) -> None:
    """`state`: nested dicts and lists of tensors and numbers."""
    write_torch(path, state)


def bound(agent, extra: int = 0) -> int:
    """The most bytes a resumable checkpoint of `agent` can hold: its networks' tensors four
    times over (the weights, a target network or a population's best, Adam's two moments),
    `extra` (a replay buffer) and slack for the rest (environments, observations, counters)."""
    modules = {id(v): v for v in vars(agent).values() if isinstance(v, torch.nn.Module)}
    return 4 * tensor_bytes(*modules.values()) + extra + ARCHIVE_SLACK


def load(path: Path, device: torch.device, max_bytes: int) -> dict:
    """The file's tensors (weights_only=True), refused (ValueError) when it declares more than
    `max_bytes` (`bound`): a forged file cannot make torch allocate gigabytes."""
    return read_torch(path, device, max_bytes)


def device_rng_state(device: torch.device) -> torch.Tensor | None:
    """The state of `device`'s default generator (sampling and shuffles there draw from it); None on the CPU."""
    return torch.cuda.get_rng_state(device) if device.type == "cuda" else None


def set_device_rng_state(device: torch.device, state: torch.Tensor | None) -> None:
    if device.type == "cuda" and state is not None:
        torch.cuda.set_rng_state(state.cpu(), device)


# --- checks of a loaded state against the objects it goes into (lab resume refuses what does
# not fit before the run folder is touched, instead of failing once training has started)

def check_shape(name: str, value, shape) -> None:
    """ValueError unless `value` is a tensor of `shape`."""
    if not isinstance(value, torch.Tensor) or tuple(value.shape) != tuple(shape):
        got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise ValueError(f"{name}: {got} does not fit this spec's {tuple(shape)}")


def check_optimizer_state(name: str, state: dict, params) -> None:
    """A torch optimizer's saved state (`state_dict()['state']`) holds, per parameter of
    `params`, tensors of that parameter's shape (Adam's moments, ...) or scalars (step counts):
    torch's own load_state_dict does not look, and the first step would fail."""
    params = list(params)
    if not isinstance(state, dict) or not set(state) <= set(range(len(params))):
        raise ValueError(f"{name}: not the state of an optimizer of this spec's {len(params)} parameters")
    for i, per_param in state.items():
        if not isinstance(per_param, dict):
            raise ValueError(f"{name}: parameter {i}'s state is not a table")
        for key, value in per_param.items():
            if isinstance(value, torch.Tensor) and value.dim() > 0:
                check_shape(f"{name} {key} of parameter {i}", value, params[i].shape)
