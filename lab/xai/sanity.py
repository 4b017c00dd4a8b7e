"""The model-parameter randomisation test (Adebayo et al., "Sanity Checks for Saliency Maps", 2018).

An explanation that stays the same when the model's weights are replaced by random ones explains
nothing about the model. Per method: explain the inputs with the trained model, then with copies
whose parameterised layers are re-initialised (torch's own initialisation, seeded), and measure
how alike the explanations stay: Spearman rank correlation of |attributions| per input, mean
over inputs (Quantus' MPRT with its defaults: absolute values, Spearman).

- cascading: the layers randomised from the output layer down, one more at each step; the score
  is the similarity with every layer randomised.
- independent: one layer at a time, the others trained; the score is the mean over layers.

A method whose score is at least FAILS_AT is marked as failing: its maps follow the input, not
the model (the input itself, or a fixed edge detector, scores near 1; gradients near 0).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch

FAILS_AT = 0.5


def layers(model: torch.nn.Module, x: torch.Tensor | None = None) -> list[str]:
    """Names of the modules that hold parameters of their own and can re-initialise them, from
    the input side to the output side (the order they are registered in). A model without any
    (lab's engine stacks a population's layers in one module) has its weight tensors as its
    layers instead: those not named bias, of 2 or more dimensions, that the output at `x` depends
    on (a critic beside the actor is left alone)."""
    named = [name for name, m in model.named_modules()
             if hasattr(m, "reset_parameters") and any(True for _ in m.parameters(recurse=False))]
    if named or x is None:
        return named
    weights = {name: p for name, p in model.named_parameters() if p.dim() >= 2 and "bias" not in name}
    probe = copy.deepcopy(model)
    params = dict(probe.named_parameters())
    for name in weights:
        params[name].requires_grad_(True)
    with torch.enable_grad():
        grads = torch.autograd.grad(probe(x).sum(), [params[n] for n in weights], allow_unused=True)
    return [name for name, g in zip(weights, grads) if g is not None and bool(g.abs().sum() > 0)]


def randomised(model: torch.nn.Module, names: list[str], seed: int) -> torch.nn.Module:
    """A copy of `model` with the named layers re-initialised (seeded; the original is untouched):
    by the module's own reset_parameters, or, for a weight tensor, redrawn from a normal
    distribution with the tensor's own standard deviation."""
    out = copy.deepcopy(model)
    modules, params = dict(out.named_modules()), dict(out.named_parameters())
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        for name in names:
            if name in modules:
                modules[name].reset_parameters()
            else:
                p = params[name]
                p.normal_(0.0, float(p.float().std(correction=0)) or 0.1)
    return out.eval()


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of |a| and |b| per input, mean over inputs (a constant map
    against any other counts 0: nothing in common)."""
    from scipy.stats import spearmanr

    a, b = np.abs(a.reshape(len(a), -1)), np.abs(b.reshape(len(b), -1))
    values = [spearmanr(p, q).statistic if np.ptp(p) > 0 and np.ptp(q) > 0 else 0.0 for p, q in zip(a, b)]
    return float(np.mean(values))


def randomisation_test(explain_fn: Callable[[torch.nn.Module, torch.Tensor, torch.Tensor], np.ndarray],
                       model: torch.nn.Module, x: torch.Tensor, t: torch.Tensor, original: np.ndarray, seed: int,
                       mode: str = "cascading") -> dict:
    """{"mode", "layers", "similarity" (per step), "score", "fails"}: `explain_fn(model, x, t)`
    explains x with a given (logit) model; `original`: its attributions with the trained one."""
    names = layers(model, x)
    steps = []
    if mode == "cascading":
        for k in range(1, len(names) + 1):
            steps.append((names[-1], names[-k:]))
    else:
        steps = [(name, [name]) for name in reversed(names)]
    shown, values = [], []
    for label, chosen in steps:
        a = explain_fn(randomised(model, chosen, seed), x, t)
        shown.append(label if mode == "independent" else chosen[0])
        values.append(round(similarity(original, np.asarray(a)), 4))
    score = values[-1] if mode == "cascading" else float(np.mean(values)) if values else None
    return {"mode": mode, "layers": shown, "similarity": values,
            "score": None if score is None else round(float(score), 4),
            "fails": bool(score is not None and score >= FAILS_AT)}
