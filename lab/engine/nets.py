"""Stacks of small MLPs computed as one: each layer is a batched matmul over a leading stack
dimension, so K networks cost the ops of one (on a CPU, each torch op costs microseconds whatever
its size; on a GPU, one kernel instead of K).

The torch engine stacks a policy's actor and critic this way (K = 2), and a population's members
on top of that (K = 2 x members, member-major): `StackedMLP(k, sizes)` maps (k, batch, in) to
(k, batch, out). Initialisation is SB3's: orthogonal weights, gain sqrt(2) inside and a
per-network output gain, each network drawn from its own generator where one is given.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class _CPUTanh(torch.autograd.Function):
    """tanh as 2 sigmoid(2x) - 1 with tanh's own backward: torch's CPU tanh is not vectorised
    here (84 us for 32k floats against 28 us for this identity, error 2e-7)."""

    @staticmethod
    def forward(ctx, x):
        y = torch.sigmoid(2 * x).mul_(2).sub_(1)  # (in place: big activations cost a pass each)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return torch.ops.aten.tanh_backward(grad, y)  # grad * (1 - y^2) in one pass


def _tanh(x: torch.Tensor) -> torch.Tensor:
    if x.device.type != "cpu":
        return torch.tanh(x)  # on a GPU tanh is one kernel
    if torch.is_grad_enabled():
        return _CPUTanh.apply(x)
    return torch.sigmoid(2 * x).mul_(2).sub_(1)  # no graph: no Function's overhead


class StackedMLP(nn.Module):
    def __init__(self, k: int, sizes: list[int], activation: str, out_gains: list[float],
                 generators: list[torch.Generator | None] | None = None):
        super().__init__()
        self.k, self.activation = k, {"tanh": _tanh, "relu": torch.relu}[activation]
        generators = generators or [None] * k  # None: torch's global generator
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
            last = i == len(sizes) - 2
            w = torch.empty(k, n_in, n_out)
            for j in range(k):  # each network's layer as nn.init would make it (out x in), transposed
                gain = out_gains[j] if last else math.sqrt(2)
                w[j] = nn.init.orthogonal_(torch.empty(n_out, n_in), gain, generator=generators[j]).T
            self.weights.append(nn.Parameter(w))
            self.biases.append(nn.Parameter(torch.zeros(k, 1, n_out)))

    def forward(self, x: torch.Tensor, nets: slice = slice(None)) -> torch.Tensor:
        """(k, batch, in) -> (k, batch, out); a (batch, in) input goes to every network. `nets`
        computes some of the networks only (slice(0, None, 2): every other one), x holding theirs."""
        if x.dim() == 2:
            x = x.expand(len(range(self.k)[nets]), *x.shape)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(b[nets], x, w[nets])
            if i < last:
                x = self.activation(x)
        return x
