"""Which torch device a run uses, and why."""

from __future__ import annotations

from lab.errors import BadInput


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def choose_device(requested: str, why_cpu: str, why_gpu: str | None = None, torch_free: str | None = None,
                  source: str = "") -> tuple[str, str]:
    """(device, reason) for a workload.

    why_cpu: why the CPU suits it (the reason given when 'auto' picks the CPU with CUDA there);
    why_gpu: why it runs faster on a GPU, when it does (then 'auto' picks CUDA where there is one);
    torch_free: what the workload is, when it uses no torch at all ('cuda' is then refused).
    BadInput if 'cuda' is asked for and there is none."""
    where = f"{source}: " if source else ""
    if requested == "cpu":
        return "cpu", "requested"
    if torch_free is not None:
        if requested == "cuda":
            raise BadInput(f"{where}device: 'cuda' does nothing for {torch_free}; use 'auto' or 'cpu'", key="device")
        return "cpu", why_cpu
    has_cuda = cuda_available()
    if requested == "cuda":
        if not has_cuda:
            raise BadInput(f"{where}device: 'cuda' requested but torch sees no CUDA device; use 'auto' or 'cpu'", key="device")
        return "cuda", "requested"
    if not has_cuda:
        return "cpu", "auto: no CUDA device visible to torch"
    if why_gpu is not None:
        return "cuda", "auto: " + why_gpu
    return "cpu", "auto: " + why_cpu
