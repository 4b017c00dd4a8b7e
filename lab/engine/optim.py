"""Optimizers for a population's stacked parameters (lab.engine.nets), each member on its own.

torch's optimizers cannot give each member its own step size, clip each member's gradient on its
own, or let a member sit out a step (PPO's `target_kl`). These can: every parameter lives in one
flat tensor (members, n), member m's in row m, each module parameter a view of its columns; a
step reads autograd's `.grad`s as one (members, n) tensor and moves the flat one in a handful of
ops. With one member they are torch.optim.Adam / RMSprop with clip_grad_norm_ (same formulas in
the same order; tests/test_engine_population.py checks it).
"""

from __future__ import annotations

import torch
from torch import nn


class MemberOptimizer:
    buffers: tuple[str, ...] = ()  # the (members, n) tensors a subclass keeps (Adam's moments, ...), by name

    def __init__(self, module: nn.Module, members: int):
        self.params, self.members = list(module.parameters()), members
        for p in self.params:
            if p.shape[0] != members:
                raise ValueError(f"a parameter of shape {tuple(p.shape)} does not stack {members} members")
        with torch.no_grad():  # the parameters move into one flat tensor, and become views of it
            self.flat = torch.cat([p.reshape(members, -1) for p in self.params], 1)
            start = 0
            for p in self.params:
                n = p[0].numel()
                p.data = self.flat[:, start:start + n].view(p.shape)
                start += n
        self.steps = torch.zeros(members, 1, device=self.flat.device)  # each member's step count

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def grad(self) -> torch.Tensor:
        """The gradients autograd left in the parameters' `.grad`, as one (members, n) tensor."""
        return torch.cat([p.grad.reshape(self.members, -1) for p in self.params], 1)

    @torch.no_grad()
    def step(self, lr: torch.Tensor, max_grad_norm: torch.Tensor, active: torch.Tensor | None = None) -> torch.Tensor:
        """One step of every member with step sizes `lr` (M,), its gradient first scaled to a norm
        of at most `max_grad_norm` (M,) (torch's clip_grad_norm_ formula); members where `active`
        (M,) is false take none: their parameters, buffers and step counts stay as they are.
        Returns the gradients' norms before clipping."""
        grad = self.grad()
        norms = torch.linalg.vector_norm(grad, dim=1, keepdim=True)
        grad *= (max_grad_norm[:, None] / (norms + 1e-6)).clamp(max=1.0)
        active = torch.ones_like(self.steps) if active is None else active[:, None].to(self.steps.dtype)
        self.steps += active
        direction, scale = self.direction(grad, active)
        self.flat -= direction.mul_(lr[:, None] * active * scale)
        return norms[:, 0]

    def direction(self, grad: torch.Tensor, active: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | float]:
        """The update before its step size (Adam's m / (sqrt(v / bias correction 2) + eps), ...)
        and a factor of the step size ((M, 1): Adam's 1 / bias correction 1), the buffers moved
        on where `active` (M, 1)."""
        raise NotImplementedError

    @torch.no_grad()
    def copy_members(self, members: torch.Tensor, sources: torch.Tensor) -> None:
        """Members (k,) take the step counts and buffers of `sources` (k,) (PBT's exploit; the
        parameters are the network's to copy)."""
        for name in ("steps", *self.buffers):
            state = getattr(self, name)
            state[members] = state[sources]

    def state_dict(self) -> dict:
        """The step counts and every buffer, for a resumable checkpoint: `load_state_dict` of it
        goes on exactly where this optimizer was."""
        return {"steps": self.steps, **{name: getattr(self, name) for name in self.buffers}}

    @torch.no_grad()
    def load_state_dict(self, state: dict) -> None:
        for name in ("steps", *self.buffers):
            mine, saved = getattr(self, name), state[name]
            if not isinstance(saved, torch.Tensor) or saved.shape != mine.shape:
                raise ValueError(f"optimizer {name}: the saved state does not fit these parameters")
            mine.copy_(saved)


class MemberAdam(MemberOptimizer):
    """torch.optim.Adam (no weight decay, no amsgrad) with a step size per member."""

    buffers = ("exp_avg", "exp_avg_sq")

    def __init__(self, module: nn.Module, members: int, betas=(0.9, 0.999), eps: float = 1e-8):
        super().__init__(module, members)
        self.betas, self.eps = betas, eps
        self.exp_avg, self.exp_avg_sq = torch.zeros_like(self.flat), torch.zeros_like(self.flat)

    def direction(self, grad, active):
        beta1, beta2 = self.betas
        self.exp_avg.lerp_(grad, (1 - beta1) * active)
        self.exp_avg_sq.mul_(1 - (1 - beta2) * active).addcmul_(grad, grad * ((1 - beta2) * active))
        steps = self.steps.clamp(min=1)  # (a member that never stepped has zero moments)
        bias_correction1, bias_correction2 = 1 - beta1 ** steps, 1 - beta2 ** steps
        denom = (self.exp_avg_sq.sqrt() / bias_correction2.sqrt()).add_(self.eps)
        return self.exp_avg / denom, 1 / bias_correction1


class MemberRMSprop(MemberOptimizer):
    """torch.optim.RMSprop (not centred, no momentum, no weight decay) with a step size per member."""

    buffers = ("square_avg",)

    def __init__(self, module: nn.Module, members: int, alpha: float = 0.99, eps: float = 1e-8):
        super().__init__(module, members)
        self.alpha, self.eps = alpha, eps
        self.square_avg = torch.zeros_like(self.flat)

    def direction(self, grad, active):
        self.square_avg.mul_(1 - (1 - self.alpha) * active).addcmul_(grad, grad * ((1 - self.alpha) * active))
        return grad / self.square_avg.sqrt().add_(self.eps), 1
