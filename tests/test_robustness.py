"""Robustness: real models attacked with Captum's FGSM and PGD; the science pinned."""

import json

import numpy as np
import pytest
import torch

import lab
from lab.xai import robustness as rb

from .conftest import lab_cli, lab_main


class _Sink:
    """A run context for training outside a run: events go nowhere."""

    stop_requested = False

    def emit(self, *args, **kwargs):
        pass

    def log(self, *args, **kwargs):
        pass


def _trained(dataset: str, arch: str, epochs: int, seed: int = 0, adversarial=None, **model):
    from lab.xai.data import load_dataset
    from lab.xai.models import build_model, train_classifier

    m = {"arch": arch, "epochs": epochs, "patience": epochs, "learning_rate": 2e-3, **model}
    if adversarial:
        m["adversarial_training"] = adversarial
    spec = lab.load_experiment({"name": "t", "kind": "attribution", "seed": seed, "data": {"dataset": dataset}, "model": m})
    ds = load_dataset(spec)
    torch.manual_seed(seed)
    net = build_model(spec, ds)
    train_classifier(net, ds, spec, _Sink(), "cpu")
    for p in net.parameters():
        p.requires_grad_(False)
    return net.eval(), ds


@pytest.fixture(scope="module")
def digits_plain():
    return _trained("digits", "cnn", epochs=8, seed=1)


@pytest.fixture(scope="module")
def cancer_mlp():
    return _trained("breast_cancer", "mlp", epochs=40, seed=2, hidden=[32])


def _curves(net, ds, grid, n=150, targeted=True, defense=None):
    space = rb.dataset_space(ds, "cpu")
    x = space.to_attack(torch.as_tensor(ds.X_test[:n]))
    y = np.asarray(ds.y_test[:n])
    model_a = space.wrap(net)
    clean, preds, goal = rb.attacked_predictions(model_a, space, x, torch.as_tensor(y), grid, ["fgsm", "pgd"], targeted,
                                                 pgd_steps=5, pgd_step_fraction=0.4, seed=3, defense=defense, noise_std=0.5)
    return clean, y, rb.accuracy_curves(clean, preds, y, goal, grid)


@pytest.mark.parametrize("which", ["digits_plain", "cancer_mlp"])
def test_accuracy_under_attack_never_rises_pgd_beats_fgsm_and_epsilon_0_is_clean(which, request):
    net, ds = request.getfixturevalue(which)
    grid = [0.0, 0.5, 1.0, 2.0] if ds.image_shape else [0.0, 0.1, 0.3, 0.6]
    clean, y, curves = _curves(net, ds, grid)
    clean_accuracy = round(float((clean == y).mean()), 4)
    for name, rows in curves.items():
        acc = [r["accuracy"] for r in rows]
        assert acc[0] == clean_accuracy == rows[0]["accuracy_at_epsilon"], name
        assert all(b <= a for a, b in zip(acc, acc[1:])), (name, acc)
        assert all(r["accuracy"] <= r["accuracy_at_epsilon"] for r in rows), name
    for a, b in (("pgd", "fgsm"), ("pgd_targeted", "fgsm_targeted")):
        assert all(p["accuracy"] <= f["accuracy"] for p, f in zip(curves[a], curves[b])), (curves[a], curves[b])
    assert curves["pgd"][-1]["accuracy"] < clean_accuracy - 0.3  # the attack works at all
    rate = [r["target_rate"] for r in curves["pgd_targeted"]]
    assert rate[0] == 0 and rate[-1] > 0.1 and all(b >= a for a, b in zip(rate, rate[1:]))  # the least likely class, reached


def test_defenses_keep_the_counting_and_clipping_keeps_in_range_inputs(digits_plain):
    net, ds = digits_plain
    grid = [0.0, 1.0, 2.0]
    clean, y, plain = _curves(net, ds, grid, targeted=False)
    clipped_clean, _, clipped = _curves(net, ds, grid, targeted=False, defense="clipping")
    assert (clipped_clean == clean).all()  # test digits lie in the training range almost everywhere: clipping changes little
    for rows in clipped.values():
        acc = [r["accuracy"] for r in rows]
        assert all(b <= a for a, b in zip(acc, acc[1:]))


def test_a_perturbation_found_by_min_param_perturbation_flips_the_prediction(cancer_mlp):
    net, ds = cancer_mlp
    space = rb.dataset_space(ds, "cpu")
    x = space.to_attack(torch.as_tensor(ds.X_test[:6]))
    flips = rb.min_perturbations(net, space, x, "pgd", max_epsilon=3.0, pgd_steps=5, pgd_step_fraction=0.4, seed=0)
    found = [f for f in flips if f["epsilon"] is not None]
    assert len(found) >= 4
    for f in found:
        adv = f["_adversarial"]
        assert net(adv).argmax(1).item() != f["prediction"] == net(x[f["input"]:f["input"] + 1]).argmax(1).item()
        assert f["adversarial_prediction"] != f["prediction"]
        assert (adv - x[f["input"]]).abs().max().item() <= f["epsilon"] + 1e-5  # within the budget it reports


def test_fgsm_on_a_linear_model_moves_by_epsilon_times_the_sign_of_the_weight_difference():
    """Two classes, logits W x + b: grad_x CE = p_other (W_other - W_true), so x_adv - x = eps * sign(W_other - W_true)."""
    torch.manual_seed(0)
    linear = torch.nn.Linear(6, 2)
    x = torch.randn(16, 6)
    y = linear(x).argmax(1)
    space = rb.AttackSpace("standardized units")
    eps = 0.3
    adv = rb.fgsm(linear, space).perturb(x, eps, y)
    w = linear.weight.detach()
    expected = eps * torch.sign(w[1 - y] - w[y])
    assert torch.allclose(adv - x, expected, atol=1e-6)
    toward = rb.fgsm(linear, space).perturb(x, eps, 1 - y, targeted=True)  # targeted at the other class: the same step
    assert torch.allclose(toward - x, expected, atol=1e-6)


@pytest.mark.slow
def test_adversarial_training_raises_accuracy_under_pgd_at_the_training_epsilon(digits_plain):
    net, ds = digits_plain
    hardened, _ = _trained("digits", "cnn", epochs=6, seed=1, adversarial={"epsilon": 2.0, "steps": 3, "warmup_epochs": 2})
    plain_acc = _curves(net, ds, [0.0, 2.0], targeted=False)[2]["pgd"][-1]["accuracy"]
    hard_acc = _curves(hardened, ds, [0.0, 2.0], targeted=False)[2]["pgd"][-1]["accuracy"]
    assert hard_acc > plain_acc + 0.2, (plain_acc, hard_acc)


def test_robustness_run_writes_the_pinned_json_and_figures(tmp_path):
    spec = lab.load_experiment("breast-cancer-robustness", {
        "model.epochs": 40, "explain.methods": ["saliency", "integrated_gradients"], "explain.samples": 4,
        "explain.sensitivity_samples": 1, "explain.figure_samples": 0, "robustness.samples": 60,
        "robustness.fragility_samples": 2, "robustness.epsilons": [0, 0.2, 0.5], "robustness.pgd_steps": 4})
    run = lab.run(spec, runs_dir=tmp_path)
    assert run.state == "completed", run.summary.error
    report = json.loads((run.path / "artifacts" / "robustness.json").read_text())
    plain = report["models"]["plain"]
    assert plain["clean_accuracy"] == run.results.test_accuracy or report["samples"] < 114
    for attack in ("fgsm", "pgd", "fgsm_targeted", "pgd_targeted"):
        assert [r["epsilon"] for r in plain["attacks"][attack]] == [0.0, 0.2, 0.5]
        assert all(0 <= r["accuracy"] <= 1 for r in plain["attacks"][attack])
    assert set(plain["defenses"]) == {"noise", "clipping"}
    assert len(plain["min_perturbation"]) == 4
    assert set(plain["fragility"]) == {"saliency", "integrated_gradients"}
    assert set(plain["deletion_auc"]) == set(plain["sparsity"]) == {"saliency", "integrated_gradients"}
    for row in plain["fragility"].values():
        assert 0 <= row["adversarial_top_k_intersection"] <= 1 and row["sensitivity_max"] is not None
    assert run.results.robust_accuracy["plain"]["pgd"] == plain["attacks"]["pgd"][-1]["accuracy"]
    for png in ("robustness_accuracy.png", "robustness_adversarial_plain.png"):
        assert (run.path / "artifacts" / png).read_bytes()[:4] == b"\x89PNG"
    shown = lab_cli("show", run.path.name, runs_dir=tmp_path).stdout
    assert "accuracy under attack" in shown and "fragility" in shown


@pytest.mark.parametrize("changes, message", [
    ({"robustness": {"epsilon": [0, 1]}}, "robustness.epsilon: unknown key in robustness; did you mean 'epsilons'?"),
    ({"robustness": {"epsilons": [0.5, 0.1]}}, "robustness.epsilons: must be strictly increasing"),
    ({"robustness": {"epsilons": [0, -1]}}, "robustness.epsilons[1]: must be greater than or equal to 0"),
    ({"robustness": {"models": ["plain", "hardened"]}}, "robustness.models: 'hardened' needs [model] adversarial_training"),
])
def test_bad_robustness_table_is_one_line_and_exit_2(tmp_path, changes, message):
    import tomli_w

    raw = {"name": "bad", "kind": "attribution", "data": {"dataset": "wine"}, "model": {"arch": "logistic"}, **changes}
    path = tmp_path / "bad.toml"
    path.write_text(tomli_w.dumps(raw))
    proc = lab_cli("run", path, runs_dir=tmp_path / "runs")
    assert proc.returncode == 2
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.fixture(scope="module")
def cartpole_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    run = lab.run(lab.load_experiment("cartpole-ppo", {"agent.total_steps": 8000, "eval.every": 4000, "eval.episodes": 2}),
                  runs_dir=root)
    assert run.state == "completed", run.summary.error
    return run


@pytest.fixture(scope="module")
def policy_robustness_run(cartpole_run):
    spec = lab.load_experiment("cartpole-policy-robustness", {
        "explain.methods": ["saliency", "integrated_gradients"], "explain.samples": 3, "explain.sensitivity_samples": 1,
        "explain.figure_samples": 0, "model.rollout_episodes": 1, "robustness.epsilons": [0, 0.1, 0.5],
        "robustness.policy_episodes": 2, "robustness.fragility_samples": 1, "explain.policy_episodes": 1})
    run = lab.run(spec, runs_dir=cartpole_run.path.parent)
    assert run.state == "completed", run.summary.error
    return run


def test_policy_robustness_run_writes_the_return_curve(cartpole_run, policy_robustness_run):
    report = json.loads((policy_robustness_run.path / "artifacts" / "robustness.json").read_text())
    assert report["policy"]["run"] == cartpole_run.path.name and report["unit"] == "observation units"
    for attack in ("noise", "fgsm"):
        rows = report["policy"]["attacks"][attack]
        assert [r["epsilon"] for r in rows] == [0.0, 0.1, 0.5]
        assert rows[0]["return_mean"] == report["policy"]["attacks"]["noise"][0]["return_mean"]  # epsilon 0: the same episodes
    assert len(report["models"]["policy"]["min_perturbation"]) == 3
    assert (policy_robustness_run.path / "artifacts" / "robustness_policy.png").read_bytes()[:4] == b"\x89PNG"
    assert policy_robustness_run.results.robust_return["fgsm"] == report["policy"]["attacks"]["fgsm"][-1]["return_mean"]


async def test_dashboard_shows_the_robustness_pane_and_the_policys_return_curve(cartpole_run, policy_robustness_run):
    from lab.tui.app import LabApp
    from lab.tui.screens.attribution import Attributions, AttributionScreen

    from .pilot import wait_for

    app = LabApp(cartpole_run.path.parent)
    async with app.run_test(size=(120, 40)) as pilot:
        app.push_screen(AttributionScreen(Attributions.read(policy_robustness_run.path)))
        await pilot.pause()
        screen = app.screen
        assert not screen.query_one("#attr-robustness-scroll").display
        await pilot.press("r")
        await pilot.pause()
        assert screen.query_one("#attr-robustness-scroll").display and not screen.query_one("#attr-tables").display
        text = str(screen.query_one("#robustness-tables").render())
        assert "return of the policy" in text and "fgsm" in text and "smallest pgd epsilon" in text
        curves = screen.query_one("#robustness-curves")
        assert [name for name, _ in curves._legend] == ["noise", "fgsm"] and curves._series[0][0] == [0.0, 0.1, 0.5]
        await pilot.press("escape")
        app.open_run(cartpole_run.path)
        screen = app.screen
        await wait_for(pilot, lambda: bool(screen.query("#robustness-plot")))
        plot = screen.query_one("#robustness-plot")
        assert [name for name, _ in plot._legend] == ["noise", "fgsm"] and plot._series[1][0] == [0.0, 0.1, 0.5]


def test_policy_return_falls_under_large_observation_attacks(cartpole_run):
    from lab.xai.policy_robustness import return_under_attack
    from lab.rl.train import load_delivered_policy
    from lab.spec import load_experiment

    spec = load_experiment(cartpole_run.spec_path)
    agent, _ = load_delivered_policy(cartpole_run, spec, "cpu")
    clean = return_under_attack(agent, spec, "noise", 0.0, 5, seed=100)
    from lab.rl.evaluate import evaluate

    assert (clean == evaluate(agent.act, spec, 5, 100)[0]).all()  # epsilon 0 is the clean policy
    noisy = return_under_attack(agent, spec, "noise", 1.0, 5, seed=100)
    fgsm = return_under_attack(agent, spec, "fgsm", 1.0, 5, seed=100)
    assert noisy.mean() < clean.mean() and fgsm.mean() < clean.mean(), (clean.mean(), noisy.mean(), fgsm.mean())
    assert fgsm.mean() <= noisy.mean()  # at this size FGSM pushes every step the wrong way


def test_lab_eval_attack_prints_one_point_and_rejects_bad_input(cartpole_run):
    root = cartpole_run.path.parent
    proc = lab_main("eval", cartpole_run.path.name, "--episodes", 3, "--attack", "fgsm", "--epsilon", 0.05, "--json", runs_dir=root)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["attack"] == "fgsm" and out["epsilon"] == 0.05 and out["episodes"] == 3
    bad = lab_cli("eval", cartpole_run.path.name, "--attack", "noise", runs_dir=root)
    assert bad.returncode == 2 and "--epsilon" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.slow
def test_fgsm_on_the_observations_of_a_torch_engine_policy(tmp_path):
    from lab.xai.policy_robustness import return_under_attack
    from lab.rl.train import load_delivered_policy

    run = lab.run(lab.load_experiment("cartpole-ppo-torch", {"agent.total_steps": 20000}), runs_dir=tmp_path)
    assert run.state == "completed", run.summary.error
    spec = lab.load_experiment(run.spec_path)
    agent, _ = load_delivered_policy(run, spec, "cpu")
    clean = return_under_attack(agent, spec, "fgsm", 0.0, 4, seed=7)
    attacked = return_under_attack(agent, spec, "fgsm", 0.5, 4, seed=7)
    assert attacked.mean() < clean.mean() / 2, (clean.mean(), attacked.mean())
