"""Comparing attributions, whatever made them: faithfulness, completeness, robustness, agreement.

Every function takes attribution arrays shaped like the inputs. References:
deletion/insertion (Petsiuk et al., RISE, 2018), infidelity and sensitivity-max (Yeh et al.,
2019, via captum.metrics), feature/sign agreement (Krishna et al., "The Disagreement Problem
in Explainable Machine Learning", 2022).
"""

from __future__ import annotations

import numpy as np
import torch


def _prob(model, x: torch.Tensor, t: torch.Tensor, batch: int) -> np.ndarray:
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            p = torch.softmax(model(x[i:i + batch]), dim=1)
            out.append(p[torch.arange(len(p)), t[i:i + batch]].cpu().numpy())
    return np.concatenate(out)


def deletion_insertion(logit_model, x: torch.Tensor, t: torch.Tensor, attr: np.ndarray, baseline: torch.Tensor,
                       batch: int = 4096, order: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean curves over inputs of the target's softmax probability as features, most positive
    attribution first, are deleted (set to the baseline) or inserted (into the baseline).

    Returns (deletion, insertion), each of length features + 1 over the fraction 0..1.
    Lower deletion area and higher insertion area mean a more faithful ranking.
    """
    n = len(x)
    flat_x = x.reshape(n, -1)
    flat_b = baseline.reshape(1, -1).expand_as(flat_x)
    d = flat_x.shape[1]
    if order is None:
        order = np.argsort(-attr.reshape(n, -1), axis=1, kind="stable")
    ranks = torch.as_tensor(np.argsort(order, axis=1), device=x.device)  # rank of each feature
    steps = torch.arange(d + 1, device=x.device)
    # keep[k, i, j]: feature j of input i is still present after deleting k features
    removed = ranks[None, :, :] < steps[:, None, None]
    deleted = torch.where(removed, flat_b[None], flat_x[None]).reshape(-1, *x.shape[1:])
    inserted = torch.where(removed, flat_x[None], flat_b[None]).reshape(-1, *x.shape[1:])
    tt = t.repeat(d + 1)
    dele = _prob(logit_model, deleted, tt, batch).reshape(d + 1, n).mean(axis=1)
    ins = _prob(logit_model, inserted, tt, batch).reshape(d + 1, n).mean(axis=1)
    return dele, ins


def area(curve: np.ndarray) -> float:
    xs = np.linspace(0, 1, len(curve))
    return float(np.sum((curve[1:] + curve[:-1]) / 2 * np.diff(xs)))


def random_curves(logit_model, x, t, baseline, seed: int, repeats: int = 5, batch: int = 4096):
    rng = np.random.default_rng(seed)
    n, d = len(x), int(np.prod(x.shape[1:]))
    curves = [deletion_insertion(logit_model, x, t, np.zeros((n, d)), baseline, batch,
                                 order=np.stack([rng.permutation(d) for _ in range(n)])) for _ in range(repeats)]
    return np.mean([c[0] for c in curves], axis=0), np.mean([c[1] for c in curves], axis=0)


def completeness_error(model, x, t, attr: np.ndarray, reference: torch.Tensor) -> float:
    """Mean over inputs of |sum(attr) - (f(x) - f_ref)| / |f(x) - f_ref|, where f_ref is the
    output at the baseline or the mean output over the background."""
    with torch.no_grad():
        fx = model(x)[torch.arange(len(x)), t].cpu().numpy()
        ref = model(reference)[:, t].mean(dim=0).cpu().numpy()
    gap = fx - ref
    err = np.abs(attr.reshape(len(x), -1).sum(axis=1) - gap)
    return float(np.mean(err / np.maximum(np.abs(gap), 1e-8)))


def infidelity(model, x, t, attr: np.ndarray, seed: int, noise: float = 0.1, n_perturb: int = 20) -> float:
    """captum.metrics.infidelity with Gaussian perturbations (std `noise`) and the optimal
    rescaling of attributions (normalize=True), so methods on different scales compare."""
    from captum.metrics import infidelity as captum_infidelity

    gen = torch.Generator(device="cpu").manual_seed(seed)

    def perturb(inputs):
        eps = (torch.randn(inputs.shape, generator=gen) * noise).to(inputs.device)
        return eps, inputs - eps

    a = torch.as_tensor(attr, dtype=x.dtype, device=x.device)
    return float(captum_infidelity(model, perturb, x, a, target=t, n_perturb_samples=n_perturb, normalize=True).mean())


def sensitivity_max(explain_fn, x, t, radius: float = 0.02, n_perturb: int = 5) -> float:
    """captum.metrics.sensitivity_max: the largest change of the explanation under uniform
    input perturbations of `radius`, relative to the explanation's norm (mean over inputs)."""
    from captum.metrics import sensitivity_max as captum_sensitivity

    def explanation(inputs, target):
        if isinstance(inputs, tuple):  # captum hands inputs as a tuple
            inputs = inputs[0]
        target = torch.as_tensor(target, device=inputs.device).reshape(-1)
        if len(target) == 1:  # captum does not expand a one-element target
            target = target.expand(len(inputs))
        with torch.enable_grad():  # captum runs this under no_grad; gradient methods need it back
            attr = explain_fn(inputs, target)
        return (torch.as_tensor(attr, dtype=inputs.dtype, device=inputs.device),)

    return float(captum_sensitivity(explanation, x, perturb_radius=radius, n_perturb_samples=n_perturb, target=t).mean())


def pairwise(attrs: dict[str, np.ndarray], k: int) -> dict[str, dict[str, dict[str, float]]]:
    """Between every pair of methods, averaged over inputs: Spearman rank correlation of the
    attributions, top-k feature agreement (share of the k largest |attributions| in common) and
    sign agreement (share of the k that are in both top-k sets with the same sign)."""
    from scipy.stats import spearmanr

    names = list(attrs)
    flat = {m: a.reshape(len(a), -1) for m, a in attrs.items()}
    d = next(iter(flat.values())).shape[1] if flat else 0
    k = min(k, d)
    top = {m: np.argsort(-np.abs(a), axis=1, kind="stable")[:, :k] for m, a in flat.items()}
    out = {"spearman": {}, "top_k_agreement": {}, "sign_agreement": {}}
    for table in out.values():
        for m in names:
            table[m] = {}
    for i, a in enumerate(names):
        for b in names[i:]:
            rhos, feat, sign = [], [], []
            for r in range(len(flat[a])):
                va, vb = flat[a][r], flat[b][r]
                if np.ptp(va) > 0 and np.ptp(vb) > 0:
                    rhos.append(spearmanr(va, vb).statistic)
                common = np.intersect1d(top[a][r], top[b][r])
                feat.append(len(common) / k)
                sign.append(np.sum(np.sign(va[common]) == np.sign(vb[common])) / k)
            values = {"spearman": float(np.mean(rhos)) if rhos else float("nan"),
                      "top_k_agreement": float(np.mean(feat)), "sign_agreement": float(np.mean(sign))}
            for metric, v in values.items():
                out[metric][a][b] = out[metric][b][a] = round(v, 4)
    return out
