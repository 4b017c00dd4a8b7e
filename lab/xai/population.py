"""Do the members of a population rely on the same features? Attributions of every member on the same states.

Input: per method, attributions shaped (members, states, features), each member explaining its
own greedy action. Output, per method:
- agreement between members: Spearman rank correlation of two members' attributions of the same
  state, mean over states and over every pair of members; and the share of their top-k features
  in common (top-k agreement), alike;
- per member, each feature's share of its total |attribution| (mean over states): the
  importance profile;
- per feature, the share of members that count it among their top k (by that profile), and the
  features every member counts there ("relied on by all").
"""

from __future__ import annotations

import numpy as np


def _spearman_rows(a: np.ndarray) -> np.ndarray:
    """(members, members) mean over states of Spearman correlations between members: a (P, n, d)."""
    ranks = np.argsort(np.argsort(a, axis=2, kind="stable"), axis=2, kind="stable").astype(float)
    ranks -= ranks.mean(axis=2, keepdims=True)
    norm = np.linalg.norm(ranks, axis=2, keepdims=True)
    z = np.divide(ranks, norm, out=np.zeros_like(ranks), where=norm > 0)  # a constant map correlates 0 with all
    return np.einsum("pnd,qnd->pq", z, z) / a.shape[1]


def agreement(attrs: np.ndarray, k: int, feature_names: list[str]) -> dict:
    """The report above for one method's attributions (members, states, features)."""
    p, n, d = attrs.shape
    k = max(1, min(k, d - 1))
    off = ~np.eye(p, dtype=bool)
    rho = _spearman_rows(attrs)
    top = np.argsort(-np.abs(attrs), axis=2, kind="stable")[:, :, :k]  # (P, n, k)
    onehot = np.zeros((p, n, d), dtype=bool)
    np.put_along_axis(onehot, top, True, axis=2)
    shared = np.einsum("pnd,qnd->pq", onehot.astype(float), onehot.astype(float)) / (n * k)
    magnitude = np.abs(attrs).mean(axis=1)  # (P, d)
    profile = magnitude / np.maximum(magnitude.sum(axis=1, keepdims=True), 1e-12)
    member_top = np.argsort(-profile, axis=1, kind="stable")[:, :k]
    counts = np.zeros(d)
    for row in member_top:
        counts[row] += 1
    share = counts / p
    return {"members": p, "states": n, "k": k,
            "spearman": round(float(rho[off].mean()), 4) if p > 1 else None,
            "top_k_agreement": round(float(shared[off].mean()), 4) if p > 1 else None,
            "feature_share": {name: round(float(v), 4) for name, v in zip(feature_names, profile.mean(axis=0))},
            "in_top_k": {name: round(float(v), 4) for name, v in zip(feature_names, share)},
            "relied_on_by_all": [feature_names[i] for i in np.flatnonzero(counts == p)],
            "profiles": np.round(profile, 4).tolist()}
