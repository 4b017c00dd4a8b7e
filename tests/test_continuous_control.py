"""SAC, TD3 and DDPG train through SB3 with the same hooks, events, evaluation and checkpoints as
the other algorithms, and their settings are validated like the others'."""

import json

import numpy as np
import pytest

import lab
from lab.errors import BadInput
from lab.events import read_events
from lab.rl.algos import ALGOS
from lab.spec import load_experiment

from .conftest import EXPERIMENTS, lab_cli, lab_main

# A few hundred steps on 100-step episodes: enough for updates, an evaluation and a metric dump
# (SB3's off-policy algorithms dump their losses every 4 episodes)
SHORT = {"env.max_episode_steps": 100, "agent.total_steps": 600, "agent.learning_starts": 100,
         "agent.batch_size": 64, "agent.net_arch": [64, 64], "eval.every": 300, "eval.episodes": 2}


def _cli_overrides(overrides: dict) -> list[str]:
    return [arg for k, v in overrides.items() for arg in ("--set", f"{k}={json.dumps(v)}")]


@pytest.fixture(scope="module")
def short_runs(tmp_path_factory):
    """SAC through the Python API, TD3 through `lab run` (RL Zoo's normal action noise kept)."""
    root = tmp_path_factory.mktemp("runs")
    sac = lab.run(load_experiment("pendulum-sac", SHORT), runs_dir=root)
    proc = lab_main("run", "pendulum-td3", *_cli_overrides(SHORT), "--json", runs_dir=root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    td3 = lab.open_run(json.loads(proc.stdout.splitlines()[-1])["id"], root)
    return root, {"sac": sac, "td3": td3}


@pytest.mark.parametrize("algo", ["sac", "td3"])
def test_sac_and_td3_leave_a_complete_run_folder_on_pendulum(short_runs, algo):
    run = short_runs[1][algo]
    summary = json.loads((run.path / "summary.json").read_text())
    assert summary["state"] == "completed", summary.get("error")
    assert summary["device"] == "cpu" and summary["device_reason"]
    results = summary["results"]
    assert results["total_steps"] == 600 and results["final_eval_episodes"] == 20
    assert results["final_eval_length_mean"] == 100  # Pendulum never terminates: every episode hits the limit
    assert -2000 < results["final_eval_return_mean"] <= 0
    assert results["policy"] == "checkpoints/best.zip" and (run.path / "checkpoints" / "last.zip").is_file()

    events = list(read_events(run.path / "events.jsonl"))
    kinds = {e["kind"] for e in events}
    assert {"status", "progress", "episode", "metric", "eval", "checkpoint", "log"} <= kinds
    assert sum(e["kind"] == "episode" for e in events) == results["episodes"] == 6
    evals = [e for e in events if e["kind"] == "eval"]
    assert [e["step"] for e in evals[:2]] == [300, 600] and evals[-1].get("final")
    assert {e["label"] for e in events if e["kind"] == "checkpoint"} == {"best", "last"}
    seen = set().union(*(e["values"] for e in events if e["kind"] == "metric"))
    assert {"actor_loss", "critic_loss", "learning_rate"} <= seen <= set(ALGOS[algo].metrics), seen
    if algo == "sac":
        assert {"ent_coef", "ent_coef_loss"} <= seen


@pytest.mark.parametrize("algo", ["sac", "td3"])
def test_sac_and_td3_checkpoints_load_in_sb3_itself(short_runs, algo):
    import stable_baselines3

    model = getattr(stable_baselines3, algo.upper()).load(short_runs[1][algo].path / "checkpoints" / "best.zip", device="cpu")
    action, _ = model.predict(np.array([1.0, 0.0, 0.0], dtype=np.float32), deterministic=True)
    assert action.shape == (1,) and -2.0 <= float(action[0]) <= 2.0


def test_lab_eval_repeats_the_recorded_final_evaluation(short_runs):
    root, runs = short_runs
    run = runs["td3"]
    proc = lab_main("eval", run.path.name, "--episodes", 20, "--seed", run.summary.seed + 20_000, "--json", runs_dir=root)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["policy"] == "checkpoints/best.zip"
    assert out["return_mean"] == pytest.approx(run.results.final_eval_return_mean, abs=1e-3)


def test_ddpg_stops_at_its_target_return_like_the_others(tmp_path):
    spec = load_experiment({"name": "pendulum-ddpg", "env": {"id": "Pendulum-v1", "max_episode_steps": 100},
                            "agent": {"algo": "ddpg", "total_steps": 5000, "learning_starts": 100, "batch_size": 64,
                                      "net_arch": [64, 64], "noise_type": "ornstein-uhlenbeck", "noise_std": 0.5},
                            "eval": {"every": 200, "episodes": 2, "target_return": -1e9}})
    result = lab.run(spec, runs_dir=tmp_path)
    assert result.state == "completed"
    assert result.results.total_steps == 200 and result.results.final_eval_episodes == 20
    assert any("target return" in e.get("message", "") for e in result.events() if e["kind"] == "log")


def test_action_noise_and_policy_settings_reach_sb3():
    from stable_baselines3.common.noise import NormalActionNoise, OrnsteinUhlenbeckActionNoise

    from lab.rl.sb3_agent import SB3Agent

    td3 = SB3Agent(load_experiment("pendulum-td3", {"agent.noise_type": "ornstein-uhlenbeck", "agent.noise_std": 0.3}), "cpu").model
    assert isinstance(td3.action_noise, OrnsteinUhlenbeckActionNoise) and np.allclose(td3.action_noise._sigma, [0.3])
    assert td3.policy.net_arch == [400, 300] and td3.gamma == 0.98 and td3.learning_starts == 10_000
    td3_default = SB3Agent(load_experiment("pendulum-td3", {"agent.noise_std": 0.2}), "cpu").model
    assert isinstance(td3_default.action_noise, NormalActionNoise) and np.allclose(td3_default.action_noise._sigma, [0.2])
    sac = SB3Agent(load_experiment("pendulum-sac", {"agent.ent_coef": "auto_0.1", "agent.use_sde": True,
                                                    "agent.log_std_init": -2.0, "agent.activation": "tanh"}), "cpu").model
    assert sac.use_sde and sac.policy.actor.log_std.mean().item() == pytest.approx(-2.0)
    assert np.exp(sac.log_ent_coef.item()) == pytest.approx(0.1) and sac.policy.activation_fn.__name__ == "Tanh"


BAD = [
    ("pendulum-sac", {"env.id": "CartPole-v1"},
     "agent.algo: 'sac' cannot act in CartPole-v1's Discrete action space (it supports Box); try 'ppo'"),
    ("pendulum-td3", {"env.id": "MountainCar-v0"}, "agent.algo: 'td3' cannot act in MountainCar-v0's Discrete action space"),
    ("pendulum-td3", {"agent.noise_type": "gaussian"},
     "agent.noise_type (set by override): must be 'normal' or 'ornstein-uhlenbeck' (got 'gaussian')"),
    ("pendulum-td3", {"agent.noise_type": "ornstein_uhlenbeck"}, "did you mean 'ornstein-uhlenbeck'?"),
    ("pendulum-td3", {"agent.noise_std": 0}, "agent.noise_std (set by override): must be greater than 0"),
    ("pendulum-td3", {"agent.noise_sigma": 0.1}, "agent.noise_sigma (set by override): unknown key in agent"),
    ("pendulum-sac", {"agent.noise_type": "normal"}, "agent.noise_type (set by override): unknown key in agent"),
    ("pendulum-sac", {"agent.ent_coef": "autoo"}, "agent.ent_coef (set by override): must be 'auto', 'auto_<start>'"),
    ("pendulum-sac", {"agent.ent_coef": 0}, "agent.ent_coef (set by override): must be greater than 0"),
    ("pendulum-sac", {"agent.learning_rate": "lin_x"}, "agent.learning_rate (set by override): must be a positive number or a schedule"),
    ("pendulum-td3", {"agent.tau": 2}, "agent.tau (set by override): must be less than or equal to 1"),
]


@pytest.mark.parametrize("name,overrides,expected", BAD, ids=[next(iter(o)) + "=" + str(next(iter(o.values()))) for _, o, _ in BAD])
def test_bad_continuous_control_settings_give_one_line(name, overrides, expected):
    with pytest.raises(BadInput) as err:
        load_experiment(name, overrides)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"experiments/{name}.toml: ") and expected in message, message


def test_cli_refuses_a_bad_noise_setting_before_a_run_folder_exists(runs_dir):
    proc = lab_cli("run", "pendulum-td3", "--set", "agent.noise_type=gaussian", runs_dir=runs_dir)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "agent.noise_type (set by override): must be 'normal'" in proc.stderr
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


def test_td3_settings_are_listed_with_descriptions_and_sac_takes_a_linear_schedule():
    import tomllib

    from lab.spec import settings

    by_key = {s.key: s for s in settings(tomllib.loads((EXPERIMENTS / "pendulum-td3.toml").read_text()))}
    assert by_key["agent.noise_type"].current == "normal" and by_key["agent.noise_type"].default is None
    assert "exploration noise" in by_key["agent.noise_type"].description
    assert by_key["agent.noise_std"].type == "float" and by_key["agent.policy_delay"].default == 2
    spec = load_experiment("pendulum-sac", {"agent.learning_rate": "lin_1e-3"})
    assert spec.agent.learning_rate == "lin_1e-3"
    from lab.rl.sb3_agent import _sb3_kwargs

    rate = _sb3_kwargs(spec.agent, None)["learning_rate"]
    assert rate(1.0) == pytest.approx(1e-3) and rate(0.5) == pytest.approx(5e-4)
