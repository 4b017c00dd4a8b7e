"""DQN and REINFORCE on lab's torch engine, end to end through `lab.run`: DQN learns CartPole,
its replay buffer keeps SB3's timeout handling, checkpoints are plain state dicts, and REINFORCE
learns from exactly the episodes that finished since its last update."""

import numpy as np
import pytest
import torch

import lab
from lab.engine import make_vec
from lab.engine.dqn import ReplayBuffer
from lab.events import read_events
from lab.rl.train import load_delivered_policy


@pytest.mark.slow
def test_dqn_on_the_torch_engine_learns_cartpole(tmp_path):
    # ten times a random policy's return, and it stops there: seed 0 reaches 200 at 5k steps of the
    # experiment's 40k (and 475 at 37.5k, 18 s here: the solve itself is benchmarks/builtins.py's, see
    # benchmarks/results-builtins.md)
    spec = lab.load_experiment("cartpole-dqn-torch", {"eval.target_return": 200})
    run = lab.run(spec, runs_dir=tmp_path)
    s = run.summary
    assert s.state == "completed" and s.results.best_eval_return_mean >= 200 and s.results.total_steps < 20_000
    events = list(read_events(run.events_path))
    # CartPole pays 1 per step: every episode's return is its length, counted on the device with masks
    episodes = [e for e in events if e["kind"] == "episode"]
    assert episodes and all(e["return"] == e["length"] and 1 <= e["length"] <= 500 for e in episodes)
    steps = [e["step"] for e in episodes]
    assert steps == sorted(steps) and steps[-1] <= s.results.total_steps
    metrics = {k for e in events if e["kind"] == "metric" for k in e["values"]}
    assert {"loss", "epsilon", "learning_rate"} <= metrics
    weights = torch.load(run.path / s.results.policy, weights_only=True)  # a plain state dict, no pickled code
    assert isinstance(weights, dict) and all(isinstance(v, torch.Tensor) for v in weights.values())
    agent, _ = load_delivered_policy(run, lab.load_experiment(run.spec_path), "cpu")
    assert agent.act(np.zeros((3, 4), dtype=np.float32), deterministic=True).shape == (3,)
    assert agent.scores_module()(torch.zeros(3, 4)).shape == (3, 2)  # one Q-value per action


def test_a_transition_cut_by_the_time_limit_is_stored_with_its_last_observation_and_not_terminal():
    env = make_vec("CartPole-v1", 3, seed=0)
    obs, _ = env.reset(seed=0)
    env.state = torch.tensor([[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.3, 0.0]])
    env.elapsed = torch.tensor([499, 10, 10])  # env 0 reaches the time limit upright, env 2 falls
    obs = env.state
    buffer = ReplayBuffer(8, 3, 4, torch.device("cpu"), torch.Generator())
    actions = torch.tensor([1, 1, 1])
    next_obs, reward, terminated, truncated, info = env.step(actions)
    assert truncated.tolist() == [True, False, False] and terminated.tolist() == [False, False, True]
    buffer.add(obs, next_obs, actions, reward, terminated, truncated, info)
    assert buffer.terminated[0].tolist() == [0.0, 0.0, 1.0]  # only the fall ends the bootstrap
    assert torch.equal(buffer.next_obs[0, 0], info["final_obs"][0])  # not the next episode's first obs
    assert not torch.equal(buffer.next_obs[0, 0], next_obs[0])
    assert torch.equal(buffer.next_obs[0, 1], next_obs[1]) and torch.equal(buffer.next_obs[0, 2], info["final_obs"][2])
    assert torch.equal(buffer.obs[0], obs) and buffer.actions[0].tolist() == [1, 1, 1]


@pytest.mark.slow
def test_reinforce_on_the_torch_engine_learns_from_each_batch_of_finished_episodes(tmp_path):
    spec = lab.load_experiment("cartpole-reinforce", {"engine": "torch", "agent.total_steps": 30_000, "eval.every": 10_000})
    run = lab.run(spec, runs_dir=tmp_path)
    s = run.summary
    # random play lasts about 20 steps; seeds 0-4 reach evaluations of 240-500 and rolling returns of 110-150
    assert s.state == "completed" and s.results.best_eval_return_mean >= 200 and s.results.rolling_return >= 80
    events = list(read_events(run.events_path))
    episodes = [e for e in events if e["kind"] == "episode"]
    assert all(e["return"] == e["length"] for e in episodes)
    updates = [e for e in events if e["kind"] == "metric"]
    assert {"policy_loss", "value_loss", "entropy", "learning_rate", "batch_steps"} <= set(updates[0]["values"])
    in_order = [e["step"] for e in events if e["kind"] in ("episode", "metric")]
    assert in_order == sorted(in_order)  # an update comes after the episodes it learned from, before later ones
    # each update learns from the episodes finished since the last one, at the step where they
    # reached episodes_per_update (more only where several finished at that same step)
    done = 0
    for u in updates:
        batch = [e for e in episodes[done:] if e["step"] <= u["step"]]
        assert sum(e["length"] for e in batch) == u["values"]["batch_steps"]
        assert len([e for e in batch if e["step"] < u["step"]]) < 8 <= len(batch)
        done += len(batch)
    agent, _ = load_delivered_policy(run, lab.load_experiment(run.spec_path), "cpu")
    assert agent.act(np.zeros((3, 4), dtype=np.float32)).shape == (3,)
