"""lab's batched Kernel SHAP and LIME against the reference packages, on real trained models."""

import functools

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

import lab
from lab.xai.explain import explain
from lab.xai.methods import METHODS, default_methods


@functools.lru_cache(maxsize=None)
def _trained(experiment: str, steps: int):
    """The experiment's dataset and architecture, trained full-batch with Adam (seeded); once per
    process for every module that asks (the models are only read)."""
    from lab.xai.data import load_dataset
    from lab.xai.models import build_model

    spec = lab.load_experiment(experiment)
    ds = load_dataset(spec)
    if spec.model.arch == "logistic":  # a nonlinear model: Kernel SHAP and LIME have something to find
        spec = lab.load_experiment(experiment, {"model.arch": "mlp", "model.hidden": [32]})
    model = build_model(spec, ds)
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    X, y = torch.as_tensor(ds.X_train), torch.as_tensor(ds.y_train)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(X), y).backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        assert (model(torch.as_tensor(ds.X_test)).argmax(1).numpy() == ds.y_test).mean() > 0.85
    return model, ds


@pytest.fixture(scope="module")
def wine():
    return _trained("wine-linear-attributions", 150)


@pytest.fixture(scope="module")
def cancer():
    return _trained("breast-cancer-attributions", 150)


@pytest.fixture(scope="module")
def digits():
    return _trained("digits-attributions", 40)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    return float(np.mean([spearmanr(p, q).statistic for p, q in zip(a, b)]))


def _top_k(a: np.ndarray, b: np.ndarray, k: int) -> float:
    a, b = np.abs(a.reshape(len(a), -1)), np.abs(b.reshape(len(b), -1))
    ta, tb = np.argsort(-a, axis=1)[:, :k], np.argsort(-b, axis=1)[:, :k]
    return float(np.mean([len(np.intersect1d(p, q)) / k for p, q in zip(ta, tb)]))


def test_kernel_shap_equals_shap_kernel_explainer_with_full_enumeration_on_wine(wine):
    """13 features, nsamples past 2**13 - 2: every coalition, no randomness; equal within 1e-5."""
    model, ds = wine
    x, bg = ds.X_test[:12], ds.X_train[:20]
    ex = explain(model, x, methods=["kernel_shap", "shap_kernel"], background=bg,
                 params={"kernel_shap": {"nsamples": 9000}, "shap_kernel": {"nsamples": 9000}})
    np.testing.assert_allclose(ex.attributions["kernel_shap"], ex.attributions["shap_kernel"], rtol=0, atol=1e-5)
    assert np.abs(ex.attributions["shap_kernel"]).max() > 0.05  # not trivially equal


def test_kernel_shap_draws_shaps_coalitions_for_the_same_seed(cancer):
    """30 features, sampled coalitions: with numpy's generator seeded alike before each input,
    shap.KernelExplainer (l1_reg=False) gives the batched values."""
    import shap

    from lab.xai.kernel_shap import kernel_shap

    model, ds = cancer
    x, bg = ds.X_test[:3], ds.X_train[:10]
    with torch.no_grad():
        t = model(torch.as_tensor(x)).argmax(1)
    batched = kernel_shap(model, torch.as_tensor(x), t, torch.as_tensor(bg), nsamples=600, seed=11)
    explainer = shap.KernelExplainer(lambda a: model(torch.as_tensor(a, dtype=torch.float32)).detach().numpy(), bg)
    for i in range(len(x)):
        np.random.seed(11)
        ref = explainer.shap_values(x[i:i + 1], nsamples=600, l1_reg=False, silent=True)[0, :, int(t[i])]
        np.testing.assert_allclose(batched[i], ref, rtol=0, atol=1e-5)


def test_kernel_shap_agrees_with_shap_at_least_as_well_as_shap_with_another_seed(cancer):
    """Breast cancer at shap's default nsamples: Spearman per input against shap (seed 100) is at
    least what shap itself reaches against seed 100 from seed 0."""
    model, ds = cancer
    x, bg = ds.X_test[:8], ds.X_train[:20]
    ours = explain(model, x, methods=["kernel_shap", "shap_kernel"], background=bg, seed=0)
    other = explain(model, x, methods=["shap_kernel"], background=bg, seed=100).attributions["shap_kernel"]
    self_agreement = _spearman(ours.attributions["shap_kernel"], other)
    assert _spearman(ours.attributions["kernel_shap"], other) >= self_agreement - 0.005
    assert self_agreement > 0.8  # sampling noise, not disagreement about the model


def test_kernel_shap_attributions_sum_to_output_minus_expected_output(cancer, digits):
    model, ds = cancer
    x, bg = ds.X_test[:6], ds.X_train[:25]
    ex = explain(model, x, methods=["kernel_shap"], background=bg, params={"kernel_shap": {"nsamples": 300}})
    with torch.no_grad():
        fx = model(torch.as_tensor(x))[np.arange(6), ex.targets].double().numpy()
        expected = model(torch.as_tensor(bg)).double().mean(0)[ex.targets].numpy()
    np.testing.assert_allclose(ex.attributions["kernel_shap"].sum(axis=1), fx - expected, atol=1e-5)
    # images: against the baseline
    model, ds = digits
    x = ds.X_test[:3]
    ex = explain(model, x, methods=["kernel_shap"], params={"kernel_shap": {"nsamples": 200}})
    with torch.no_grad():
        gap = (model(torch.as_tensor(x)) - model(torch.zeros(1, 1, 8, 8)))[np.arange(3), ex.targets].numpy()
    np.testing.assert_allclose(ex.attributions["kernel_shap"].reshape(3, -1).sum(axis=1), gap, atol=1e-4)


@pytest.mark.parametrize("name,params", [("kernel_shap", {"nsamples": 300}), ("lime_batched", {"num_samples": 500})])
def test_batched_methods_repeat_with_the_same_seed_and_chunking_changes_nothing(cancer, name, params):
    model, ds = cancer
    x, bg = ds.X_test[:4], ds.X_train[:20]
    run = lambda seed, **more: explain(model, x, methods=[name], background=bg, train_data=ds.X_train, seed=seed,  # noqa: E731
                                       params={name: {**params, **more}}).attributions[name]
    a = run(3)
    np.testing.assert_array_equal(a, run(3))
    assert not np.array_equal(a, run(4))
    np.testing.assert_allclose(run(3, chunk_rows=7), a, rtol=1e-5, atol=1e-5)  # many tiny model calls


def test_lime_batched_agrees_with_lime_at_least_as_well_as_lime_with_another_seed(cancer):
    """Tabular, lime's defaults (quartile bins, 5,000 samples): Spearman and top-5 agreement
    against lime (seed 1) at least those of lime (seed 0) against lime (seed 1)."""
    model, ds = cancer
    x = ds.X_test[:8]
    ours = explain(model, x, methods=["lime_batched", "lime"], train_data=ds.X_train, seed=0).attributions
    other = explain(model, x, methods=["lime"], train_data=ds.X_train, seed=1).attributions["lime"]
    assert _spearman(ours["lime_batched"], other) >= _spearman(ours["lime"], other) - 0.01
    assert _top_k(ours["lime_batched"], other, 5) >= _top_k(ours["lime"], other, 5) - 0.05
    assert _spearman(ours["lime"], other) > 0.8
    scale = np.abs(ours["lime"]).mean()  # the same estimator: the same size of weights
    assert abs(np.abs(ours["lime_batched"]).mean() - scale) < 0.1 * scale


def test_lime_batched_on_digits_agrees_with_lime_image(digits):
    """Images: 2x2 pixel patches hidden with the baseline, lime_image's kernel and ridge."""
    model, ds = digits
    x = ds.X_test[:4]
    ours = explain(model, x, methods=["lime_batched", "lime"], seed=0).attributions
    other = explain(model, x, methods=["lime"], seed=1).attributions["lime"]
    assert ours["lime_batched"].shape == x.shape
    assert _spearman(ours["lime_batched"], other) >= _spearman(ours["lime"], other) - 0.02
    assert _top_k(ours["lime_batched"], other, 8) >= _top_k(ours["lime"], other, 8) - 0.1


def test_batched_paths_replace_the_packages_by_default_and_runs_record_which(cancer):
    assert {"kernel_shap", "lime_batched"} <= set(default_methods(is_image=False))
    assert not {"shap_kernel", "lime"} & set(default_methods(is_image=True))
    model, ds = cancer
    ex = explain(model, ds.X_test[:2], methods=["kernel_shap", "shap_kernel"], background=ds.X_train[:10],
                 params={"kernel_shap": {"nsamples": 100}, "shap_kernel": {"nsamples": 100}})
    report = ex.compare(sensitivity_samples=0)
    assert report["methods"]["kernel_shap"]["implementation"] == METHODS["kernel_shap"].implementation
    assert report["methods"]["shap_kernel"]["implementation"] == "shap.KernelExplainer"
    assert report["methods"]["kernel_shap"]["completeness_error"] < 1e-4
