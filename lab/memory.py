"""Memory a run will need, checked against what the machine has free, before a folder exists.

Jobs estimate the big allocations they can size from a spec (replay buffers, rollout buffers,
networks, perturbation batches) as `Need`s; `check` refuses a spec whose needs do not fit, in one
line naming the key to change. Estimates are lower bounds of the real peak, so a refusal is
never wrong; what fits here can still fail later, and is then a failed run with one line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from lab.errors import BadInput

# share of the free memory one allocation may take before lab refuses the spec
FRACTION = 0.8


@dataclass(frozen=True)
class Need:
    bytes: int
    what: str  # "the replay buffer (buffer_size x observation)"
    key: str  # the spec key that sizes it
    fix: str  # what to do: "lower agent.buffer_size"
    on_device: bool = False  # held on the run's device (the torch engine's tensors), not in the host's memory


def human(n: float) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n / 2**10:,.0f} KiB"


def available_bytes(device: str = "cpu") -> int | None:
    """Free memory: the GPU's for 'cuda', else the machine's MemAvailable (None if unknown)."""
    if device.startswith("cuda"):
        import torch

        return int(torch.cuda.mem_get_info()[0])
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check(needs: list[Need], source: str, device: str = "cpu") -> None:
    """BadInput for the largest need that does not fit, or for all of them together."""
    free = available_bytes(device)
    if free is None or not needs:
        return
    where = "of GPU memory" if device.startswith("cuda") else "of memory"
    limit = FRACTION * free
    for need in sorted(needs, key=lambda n: -n.bytes):
        if need.bytes > limit:
            raise BadInput(f"{source}: {need.key}: {need.what} would take about {human(need.bytes)}, but this machine has "
                           f"{human(free)} {where} free; {need.fix}", key=need.key)
    total = sum(n.bytes for n in needs)
    if total > limit:
        big = max(needs, key=lambda n: n.bytes)
        raise BadInput(f"{source}: {big.key}: this run would take about {human(total)} together "
                       f"({', '.join(f'{n.what} {human(n.bytes)}' for n in needs)}), but this machine has "
                       f"{human(free)} {where} free; {big.fix}", key=big.key)


def check_run(needs: list[Need], source: str, device: str) -> None:
    """`check` of a run on `device`: what it holds on a GPU against the GPU's free memory, the
    rest (everything, on a CPU) against the machine's."""
    gpu = device.startswith("cuda")
    check([n for n in needs if not (gpu and n.on_device)], source)
    if gpu:
        check([n for n in needs if n.on_device], source, device)


def mlp_bytes(sizes: list[int], copies: int = 4) -> int:
    """A fully connected net of these layer sizes, float32, times `copies` (weights, gradients
    and two Adam moments: 4)."""
    params = sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))
    return params * 4 * copies
