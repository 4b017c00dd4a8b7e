"""Every algorithm trains end to end with the real SB3/Gymnasium and leaves a complete run folder."""

import json

import numpy as np
import pytest
import torch

import lab
from lab.events import read_events

from .conftest import CARTPOLE_PPO, copy_run

SHORT = {
    "ppo": ("cartpole-ppo", CARTPOLE_PPO),  # the session's cartpole_ppo_folder
    "a2c": ("cartpole-a2c", {"agent.total_steps": 3000, "eval.every": 1500, "eval.episodes": 3}),
    "dqn": ("cartpole-dqn", {"agent.total_steps": 3000, "agent.learning_starts": 500, "eval.every": 1500, "eval.episodes": 3}),
    "reinforce": ("cartpole-reinforce", {"agent.total_steps": 3000, "eval.every": 1500, "eval.episodes": 3}),
    "qlearning": ("taxi-qlearning", {"agent.total_steps": 20000, "eval.every": 10000, "eval.episodes": 10}),
}

RESULT_KEYS = {"final_eval_return_mean", "final_eval_return_std", "best_eval_return_mean", "total_steps", "steps_per_second"}


@pytest.fixture(scope="module")
def short_runs(tmp_path_factory, cartpole_ppo_folder):
    root = tmp_path_factory.mktemp("runs")
    return {algo: copy_run(cartpole_ppo_folder, root) if algo == "ppo" else lab.run(lab.load_experiment(name, overrides), runs_dir=root)
            for algo, (name, overrides) in SHORT.items()}


@pytest.mark.parametrize("algo", list(SHORT))
def test_each_algorithm_produces_a_complete_run_folder(short_runs, algo):
    result = short_runs[algo]
    path = result.path
    assert {p.name for p in path.iterdir()} >= {"spec.toml", "events.jsonl", "summary.json", "checkpoints", "artifacts"}

    summary = json.loads((path / "summary.json").read_text())
    assert summary["state"] == "completed", summary.get("error")
    for key in ("id", "experiment", "kind", "state", "started", "ended", "device", "results"):
        assert summary[key] is not None, key
    assert summary["ended"] > summary["started"] and summary["device"] == "cpu" and summary["device_reason"]
    results = summary["results"]
    assert RESULT_KEYS <= results.keys()
    assert results["final_eval_episodes"] >= 20
    assert results["total_steps"] >= SHORT[algo][1]["agent.total_steps"]
    assert results["steps_per_second"] > 0

    kinds = [e["kind"] for e in read_events(path / "events.jsonl")]
    assert kinds[0] == "status" and kinds[-1] == "status"
    assert {"progress", "metric", "eval", "checkpoint", "log"} <= set(kinds)
    assert {"episode", "episodes"} & set(kinds)  # one line per episode, or per interval when they come fast
    episodes = [e for e in read_events(path / "events.jsonl", {"episode"})]
    assert all({"step", "return", "length", "rolling_return"} <= e.keys() for e in episodes)
    aggregates = [e for e in read_events(path / "events.jsonl", {"episodes"})]
    assert all({"step", "count", "mean", "min", "max", "rolling_return"} <= e.keys() for e in aggregates)
    assert len(episodes) + sum(e["count"] for e in aggregates) == summary["results"]["episodes"]  # every episode counted
    evals = [e for e in read_events(path / "events.jsonl", {"eval"})]
    assert evals[-1].get("final") and evals[-1]["episodes"] >= 20
    assert (path / results["policy"]).is_file()
    assert (path / "checkpoints" / f"last{result.path and _suffix(algo)}").is_file()

    # the resolved spec repeats the run
    spec = lab.load_experiment(path / "spec.toml")
    assert spec.agent.total_steps == SHORT[algo][1]["agent.total_steps"]


def _suffix(algo):
    return {"reinforce": ".pt", "qlearning": ".npy"}.get(algo, ".zip")


@pytest.mark.parametrize("algo", ["ppo", "a2c", "dqn"])
def test_sb3_checkpoints_load_in_sb3_itself(short_runs, algo):
    import stable_baselines3

    cls = getattr(stable_baselines3, algo.upper())
    model = cls.load(short_runs[algo].path / "checkpoints" / "best.zip", device="cpu")
    action, _ = model.predict(np.zeros(4, dtype=np.float32), deterministic=True)
    assert int(action) in (0, 1)


def test_losses_are_streamed_per_algorithm(short_runs):
    expected = {"ppo": {"policy_loss", "value_loss", "entropy", "learning_rate", "clip_range"},
                "a2c": {"policy_loss", "value_loss", "entropy", "learning_rate"},
                "dqn": {"loss", "epsilon", "learning_rate"},
                "reinforce": {"policy_loss", "value_loss", "entropy", "learning_rate"},
                "qlearning": {"epsilon", "td_error", "learning_rate"}}
    for algo, names in expected.items():
        seen = set()
        for e in short_runs[algo].events():
            if e["kind"] == "metric":
                seen |= e["values"].keys()
        assert names <= seen, (algo, seen)


def test_reinforce_checkpoint_loads_with_weights_only(short_runs):
    state = torch.load(short_runs["reinforce"].path / "checkpoints" / "best.pt", weights_only=True)
    assert "policy" in state and "value" in state


def test_qlearning_saves_its_q_table_as_an_artifact(short_runs):
    q = np.load(short_runs["qlearning"].path / "artifacts" / "q_table.npy", allow_pickle=False)
    assert q.shape == (500, 6) and np.abs(q).sum() > 0


def test_series_come_back_from_the_api(short_runs):
    result = short_runs["ppo"]
    steps, returns = result.series("episode", "return")
    assert len(steps) == len(returns) > 10 and steps == sorted(steps)
    run = lab.open_run(result.path)
    assert run.series("episode", "return") == (steps, returns)


@pytest.mark.slow
def test_reinforce_learns_cartpole(tmp_path):
    """A random policy scores about 22 on CartPole; REINFORCE is far above it within 40k steps."""
    spec = lab.load_experiment("cartpole-reinforce", {"agent.total_steps": 40_000, "eval.every": 10_000})
    result = lab.run(spec, runs_dir=tmp_path)
    assert result.state == "completed"
    assert result.results.final_eval_return_mean > 150, result.results


def _returns(spec, runs_dir):
    """Every episode's return and every evaluation, as the run emitted them (the events file may
    hold fast stretches of episodes as per-interval aggregates, whose bounds depend on timing)."""
    events = []
    lab.run(spec, runs_dir=runs_dir, on_event=events.append)
    return [e["return"] for e in events if e["kind"] == "episode"], [e["mean"] for e in events if e["kind"] == "eval"]


@pytest.mark.parametrize("name,overrides", [SHORT["ppo"], SHORT["reinforce"], SHORT["dqn"]], ids=["ppo", "reinforce", "dqn"])
def test_same_seed_gives_same_returns(tmp_path, name, overrides):
    overrides = {**overrides, "agent.total_steps": 1500, "eval.every": 750}  # past DQN's learning_starts (500)
    a = _returns(lab.load_experiment(name, overrides), tmp_path)
    b = _returns(lab.load_experiment(name, overrides), tmp_path)
    c = _returns(lab.load_experiment(name, {**overrides, "seed": 1}), tmp_path)
    assert a == b
    assert a[0] != c[0]
