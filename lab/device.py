"""Which torch device a run uses, and why."""

from __future__ import annotations

from lab.errors import BadInput

# Algorithms whose networks are so small that the CPU beats a GPU round trip per env step.
_SMALL_NET_NOTE = {
    "ppo": "SB3 runs PPO with an MLP policy faster on the CPU",
    "a2c": "SB3 runs A2C with an MLP policy faster on the CPU",
    "dqn": "a small MLP Q-network: per-step inference latency dominates, the CPU is faster",
    "reinforce": "a small MLP policy: per-step inference latency dominates, the CPU is faster",
    "qlearning": "tabular: no neural network",
}
_GPU_NOTE = {
    "attribution": "attribution sends many perturbed inputs through the model in batches; the GPU is faster",
}


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def choose_device(requested: str, workload: str, image_observations: bool = False, source: str = "") -> tuple[str, str]:
    """(device, reason) for a workload (an RL algorithm's name, or "attribution"); BadInput if
    'cuda' is asked for and there is none."""
    algo = workload
    where = f"{source}: " if source else ""
    if requested == "cpu":
        return "cpu", "requested"
    if algo == "qlearning":
        if requested == "cuda":
            raise BadInput(f"{where}device: 'cuda' does nothing for tabular qlearning; use 'auto' or 'cpu'")
        return "cpu", _SMALL_NET_NOTE["qlearning"]
    has_cuda = cuda_available()
    if requested == "cuda":
        if not has_cuda:
            raise BadInput(f"{where}device: 'cuda' requested but torch sees no CUDA device; use 'auto' or 'cpu'")
        return "cuda", "requested"
    if not has_cuda:
        return "cpu", "auto: no CUDA device visible to torch"
    if workload in _GPU_NOTE:
        return "cuda", "auto: " + _GPU_NOTE[workload]
    if image_observations:
        return "cuda", "auto: image observations need a CNN, which runs faster on the GPU"
    return "cpu", "auto: " + _SMALL_NET_NOTE.get(algo, "small network")
