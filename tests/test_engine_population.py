"""Populations on lab's torch engine: N independent agents in one run and one process. Members
start as runs of their own seeds would, learn from their own data with their own optimizer
state and settings, and the run's results, events and checkpoints hold every member."""

import numpy as np
import pytest
import torch

import lab
from lab.engine.nets import ActorCritic, member_state
from lab.engine.optim import MemberAdam, MemberRMSprop
from lab.errors import BadInput
from lab.events import read_events


@pytest.mark.parametrize("ours, theirs, kw", [(MemberAdam, torch.optim.Adam, {"eps": 1e-5}),
                                              (MemberRMSprop, torch.optim.RMSprop, {"alpha": 0.99, "eps": 1e-5})])
def test_each_member_steps_as_torch_optimizer_with_its_own_step_size_and_clipping(ours, theirs, kw):
    torch.manual_seed(0)
    shapes = [(2, 3, 5), (2, 1, 5), (2, 2)]  # two members' parameters, stacked
    stacked = torch.nn.ParameterList([torch.randn(s) for s in shapes])
    singles = [[x.detach()[m].clone().requires_grad_() for x in stacked] for m in range(2)]
    lrs, norms = [3e-3, 1e-4], [0.5, 100.0]
    opt = ours(stacked, 2, **kw)
    refs = [theirs(singles[m], lr=lrs[m], **kw) for m in range(2)]
    for _ in range(20):
        grads = [torch.randn(s) for s in shapes]
        for x, g in zip(stacked, grads):
            x.grad = g.clone()
        opt.step(torch.tensor(lrs), torch.tensor(norms))
        for m in range(2):
            for x, g in zip(singles[m], grads):
                x.grad = g[m].clone()
            torch.nn.utils.clip_grad_norm_(singles[m], norms[m])
            refs[m].step()
    for m in range(2):
        for x, single in zip(stacked, singles[m]):
            torch.testing.assert_close(x.detach()[m], single.detach(), atol=1e-6, rtol=1e-5)


def test_a_member_that_sits_out_a_step_is_left_as_it_was():
    """PPO's target_kl stops a member's update: its weights, moments and step count stay put,
    and its next step is the one it would have taken without the pause."""
    torch.manual_seed(1)
    stacked = torch.nn.ParameterList([torch.randn(2, 4, 3), torch.randn(2, 1, 3)])
    opt = MemberAdam(stacked, 2, eps=1e-5)
    alone = MemberAdam(torch.nn.ParameterList([p.detach()[:1].clone() for p in stacked]), 1, eps=1e-5)
    lr, norm = torch.tensor([1e-2, 1e-2]), torch.tensor([1.0, 1.0])
    grads = [[torch.randn(2, 4, 3), torch.randn(2, 1, 3)] for _ in range(3)]
    for step, active in zip(grads, ([True, True], [False, True], [True, True])):
        for p, g in zip(stacked, step):
            p.grad = g.clone()
        before = [p.detach()[0].clone() for p in stacked]
        opt.step(lr, norm, torch.tensor(active))
        if not active[0]:
            assert all(torch.equal(p.detach()[0], b) for p, b in zip(stacked, before))
            continue
        for p, g in zip(alone.params, step):
            p.grad = g[:1].clone()
        alone.step(lr[:1], norm[:1])
    for p, q in zip(stacked, alone.params):
        torch.testing.assert_close(p.detach()[:1], q.detach())
    assert opt.steps.flatten().tolist() == [2, 3]


def test_member_m_starts_as_a_run_with_seed_plus_m_would():
    torch.manual_seed(7)
    population = ActorCritic(4, 2, False, [16, 16], "tanh", members=3, seed=7)
    for m in range(3):
        torch.manual_seed(7 + m)
        single = ActorCritic(4, 2, False, [16, 16], "tanh", members=1, seed=7 + m)
        for k, v in single.state_dict().items():
            torch.testing.assert_close(member_state(population.state_dict(), m)[k], v)


def test_members_do_not_see_each_others_inputs_or_gradients():
    net = ActorCritic(3, 1, True, [8], "tanh", members=2, seed=0)
    obs = torch.randn(2, 5, 3)
    other = obs.clone()
    other[0] += 10.0  # change member 0's observations only
    (d1, v1), (d2, v2) = net(obs), net(other)
    torch.testing.assert_close(d1.mean[1], d2.mean[1])
    torch.testing.assert_close(v1[1], v2[1])
    assert not torch.allclose(v1[0], v2[0])
    (v2[0].sum() + d2.log_prob(torch.zeros(2, 5, 1))[0].sum()).backward()  # member 0's loss: nothing reaches member 1
    for p in net.parameters():
        assert torch.count_nonzero(p.grad.view(2, -1)[1]) == 0


def test_a_population_run_holds_every_member_in_results_events_and_checkpoints(tmp_path):
    spec = lab.load_experiment("cartpole-ppo-torch", {"population": 3, "agent.total_steps": 6144, "eval.every": 2048,
                                                      "members.agent.learning_rate": [1e-3, 1e-3, 1e-9]})
    run = lab.run(spec, runs_dir=tmp_path)
    r = run.summary.results
    assert run.summary.state == "completed" and r.population == 3
    assert [m["seed"] for m in r.members] == [0, 1, 2]
    assert [m["agent.learning_rate"] for m in r.members] == [1e-3, 1e-3, 1e-9]
    finals = [m["final_eval_return_mean"] for m in r.members]
    assert r.final_eval_return_mean == pytest.approx(np.mean(finals), abs=1e-3)
    assert r.final_eval_return_std == pytest.approx(np.std(finals), abs=1e-3)
    assert r.final_eval_return_min == min(finals) and r.best_member == int(np.argmax(finals))
    evals = [e for e in read_events(run.events_path) if e["kind"] == "eval"]
    assert len(evals) == 4 and all(len(e["members"]) == 3 for e in evals)
    assert all(e["min"] <= e["mean"] <= e["max"] for e in evals)
    for m in range(3):  # each member's best is the best of its own evaluations
        assert r.members[m]["best_eval_return_mean"] == max(e["members"][m] for e in evals if not e.get("final"))

    # the delivered checkpoint is every member at its best; evaluated again it gives the same finals
    from lab.rl.train import FINAL_SEED_OFFSET, load_delivered_policy

    agent, path = load_delivered_policy(run, lab.load_experiment(run.spec_path), "cpu")
    returns, _ = agent.evaluate(spec.eval.final_episodes, spec.seed + FINAL_SEED_OFFSET)
    np.testing.assert_allclose(returns.mean(1), finals, atol=1e-3)
    best = r.best_member  # it acts, and is explained, as its best member
    obs = torch.randn(32, 4)
    torch.testing.assert_close(agent.scores_module()(obs), agent.net.scores(obs)[best])

    # a member with a step size of 1e-9 barely moves from where it started; the others learn
    torch.manual_seed(0)
    start = ActorCritic(4, 2, False, [64, 64], "tanh", members=3, seed=0).state_dict()
    last = torch.load(run.checkpoint("last.pt"), weights_only=True)
    moved = [max(float((member_state(last, m)[k] - member_state(start, m)[k]).abs().max()) for k in start)
             for m in range(3)]
    assert moved[2] < 1e-5 < 1e-2 < min(moved[:2])


@pytest.mark.parametrize("overrides, message", [
    ({"population": 4, "engine": "gymnasium", "precision": "float32"},
     'population (set by override): populations train on lab\'s torch engine; set engine = "torch"'),
    ({"engine": "gymnasium", "precision": "bf16"},
     "precision (set by override): bf16 is the torch engine's (SB3 trains in float32)"),
    ({"precision": "fp16"}, "precision (set by override): must be 'float32', 'bf16' or 'auto' (got 'fp16')"),
    ({"population": 0}, "population (set by override): must be greater than or equal to 1"),
    ({"population": 2, "members.agent.learning_rate": [1e-3]},
     "members.agent.learning_rate (set by override): 1 value for population = 2; give one per member"),
    ({"population": 2, "members.agent.n_steps": [16, 32]},
     "members.agent.n_steps (set by override): cannot differ per member (it shapes the batched networks or rollouts)"),
    ({"population": 2, "members.agent.learning_rat": [1e-3, 1e-4]},
     "members.agent.learning_rat (set by override): unknown setting; did you mean 'learning_rate'?"),
    ({"population": 2, "members.agent.ent_coef": [0.0, -0.1]},
     "members.agent.ent_coef[1] (set by override): must be greater than or equal to 0"),
    ({"population": 2, "members.env.n_envs": [1, 2]},
     "members.env (set by override): only agent settings can differ per member ([members.agent])"),
    ({"population": 2, "members.agent.gamma": 0.9}, "members.agent.gamma (set by override): must be a valid list"),
])
def test_a_population_the_engine_cannot_run_is_one_line(overrides, message):
    with pytest.raises(BadInput) as e:
        lab.load_experiment("cartpole-ppo-torch", overrides)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_an_algorithm_whose_engine_agent_trains_alone_says_which_have_populations():
    with pytest.raises(BadInput) as e:
        lab.load_experiment("cartpole-dqn-torch", {"population": 8})
    assert "population (set by override): 'dqn' on the torch engine trains one agent per run (populations: ppo, a2c); " \
           "set population = 1" in str(e.value)


def test_bf16_on_an_engine_agent_that_trains_alone_says_which_have_it():
    with pytest.raises(BadInput) as e:
        lab.load_experiment("cartpole-dqn-torch", {"precision": "bf16"})
    assert "precision (set by override): 'dqn' on the torch engine trains in float32 (bf16: ppo, a2c); " \
           "remove precision" in str(e.value)


def test_auto_precision_is_bf16_from_four_members_and_float32_below():
    from lab.spec import BF16_FROM_MEMBERS, load_experiment

    assert load_experiment("cartpole-ppo-torch").precision == "auto"
    for n, bf16 in ((1, False), (BF16_FROM_MEMBERS - 1, False), (BF16_FROM_MEMBERS, True), (64, True)):
        assert load_experiment("cartpole-ppo-torch", {"population": n}).bf16 is bf16
    assert not load_experiment("cartpole-ppo", {"precision": "auto"}).bf16  # SB3: float32 always
