"""Resumable checkpoints of the torch engine's agents (`lab resume`; the protocol is
lab.rl.train's): an agent's training state as one torch file of tensors, written atomically and
read back with weights_only=True, and the device's random generator, which the tracker's saved
global RNGs (the CPU's) do not cover on a GPU."""

from __future__ import annotations

from pathlib import Path

import torch

from lab.store import write_torch


def save(path: Path, state: dict) -> None:
    """`state`: nested dicts and lists of tensors and numbers."""
    write_torch(path, state)


def load(path: Path, device: torch.device) -> dict:
    return torch.load(path, map_location=device, weights_only=True)


def device_rng_state(device: torch.device) -> torch.Tensor | None:
    """The state of `device`'s default generator (sampling and shuffles there draw from it); None on the CPU."""
    return torch.cuda.get_rng_state(device) if device.type == "cuda" else None


def set_device_rng_state(device: torch.device, state: torch.Tensor | None) -> None:
    if device.type == "cuda" and state is not None:
        torch.cuda.set_rng_state(state.cpu(), device)
