"""Bad experiment input of every kind gives one clear line: file, key, what is allowed."""

import subprocess
import sys
import tomllib

import pytest

import lab
from lab.errors import BadInput
from lab.spec import load_experiment

from .conftest import EXPERIMENTS, REPO, lab_cli

GOOD = tomllib.loads((EXPERIMENTS / "cartpole-ppo.toml").read_text())


def with_changes(**changes) -> dict:
    """The cartpole-ppo spec as a dict with dotted keys changed (None deletes)."""
    raw = {k: dict(v) if isinstance(v, dict) else v for k, v in GOOD.items()}
    for key, value in changes.items():
        *tables, last = key.split("__")
        node = raw
        for t in tables:
            node = node.setdefault(t, {})
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return raw


BAD_DICTS = [
    # (changes, substrings the message must contain)
    ({"seeed": 1}, ["seeed: unknown key in top level", "did you mean 'seed'"]),
    ({"agent__lerning_rate": 0.1}, ["agent.lerning_rate: unknown key in agent", "did you mean 'learning_rate'"]),
    ({"agent__total_steps": "many"}, ["agent.total_steps: must be a valid integer", "'many'"]),
    ({"agent__gamma": 1.5}, ["agent.gamma: must be less than or equal to 1", "1.5"]),
    ({"agent__learning_rate": -0.1}, ["agent.learning_rate: must be greater than 0"]),
    ({"agent__clip_range": "lin_x"}, ["agent.clip_range:", "schedule like 'lin_0.001'"]),
    ({"agent__algo": "ppo2"}, ["agent.algo: unknown algorithm 'ppo2'", "did you mean 'ppo'", "allowed: a2c, ddpg, dqn, ppo, qlearning, reinforce, sac, td3"]),
    ({"agent__algo": None}, ["agent.algo: missing"]),
    ({"env__id": "CartPol-v1"}, ["env.id: unknown Gymnasium environment 'CartPol-v1'", "did you mean 'CartPole-v1'"]),
    ({"env__id": "no_such_module:Foo-v0"}, ["env.id: cannot import module 'no_such_module'"]),
    ({"env": None}, ["env: missing (required)"]),
    ({"device": "gpu"}, ["device: must be 'auto', 'cpu' or 'cuda'", "did you mean 'cpu'"]),
    ({"seed": True}, ["seed: must be a valid integer"]),
    ({"seed": -1}, ["seed: must be greater than or equal to 0"]),
    ({"env__n_envs": 0}, ["env.n_envs: must be greater than or equal to 1"]),
    ({"eval__final_episodes": 5}, ["eval.final_episodes: must be greater than or equal to 20"]),
    ({"kind": "attributions"}, ["kind: unknown kind 'attributions'"]),
    ({"env__id": "Pendulum-v1", "agent__algo": "dqn", "agent__n_steps": None, "agent__batch_size": None,
      "agent__gae_lambda": None, "agent__n_epochs": None, "agent__ent_coef": None, "agent__clip_range": None},
     ["agent.algo: 'dqn' cannot act in Pendulum-v1's Box action space", "try 'sac' or 'ppo'"]),
    ({"env__kwargs": {"no_such_arg": 1}}, ["env.kwargs: CartPole-v1 does not accept these arguments"]),
    ({"agent__net_arch": [64, -1]}, ["agent.net_arch[1]: must be greater than 0"]),
    ({"name": "has space"}, ["name: must match pattern"]),
    ({"agent__learning_rate": float("inf")}, ["agent.learning_rate: must be a finite number"]),
    ({"agent__clip_range": float("nan")}, ["agent.clip_range: must be a finite number"]),
    ({"agent__ent_coef": float("inf")}, ["agent.ent_coef: must be a finite number"]),
    ({"eval__target_return": float("-inf")}, ["eval.target_return: must be a finite number"]),
]


@pytest.mark.parametrize("changes,expected", BAD_DICTS, ids=[",".join(c) for c, _ in BAD_DICTS])
def test_bad_spec_gives_one_line_naming_the_key(changes, expected):
    with pytest.raises(BadInput) as err:
        load_experiment(with_changes(**changes))
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("<dict>: ")
    for part in expected:
        assert part in message, message


def test_qlearning_on_continuous_observations_is_refused():
    raw = {"name": "x", "env": {"id": "CartPole-v1"}, "agent": {"algo": "qlearning", "total_steps": 10}}
    with pytest.raises(BadInput, match=r"'qlearning' cannot read CartPole-v1's Box observations"):
        load_experiment(raw)


def test_qlearning_with_several_envs_is_refused():
    raw = {"name": "x", "env": {"id": "Taxi-v4", "n_envs": 4}, "agent": {"algo": "qlearning", "total_steps": 10}}
    with pytest.raises(BadInput, match=r"env.n_envs: 'qlearning' learns from one environment; set env.n_envs = 1"):
        load_experiment(raw)


def test_toml_syntax_error_names_file_and_line(tmp_path):
    bad = tmp_path / "broken.toml"
    bad.write_text('name = "x"\n[agent\nalgo = "ppo"\n')
    with pytest.raises(BadInput, match=r"broken.toml: TOML syntax error: .*line 2"):
        load_experiment(bad)


def test_missing_file_and_unknown_name():
    with pytest.raises(BadInput, match=r"nope.toml: no such experiment file"):
        load_experiment("nope.toml")
    with pytest.raises(BadInput, match=r"unknown experiment 'cartpole-pp'; did you mean 'cartpole-ppo'\?"):
        load_experiment("cartpole-pp")


def test_unreadable_file(tmp_path):
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b'name = "caf\xe9"\n')
    with pytest.raises(BadInput, match=r"latin1.toml: cannot read"):
        load_experiment(bad)


def test_error_from_an_override_says_so():
    with pytest.raises(BadInput, match=r"cartpole-ppo.toml: agent.gamma \(set by override\): must be less than or equal to 1"):
        load_experiment("cartpole-ppo", {"agent.gamma": 2})
    with pytest.raises(BadInput, match=r"agent.lerning_rate \(set by override\): unknown key in agent; did you mean 'learning_rate'"):
        load_experiment("cartpole-ppo", {"agent.lerning_rate": "3e-4"})


def test_overrides_are_read_as_toml_values():
    spec = load_experiment("cartpole-ppo", {"agent.learning_rate": "3e-4", "agent.net_arch": "[32, 32]", "seed": 7})
    assert spec.agent.learning_rate == 3e-4
    assert spec.agent.net_arch == [32, 32]
    assert spec.seed == 7


def test_resolved_spec_round_trips_through_toml(tmp_path):
    spec = load_experiment("cartpole-dqn", {"agent.total_steps": 1234})
    path = tmp_path / "spec.toml"
    path.write_text(spec.to_toml())
    again = load_experiment(path)
    assert again.model_dump() == spec.model_dump()
    assert again.agent.net_arch == [256, 256] and again.agent.total_steps == 1234


def test_every_builtin_experiment_is_valid():
    from lab.spec import builtin_experiments

    names = builtin_experiments()
    assert {"cartpole-dqn", "cartpole-reinforce", "cartpole-a2c", "cartpole-ppo", "taxi-qlearning"} <= set(names)
    for name, path in names.items():
        if 'kind = "sweep"' in path.read_text():  # built-in sweeps sit beside the experiments
            from lab.sweep.spec import load_sweep

            spec = load_sweep(name)
        else:
            spec = lab.load_experiment(name)
        assert spec.name == name
        assert spec.description


def test_validating_torch_engine_experiments_and_population_sweeps_imports_no_torch():
    probe = """
import sys
from lab.errors import BadInput
from lab.spec import load_experiment
from lab.sweep.spec import load_sweep

load_experiment("cartpole-ppo-torch", {"population": 9})
load_sweep("cartpole-ppo-torch-lr")
try:
    load_experiment("cartpole-ppo-torch", {"env.id": "CartPol-v1"})
except BadInput as e:
    print(e)
print("torch" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr
    message, torch_imported = out.stdout.splitlines()
    assert "env.id (set by override): the torch engine has no 'CartPol-v1'; did you mean 'CartPole-v1'?" in message
    assert torch_imported == "False", out.stderr


@pytest.mark.parametrize("args,expected", [
    (["cartpole-ppo", "--set", "agent.gamma=2"], "agent.gamma (set by override): must be less than or equal to 1"),
    (["cartpole-ppo", "--set", "nonsense"], "--set nonsense: expected KEY=VALUE"),
    (["cartpol-ppo"], "did you mean 'cartpole-ppo'"),
    (["cartpole-ppo", "--set", "env.id=Nope-v0"], "env.id (set by override): unknown Gymnasium environment 'Nope-v0'"),
    (["/dev/zero"], "/dev/zero: cannot read (a character device, not a regular file)"),  # not read until memory runs out
])
def test_cli_bad_input_exits_2_with_one_line_and_no_run_folder(args, expected, runs_dir):
    proc = lab_cli("run", *args, runs_dir=runs_dir)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("lab: ") and expected in proc.stderr, proc.stderr
    assert not runs_dir.exists() or not any(runs_dir.iterdir())
