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
    if x.device.type != "cpu" or x.numel() <= 4096:
        return torch.tanh(x)  # on a GPU tanh is one kernel; on a CPU, below 4k floats one op costs less than four
    if torch.is_grad_enabled():
        return _CPUTanh.apply(x)
    return torch.sigmoid(2 * x).mul_(2).sub_(1)  # no graph: no Function's overhead


def _sigmoid_form(ws: list[torch.Tensor], bs: list[torch.Tensor]) -> tuple[list, list]:
    """A tanh MLP's layers rewritten for sigmoids, with tanh(z) = 2 sigmoid(2z) - 1: hidden layer i
    outputs s_i = sigmoid(s_{i-1} W_i + b_i), where the 2 of 2z and, from the second layer on, the
    input's 2 s - 1 are folded into W_i and b_i (x W + b = s (2W) + b - sum_rows(W)); the output
    layer is s W + b, folded likewise. Same outputs (within float rounding), fewer ops a pass."""
    last = len(ws) - 1
    folded_w, folded_b = [], []
    for i, (w, b) in enumerate(zip(ws, bs)):
        if i > 0:
            w, b = 2 * w, b - w.sum(1, keepdim=True)
        if i < last:
            w, b = 2 * w, 2 * b
        folded_w.append(w)
        folded_b.append(b)
    return folded_w, folded_b


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
        every = nets == slice(None)
        return self._run(x, [w if every else w[nets] for w in self.weights],
                         [b if every else b[nets] for b in self.biases])

    def frozen(self, nets: slice = slice(None)):
        """`forward(x, nets)` without gradients, with the weights as they are now: for the many
        small passes between two updates (a rollout's steps, an evaluation). The weights are
        sliced, made contiguous and, for tanh, put in their sigmoid form (`_sigmoid_form`) once,
        so a hidden layer costs two ops in place: a rollout step of 9 members' actors (policy,
        sampling, CartPole step) took 0.33 ms through `forward` here, 0.24 ms this way."""
        with torch.no_grad():
            ws, bs = [w[nets] for w in self.weights], [b[nets] for b in self.biases]
            if self.activation is _tanh:
                ws, bs = _sigmoid_form(ws, bs)
            ws, bs = [w.contiguous() for w in ws], [b.contiguous() for b in bs]
        activation = torch.Tensor.sigmoid_ if self.activation is _tanh else torch.Tensor.relu_

        def run(x: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                return self._run(x, ws, bs, activation)

        return run

    def _run(self, x: torch.Tensor, ws: list[torch.Tensor], bs: list[torch.Tensor], activation=None) -> torch.Tensor:
        if x.dim() == 2:
            x = x.expand(len(ws[0]), *x.shape)
        last = len(ws) - 1
        for i, (w, b) in enumerate(zip(ws, bs)):
            x = torch.baddbmm(b, x, w)
            if i < last:
                x = (activation or self.activation)(x)
        return x

    # --- training's pass: the backward written out (no autograd graph through the stack) ------
    # An update step of a small MLP on a CPU is mostly per-op and per-pass costs, so the pass
    # for learning keeps the fewest: a tanh network in its sigmoid form (`_sigmoid_form`), so
    # each hidden layer is one matmul and one sigmoid, and its backward one matmul and one
    # sigmoid_backward over the activations; the output layer runs transposed ((k, out, batch)),
    # 6x faster for few outputs. Gradients equal autograd's through `forward`
    # (tests/test_engine_agents.py).

    @torch.no_grad()
    def forward_saved(self, x: torch.Tensor, dtype: torch.dtype | None = None) -> tuple[torch.Tensor, list]:
        """`forward(x)` (float32) and what `backward_saved` needs; matmuls in `dtype` (bf16) if given."""
        ws, bs = list(self.weights), list(self.biases)
        if dtype is not None:
            x, ws, bs = x.to(dtype), [w.to(dtype) for w in ws], [b.to(dtype) for b in bs]
        tanh = self.activation is _tanh
        if tanh:  # the sigmoids are saved, the rest of each tanh is folded into the weights
            ws, bs = _sigmoid_form(ws, bs)
        saved, last = [x], len(ws) - 1
        for i, (w, b) in enumerate(zip(ws, bs)):
            if i < last:
                x = torch.baddbmm(b, x, w)
                x = x.sigmoid_() if tanh else x.relu_()
                saved.append(x)
            else:
                x = torch.baddbmm(b.transpose(1, 2), w.transpose(1, 2), x.transpose(1, 2)).transpose(1, 2)
        return x.float(), saved

    @torch.no_grad()
    def backward_saved(self, saved: list, grad: torch.Tensor) -> None:
        """Set every weight's and bias's `.grad` from d loss / d outputs `grad` (k, batch, out)."""
        dtype = saved[0].dtype
        ws = [w.to(dtype) for w in self.weights] if dtype != torch.float32 else list(self.weights)
        tanh = self.activation is _tanh
        g, last = grad.to(dtype), len(ws) - 1
        for i in reversed(range(len(ws))):
            x = saved[i]  # the layer's input: the observations, or the previous layer's saved activation
            db = g.sum(1, keepdim=True)
            if i == last:  # transposed, as forward_saved ran it
                dw = torch.bmm(g.transpose(1, 2), x)
                if tanh and i > 0:  # for the input 2 s - 1: 2 s^T g - sum_batch(g)
                    dw = dw.mul_(2).sub_(db.transpose(1, 2))
                dw = dw.transpose(1, 2)
            else:
                dw = torch.bmm(x.transpose(1, 2), g)
                if tanh and i > 0:
                    dw = dw.mul_(2).sub_(db)
            self.weights[i].grad = dw.float().contiguous()  # (the optimizer views it per member)
            self.biases[i].grad = db.float()
            if i > 0:
                if tanh:  # d/dz of 2 sigmoid(2z) - 1 at s: 4 s (1 - s); the 4 goes into the weights
                    g = torch.ops.aten.sigmoid_backward(torch.bmm(g, ws[i].transpose(1, 2) * 4), x)
                else:
                    g = torch.ops.aten.threshold_backward(torch.bmm(g, ws[i].transpose(1, 2)), x, 0)
