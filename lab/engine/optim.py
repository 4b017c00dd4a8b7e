"""Optimizers for stacked networks whose members learn independently (lab.engine.nets).

Adam and RMSprop work element by element, so one optimizer over a population's stacked
parameters is each member's own optimizer; what torch's cannot do is give each member its own
step size or clip each member's gradient on its own. These can: every parameter's leading
dimension is members x rows (member-major), and a per-member value (M,) is broadcast over its
member's rows. With one member they are torch.optim.Adam / RMSprop and clip_grad_norm_ exactly
(their formulas, in their order; tests/test_engine_population.py checks it).
"""

from __future__ import annotations

import math

import torch


class MemberOptimizer:
    buffers: tuple[str, ...] = ()  # the per-parameter tensors a subclass keeps (Adam's moments, ...), by name

    def __init__(self, params, members: int):
        self.params = list(params)
        self.members = members
        for p in self.params:
            if p.shape[0] % members:
                raise ValueError(f"a parameter of shape {tuple(p.shape)} does not stack {members} members")
        self.steps = 0

    def by_member(self, tensors: list[torch.Tensor]) -> list[torch.Tensor]:
        """Tensors shaped as the parameters, viewed (members, rest): member m's entries in row m,
        so that a (members, 1) tensor scales each member's own (one foreach op for them all)."""
        return [t.view(self.members, -1) for t in tensors]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def clip_grad_norm(self, max_norm: torch.Tensor) -> torch.Tensor:
        """Scale each member's gradient to a norm of at most its `max_norm` (M,); the norms before."""
        grads = self.by_member([p.grad for p in self.params if p.grad is not None])
        norms = torch.linalg.vector_norm(torch.cat(grads, 1), dim=1)
        coef = (max_norm / (norms + 1e-6)).clamp(max=1.0)[:, None]  # torch's clip_grad_norm_ formula
        torch._foreach_mul_(grads, [coef] * len(grads))
        return norms

    def step(self, lr: torch.Tensor) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict:
        """The step count and every buffer (lists of tensors, one per parameter), for a resumable
        checkpoint: `load_state_dict` of it goes on exactly where this optimizer was."""
        return {"steps": self.steps, **{name: list(getattr(self, name)) for name in self.buffers}}

    @torch.no_grad()
    def load_state_dict(self, state: dict) -> None:
        for name in self.buffers:
            mine, saved = getattr(self, name), state[name]
            if len(saved) != len(mine) or any(a.shape != b.shape for a, b in zip(mine, saved)):
                raise ValueError(f"optimizer {name}: the saved buffers do not fit these parameters")
            for a, b in zip(mine, saved):
                a.copy_(b)
        self.steps = int(state["steps"])


class MemberAdam(MemberOptimizer):
    """torch.optim.Adam (no weight decay, no amsgrad) with a step size per member."""

    buffers = ("exp_avg", "exp_avg_sq")

    def __init__(self, params, members: int, betas=(0.9, 0.999), eps: float = 1e-8):
        super().__init__(params, members)
        self.betas, self.eps = betas, eps
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self, lr: torch.Tensor) -> None:
        beta1, beta2 = self.betas
        self.steps += 1
        grads = [p.grad for p in self.params]
        torch._foreach_lerp_(self.exp_avg, grads, 1 - beta1)
        torch._foreach_mul_(self.exp_avg_sq, beta2)
        torch._foreach_addcmul_(self.exp_avg_sq, grads, grads, 1 - beta2)
        bias_correction1 = 1 - beta1 ** self.steps
        bias_correction2_sqrt = math.sqrt(1 - beta2 ** self.steps)
        denom = torch._foreach_sqrt(self.exp_avg_sq)
        torch._foreach_div_(denom, bias_correction2_sqrt)
        torch._foreach_add_(denom, self.eps)
        update = torch._foreach_div(self.exp_avg, denom)
        torch._foreach_mul_(self.by_member(update), [(-lr / bias_correction1)[:, None]] * len(update))
        torch._foreach_add_(self.params, update)


class MemberRMSprop(MemberOptimizer):
    """torch.optim.RMSprop (not centred, no momentum, no weight decay) with a step size per member."""

    buffers = ("square_avg",)

    def __init__(self, params, members: int, alpha: float = 0.99, eps: float = 1e-8):
        super().__init__(params, members)
        self.alpha, self.eps = alpha, eps
        self.square_avg = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self, lr: torch.Tensor) -> None:
        self.steps += 1
        grads = [p.grad for p in self.params]
        torch._foreach_mul_(self.square_avg, self.alpha)
        torch._foreach_addcmul_(self.square_avg, grads, grads, 1 - self.alpha)
        avg = torch._foreach_sqrt(self.square_avg)
        torch._foreach_add_(avg, self.eps)
        update = torch._foreach_div(grads, avg)
        torch._foreach_mul_(self.by_member(update), [-lr[:, None]] * len(update))
        torch._foreach_add_(self.params, update)
