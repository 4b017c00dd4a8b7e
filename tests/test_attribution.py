"""Attribution: real models explained with the real Captum, SHAP and LIME; the science pinned."""

import json

import numpy as np
import pytest
import torch

import lab
from lab.errors import BadInput
from lab.xai.explain import explain
from lab.xai.methods import METHODS, default_methods, methods_for

TABULAR = methods_for(is_image=False)
DEFAULT_TABULAR = default_methods(is_image=False)  # what a run without explain.methods explains


@pytest.fixture(scope="module")
def cancer_run(tmp_path_factory):
    """The built-in breast-cancer MLP experiment, explaining a few inputs."""
    root = tmp_path_factory.mktemp("runs")
    spec = lab.load_experiment("breast-cancer-attributions", {"explain.samples": 6, "explain.sensitivity_samples": 1,
                                                              "explain.randomisation": "off", "explain.figure_samples": 1})
    return lab.run(spec, runs_dir=root)


@pytest.fixture(scope="module")
def cancer_model(cancer_run):
    """The trained MLP, its data split, rebuilt from the run folder."""
    from lab.xai.data import load_dataset
    from lab.xai.models import build_model

    spec = lab.load_experiment(cancer_run.path / "spec.toml")
    ds = load_dataset(spec)
    model = build_model(spec, ds)
    model.load_state_dict(torch.load(cancer_run.path / "checkpoints" / "model.pt", weights_only=True))
    return model.eval(), ds


def test_attribution_run_folder_is_complete(cancer_run):
    assert cancer_run.state == "completed", cancer_run.summary.error
    path = cancer_run.path
    r = cancer_run.results
    assert r["test_accuracy"] > 0.9 and 0 < r["test_macro_f1"] <= 1 and r["test_roc_auc"] > 0.9
    assert np.array(r["confusion_matrix"]).sum() == 114  # every test row
    assert sorted(r["methods"]) == sorted(DEFAULT_TABULAR)
    assert r["implementations"]["kernel_shap"] == "lab.xai.kernel_shap (batched, torch)"  # which code made each method

    with np.load(path / "artifacts" / "attributions.npz", allow_pickle=False) as npz:
        inputs = npz["inputs"]
        assert inputs.shape == (6, 30) and npz["targets"].shape == (6,)
        assert list(npz["feature_names"])[:2] == ["mean radius", "mean texture"]
        for name in DEFAULT_TABULAR:
            assert npz[name].shape == inputs.shape and npz[name].dtype == np.float32, name
            assert np.isfinite(npz[name]).all() and np.abs(npz[name]).sum() > 0, name
        # the estimated Shapley values' standard errors beside them (30 features: estimated, not exact)
        assert npz["shapley.se"].shape == inputs.shape and (npz["shapley.se"] > 0).any()
        assert "shapley.se" not in DEFAULT_TABULAR

    comparison = json.loads((path / "artifacts" / "comparison.json").read_text())
    assert set(comparison["methods"]) == set(DEFAULT_TABULAR)
    for name, m in comparison["methods"].items():
        assert m["seconds_per_sample"] > 0 and 0 <= m["deletion_auc"] <= 1 and 0 <= m["insertion_auc"] <= 1
        assert len(m["deletion_curve"]) == 31 and m["infidelity"] is not None and m["sensitivity_max"] is not None
        assert (m["completeness_error"] is not None) == (METHODS[name].reference is not None)
    assert comparison["methods"]["shapley"]["standard_error"] > 0
    assert comparison["random"]["pgi"] is not None and comparison["random"]["infidelity"] is not None  # the control's row
    ranking = comparison["ranking"]["methods"]
    assert set(ranking) == {*DEFAULT_TABULAR, "random"} and sorted(v["rank"] for v in ranking.values())[0] == 1
    assert r["best_ranked_method"] in DEFAULT_TABULAR
    for table in ("spearman", "top_k_agreement", "sign_agreement"):
        assert comparison["pairs"][table]["lime_batched"]["lime_batched"] == 1.0
        assert set(comparison["pairs"][table]) == set(DEFAULT_TABULAR)
    for png in ("agreement.png", "deletion_curves.png", "sample_000.png"):
        assert (path / "artifacts" / png).read_bytes()[:4] == b"\x89PNG"
    torch.load(path / "checkpoints" / "model.pt", weights_only=True)
    kinds = {e["kind"] for e in cancer_run.events()}
    assert {"metric", "method", "comparison", "artifact", "progress"} <= kinds


def test_training_streams_epoch_losses(cancer_run):
    epochs = [e for e in cancer_run.events() if e["kind"] == "metric"]
    assert len(epochs) == cancer_run.results.epochs
    assert {"train_loss", "val_loss", "val_accuracy"} <= epochs[0]["values"].keys()
    assert epochs[-1]["values"]["train_loss"] < epochs[0]["values"]["train_loss"]


def test_integrated_gradients_is_complete_at_the_defaults(cancer_run, cancer_model):
    """IG's attributions sum to f(x) - f(baseline) within 1% of the gap."""
    model, ds = cancer_model
    comparison = json.loads((cancer_run.path / "artifacts" / "comparison.json").read_text())
    assert comparison["methods"]["integrated_gradients"]["completeness_error"] < 0.01
    x = ds.X_test[:10]
    ex = explain(model, x, methods=["integrated_gradients"])
    with torch.no_grad():
        out = model(torch.as_tensor(x))
        gap = (out - model(torch.zeros(1, 30)))[np.arange(10), ex.targets].numpy()
    sums = ex.attributions["integrated_gradients"].sum(axis=1)
    assert np.all(np.abs(sums - gap) < 0.01 * np.abs(gap))


def test_kernel_shap_attributions_sum_to_output_minus_expected_output(cancer_model):
    """SHAP efficiency: sum phi = f(x) - E[f(background)]."""
    model, ds = cancer_model
    x, bg = ds.X_test[:4], ds.X_train[:40]
    ex = explain(model, x, methods=["shap_kernel"], background=bg)
    with torch.no_grad():
        fx = model(torch.as_tensor(x))[np.arange(4), ex.targets].numpy()
        expected = model(torch.as_tensor(bg)).mean(0)[ex.targets].numpy()
    np.testing.assert_allclose(ex.attributions["shap_kernel"].sum(axis=1), fx - expected, rtol=1e-3, atol=1e-3)


def test_gradient_methods_equal_the_analytic_attributions_of_logistic_regression():
    """For logits W x + b: IG = DeepLift = (x - baseline) * gradient = W[t] * (x - baseline), exactly;
    the SHAP family = W[t] * (x - E[background])."""
    spec = lab.load_experiment("wine-linear-attributions")
    from lab.xai.data import load_dataset
    from lab.xai.models import build_model

    ds = load_dataset(spec)
    model = build_model(spec, ds).eval()
    W = model[1].weight.detach().numpy()
    x, bg = ds.X_test[:8], ds.X_train
    baseline = ds.X_train[:5].mean(axis=0)  # any baseline, not only zero
    ex = explain(model, x, methods=["integrated_gradients", "deeplift", "input_x_gradient", "saliency"], baseline=baseline)
    w = W[ex.targets]
    for name in ("integrated_gradients", "deeplift", "input_x_gradient"):
        np.testing.assert_allclose(ex.attributions[name], w * (x - baseline), atol=1e-5, err_msg=name)
    np.testing.assert_allclose(ex.attributions["saliency"], w, atol=1e-6)
    shap_family = explain(model, x, methods=["shap_deep", "shap_gradient", "gradient_shap", "shap_kernel"], background=bg[:60])
    expected = w * (x - bg[:60].mean(axis=0))
    np.testing.assert_allclose(shap_family.attributions["shap_deep"], expected, atol=1e-4)
    np.testing.assert_allclose(shap_family.attributions["shap_kernel"], expected, atol=1e-3)
    for name in ("shap_gradient", "gradient_shap"):  # sampled: close, not exact
        err = np.abs(shap_family.attributions[name] - expected).mean() / np.abs(expected).mean()
        assert err < 0.25, (name, err)


SAMPLING = [m for m in TABULAR if METHODS[m].stochastic]


def test_sampling_methods_repeat_exactly_with_the_same_seed(cancer_model):
    model, ds = cancer_model
    x, bg = ds.X_test[:3], ds.X_train[:30]
    kw = dict(methods=SAMPLING, background=bg, train_data=ds.X_train,
              params={"shap_kernel": {"nsamples": 300}, "lime": {"num_samples": 1000}})
    a = explain(model, x, seed=7, **kw)
    b = explain(model, x, seed=7, **kw)
    c = explain(model, x, seed=8, **kw)
    assert {"lime", "shap_kernel", "captum_kernel_shap", "captum_lime"} <= set(SAMPLING)
    for name in SAMPLING:
        np.testing.assert_array_equal(a.attributions[name], b.attributions[name], err_msg=name)
        assert not np.array_equal(a.attributions[name], c.attributions[name]), name


def test_integrated_gradients_deletes_better_than_a_random_order(cancer_model):
    model, ds = cancer_model
    ex = explain(model, ds.X_test[:30], methods=["integrated_gradients"], background=ds.X_train[:50])
    c = ex.compare(sensitivity_samples=0)
    assert c["methods"]["integrated_gradients"]["deletion_auc"] < c["random"]["deletion_auc"] - 0.2
    assert c["methods"]["integrated_gradients"]["insertion_auc"] > c["random"]["insertion_auc"]


def test_shap_deep_refuses_layers_it_has_no_rule_for():
    model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.LayerNorm(8), torch.nn.Linear(8, 3))
    x = np.random.default_rng(0).normal(size=(20, 5)).astype(np.float32)
    ex = explain(model, x[:3], methods=["shap_deep", "deeplift"], background=x)
    assert "shap_deep" not in ex.attributions and "deeplift" in ex.attributions
    assert "no rule for LayerNorm layers; try deeplift or shap_gradient" in ex.skipped["shap_deep"]


def test_explain_api_on_a_users_model():
    model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    x = np.random.default_rng(1).normal(size=(5, 4)).astype(np.float32)
    ex = lab.explain(model, x, methods=["saliency", "integrated_gradients", "lime"], feature_names=list("abcd"),
                     output="probability", background=x)
    assert set(ex.attributions) == {"saliency", "integrated_gradients", "lime"}
    assert all(a.shape == x.shape for a in ex.attributions.values())
    assert all(s > 0 for s in ex.seconds_per_sample.values())
    c = ex.compare(top_k=2, sensitivity_samples=1)
    assert c["pairs"]["spearman"]["saliency"]["integrated_gradients"] == c["pairs"]["spearman"]["integrated_gradients"]["saliency"]
    with pytest.raises(BadInput, match="unknown method 'integrated_gradient'; did you mean 'integrated_gradients'"):
        lab.explain(model, x, methods=["integrated_gradient"])


def test_digits_cnn_heatmaps_for_every_image_method(tmp_path):
    spec = lab.load_experiment("digits-attributions", {"model.epochs": 3, "explain.samples": 2, "explain.sensitivity_samples": 0,
                                                       "explain.figure_samples": 1, "explain.randomisation": "off",
                                                       "explain.params": {"lime_batched": {"num_samples": 200}, "kernel_shap": {"nsamples": 200},
                                                                          "captum_kernel_shap": {"n_samples": 100}, "captum_lime": {"n_samples": 100}}})
    result = lab.run(spec, runs_dir=tmp_path)
    assert result.state == "completed", result.summary.error
    image_methods = default_methods(is_image=True)
    assert "occlusion" in image_methods and "feature_ablation" not in methods_for(is_image=True)
    with np.load(result.path / "artifacts" / "attributions.npz", allow_pickle=False) as npz:
        assert npz["inputs"].shape == (2, 1, 8, 8)
        for name in image_methods:
            assert npz[name].shape == (2, 1, 8, 8), name
    assert (result.path / "artifacts" / "sample_000.png").is_file()


def test_policy_of_an_rl_run_is_explained_on_its_own_states(tmp_path, cartpole_ppo_folder):
    from .conftest import copy_run

    rl = copy_run(cartpole_ppo_folder, tmp_path)
    spec = lab.load_experiment("cartpole-policy-attributions", {"explain.samples": 5, "explain.sensitivity_samples": 1,
                                                                 "model.rollout_episodes": 1, "explain.policy_episodes": 1,
                                                                 "explain.methods": ["integrated_gradients", "shap_kernel", "lime"]})
    result = lab.run(spec, runs_dir=tmp_path)
    assert result.state == "completed", result.summary.error
    assert result.results.policy_run == rl.path.name
    assert result.results.module_matches_agent == 1.0  # the explained module picks the agent's actions
    with np.load(result.path / "artifacts" / "attributions.npz", allow_pickle=False) as npz:
        assert list(npz["feature_names"]) == ["cart position", "cart velocity", "pole angle", "pole angular velocity"]
        assert npz["integrated_gradients"].shape == (5, 4)
        assert set(npz["targets"]) <= {0, 1}


def test_lab_explain_reexplains_without_retraining(cancer_run):
    from .conftest import lab_cli, lab_main

    root = cancer_run.path.parent
    proc = lab_main("explain", cancer_run.path.name, "--methods", "saliency", "deeplift", "--samples", 3, runs_dir=root)
    assert proc.returncode == 0, proc.stderr
    new = max(lab.list_runs(root), key=lambda r: r.summary.started)
    assert new.path != cancer_run.path and new.state == "completed"
    assert new.results.methods == ["deeplift", "saliency"]
    assert new.results.test_accuracy == cancer_run.results.test_accuracy  # same model, same split
    assert not any(e["kind"] == "metric" for e in new.events())  # no training
    shown = lab_cli("show", new.path.name, runs_dir=root).stdout
    assert "deeplift" in shown and "deletion" in shown and "random order" in shown


def _csv_spec(tmp_path, text):
    path = tmp_path / "data.csv"
    path.write_text(text)
    return {"name": "csv-test", "kind": "attribution", "data": {"dataset": "csv", "path": str(path), "target": "label"},
            "model": {"arch": "logistic", "epochs": 5}, "explain": {"samples": 2, "methods": ["saliency"]}}


def test_csv_data_with_feature_names_from_the_header(tmp_path):
    rng = np.random.default_rng(0)
    rows = "\n".join(f"{a:.3f},{b:.3f},{'yes' if a + b > 0 else 'no'}" for a, b in rng.normal(size=(60, 2)))
    spec = lab.load_experiment(_csv_spec(tmp_path, "height,weight,label\n" + rows + "\n"))
    result = lab.run(spec, runs_dir=tmp_path / "runs")
    assert result.state == "completed", result.summary.error
    with np.load(result.path / "artifacts" / "attributions.npz", allow_pickle=False) as npz:
        assert list(npz["feature_names"]) == ["height", "weight"] and list(npz["class_names"]) == ["no", "yes"]


@pytest.mark.parametrize("text,message", [
    ("a,b,label\n1,x,0\n2,3,1\n", "line 2, column 'b': non-numeric value 'x'; encode categories as numbers first"),
    ("a,b,label\n1,,0\n2,3,1\n", "line 2, column 'b': missing value; fill or drop it"),
    ("a,b,class\n1,2,0\n", "data.target: no column 'label'"),
])
def test_bad_csv_is_one_clear_line(tmp_path, text, message):
    with pytest.raises(BadInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        lab.load_experiment(_csv_spec(tmp_path, text))


@pytest.mark.parametrize("changes,message", [
    ({"explain": {"methods": ["integrated_gradient"]}}, "explain.methods: unknown method 'integrated_gradient'; did you mean 'integrated_gradients'"),
    ({"explain": {"methods": ["occlusion"]}}, "explain.methods: 'occlusion' does not apply to tabular inputs; use 'feature_ablation'"),
    ({"explain": {"params": {"integrated_gradients": {"n_step": 10}}}}, "explain.params.integrated_gradients.n_step: unknown parameter; did you mean 'n_steps'"),
    ({"explain": {"params": {"lime": {"num_samples": "many"}}}}, "explain.params.lime.num_samples: must be a int"),
    ({"explain": {"params": {"shapley": {"control": "forst"}}}}, "explain.params.shapley.control: must be one of linear, forest (got 'forst'); did you mean 'forest'?"),
    ({"data": {"dataset": "breast-cancer"}}, "data.dataset: unknown dataset 'breast-cancer'; did you mean 'breast_cancer'"),
    ({"model": {"arch": "cnn"}}, "model.arch: 'cnn' is for images; dataset 'breast_cancer' is tabular"),
    ({"model": {"arch": "mlp", "from_run": "x"}}, "model: set exactly one of arch"),
    ({"model": {"arch": "transformer"}}, "model.arch: unknown architecture 'transformer'"),
    ({"explain": {"output": "probabilities"}}, "explain.output: must be 'logit' or 'probability'"),
])
def test_bad_attribution_spec_names_the_key(changes, message):
    import tomllib

    from .conftest import EXPERIMENTS

    raw = tomllib.loads((EXPERIMENTS / "breast-cancer-attributions.toml").read_text())
    for table, values in changes.items():
        raw[table] = {**raw.get(table, {}), **values} if table != "model" else values
    with pytest.raises(BadInput) as err:
        lab.load_experiment(raw)
    assert message in str(err.value)


def test_from_run_with_no_such_run_is_bad_input(tmp_path):
    spec = lab.load_experiment({"name": "x", "kind": "attribution", "model": {"from_run": "no-such-experiment"}})
    with pytest.raises(BadInput, match="model.from_run: no completed run of 'no-such-experiment'"):
        lab.run(spec, runs_dir=tmp_path)
    assert not any(tmp_path.iterdir())
