"""lab.xai.shapley: exact Shapley values and the estimator with standard errors, on real trained models."""

import numpy as np
import pytest
import torch

from lab.xai.forest_control import CoalitionForest
from lab.xai.kernel_shap import kernel_shap
from lab.xai.shapley import all_coalitions, exact_shapley, exact_weights, shapley_values
from tests.test_batched_explain import _trained, wine  # noqa: F401 (wine: a fixture, used by name)


@pytest.fixture(scope="module")
def cancer16():
    """The breast-cancer MLP explained over 16 feature groups (the first 15 features, then the
    other 15 as one), with its exact Shapley values: 2^16 coalitions x 10 background rows."""
    model, ds = _trained("breast-cancer-attributions", 150)
    x, bg = torch.as_tensor(ds.X_test[:4]), torch.as_tensor(ds.X_train[:10])
    t = model(x).argmax(1)
    groups = torch.clamp(torch.arange(x.shape[1]), max=15)
    return model, x, t, bg, groups, exact_shapley(model, x, t, bg, groups=groups)


def test_exact_shapley_values_equal_kernel_shap_with_every_coalition(wine):
    model, ds = wine
    x, bg = torch.as_tensor(ds.X_test[:6]), torch.as_tensor(ds.X_train[:20])
    t = model(x).argmax(1)
    exact = exact_shapley(model, x, t, bg)
    enumerated = kernel_shap(model, x, t, bg, nsamples=2**13)  # shap's estimator at all 8,190 coalitions
    np.testing.assert_allclose(exact, enumerated, rtol=0, atol=1e-5)
    assert np.abs(exact).max() > 0.1  # and there was something to attribute


def test_exact_shapley_values_satisfy_efficiency_symmetry_and_dummy():
    torch.manual_seed(3)
    net = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))
    with torch.no_grad():
        net[0].weight[:, 1] = net[0].weight[:, 0]  # features 0 and 1 play the same part
        net[0].weight[:, 5] = 0  # feature 5 plays none
    bg = torch.randn(12, 6)
    bg[:, 1] = bg[:, 0]
    x = torch.randn(5, 6)
    x[:, 1] = x[:, 0]
    t = torch.tensor([0, 1, 2, 0, 1])
    phi = exact_shapley(net, x, t, bg)
    with torch.no_grad():
        gap = net(x)[torch.arange(5), t] - net(bg).mean(0)[t]
    np.testing.assert_allclose(phi.sum(axis=1), gap.numpy(), atol=1e-5)  # efficiency
    np.testing.assert_allclose(phi[:, 0], phi[:, 1], atol=1e-6)  # symmetry
    np.testing.assert_allclose(phi[:, 5], 0, atol=1e-7)  # dummy
    assert np.abs(phi[:, :5]).min() > 1e-4


def test_the_estimate_is_exact_for_an_additive_model():
    torch.manual_seed(0)
    net = torch.nn.Linear(20, 2)  # v(z) is linear in z: the control variate is the game itself
    x, bg = torch.randn(3, 20), torch.randn(8, 20)
    r = shapley_values(net, x, torch.tensor([0, 1, 1]), bg, budget=100, tolerance=0)
    assert not r.exact.any()
    with torch.no_grad():
        expected = (net.weight[[0, 1, 1]] * (x - bg.mean(0))).numpy()
    np.testing.assert_allclose(r.values, expected, atol=1e-5)
    assert r.standard_errors.max() < 1e-5  # float32 rounding only, under the values' tolerance


def test_a_forests_shapley_values_are_exact():
    rng = np.random.default_rng(0)
    z = rng.random((120, 8)) < 0.5
    y = np.stack([z[:, 0] * z[:, 1] * ~z[:, 2] + z[:, 3] + rng.normal(0, 0.1, 120), z[:, 4] & z[:, 5]])  # two outputs
    forest = CoalitionForest(z, y, seed=0)
    enumerated = forest(all_coalitions(8).numpy()) @ exact_weights(8).numpy()  # the forest as a game, every coalition
    np.testing.assert_allclose(forest.shapley_values(), enumerated, atol=1e-12)
    # it learnt the interactions: z0 z1 (1 - z2) gives 1/6, 1/6 and -1/3; z4 z5 gives 1/2 each
    assert enumerated[0, :2].min() > 0.03 and enumerated[0, 2] < -0.03 and enumerated[1, 4:6].min() > 0.3


@pytest.mark.parametrize("control, seeds", [("linear", 25), pytest.param("forest", 8, marks=pytest.mark.slow)])  # 8 forests a seed
def test_standard_errors_cover_the_true_error_at_their_level(cancer16, control, seeds):
    model, x, t, bg, groups, exact = cancer16
    runs = [shapley_values(model, x, t, bg, groups=groups, budget=256, tolerance=0, seed=s, control=control) for s in range(seeds)]
    assert all(r.evaluations.max() <= 256 + 16 for r in runs) and not runs[0].exact.any()
    errors = np.stack([r.values for r in runs]) - exact
    se = np.stack([r.standard_errors for r in runs])
    coverage = np.mean(np.abs(errors) <= 1.96 * se)  # seeds x 4 inputs x 16 groups
    assert 0.88 <= coverage <= 0.99, coverage
    # and every estimate keeps efficiency exactly
    np.testing.assert_allclose(np.stack([r.values for r in runs]).sum(axis=2), np.broadcast_to(exact.sum(axis=1), (seeds, 4)), atol=1e-5)


def test_the_estimate_has_less_error_than_shaps_at_the_same_coalitions(cancer16):
    model, x, t, bg, groups, exact = cancer16
    every = torch.ones((len(x), 16), dtype=torch.bool)

    def error(phi):
        return np.mean(np.linalg.norm(phi - exact, axis=1) / np.linalg.norm(exact, axis=1))
    ours, forest = (np.mean([error(shapley_values(model, x, t, bg, groups=groups, budget=512, tolerance=0, seed=s,
                                                  control=control).values) for s in range(seeds)])
                    for control, seeds in (("linear", 6), ("forest", 3)))
    shaps = np.mean([error(kernel_shap(model, x, t, bg, groups=groups, vary=every, nsamples=512, seed=s)) for s in range(6)])
    assert ours < 0.95 * shaps, (ours, shaps)
    assert forest < 0.6 * shaps, (forest, shaps)  # measured 0.49 (linear: 0.81)


def test_the_tolerance_stops_sampling_once_the_errors_fall_under_it(cancer16):
    model, x, t, bg, groups, _ = cancer16
    loose = shapley_values(model, x, t, bg, groups=groups, budget=4096, tolerance=0.02, seed=1)
    tight = shapley_values(model, x, t, bg, groups=groups, budget=4096, tolerance=0.002, seed=1)
    assert loose.evaluations.max() < tight.evaluations.max() <= 4096 + 16
    for r, tol in ((loose, 0.02), (tight, 0.002)):
        spent = r.evaluations >= 4096
        relative = r.standard_errors.max(axis=1) / np.ptp(r.values, axis=1)
        assert np.all(spent | (relative <= tol)), relative
