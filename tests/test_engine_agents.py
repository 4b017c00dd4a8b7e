"""The agents of lab's torch engine, end to end through `lab.run`: PPO and A2C learn CartPole,
episodes are counted right, checkpoints are plain state dicts, and a spec the engine cannot run
is one clear line."""

from pathlib import Path

import numpy as np
import pytest
import torch

import lab
from lab.errors import BadInput
from lab.events import read_events


@pytest.mark.slow
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


@pytest.mark.slow
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
    ({"compile": "sometimes"}, "compile (set by override): must be 'off', 'auto' or 'on' (got 'sometimes')"),
    ({"agent_class": "lab.engine.a2c:TorchA2CAgent"}, "agent_class (set by override): 'lab.engine.a2c:TorchA2CAgent' "
     "is not a subclass of lab.engine.ppo.TorchPPOAgent (agent.algo = 'ppo')"),
    ({"agent_class": "no_such_module_here:PPO"}, "agent_class (set by override): cannot import module 'no_such_module_here'"),
    ({"engine": "gymnasium", "compile": "on"}, "compile (set by override): 'on' compiles the torch engine's gradient step"),
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
    from lab.engine.nets import Categorical

    torch.manual_seed(0)
    logits = torch.randn(2, 3, 4)
    ours, theirs = Categorical(logits), torch.distributions.Categorical(logits=logits)
    actions = theirs.sample()
    torch.testing.assert_close(ours.log_prob(actions), theirs.log_prob(actions))
    torch.testing.assert_close(ours.entropy(), theirs.entropy())
    draws = torch.stack([ours.sample() for _ in range(20_000)])  # Gumbel-max: frequencies are the probabilities
    freq = torch.nn.functional.one_hot(draws, 4).float().mean(0)
    assert (freq - theirs.probs).abs().max() < 0.015


def test_the_gaussian_is_torchs_normal_draw_for_draw():
    from lab.engine.nets import Gaussian

    mean, log_std = torch.randn(2, 5, 3), torch.randn(2, 3) * 0.5
    ours, theirs = Gaussian(mean, log_std), torch.distributions.Normal(mean, log_std.exp()[:, None, :])
    torch.manual_seed(0)
    x = ours.sample()
    torch.manual_seed(0)
    torch.testing.assert_close(x, theirs.sample(), rtol=0, atol=0)
    torch.testing.assert_close(ours.log_prob(x), theirs.log_prob(x).sum(-1))
    torch.testing.assert_close(ours.entropy(), theirs.entropy().sum(-1))


def _minibatch(agent, batch: int = 64, seed: int = 3):
    """A minibatch of the agent's own members: observations, actions its policy drew, old
    log-probabilities a little off (ratios of about 0.5-2), old values, advantages and returns."""
    from lab.engine.onpolicy import Rollout

    net, g, m = agent.net, torch.Generator().manual_seed(seed), agent.members
    obs = torch.randn(m, batch, net.args[0], generator=g)
    with torch.no_grad():
        dist, values = net(obs)
        actions = dist.sample()
        old = dist.log_prob(actions) + 0.4 * torch.randn(m, batch, generator=g)
    return Rollout(obs, actions, old, values + torch.randn(m, batch, generator=g), torch.randn(m, batch, generator=g),
                   torch.randn(m, batch, generator=g) * 3)


def _critic_grads(agent, batch, h):
    agent.net.zero_grad(set_to_none=True)
    loss, stats = agent.loss(batch, h)
    loss.sum().backward()
    return [p.grad.clone() for p in agent.net.critic.parameters()], stats


def test_clip_range_vf_clips_the_value_loss_as_sb3_does():
    """SB3's value clipping: the loss is taken at old value + clamp(new - old, +-clip_range_vf), so a
    sample whose value moved further than that gives the critic no gradient."""
    from lab.engine.ppo import TorchPPOAgent

    plain = TorchPPOAgent(lab.load_experiment("cartpole-ppo-torch"), "cpu")
    clipped = TorchPPOAgent(lab.load_experiment("cartpole-ppo-torch", {"agent.clip_range_vf": 0.2}), "cpu")
    clipped.net.load_state_dict(plain.net.state_dict())
    batch = _minibatch(plain)
    h = clipped.hyperparameters(1.0)
    assert torch.allclose(h["clip_range_vf"], torch.tensor([[0.2]]))
    with torch.no_grad():
        value = plain.net.value(batch.obs)
    moved = (value - batch.values).abs() > 0.2
    assert 0 < moved.float().mean() < 1  # some samples outside the clip range, some inside
    expected = (batch.returns - (batch.values + (value - batch.values).clamp(-0.2, 0.2))).pow(2).mean()
    grads, stats = _critic_grads(clipped, batch, h)
    torch.testing.assert_close(stats["value_loss"][0, 0], expected)
    _, plain_stats = _critic_grads(plain, batch, plain.hyperparameters(1.0))
    assert not torch.allclose(plain_stats["value_loss"], stats["value_loss"])
    # only the samples inside the clip range reach the critic
    inside = batch.minibatch((~moved[0]).nonzero()[:, 0])
    weight = (~moved).float().mean()  # the loss is a mean over the whole minibatch
    grads_inside, _ = _critic_grads(plain, inside, plain.hyperparameters(1.0))
    for g, g_inside in zip(grads, grads_inside):
        torch.testing.assert_close(g, g_inside * weight, rtol=1e-4, atol=1e-6)


def test_target_kl_stops_an_updates_epochs_early_as_sb3_does(tmp_path):
    """With target_kl, a member takes no more gradient steps in an update once a minibatch's
    approximate KL passes 1.5 x target_kl; without it, every epoch runs."""
    def epochs(overrides):
        spec = lab.load_experiment("cartpole-ppo-torch", {"agent.total_steps": 4096, "eval.every": 4096, **overrides})
        run = lab.run(spec, runs_dir=tmp_path)
        assert run.summary.state == "completed"
        return [e["values"] for e in read_events(run.events_path) if e["kind"] == "metric"]

    full, stopped = epochs({}), epochs({"agent.target_kl": 1e-4})
    assert all(m["epochs"] == 4 for m in full)  # n_epochs
    assert all(m["epochs"] < 4 for m in stopped[1:])  # the first update starts where the policy was drawn
    assert np.mean([m["approx_kl"] for m in stopped]) < np.mean([m["approx_kl"] for m in full])


def test_a_researchers_loss_is_one_override_and_autograd_derives_its_gradient(tmp_path, monkeypatch):
    """docs/custom-loss.md's example: agent_class names a subclass whose `loss` adds a KL penalty;
    its gradient is autograd's of the new loss, and the run trains with it and reports the term."""
    monkeypatch.chdir(Path(__file__).resolve().parent.parent / "docs")  # kl_ppo.py beside kl-ppo.toml
    spec = lab.load_experiment("kl-ppo.toml", {"agent.total_steps": 2048, "eval.every": 2048})
    agent = spec.implementation()(spec, "cpu")
    assert type(agent).__name__ == "KLPenaltyPPO"
    batch = _minibatch(agent)
    h = agent.hyperparameters(1.0)
    loss, stats = agent.loss(batch, h)
    base, _ = super(type(agent), agent).loss(batch, h)
    torch.testing.assert_close(loss - base, type(agent).beta * stats["kl_penalty"])
    assert float(stats["kl_penalty"].min()) > 0  # the batch's old log-probabilities are off: the penalty bites
    loss.sum().backward()  # autograd: the penalty's gradient is there, nobody wrote it
    with_penalty = [p.grad.clone() for p in agent.net.actor.parameters()]
    agent.net.zero_grad(set_to_none=True)
    base.sum().backward()
    assert any(not torch.allclose(a, b) for a, b in zip(with_penalty, (p.grad for p in agent.net.actor.parameters())))
    run = lab.run(spec, runs_dir=tmp_path)
    assert run.summary.state == "completed"
    steps, kl = run.series("metric", "kl_penalty")
    assert steps and all(v >= 0 for v in kl)
    assert "agent_class kl_ppo:KLPenaltyPPO" in " ".join(run.last_log_lines(50))


def test_a_checkpoint_from_before_the_autograd_rewrite_loads_into_the_same_networks():
    """Runs trained by lab before 2026-12-06 stored one stack of 2M networks, actor and critic
    interleaved (the critic's output layer as wide as the actor's), and per-parameter optimizer
    buffers: they load into today's layout with the same outputs, so older runs stay usable."""
    from lab.engine.legacy import upgrade_net_state, upgrade_optimizer_state
    from lab.engine.ppo import TorchPPOAgent

    members = 2
    agent = TorchPPOAgent(lab.load_experiment("pendulum-ppo-torch", {"population": members}), "cpu")
    net, state = agent.net, agent.net.state_dict()
    with torch.no_grad():
        net.log_std.normal_()

    def interleaved(actor, critic, last):  # the old stack: a0, c0, a1, c1; the critic padded to the actor's width
        if last:
            critic = torch.cat([critic, torch.randn(*critic.shape[:-1], actor.shape[-1] - 1)], -1)
        return torch.stack([actor, critic], 1).flatten(0, 1)

    old = {"log_std": net.log_std.detach().clone()}
    for kind in ("weights", "biases"):
        for i in range(3):
            old[f"nets.{kind}.{i}"] = interleaved(state[f"actor.{kind}.{i}"], state[f"critic.{kind}.{i}"], i == 2)
    obs = torch.randn(members, 7, 3)
    expected = net(obs)
    fresh = TorchPPOAgent(agent.spec, "cpu").net
    fresh.load_state_dict(upgrade_net_state(old))
    got = fresh(obs)
    torch.testing.assert_close(got[0].mean, expected[0].mean)
    torch.testing.assert_close(got[1], expected[1])
    old_names = [f"nets.{kind}.{i}" for kind in ("weights", "biases") for i in range(3)] + ["log_std"]
    optimizer = {"steps": 7, "exp_avg": [old[n] * 2 for n in old_names], "exp_avg_sq": [old[n] ** 2 for n in old_names]}
    upgraded = upgrade_optimizer_state(optimizer, fresh, members)
    adam = agent.make_optimizer()
    adam.load_state_dict(upgraded)
    torch.testing.assert_close(adam.exp_avg, adam.flat * 2)
    assert adam.steps.flatten().tolist() == [7.0, 7.0]
