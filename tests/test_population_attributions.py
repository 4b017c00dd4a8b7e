"""A population's members explained on the same states, and a policy's attributions judged by what it does."""

import numpy as np
import pytest

import lab
from lab.xai.population import agreement

FEATURES = ["a", "b", "c", "d"]


def test_identical_members_agree_fully_and_share_their_top_features():
    rng = np.random.default_rng(0)
    one = rng.normal(size=(10, 4)) * np.array([5.0, 3.0, 0.5, 0.1])
    r = agreement(np.stack([one] * 5), k=2, feature_names=FEATURES)
    assert r["spearman"] == pytest.approx(1.0) and r["top_k_agreement"] == pytest.approx(1.0)
    assert r["relied_on_by_all"] == ["a", "b"] and r["in_top_k"] == {"a": 1.0, "b": 1.0, "c": 0.0, "d": 0.0}


def test_members_relying_on_different_features_share_none():
    rng = np.random.default_rng(1)
    left = rng.normal(size=(10, 4)) * np.array([5.0, 0.1, 0.1, 0.1])
    right = rng.normal(size=(10, 4)) * np.array([0.1, 0.1, 0.1, 5.0])
    r = agreement(np.stack([left, right]), k=1, feature_names=FEATURES)
    assert r["relied_on_by_all"] == [] and r["in_top_k"]["a"] == r["in_top_k"]["d"] == 0.5
    assert r["top_k_agreement"] < 0.2


@pytest.fixture(scope="module")
def population_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    rl = lab.run(lab.load_experiment("cartpole-ppo-torch-population",
                                     {"population": 4, "agent.total_steps": 8192, "eval.every": 8192, "eval.episodes": 2}),
                 runs_dir=root)
    assert rl.state == "completed", rl.summary.error
    spec = lab.load_experiment("cartpole-population-attributions", {
        "explain.methods": ["saliency", "shapley"], "explain.samples": 6, "explain.sensitivity_samples": 1,
        "explain.randomisation_samples": 2, "explain.policy_episodes": 2, "explain.figure_samples": 0,
        "model.rollout_episodes": 1})
    result = lab.run(spec, runs_dir=root)
    assert result.state == "completed", result.summary.error
    return result


def test_every_member_of_a_population_is_explained_on_the_same_states(population_run):
    import json

    c = json.loads((population_run.path / "artifacts" / "comparison.json").read_text())
    pop = c["population"]
    assert pop["members"] == 4 and set(pop["methods"]) == {"saliency", "shapley"}
    names = ["cart position", "cart velocity", "pole angle", "pole angular velocity"]
    for r in pop["methods"].values():
        assert np.asarray(r["profiles"]).shape == (4, 4) and np.allclose(np.sum(r["profiles"], axis=1), 1, atol=1e-3)
        assert set(r["in_top_k"]) == set(names) and all(v in (0, 0.25, 0.5, 0.75, 1.0) for v in r["in_top_k"].values())
        assert r["relied_on_by_all"] == [f for f in names if r["in_top_k"][f] == 1.0]
        assert -1 <= r["spearman"] <= 1
    assert population_run.results.population_agreement.keys() == {"saliency", "shapley"}
    assert (population_run.path / "artifacts" / "population.png").stat().st_size > 10_000


def test_a_policys_attributions_are_judged_by_its_actions_and_returns(population_run):
    import json

    c = json.loads((population_run.path / "artifacts" / "comparison.json").read_text())
    policy = c["policy"]
    assert policy["k"] == 1 and policy["episodes"] == 2
    for entry in [*policy["methods"].values(), policy["random"]]:
        assert 0 <= entry["action_flip_rate"] <= 1
        assert entry["return_drop"] == pytest.approx((policy["return"] - entry["masked_return"]) / policy["return"], abs=1e-3)
    assert all(len(e["masked_features"]) == 1 for e in policy["methods"].values())  # each method's top feature
    assert [len(f) for f in policy["random"]["masked_features"]] == [1, 1]  # a random feature per episode
    assert "action_flip_rate" in c["ranking"]["metrics"] and "return_drop" in c["ranking"]["metrics"]


def test_lab_show_says_whether_the_members_agree(population_run):
    from .conftest import lab_main

    out = lab_main("show", population_run.path.name, runs_dir=population_run.path.parent).stdout
    assert "do the 4 members agree?" in out and "relied on by every member" in out
    assert "the policy without each method's top 1 features" in out and "ranking across metrics" in out


def test_members_without_a_run_to_take_them_from_is_one_clear_line(tmp_path):
    from .conftest import lab_main

    proc = lab_main("run", "breast-cancer-attributions", "--set", "model.members=all", runs_dir=tmp_path)
    assert proc.returncode == 2 and "model.members (set by override): only with model.from_run" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not any(tmp_path.rglob("summary.json"))  # nothing written
