"""Sanity checks and the ranking across metrics: the randomisation test, the random control, PGI/PGU, LATEC's aggregate."""

import numpy as np
import pytest
import torch

from lab.xai import metrics
from lab.xai.explain import explain
from lab.xai.ranking import aggregate
from lab.xai.sanity import layers, randomisation_test
from tests.test_batched_explain import cancer, digits  # noqa: F401 (fixtures, used by name)


def _saliency(model, x, t):
    from captum.attr import Saliency

    return Saliency(model).attribute(x.clone().requires_grad_(), target=t).detach().numpy()


def _integrated_gradients(model, x, t):
    from captum.attr import IntegratedGradients

    return IntegratedGradients(model).attribute(x, target=t, n_steps=32).detach().numpy()


def _edges(model, x, t):
    """A fixed edge detector (a Sobel filter on the image): it never looks at the model."""
    sobel = torch.tensor([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]]).reshape(1, 1, 3, 3)
    gx = torch.nn.functional.conv2d(x.mean(1, keepdim=True), sobel, padding=1)
    gy = torch.nn.functional.conv2d(x.mean(1, keepdim=True), sobel.transpose(2, 3), padding=1)
    return (gx ** 2 + gy ** 2).sqrt().expand_as(x).numpy()


@pytest.mark.parametrize("mode", ["cascading", "independent"])
def test_the_randomisation_test_fails_a_fixed_edge_detector_and_passes_gradients(digits, mode):
    model, ds = digits
    x = torch.as_tensor(ds.X_test[:6])
    t = model(x).argmax(1)
    assert len(layers(model)) >= 2
    results = {fn.__name__: randomisation_test(fn, model, x, t, fn(model, x, t), seed=0, mode=mode)
               for fn in (_edges, _saliency, _integrated_gradients)}
    assert results["_edges"]["fails"] and results["_edges"]["score"] > 0.99
    assert not results["_saliency"]["fails"] and results["_saliency"]["score"] < 0.35, results["_saliency"]
    # integrated gradients multiply the gradient by (input - baseline): on digits they keep the input's
    # structure (Adebayo et al. saw the same), so they sit between the two, never with the edge detector
    assert results["_integrated_gradients"]["score"] < results["_edges"]["score"] - 0.2
    assert len(results["_saliency"]["similarity"]) == len(layers(model))


def test_the_randomisation_test_fails_the_input_itself_on_tabular_data(cancer):
    model, ds = cancer
    x = torch.as_tensor(ds.X_test[:6])
    t = model(x).argmax(1)
    itself = randomisation_test(lambda m, inputs, target: inputs.numpy(), model, x, t, x.numpy(), seed=0)
    gradient = randomisation_test(_saliency, model, x, t, _saliency(model, x, t), seed=0)
    assert itself["fails"] and itself["score"] == pytest.approx(1.0)
    assert not gradient["fails"] and gradient["score"] < itself["score"] - 0.5


def test_the_random_control_ranks_last_on_faithfulness(cancer):
    model, ds = cancer
    ex = explain(model, ds.X_test[:12], methods=["integrated_gradients", "saliency", "feature_ablation", "shapley", "lime_batched"],
                 background=ds.X_train[:30], params={"lime_batched": {"num_samples": 1000}})
    report = ex.compare(top_k=5, sensitivity_samples=2, randomisation_samples=2)
    ranking = report["ranking"]["methods"]
    assert set(ranking) == {*ex.attributions, "random"}
    assert ranking["random"]["categories"]["faithfulness"]["rank"] == len(ranking)
    for entry in [*report["methods"].values(), report["random"]]:
        assert entry["pgi"] is not None and entry["ris"] is not None and entry["randomisation"]["mode"] == "cascading"
    assert report["methods"]["shapley"]["pgi"] > report["random"]["pgi"]
    assert report["methods"]["shapley"]["pgu"] < report["random"]["pgu"]
    assert -1 <= report["ranking"]["metric_agreement"] <= 1


def test_prediction_gaps_reward_the_features_a_linear_model_uses():
    torch.manual_seed(0)
    model = torch.nn.Linear(10, 2)
    with torch.no_grad():
        model.weight[0] = torch.linspace(-2, 2, 10)
    x = torch.randn(30, 10)
    t = torch.zeros(30, dtype=torch.long)
    true = (model.weight[0] * x).detach().numpy()  # exact attributions of a linear model
    pgi, pgu = metrics.prediction_gaps(model, x, t, true, k=3, seed=0)
    pgi_rev, pgu_rev = metrics.prediction_gaps(model, x, t, 1 / (np.abs(true) + 1e-3), k=3, seed=0)  # the least important first
    assert pgi > pgi_rev and pgu < pgu_rev


def test_the_aggregate_ranks_a_method_better_on_every_metric_first_and_shows_agreement():
    rows = {"good": {"deletion_auc": 0.1, "insertion_auc": 0.9, "infidelity": 0.1, "sensitivity_max": 0.01, "sparseness": 0.8},
            "middle": {"deletion_auc": 0.3, "insertion_auc": 0.7, "infidelity": 0.2, "sensitivity_max": 0.02, "sparseness": 0.5},
            "bad": {"deletion_auc": 0.9, "insertion_auc": 0.2, "infidelity": 0.9, "sensitivity_max": 0.5, "sparseness": 0.1}}
    r = aggregate(rows)
    assert [r["methods"][m]["rank"] for m in ("good", "middle", "bad")] == [1, 2, 3]
    assert r["metric_agreement"] == 1.0 and r["methods"]["good"]["worst_rank"] == 1
    rows["bad"]["sparseness"] = 0.95  # one metric disagrees: shown, and the ranking holds
    r = aggregate(rows)
    assert r["methods"]["bad"]["best_rank"] == 1 and r["methods"]["bad"]["rank"] == 3
    assert r["metric_agreement"] < 1.0
