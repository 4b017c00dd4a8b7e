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


def _output(model, x: torch.Tensor, t: torch.Tensor, batch: int) -> np.ndarray:
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            y = model(x[i:i + batch])
            out.append(y[torch.arange(len(y)), t[i:i + batch]].double().cpu().numpy())
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


def prediction_gaps(model, x: torch.Tensor, t: torch.Tensor, attr: np.ndarray, k: int, seed: int,
                    noise: float = 0.1, n_perturb: int = 50, batch: int = 4096) -> tuple[float, float]:
    """OpenXAI's PGI and PGU (Agarwal et al., NeurIPS 2022): the mean |f(x) - f(x')| of the
    explained output of the target (OpenXAI takes its probability; lab the output the methods
    explain, the logit by default: a confident model's probability barely moves) when Gaussian
    noise (std `noise`, in input units) is added to the k features of largest |attribution|
    (PGI: higher is more faithful) or to all the others (PGU: lower is more faithful), over
    `n_perturb` draws per input."""
    n = len(x)
    flat = x.reshape(n, -1)
    d = flat.shape[1]
    k = max(1, min(k, d - 1))
    top = np.argsort(-np.abs(attr.reshape(n, -1)), axis=1, kind="stable")[:, :k]
    important = torch.zeros((n, d), dtype=torch.bool, device=x.device)
    important[torch.arange(n, device=x.device)[:, None], torch.as_tensor(top, device=x.device)] = True
    gen = torch.Generator(device="cpu").manual_seed(seed)
    eps = (torch.randn((n_perturb, n, d), generator=gen) * noise).to(x.device)
    p = _output(model, x, t, batch)
    tt = t.repeat(n_perturb)
    gaps = []
    for mask in (important, ~important):
        moved = (flat[None] + eps * mask[None]).reshape(-1, *x.shape[1:])
        q = _output(model, moved, tt, batch).reshape(n_perturb, n)
        gaps.append(float(np.abs(q - p[None]).mean()))
    return gaps[0], gaps[1]


def sparseness(attr: np.ndarray) -> float:
    """Gini index of |attributions| per input (Chalasani et al. 2020; Quantus' Sparseness), mean
    over inputs: 1 when one feature holds everything, 0 when all hold the same."""
    a = np.sort(np.abs(attr.reshape(len(attr), -1)), axis=1) + 1e-12
    d = a.shape[1]
    i = np.arange(1, d + 1)
    return float(np.mean(np.sum((2 * i - d - 1) * a, axis=1) / (d * a.sum(axis=1))))


def complexity(attr: np.ndarray) -> float:
    """Entropy of each input's fractional contributions |a_i| / sum |a| (Bhatt et al. 2020;
    Quantus' Complexity), mean over inputs: lower means fewer features explain the output."""
    a = np.abs(attr.reshape(len(attr), -1)) + 1e-12
    p = a / a.sum(axis=1, keepdims=True)
    return float(np.mean(-(p * np.log(p)).sum(axis=1)))


def relative_stability(explain_fn, logit_model, x: torch.Tensor, t: torch.Tensor, attr: np.ndarray, seed: int,
                       noise: float = 0.05, n_perturb: int = 5) -> tuple[float | None, float | None]:
    """OpenXAI's relative input and output stability, RIS and ROS (Agarwal et al. 2022): over
    Gaussian perturbations x' (std `noise`) that keep the predicted class, the largest
    ||(e_x - e_x') / e_x|| relative to ||(x - x') / x|| (RIS) or to ||(f(x) - f(x')) / f(x)|| of
    the logits (ROS); log10, mean over inputs (lower is more stable). `attr`: e_x of `x`;
    explain_fn(inputs, targets) explains the perturbed ones, all at once."""
    n = len(x)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    eps = (torch.randn((n_perturb, *x.shape), generator=gen) * noise).to(x.device)
    moved = (x[None] + eps).reshape(-1, *x.shape[1:])
    tt = t.repeat(n_perturb)
    with torch.no_grad():
        fx, fm = logit_model(x), logit_model(moved)
    same = (fm.argmax(1) == fx.argmax(1).repeat(n_perturb)).reshape(n_perturb, n).cpu().numpy()
    if not same.any():
        return None, None
    e_moved = np.asarray(explain_fn(moved, tt), dtype=np.float64).reshape(n_perturb, n, -1)
    e = attr.reshape(1, n, -1).astype(np.float64)
    tiny = 1e-6  # OpenXAI's floor on a denominator: attributions, inputs or logits at 0
    explanation = np.linalg.norm((e - e_moved) / np.where(np.abs(e) < tiny, tiny, e), axis=2)
    xs = x.reshape(1, n, -1).cpu().numpy().astype(np.float64)
    inputs = np.linalg.norm((xs - moved.reshape(n_perturb, n, -1).cpu().numpy()) / np.where(np.abs(xs) < tiny, tiny, xs), axis=2)
    f0, f1 = fx.cpu().numpy().astype(np.float64)[None], fm.cpu().numpy().astype(np.float64).reshape(n_perturb, n, -1)
    outputs = np.linalg.norm((f0 - f1) / np.where(np.abs(f0) < tiny, tiny, f0), axis=2)
    scores = []
    for denominator in (inputs, outputs):
        ratio = np.where(same, explanation / np.maximum(denominator, tiny), -np.inf).max(axis=0)  # (n,)
        ratio = ratio[np.isfinite(ratio)]
        scores.append(float(np.mean(np.log10(np.maximum(ratio, tiny)))) if len(ratio) else None)
    return scores[0], scores[1]
