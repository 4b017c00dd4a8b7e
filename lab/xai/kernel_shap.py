"""Kernel SHAP for many inputs at once: shap.KernelExplainer's estimator, batched in torch.

For each input x and coalition z (a 0/1 vector over the M features that vary), the value of
the coalition is the model's output with x's features where z is 1 and a background row's
elsewhere, averaged over the background:

    v(z) = E_b[ f(x * z + b * (1 - z)) ]

Kernel SHAP fits phi by weighted least squares, sum_z w(z) (v(z) - E f(b) - z . phi)^2, under
the efficiency constraint sum(phi) = f(x) - E f(b), which eliminates the last variable. The
coalitions and their weights do not depend on x, so one set serves every input (drawn with
exactly shap's algorithm and random calls: the small subset sizes enumerated whole with their
complements, the rest sampled by kernel weight with duplicates merged, the sampled weights
renormalized to what the enumeration left), and the least squares become one solve with a
right-hand side per input. Model calls go through the device in chunks of `chunk_rows` rows.

Equal to `shap.KernelExplainer(f, background, link="identity").shap_values(x, nsamples=...,
l1_reg=False)` when numpy's global generator is seeded with the same seed before each input.
Differences, on purpose: no `l1_reg` feature selection (lab's reference method also runs with
`l1_reg=False` by default); the target class's output only (shap solves every class).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from math import comb

import numpy as np
import torch


def coalitions(m: int, nsamples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(masks (S, m) of 0/1, kernel weights (S,)): the coalitions shap.KernelExplainer.explain
    builds for m varying features, with the same random calls on a generator seeded with `seed`
    (shap draws from numpy's global one). nsamples 0 means shap's default, 2 * m + 2048."""
    rng = np.random.RandomState(seed % 2**32)
    nsamples = nsamples or 2 * m + 2048
    if m <= 30:
        nsamples = min(nsamples, 2**m - 2)  # all the coalitions there are, bar the empty and the full one
    n_sizes = int(np.ceil((m - 1) / 2.0))
    n_paired = int(np.floor((m - 1) / 2.0))
    weight_vector = np.array([(m - 1.0) / (i * (m - i)) for i in range(1, n_sizes + 1)])
    weight_vector[:n_paired] *= 2
    weight_vector /= np.sum(weight_vector)

    masks = np.zeros((nsamples, m))  # filled row by row; rows never reached are dropped at the end
    weights = np.zeros(nsamples)
    added = 0

    def add(mask: np.ndarray, weight: float) -> None:
        nonlocal added
        masks[added], weights[added] = mask, weight
        added += 1
    # enumerate whole every subset size the budget covers, smallest first
    n_full = 0
    left = nsamples
    remaining = weight_vector.copy()
    for size in range(1, n_sizes + 1):
        n_subsets = comb(m, size) * (2 if size <= n_paired else 1)
        if left * remaining[size - 1] / n_subsets < 1.0 - 1e-8:
            break
        n_full += 1
        left -= n_subsets
        if remaining[size - 1] < 1.0:
            remaining /= 1 - remaining[size - 1]
        w = weight_vector[size - 1] / comb(m, size) / (2.0 if size <= n_paired else 1.0)
        for inds in itertools.combinations(range(m), size):
            mask = np.zeros(m)
            mask[list(inds)] = 1.0
            add(mask, w)
            if size <= n_paired:
                add(1.0 - mask, w)

    # sample the rest of the coalition space by kernel weight; a repeat adds to its weight
    n_fixed = added
    samples_left = nsamples - n_fixed
    if n_full != n_sizes:
        rest = weight_vector.copy()
        rest[:n_paired] /= 2  # each draw of a paired size adds two samples
        rest = rest[n_full:]
        rest /= np.sum(rest)
        draws = rng.choice(len(rest), 4 * samples_left, p=rest)
        seen: dict[bytes, int] = {}
        pos = 0
        while samples_left > 0 and pos < len(draws):
            size = draws[pos] + n_full + 1
            pos += 1
            mask = np.zeros(m)
            mask[rng.permutation(m)[:size]] = 1.0
            key = mask.tobytes()
            new = key not in seen
            if new:
                seen[key] = added
                samples_left -= 1
                add(mask, 1.0)
            else:
                weights[seen[key]] += 1.0
            if samples_left > 0 and size <= n_paired:
                if new:
                    samples_left -= 1
                    add(1.0 - mask, 1.0)
                else:
                    weights[seen[key] + 1] += 1.0
        weights[n_fixed:added] *= np.sum(weight_vector[n_full:]) / weights[n_fixed:added].sum()
    return masks[:added], weights[:added]


def varying(x: torch.Tensor, background: torch.Tensor, groups: torch.Tensor, n_groups: int) -> torch.Tensor:
    """(n, groups) bool: the groups whose values differ from some background row, as shap's
    `varying_groups` decides it (np.allclose: |x - b| <= 1e-8 + 1e-5 |b|). A group that never
    differs cannot change the output and gets no attribution."""
    tolerance = 1e-8 + 1e-5 * background.abs()
    step = max(1, 2**22 // max(background.numel(), 1))  # inputs per block: (block, N, D) at a time
    differs = torch.cat([~((x[i:i + step, None, :] - background[None]).abs() <= tolerance).all(dim=1)
                         for i in range(0, len(x), step)])  # (n, D)
    counts = torch.zeros((len(x), n_groups), dtype=torch.float32, device=x.device)
    return counts.index_add_(1, groups, differs.float()) > 0


@dataclass
class Game:
    """What Kernel SHAP's game needs of its inputs, once: flattened inputs and background rows,
    the group of each feature, the groups each input explains, the targets, f(x) and E_b f(b)."""

    n: int
    shape: tuple
    device: torch.device
    flat: torch.Tensor  # (n, D)
    bg: torch.Tensor  # (N, D)
    groups: torch.Tensor  # (D,)
    n_groups: int
    vary: torch.Tensor  # (n, groups) bool
    t: torch.Tensor  # (n,) long
    fx: torch.Tensor  # (n,) float64
    fnull: torch.Tensor  # (n,) float64: the background's mean output for each input's target

    @classmethod
    def of(cls, model, x: torch.Tensor, targets: torch.Tensor, background: torch.Tensor, groups: torch.Tensor | None = None,
           vary: torch.Tensor | None = None) -> Game:
        """groups default to one per feature; vary to the groups that differ from the background."""
        n, dev = len(x), x.device
        flat, bg = x.reshape(n, -1), background.reshape(len(background), -1)
        if groups is None:
            groups = torch.arange(flat.shape[1], device=dev)
        n_groups = int(groups.max()) + 1
        if vary is None:
            vary = varying(flat, bg, groups, n_groups)
        t = targets.to(dev).long()
        with torch.inference_mode():
            fx = model(x)[torch.arange(n, device=dev), t].double()
            fnull = model(background).double().mean(dim=0)[t]
        return cls(n, tuple(x.shape[1:]), dev, flat, bg, groups, n_groups, vary, t, fx, fnull)


def kernel_shap(model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, targets: torch.Tensor,
                background: torch.Tensor, groups: torch.Tensor | None = None, vary: torch.Tensor | None = None,
                nsamples: int = 0, seed: int = 0, chunk_rows: int = 2048) -> np.ndarray:
    """Kernel SHAP values (n, groups) of model(.)[:, target] for inputs x (n, *shape), against
    the background rows (N, *shape), averaged with equal weights.

    groups: (D,) group id per flattened feature (default: one group per feature); a coalition
    switches whole groups. vary: (n, groups) bool, the groups each input explains (default:
    those that differ from the background, as shap decides). Model calls take at most
    `chunk_rows` rows (at least one input-coalition pair, N rows).
    """
    g = Game.of(model, x, targets, background, groups, vary)
    n, shape, dev, t, fx, fnull = g.n, g.shape, g.device, g.t, g.fx, g.fnull
    flat, bg, groups, n_groups, vary = g.flat, g.bg, g.groups, g.n_groups, g.vary
    phi = torch.zeros((n, n_groups), dtype=torch.float64, device=dev)
    # inputs that vary in the same groups share one set of coalitions and one solve
    patterns, which = torch.unique(vary, dim=0, return_inverse=True)
    for p, pattern in enumerate(patterns):
        rows = torch.nonzero(which == p).flatten()
        idx = torch.nonzero(pattern).flatten()
        gap = fx[rows] - fnull[rows]
        if len(idx) == 1:
            phi[rows, idx[0]] = gap
        elif len(idx) > 1:
            masks, weights = coalitions(len(idx), nsamples, seed)
            masks = torch.as_tensor(masks, device=dev)
            full = torch.zeros((len(masks), n_groups), dtype=torch.bool, device=dev)
            full[:, idx] = masks.bool()
            ey = _coalition_values(model, flat[rows], t[rows], bg, full[:, groups], shape, chunk_rows)
            phi[rows[:, None], idx[None, :]] = _solve(masks, torch.as_tensor(weights, device=dev), ey - fnull[rows, None], gap)
    phi[phi.abs() < 1e-10] = 0  # as shap cleans rounding errors
    return phi.cpu().numpy()


def _coalition_values(model, flat: torch.Tensor, t: torch.Tensor, bg: torch.Tensor, on: torch.Tensor, shape,
                      chunk_rows: int) -> torch.Tensor:
    """(n, S) float64: E_b f(x * z + b * (1 - z))[t] for every input and coalition. Each model
    call takes a block of inputs x a block of coalitions x all N background rows, about
    chunk_rows rows (at least one input, one coalition)."""
    n, s, nb = len(flat), len(on), len(bg)
    per_input = s * nb
    inputs = max(1, chunk_rows // per_input)  # whole inputs per call when they fit
    per_call = s if inputs > 1 else max(1, chunk_rows // nb)  # coalitions per model call
    weight = on.to(flat.dtype)  # lerp with weight 0 or 1 returns exactly b or x
    out = torch.empty((n, s), dtype=torch.float64, device=flat.device)
    with torch.inference_mode():
        for i in range(0, n, inputs):
            rows = slice(i, min(i + inputs, n))
            a = rows.stop - rows.start
            pick = torch.arange(a, device=flat.device)
            for c in range(0, s, per_call):
                cols = slice(c, min(c + per_call, s))
                synth = torch.lerp(bg[None, None], flat[rows, None, None, :], weight[None, cols, None, :])  # (a, c, N, D)
                y = model(synth.reshape(-1, *shape)).reshape(a, cols.stop - cols.start, nb, -1)
                out[rows, cols] = y[pick, :, :, t[rows]].double().mean(dim=-1)
    return out


def _solve(masks: torch.Tensor, weights: torch.Tensor, ey_adj: torch.Tensor, gap: torch.Tensor) -> torch.Tensor:
    """shap's weighted least squares with the last feature eliminated by the efficiency
    constraint, for all inputs at once: masks (S, M), weights (S,), ey_adj (n, S), gap (n,)."""
    last = masks[:, -1]
    y = ey_adj - last[None, :] * gap[:, None]  # (n, S)
    X = masks[:, :-1] - last[:, None]  # (S, M - 1)
    WX = weights[:, None] * X
    try:
        w = torch.linalg.solve(X.T @ WX, WX.T @ y.T)  # (M - 1, n)
    except RuntimeError:  # singular: shap falls back to least squares the same way
        sw = weights.sqrt()
        w = torch.linalg.lstsq(sw[:, None] * X, sw[:, None] * y.T).solution
    w = w.T
    return torch.cat([w, (gap - w.sum(dim=1))[:, None]], dim=1)
