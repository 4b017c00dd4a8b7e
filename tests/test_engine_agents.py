"""The agents of lab's torch engine, end to end through `lab.run`: PPO and A2C learn CartPole,
episodes are counted right, checkpoints are plain state dicts, and a spec the engine cannot run
is one clear line."""

import numpy as np
import pytest
import torch

import lab
from lab.errors import BadInput
from lab.events import read_events


def test_cartpole_ppo_torch_solves_cartpole(tmp_path):
    spec = lab.load_experiment("cartpole-ppo-torch", {"agent.total_steps": 81_920, "eval.target_return": 475})
    run = lab.run(spec, runs_dir=tmp_path)
    s = run.summary
    assert s.state == "completed" and s.device == "cpu"
    assert s.results.best_eval_return_mean >= 475 and s.results.total_steps < 81_920  # stopped at the target
    assert s.results.final_eval_return_mean >= 450  # 20 fresh episodes of the delivered policy
    events = list(read_events(run.events_path))
    episodes = [e for e in events if e["kind"] in ("episode", "episodes")]
    assert episodes and "torch engine" in " ".join(e.get("message", "") for e in events if e["kind"] == "log")
    # CartPole pays 1 per step: every episode's return is its length, counted on the device with masks
    singles = [e for e in events if e["kind"] == "episode"]
    assert all(e["return"] == e["length"] for e in singles) and all(1 <= e["length"] <= 500 for e in singles)
    steps = [e["step"] for e in singles]
    assert steps == sorted(steps) and steps[-1] <= s.results.total_steps
    metrics = {k for e in events if e["kind"] == "metric" for k in e["values"]}
    assert {"policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction", "learning_rate"} <= metrics
    weights = torch.load(run.path / s.results.policy, weights_only=True)  # a plain state dict, no pickled code
    assert isinstance(weights, dict) and all(isinstance(v, torch.Tensor) for v in weights.values())


def test_a2c_on_the_torch_engine_solves_cartpole(tmp_path):
    spec = lab.load_experiment("cartpole-a2c", {"engine": "torch", "agent.total_steps": 150_000,
                                                "eval.every": 10_000, "eval.target_return": 475})
    run = lab.run(spec, runs_dir=tmp_path)
    s = run.summary
    assert s.state == "completed" and s.results.best_eval_return_mean >= 475
    assert s.results.total_steps < 150_000  # it stopped at the target
    metrics = {k for e in read_events(run.events_path) if e["kind"] == "metric" for k in e["values"]}
    assert {"policy_loss", "value_loss", "entropy", "explained_variance", "learning_rate"} <= metrics


def test_a_continuous_action_run_on_the_torch_engine(tmp_path):
    spec = lab.load_experiment("cartpole-ppo-torch", {"env.id": "Pendulum-v1", "env.n_envs": 8, "agent.total_steps": 8192,
                                                      "eval.every": 4096, "eval.episodes": 2, "agent.gamma": 0.9})
    run = lab.run(spec, runs_dir=tmp_path)
    assert run.summary.state == "completed"
    rets = [e["return"] for e in read_events(run.events_path) if e["kind"] == "episode"]
    assert rets and all(-16.3 * 200 <= r <= 0 for r in rets)  # Pendulum's cost per step is at most about 16.27
    from lab.rl.train import load_delivered_policy

    agent, _ = load_delivered_policy(run, lab.load_experiment(run.spec_path), "cpu")
    actions = agent.act(np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32), deterministic=False)
    assert actions.shape == (64, 1) and np.all(np.abs(actions) <= 2.0)


@pytest.mark.parametrize("overrides, message", [
    ({"env.id": "LunarLander-v3"}, "env.id (set by override): the torch engine has no 'LunarLander-v3'"),
    ({"env.kwargs": {"render_mode": "rgb_array"}}, "env.kwargs (set by override): the torch engine's environments take no arguments"),
    ({"engine": "jax"}, "engine (set by override): must be 'gymnasium' or 'torch'"),
])
def test_what_the_torch_engine_cannot_run_is_one_line(overrides, message):
    with pytest.raises(BadInput) as e:
        lab.load_experiment("cartpole-ppo-torch", overrides)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_an_algorithm_without_a_torch_engine_implementation_says_which_have_one():
    with pytest.raises(BadInput) as e:
        lab.load_experiment({"name": "x", "kind": "rl", "engine": "torch", "env": {"id": "CartPole-v1"},
                             "agent": {"algo": "qlearning", "total_steps": 1000}})
    assert "engine: 'qlearning' has no torch-engine implementation (it has: ppo, a2c, dqn, reinforce)" in str(e.value)
    assert "\n" not in str(e.value)


def test_the_engines_categorical_samples_and_scores_as_torchs():
    from lab.engine.onpolicy import Categorical

    torch.manual_seed(0)
    logits = torch.randn(2, 3, 4)
    ours, theirs = Categorical(logits), torch.distributions.Categorical(logits=logits)
    actions = theirs.sample()
    torch.testing.assert_close(ours.log_prob(actions), theirs.log_prob(actions))
    torch.testing.assert_close(ours.entropy(), theirs.entropy())
    draws = torch.stack([ours.sample() for _ in range(20_000)])  # Gumbel-max: frequencies are the probabilities
    freq = torch.nn.functional.one_hot(draws, 4).float().mean(0)
    assert (freq - theirs.probs).abs().max() < 0.015


@pytest.mark.parametrize("continuous, activation, members, arch",
                         [(False, "tanh", 1, [64, 64]), (False, "relu", 3, [32, 16]), (True, "tanh", 2, [64, 64]),
                          (True, "relu", 1, [8]), (False, "tanh", 2, [5])])
def test_the_update_pass_gives_autograds_outputs_and_gradients(continuous, activation, members, arch):
    """ActorCritic.learning_pass (the distributions' and networks' backward written out) against
    autograd through forward, on a loss that reaches every output: values, log-probabilities and
    entropies."""
    from lab.engine.onpolicy import ActorCritic

    torch.manual_seed(members)
    net = ActorCritic(6, 3, continuous, arch, activation, members=members, seed=members)
    if continuous:
        with torch.no_grad():
            net.log_std.normal_(0, 0.3)
    obs = torch.randn(members, 40, 6) * 2
    actions = torch.randn(members, 40, 3) if continuous else torch.randint(0, 3, (members, 40))
    weights = torch.randn(members, 40)

    def loss_of(dist, value):
        return ((weights * dist.log_prob(actions)).mean(1) + (value - weights).pow(2).mean(1)
                - 0.1 * dist.entropy().mean(1) + 0.01 * value.pow(3).mean(1)).sum()

    dist, value = net(obs)
    loss_of(dist, value).backward()
    expected = {name: p.grad.clone() for name, p in net.named_parameters()}
    outputs = (dist.log_prob(actions).detach(), value.detach())
    net.zero_grad(set_to_none=True)
    dist, value, backward = net.learning_pass(obs)
    torch.testing.assert_close((dist.log_prob(actions).detach(), value.detach()), outputs, rtol=1e-5, atol=1e-5)
    batch = obs.shape[1]  # the loss's derivatives per sample, by hand
    backward(actions, weights / batch, (2 * (value - weights) + 0.03 * value.pow(2)) / batch,
             torch.full((members, 1), -0.1 / batch))
    for name, p in net.named_parameters():
        torch.testing.assert_close(p.grad, expected[name], rtol=1e-4, atol=1e-6, msg=name)
    for m in range(members):  # each member's gradient is its own (nothing is mixed across the stack)
        for name, p in net.named_parameters():
            assert torch.count_nonzero(p.grad.view(members, -1)[m]) > 0, name


@pytest.mark.parametrize("experiment", ["cartpole-ppo-torch", "pendulum-ppo-torch"])
def test_ppos_written_out_gradient_is_autograds_of_its_loss(experiment):
    """TorchPPOAgent.losses' gradient (no autograd) against autograd through the clipped loss, with
    ratios inside the clip range (where the two terms tie), above and below it."""
    from lab.engine.ppo import TorchPPOAgent

    members, batch = 2, 64
    agent = TorchPPOAgent(lab.load_experiment(experiment, {"population": members}), "cpu")
    net, g = agent.net, torch.Generator().manual_seed(3)
    with torch.no_grad():
        if net.continuous:
            net.log_std.normal_(0, 0.3, generator=g)
    obs = torch.randn(members, batch, net.args[0], generator=g)
    with torch.no_grad():
        dist, _ = net(obs)
        actions = dist.sample()
        old = dist.log_prob(actions) + 0.4 * torch.randn(members, batch, generator=g)  # ratios of about 0.5-2
    advantages, returns = torch.randn(members, batch, generator=g), torch.randn(members, batch, generator=g)
    clip, ent_coef, vf_coef = torch.tensor([[0.2], [0.1]]), torch.tensor([[0.01], [0.05]]), torch.tensor([[0.5], [0.7]])

    dist, value = net(obs)
    ratio = (dist.log_prob(actions) - old).exp()
    a = (advantages - advantages.mean(1, keepdim=True)) / (advantages.std(1, keepdim=True) + 1e-8)
    policy_loss = -torch.min(a * ratio, a * ratio.clamp(1 - clip, 1 + clip)).mean(1, keepdim=True)
    loss = policy_loss - ent_coef * dist.entropy().mean(1, keepdim=True) + vf_coef * (returns - value).pow(2).mean(1, keepdim=True)
    loss.sum().backward()
    assert 0 < ((ratio - 1).abs() > 0.2).float().mean() < 0.9  # some samples clipped, some not
    expected = {name: p.grad.clone() for name, p in net.named_parameters()}
    net.zero_grad(set_to_none=True)
    theirs, _, backward = agent.losses(obs, actions, old, advantages, returns, clip, ent_coef, vf_coef)
    backward()
    torch.testing.assert_close(theirs, loss.detach(), rtol=1e-5, atol=1e-6)
    for name, p in net.named_parameters():
        torch.testing.assert_close(p.grad, expected[name], rtol=1e-4, atol=1e-6, msg=name)


def test_the_gaussian_is_torchs_normal_draw_for_draw():
    from lab.engine.onpolicy import Gaussian

    mean, log_std = torch.randn(2, 5, 3), torch.randn(2, 3) * 0.5
    ours, theirs = Gaussian(mean, log_std), torch.distributions.Normal(mean, log_std.exp()[:, None, :])
    torch.manual_seed(0)
    x = ours.sample()
    torch.manual_seed(0)
    torch.testing.assert_close(x, theirs.sample(), rtol=0, atol=0)
    torch.testing.assert_close(ours.log_prob(x), theirs.log_prob(x).sum(-1))
    torch.testing.assert_close(ours.entropy(), theirs.entropy().sum(-1))
