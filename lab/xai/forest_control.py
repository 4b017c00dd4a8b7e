"""A random forest over coalitions, as a control variate for lab's Shapley estimator (lab/xai/shapley.py).

Regression adjustment (Witter, Liu & Musco 2025, "Regression-adjusted Monte Carlo estimators for
Shapley values"): fit a model g to the sampled coalitions' values, take g's Shapley values
exactly, and estimate only those of the residual game v - g. The better g fits, the less is left
to sample. A linear g leaves every interaction of three or more features; a forest of trees on
the 0/1 coalition vector picks some of them up, and a tree's Shapley values are exact and cheap:

a leaf is reached by coalition z exactly when the features its path turned right on ("on", z = 1)
are all in z and those it turned left on ("off") are all out, so each leaf is the game
value * [on in z, off not in z], whose Shapley value (from a random order of the players) is
    value * (p - 1)! q! / (p + q)!  to each of the p "on" features, and
   -value * p! (q - 1)! / (p + q)!  to each of the q "off" features.
A forest's Shapley values are the mean of its trees'.

One forest serves every input of a batch (the inputs share their coalitions): its outputs are the
inputs' residuals, each scaled to unit spread so that every input weighs the same in the splits.
"""

from __future__ import annotations

import numpy as np
from scipy.special import comb

TREES = 50
FEATURE_FRACTION = 0.5  # of the features each split may choose from: decorrelates the trees


class CoalitionForest:
    """g(z) for coalitions z (S, m) bool, one output per input, and its exact Shapley values."""

    def __init__(self, z: np.ndarray, y: np.ndarray, seed: int):
        """Fit to values y (n, S) of the n inputs at coalitions z (S, m) bool."""
        from sklearn.ensemble import ExtraTreesRegressor

        self.m = z.shape[1]
        self.scale = y.std(axis=1) + 1e-300  # (n,)
        # extremely randomised trees: on 0/1 features every split is z_i = 0 | 1 anyway, and no bootstrap
        # keeps every coalition in every tree
        self.forest = ExtraTreesRegressor(n_estimators=TREES, max_features=FEATURE_FRACTION, random_state=seed, n_jobs=1)
        self.forest.fit(z.astype(np.float32), (y / self.scale[:, None]).T)

    def __call__(self, z: np.ndarray) -> np.ndarray:
        """(n, S): g at coalitions z (S, m) bool."""
        out = self.forest.predict(z.astype(np.float32)).reshape(len(z), -1)
        return out.T * self.scale[:, None]

    def shapley_values(self) -> np.ndarray:
        """(n, m): the Shapley values of g, exact (the path formula in the module's docstring)."""
        phi = sum(_tree_shapley(est.tree_, self.m) for est in self.forest.estimators_) / len(self.forest.estimators_)
        return phi * self.scale[:, None]


def _tree_shapley(tree, m: int) -> np.ndarray:
    """(outputs, m): the Shapley values of one fitted sklearn tree as a game over 0/1 features."""
    left, right, feature = tree.children_left, tree.children_right, tree.feature
    parent = np.full(tree.node_count, -1)
    parent[left[left >= 0]] = np.flatnonzero(left >= 0)
    parent[right[right >= 0]] = np.flatnonzero(right >= 0)
    leaves = np.flatnonzero(left < 0)
    on = np.zeros((len(leaves), m), dtype=bool)
    off = np.zeros_like(on)
    rows = np.arange(len(leaves))
    node = leaves.copy()
    while (parent[node] >= 0).any():  # walk every leaf's path up to the root at once
        up = parent[node] >= 0
        p = parent[node[up]]
        went_right = right[p] == node[up]
        on[rows[up][went_right], feature[p[went_right]]] = True
        off[rows[up][~went_right], feature[p[~went_right]]] = True
        node[up] = p
    n_on, n_off = on.sum(axis=1), off.sum(axis=1)
    reachable = ~(on & off).any(axis=1)  # a 0/1 feature splits at most once on a path; kept for safety
    size = n_on + n_off
    # (p - 1)! q! / (p + q)! = 1 / (p C(p + q, p)), and p! (q - 1)! / (p + q)! = 1 / (q C(p + q, q))
    to_on = np.where(n_on > 0, 1 / (np.maximum(n_on, 1) * comb(size, n_on)), 0.0) * reachable
    to_off = np.where(n_off > 0, 1 / (np.maximum(n_off, 1) * comb(size, n_off)), 0.0) * reachable
    weights = on * to_on[:, None] - off * to_off[:, None]  # (leaves, m)
    values = tree.value[leaves][:, :, 0]  # (leaves, outputs)
    return values.T @ weights
