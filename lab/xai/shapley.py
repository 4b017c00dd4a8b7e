"""Shapley values of a model's output, exact where the coalitions fit, estimated with error bars elsewhere.

The game is the one Kernel SHAP explains (lab/xai/kernel_shap.py): for an input x and a
coalition z (0/1 over the M feature groups that vary), v(z) = E_b f(x * z + b * (1 - z)) over
the background rows b. v(empty) = E_b f(b), v(full) = f(x).

Exact (`exact_shapley`): every one of the 2^M coalitions through the model, in batches on the
device, and phi_i = sum_S w(|S|) (v(S + i) - v(S)) as one matrix product. Used wherever M is
at most 13 or the 2^M coalitions fit the budget: CartPole's 4 features cost 16 coalitions, wine's
13 cost 8,192.

Estimated (`shapley_values` past that). Kernel SHAP's regression with the
efficiency constraint has a closed form when the Gram matrix is the exact one (Covert & Lee,
AISTATS 2021, "unbiased Kernel SHAP"): with b = E_p[z (v(z) - v(empty))] under the Shapley
kernel's distribution p over coalitions,

    phi = alpha * (b - mean(b)) + (v(full) - v(empty)) / M,      alpha = 1 / (1/2 - E_p[z_i z_j]),

so an unbiased estimate of b is an unbiased estimate of phi, with a standard error that follows
from b's. Three things make that estimate good for its budget:
- **Strata by coalition size, paired, without replacement.** A unit is a pair (z, 1 - z) with
  |z| = h <= M/2; the strata are the sizes, each weighted exactly by the kernel, so only the
  spread inside a stratum is sampled. Units are drawn without replacement, the budget spread
  evenly over coalition sizes (leverage-score sampling: each size holds the same leverage, Musco
  & Witter, ICLR 2025), and a size whose units all fit is enumerated whole (no error from it).
- **A control variate** (regression adjustment, Witter, Liu & Musco 2025): a model g(z) is fitted
  to v, its Shapley values are taken exactly, and only the residual game v - g is estimated. The
  units are split in folds: g fitted on the others corrects each fold (cross-fitting), so the
  estimate stays unbiased however well or badly g fits. `control`:
  - "linear" (the default): g(z) = c + a.z by kernel-weighted least squares, phi(g) = a; 2 folds.
    (Pairwise terms z_i z_j gave the same estimates to 1e-10 on the 16-feature MLP of
    benchmarks/shapley_error.py: the paired units already cancel them. Cubic terms, 560 more for
    16 features, overfit a fold of 1,000 coalitions: 1.3-14x the error, whatever the ridge.)
  - "forest": the linear g plus a random forest on the 0/1 coalitions fitted to what the linear
    one leaves (lab/xai/forest_control.py; a tree's Shapley values are exact by its paths); 8
    folds. It picks up interactions of three or more features that no linear g can: 0.55-0.7x
    the linear control's error at the same coalitions on that MLP, for 30-130 ms more per input.
- **Standard errors and a tolerance.** Each fold's estimate has the stratified-sampling variance
  sum_h W_h^2 (1 - m_h / N_h) s_h^2 / m_h of its units' projected contributions. Sampling goes on
  in rounds (the budget doubling) until every feature's standard error is under
  `tolerance` x (max phi - min phi), as R's kernelshap decides, or the budget is spent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import comb

import numpy as np
import torch

from lab.xai.kernel_shap import Game, _coalition_values

DEFAULT_BUDGET = 512  # coalitions per input (each one E_b f over the background rows); see docs/attribution.md
EXACT_FEATURES = 13  # exact up to 2^13 = 8,192 coalitions per input, whatever the budget (wine's 13 features)
DEFAULT_TOLERANCE = 0.005  # R kernelshap's: standard error / (max phi - min phi)
# cross-fitting folds per control variate: each fold's control is fitted on the others. A linear
# control (1 + m numbers) is as good from half the units; a forest gains from more of them (8 folds:
# 0.0188 against 4 folds' 0.0197 at 256 coalitions on benchmarks/shapley_error.py's MLP)
FOLDS = {"linear": 2, "forest": 8}
CONTROLS = tuple(FOLDS)


def min_units(control: str) -> int:
    """Units every sampled stratum gets: two per fold, for a variance in each."""
    return 2 * FOLDS[control]


@dataclass
class ShapleyResult:
    values: np.ndarray  # (n, groups)
    standard_errors: np.ndarray  # (n, groups): 0 where exact
    evaluations: np.ndarray  # (n,) coalitions each input's estimate used (including the empty and the full one)
    exact: np.ndarray  # (n,) bool


def shapley_values(model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, targets: torch.Tensor,
                   background: torch.Tensor, groups: torch.Tensor | None = None, vary: torch.Tensor | None = None,
                   budget: int = 0, tolerance: float = DEFAULT_TOLERANCE, seed: int = 0, chunk_rows: int = 2048,
                   exact_features: int = EXACT_FEATURES, control: str = "linear") -> ShapleyResult:
    """Shapley values (n, groups) of model(.)[:, target] for inputs x (n, *shape) against the
    background rows (N, *shape), with standard errors: exact where all 2^M coalitions fit
    `budget` (coalitions per input, 0: DEFAULT_BUDGET) or at most `exact_features` groups vary,
    estimated otherwise (see the module).

    groups: (D,) group id per flattened feature (default: one per feature); vary: (n, groups)
    bool, the groups each input explains (default: those that differ from the background, as
    shap decides; the others get 0). tolerance 0 spends the whole budget. control: the control
    variate, "linear" or "forest" (less error for the same coalitions, tens of ms more per batch)."""
    if control not in CONTROLS:
        raise ValueError(f"control must be one of {', '.join(CONTROLS)} (got {control!r})")
    budget = budget or DEFAULT_BUDGET
    g = Game.of(model, x, targets, background, groups, vary)
    n, shape, dev, t, fx, fnull = g.n, g.shape, g.device, g.t, g.fx, g.fnull
    flat, bg, groups, n_groups, vary = g.flat, g.bg, g.groups, g.n_groups, g.vary
    phi = torch.zeros((n, n_groups), dtype=torch.float64, device=dev)
    se = torch.zeros_like(phi)
    evaluations = np.zeros(n, dtype=np.int64)
    exact = np.ones(n, dtype=bool)
    patterns, which = torch.unique(vary, dim=0, return_inverse=True)
    for p, pattern in enumerate(patterns):
        rows = torch.nonzero(which == p).flatten()
        idx = torch.nonzero(pattern).flatten()
        m = len(idx)
        gap = fx[rows] - fnull[rows]
        if m == 0:
            continue
        if m == 1:
            phi[rows, idx[0]] = gap
            evaluations[rows.cpu().numpy()] = 2
            continue

        def values(masks: torch.Tensor, among: torch.Tensor | None = None, rows=rows, idx=idx) -> torch.Tensor:
            """(inputs, S): v(z) - v(empty) of coalitions masks (S, m) bool over idx, for the
            pattern's inputs (or those of them at positions `among`)."""
            pick = rows if among is None else rows[among]
            full = torch.zeros((len(masks), n_groups), dtype=torch.bool, device=dev)
            full[:, idx] = masks
            return _coalition_values(model, flat[pick], t[pick], bg, full[:, groups], shape, chunk_rows) - fnull[pick, None]

        r = rows.cpu().numpy()
        if m <= exact_features or 2**m - 2 <= budget:
            phi[rows[:, None], idx[None, :]] = exact_from_values(values, m, gap)
            evaluations[r] = 2**m
        else:
            est, err, used = _estimate(values, m, gap, budget, tolerance, seed, control)
            phi[rows[:, None], idx[None, :]] = est
            se[rows[:, None], idx[None, :]] = err
            evaluations[r] = used
            exact[r] = False
    return ShapleyResult(phi.cpu().numpy(), se.cpu().numpy(), evaluations, exact)


# ------------------------------------------------------------------------------ exact

def all_coalitions(m: int, device="cpu") -> torch.Tensor:
    """(2^m, m) bool: coalition k holds feature i when bit i of k is set."""
    k = torch.arange(2**m, device=device)
    return (k[:, None] >> torch.arange(m, device=device)[None, :]) & 1 == 1


def exact_weights(m: int, device="cpu") -> torch.Tensor:
    """(2^m, m) float64 C with phi = v @ C over all_coalitions(m): C[S, i] = w(|S| - 1) when i is
    in S and -w(|S|) when not, w(s) = s! (m - 1 - s)! / m!."""
    masks = all_coalitions(m, device)
    size = masks.sum(dim=1)
    w = torch.tensor([1.0 / (m * comb(m - 1, s)) for s in range(m)], dtype=torch.float64, device=device)
    inside = w[(size - 1).clamp(min=0)][:, None].expand(-1, m)
    outside = -w[size.clamp(max=m - 1)][:, None].expand(-1, m)
    return torch.where(masks, inside, outside)


def exact_from_values(values: Callable[[torch.Tensor], torch.Tensor], m: int, gap: torch.Tensor) -> torch.Tensor:
    """Exact Shapley values (n, m) from `values(masks) -> v(z) - v(empty)` over the 2^m - 2 proper
    coalitions; the empty one is 0 and the full one the gap f(x) - v(empty)."""
    masks = all_coalitions(m, gap.device)
    v = torch.zeros((len(gap), 2**m), dtype=torch.float64, device=gap.device)
    v[:, 1:-1] = values(masks[1:-1])
    v[:, -1] = gap
    return v @ exact_weights(m, gap.device)


def exact_shapley(model, x, targets, background, groups=None, vary=None, chunk_rows: int = 2048) -> np.ndarray:
    """Exact Shapley values (n, groups) by all 2^M coalitions, whatever M (mind 2^M)."""
    m = int(groups.max()) + 1 if groups is not None else int(np.prod(x.shape[1:]))
    return shapley_values(model, x, targets, background, groups, vary, chunk_rows=chunk_rows, exact_features=m).values


# ------------------------------------------------------------------------------ estimated

@dataclass
class _Strata:
    """The paired strata of m features: stratum h (1 <= h <= m/2) holds the pairs (z, 1 - z), |z| = h."""

    m: int
    sizes: np.ndarray  # (H,) h
    units: np.ndarray  # (H,) pairs in the stratum, N_h (float)
    weights: np.ndarray  # (H,) its share W_h of the Shapley kernel's distribution

    @classmethod
    def of(cls, m: int) -> _Strata:
        kernel = np.array([(m - 1) / (s * (m - s)) for s in range(1, m)])
        kernel /= kernel.sum()
        sizes = np.arange(1, m // 2 + 1)
        halves = 2 * sizes == m
        # float: C(300, 150) is no int64 (a stratum that large is only ever sampled)
        units = np.array([float(comb(m, h) // (2 if half else 1)) for h, half in zip(sizes, halves)])
        weights = np.where(halves, kernel[sizes - 1], 2 * kernel[sizes - 1])
        return cls(m, sizes, units, weights)

    @property
    def alpha(self) -> float:
        """1 / (1/2 - E_p[z_i z_j]), the scale of the closed-form solution."""
        pairs = sum(w * (h * (h - 1) + (self.m - h) * (self.m - h - 1)) / 2 / (self.m * (self.m - 1))
                    for h, w in zip(self.sizes, self.weights))
        return 1.0 / (0.5 - pairs)

    def allocate(self, pairs: int, least: int) -> np.ndarray:
        """Units per stratum for `pairs` units in all: an even share per coalition size (a
        stratum h < m/2 holds two sizes, h = m/2 one), filled up to each stratum's size and the
        rest passed on. Every stratum gets at least `least` units (or all it has): a stratum whose
        share falls short gets that many and the others share what is left; a budget too small
        for every stratum's `least` is raised to it."""
        floor = np.minimum(least, self.units).astype(np.int64)
        fixed = np.zeros(len(self.sizes), dtype=bool)
        while True:
            take = self._fill(pairs - int(floor[fixed].sum()), ~fixed)
            short = ~fixed & (take < floor)
            if not short.any():
                return np.where(fixed, floor, take)
            fixed |= short

    def _fill(self, pairs: int, among: np.ndarray) -> np.ndarray:
        """`pairs` units over the strata `among`, an even share per coalition size, each filled up
        to its size and the rest passed on to the others."""
        share = np.where(2 * self.sizes == self.m, 0.5, 1.0)
        take = np.zeros(len(self.sizes), dtype=np.int64)
        open_ = among.copy()
        left = pairs
        while left > 0 and open_.any():
            want = np.floor(left * share * open_ / share[open_].sum()).astype(np.int64)
            if want.sum() == 0:  # fewer units left than strata: one each, smallest strata first
                want[np.flatnonzero(open_)[:left]] = 1
            room = np.minimum(self.units - take, 2**62).astype(np.int64)
            add = np.minimum(want, room)
            take += add
            left -= int(add.sum())
            open_ &= take < self.units
        return take


class _UnitStream:
    """Distinct random units of each stratum in a fixed order per seed: the first k of them are a
    sample without replacement whatever k, so a larger budget extends a smaller one."""

    def __init__(self, strata: _Strata, seed: int):
        self.strata = strata
        self.rng = np.random.default_rng(seed)
        self.drawn: list[list[np.ndarray]] = [[] for _ in strata.sizes]
        self.seen: list[set[bytes]] = [set() for _ in strata.sizes]

    def first(self, stratum: int, k: int) -> np.ndarray:
        """(k, m) bool: the stratum's first k units (their z, |z| = h)."""
        m, h = self.strata.m, int(self.strata.sizes[stratum])
        drawn, seen = self.drawn[stratum], self.seen[stratum]
        if k >= self.strata.units[stratum] and len(drawn) < k:  # the whole stratum: enumerate it
            drawn.clear()
            seen.clear()
            for z in _subsets(m, h, half=2 * h == m):
                drawn.append(z)
            order = self.rng.permutation(len(drawn))
            drawn[:] = [drawn[i] for i in order]
        while len(drawn) < k:
            z = np.zeros(m, dtype=bool)
            z[self.rng.choice(m, h, replace=False)] = True
            if 2 * h == m and not z[0]:  # z and 1 - z are one unit: keep the one holding feature 0
                z = ~z
            key = z.tobytes()
            if key not in seen:
                seen.add(key)
                drawn.append(z)
        return np.array(drawn[:k]).reshape(k, m)


def _subsets(m: int, h: int, half: bool):
    import itertools

    for inds in itertools.combinations(range(m), h):
        if half and inds[0] != 0:
            continue
        z = np.zeros(m, dtype=bool)
        z[list(inds)] = True
        yield z


def _estimate(values, m: int, gap: torch.Tensor, budget: int, tolerance: float, seed: int, control: str):
    """(phi (n, m), standard errors (n, m), coalitions used (n,)) by the stratified, paired,
    cross-fitted estimator, in rounds of doubling budget until the tolerance or the budget."""
    strata = _Strata.of(m)
    stream = _UnitStream(strata, seed)
    n, dev = len(gap), gap.device
    phi = torch.zeros((n, m), dtype=torch.float64, device=dev)
    se = torch.zeros((n, m), dtype=torch.float64, device=dev)
    used = np.zeros(n, dtype=np.int64)
    active = torch.arange(n, device=dev)  # the inputs still sampling
    known: dict[bytes, torch.Tensor] = {}  # unit z -> (n, 2): v(z) - v(empty), v(1 - z) - v(empty) per input
    # the first round: half the budget (every stratum sampled, a variance in each); then all of it
    least = min_units(control)
    round_budget = budget if tolerance <= 0 else min(budget, max(budget // 2, 2 * least * len(strata.sizes) + 2))
    while True:
        take = strata.allocate(max(1, (round_budget - 2) // 2), least)
        units = [stream.first(h, int(k)) for h, k in enumerate(take)]
        new = [z for zs in units for z in zs if z.tobytes() not in known]
        if new:
            z = torch.as_tensor(np.array(new), device=dev)
            got = torch.full((n, 2 * len(new)), float("nan"), dtype=torch.float64, device=dev)
            got[active] = values(torch.cat([z, ~z]), active)
            for i, zi in enumerate(new):
                known[zi.tobytes()] = got[:, [i, len(new) + i]]
        table = [torch.stack([known[z.tobytes()] for z in zs], dim=1) for zs in units]  # (n, k_h, 2) per stratum
        est, err = _cross_fitted(strata, units, take, [v[active] for v in table], gap[active], control, seed)
        phi[active], se[active] = est, err
        used[active.cpu().numpy()] = 2 * int(take.sum()) + 2
        spread = (est.max(dim=1).values - est.min(dim=1).values).clamp(min=1e-12)
        active = active[~(err.max(dim=1).values <= tolerance * spread)]
        if round_budget >= budget or len(active) == 0:
            return phi, se, used
        round_budget = min(budget, 2 * round_budget)


def _with_constant(z: torch.Tensor) -> torch.Tensor:
    """(S, 1 + m): the control variate's features of coalitions z (S, m): 1 and z."""
    return torch.cat([torch.ones((len(z), 1), dtype=torch.float64, device=z.device), z.double()], dim=1)


def _cross_fitted(strata: _Strata, units: list[np.ndarray], take: np.ndarray, table: list[torch.Tensor],
                  gap: torch.Tensor, control: str, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(phi, standard errors), each (n, m): the mean of FOLDS[control] estimates, each with the control
    variate fitted on all folds but one and the residual game estimated from that one (the fitted
    units count as known, the held-out fold stands for the rest of its stratum)."""
    m, dev = strata.m, gap.device
    whole = take >= strata.units
    z_all = [torch.as_tensor(zs, device=dev) for zs in units]
    estimates, variances = [], []
    folds = FOLDS[control]
    for fold in range(folds):
        held = [np.arange(k) % folds == fold if not w else np.zeros(k, dtype=bool) for k, w in zip(take, whole)]
        g, phi_g = _fit_control(strata, z_all, [~h for h in held], table, gap, control, seed + fold)
        ends = torch.stack([torch.zeros(m, dtype=torch.bool, device=dev), torch.ones(m, dtype=torch.bool, device=dev)])
        g_at = g(torch.cat([ends, *(torch.cat([zs, ~zs]) for zs in z_all)])).split([2, *(2 * len(zs) for zs in z_all)], dim=1)
        r0, r1 = -g_at[0][:, 0], gap - g_at[0][:, 1]
        mean = torch.zeros((len(gap), m), dtype=torch.float64, device=dev)  # phi of the residual game r = (v - v(empty)) - g
        var = torch.zeros_like(mean)
        for h, zs in enumerate(z_all):
            if len(zs) == 0:
                continue
            r = table[h] - g_at[1 + h].reshape(len(gap), 2, len(zs)).transpose(1, 2) - r0[:, None, None]
            zf = zs.double()  # r: (n, k, 2), r(z) - r(empty) and r(1 - z) - r(empty)
            u = (zf[None] * r[:, :, :1] + (1 - zf)[None] * r[:, :, 1:]) / 2  # (n, k, m): the unit's z (r(z) - r0), paired
            q = strata.alpha * (u - u.mean(dim=2, keepdim=True))
            n_h = float(strata.units[h])
            if whole[h]:
                mean += strata.weights[h] * q.mean(dim=1)
                continue
            sample = torch.as_tensor(held[h], device=dev)
            k_kept, k_s = len(zs) - int(sample.sum()), int(sample.sum())
            rest = n_h - k_kept  # the units not fitted on, which the held-out fold stands for
            mean += strata.weights[h] * (q[:, ~sample].sum(dim=1) + rest * q[:, sample].mean(dim=1)) / n_h
            var += strata.weights[h] ** 2 * (rest / n_h) ** 2 * (1 - k_s / rest) * q[:, sample].var(dim=1) / k_s
        estimates.append(phi_g + mean + ((r1 - r0) / m)[:, None])
        variances.append(var)
    return sum(estimates) / folds, sum(variances).sqrt() / folds


def _fit_control(strata: _Strata, z_all: list[torch.Tensor], fold: list[np.ndarray], table: list[torch.Tensor],
                 gap: torch.Tensor, control: str, seed: int):
    """(g, phi(g)): the control variate fitted to v - v(empty) on the fold's units and every whole
    stratum, as a function g(z (S, m) bool) -> (n, S), and its exact Shapley values (n, m).

    "linear": g(z) = c + a.z by least squares weighted with the Shapley kernel, the empty and
    full coalitions weighted 1 each (as much as all the others); phi(g) = a. "forest": that, plus
    a forest (lab/xai/forest_control.py) fitted to the odd part (r(z) - r(1 - z)) / 2 of its
    residual r, the only part the paired units do not cancel."""
    m, dev = strata.m, gap.device
    units, weights, at_z, at_complement = [], [], [], []
    for h, z in enumerate(z_all):
        pick = torch.as_tensor(fold[h], device=dev)
        if int(pick.sum()) == 0:
            continue
        units.append(z[pick])
        weights.append(torch.full((int(pick.sum()),), strata.weights[h] / (2 * int(pick.sum())), dtype=torch.float64, device=dev))
        at_z.append(table[h][:, pick, 0])
        at_complement.append(table[h][:, pick, 1])
    units, weights = torch.cat(units), torch.cat(weights)
    ends = torch.stack([torch.zeros(m, dtype=torch.bool, device=dev), torch.ones(m, dtype=torch.bool, device=dev)])
    x = _with_constant(torch.cat([ends, units, ~units]))
    w = torch.cat([torch.ones(2, dtype=torch.float64, device=dev), weights, weights])
    y = torch.cat([torch.zeros_like(gap)[:, None], gap[:, None], *at_z, *at_complement], dim=1)  # (n, 2 + 2 units)
    gram = x.T @ (w[:, None] * x)
    # a touch of ridge: with more features than coalitions in a fold g is underdetermined (it stays a valid control)
    gram += 1e-8 * gram.diagonal().mean() * torch.eye(len(gram), dtype=gram.dtype, device=dev)
    beta = torch.linalg.solve(gram, (w[:, None] * x).T @ y.T)  # (1 + m, n)

    def linear(c: torch.Tensor) -> torch.Tensor:
        return (_with_constant(c) @ beta).T

    if control == "linear":
        return linear, beta[1:].T
    from lab.xai.forest_control import CoalitionForest

    r = y[:, 2:] - linear(torch.cat([units, ~units]))  # (n, 2 units): the residual at each z, then at each 1 - z
    odd = (r[:, :len(units)] - r[:, len(units):]) / 2
    forest = CoalitionForest(torch.cat([units, ~units]).cpu().numpy(), torch.cat([odd, -odd], dim=1).cpu().numpy(), seed)

    def with_forest(c: torch.Tensor) -> torch.Tensor:
        return linear(c) + torch.as_tensor(forest(c.cpu().numpy()), device=dev)

    return with_forest, beta[1:].T + torch.as_tensor(forest.shapley_values(), device=dev)
