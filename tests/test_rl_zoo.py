"""`lab import rl-zoo FILE.yml ENV_ID`: RL Zoo's real hyperparameter files (the installed rl_zoo3's)
become lab experiment files, every setting converted or the import refused naming it; and
`[env.normalize]` (SB3's VecNormalize) whose statistics travel with every checkpoint."""

import json
import zipfile

import numpy as np
import pytest
import yaml

import lab
from lab.errors import BadInput
from lab.zoo import hyperparams_dir, import_entry
from lab.spec import load_experiment
from lab.store import Run

from .conftest import lab_cli, lab_main, run_until_resume_checkpoint

ZOO = hyperparams_dir()
if ZOO is None:  # not skipped: these tests are the proof that RL Zoo's real files import
    pytest.fail("rl_zoo3 is not installed: ./setup.sh installs it (pip install --no-deps rl_zoo3==2.9.2)", pytrace=False)

ALGOS = ("ppo", "a2c", "dqn", "sac", "td3")
ENVS = ("CartPole-v1", "Acrobot-v1", "MountainCar-v0", "Pendulum-v1")


def _entries() -> list[tuple[str, str]]:
    if ZOO is None:
        return []
    out = []
    for algo in ALGOS:
        table = yaml.safe_load((ZOO / f"{algo}.yml").read_text())
        out += [(algo, env) for env in ENVS if env in table]
    return out


ENTRIES = _entries()


def _zoo_entry(algo: str, env: str) -> dict:
    return yaml.safe_load((ZOO / f"{algo}.yml").read_text())[env]


def test_the_real_files_hold_the_entries_the_issue_names():
    assert {("ppo", "CartPole-v1"), ("ppo", "Acrobot-v1"), ("a2c", "MountainCar-v0"), ("dqn", "CartPole-v1"),
            ("sac", "Pendulum-v1"), ("td3", "Pendulum-v1")} <= set(ENTRIES)


@pytest.mark.parametrize("algo,env", ENTRIES, ids=[f"{a}-{e}" for a, e in ENTRIES])
def test_every_entry_for_these_envs_imports_as_a_valid_experiment(tmp_path, algo, env):
    """(rl_zoo3 2.9's entries for them hold nothing lab cannot honour; gSDE and VecNormalize included)"""
    from lab.zoo import parse_expression

    entry = _zoo_entry(algo, env)
    raw, text = import_entry(f"{algo}.yml", env)
    out = tmp_path / "imported.toml"
    out.write_text(text)
    spec = load_experiment(out)  # an ordinary experiment file
    assert spec.name == raw["name"] and f"{algo}.yml" in spec.description
    # every key of the entry is accounted for: RL Zoo's own keys converted, SB3's passed on as they are
    assert spec.agent.total_steps == int(entry["n_timesteps"])
    assert spec.env.n_envs == entry.get("n_envs", 1)
    assert (spec.env.normalize is not None) == bool(entry.get("normalize"))
    own = {"n_timesteps", "n_envs", "policy", "normalize", "policy_kwargs"}
    for key, value in entry.items():
        if key not in own:
            assert getattr(spec.agent, key) == value, key
    for key, value in parse_expression(entry.get("policy_kwargs", "{}")).items():
        assert getattr(spec.agent, key) == value, f"policy_kwargs.{key}"


@pytest.mark.parametrize("algo,env,says", [
    ("ppo", "MiniGrid-Empty-Random-5x5-v0", "env_wrapper = minigrid.wrappers.FlatObsWrapper: lab steps environments without"),
    ("sac", "donkey-generated-track-v0", "env_wrapper = rl_zoo3.wrappers.HistoryWrapper: "),  # after its TimeLimit, converted
    ("sac", "FetchReach-v1", "policy = MultiInputPolicy: lab builds MlpPolicy networks only"),
    ("ppo", "atari", "env_wrapper = stable_baselines3.common.atari_wrappers.AtariWrapper: "),
])
def test_real_entries_lab_cannot_honour_are_refused_naming_the_setting(algo, env, says):
    with pytest.raises(BadInput) as e:
        import_entry(f"{algo}.yml", env)
    assert str(e.value).startswith(f"{algo}.yml: {env}: {says}") and "\n" not in str(e.value)


def test_known_entries_convert_schedules_networks_normalization_and_noise():
    ppo = import_entry("ppo.yml", "CartPole-v1")[0]
    assert ppo["agent"]["learning_rate"] == "lin_0.001" and ppo["agent"]["clip_range"] == "lin_0.2"
    assert ppo["agent"]["total_steps"] == 100_000 and ppo["env"] == {"id": "CartPole-v1", "n_envs": 8}
    assert ppo["eval"]["every"] == 10_000
    assert import_entry("dqn.yml", "CartPole-v1")[0]["agent"]["net_arch"] == [256, 256]  # policy_kwargs
    assert import_entry("ppo.yml", "Acrobot-v1")[0]["env"]["normalize"] == {"norm_obs": True, "norm_reward": True}
    td3 = import_entry("td3.yml", "Pendulum-v1")[0]["agent"]
    assert (td3["noise_type"], td3["noise_std"], td3["net_arch"], td3["learning_starts"]) == ("normal", 0.1, [400, 300], 10_000)


def _zoo_file(tmp_path, entry: dict, algo: str = "ppo", env: str = "CartPole-v1"):
    path = tmp_path / f"{algo}.yml"
    path.write_text(yaml.safe_dump({env: {"n_timesteps": 1e4, "policy": "MlpPolicy", **entry}}))
    return str(path)


def test_policy_kwargs_and_normalize_strings_are_read_as_literals(tmp_path):
    raw = import_entry(_zoo_file(tmp_path, {
        "policy_kwargs": "dict(ortho_init=True, activation_fn=nn.ReLU, net_arch=dict(pi=[256], vf=[256]))",
        "normalize": "{'norm_obs': True, 'norm_reward': False}"}), "CartPole-v1")[0]
    assert raw["agent"]["activation"] == "relu" and raw["agent"]["net_arch"] == [256]
    assert raw["env"]["normalize"] == {"norm_obs": True, "norm_reward": False}
    raw = import_entry(_zoo_file(tmp_path, {"policy_kwargs": "dict(log_std_init=-2, net_arch=[64, 64])"}, "sac", "Pendulum-v1"),
                       "Pendulum-v1")[0]
    assert raw["agent"]["log_std_init"] == -2 and raw["agent"]["net_arch"] == [64, 64]
    raw = import_entry(_zoo_file(tmp_path, {"env_wrapper": [{"gymnasium.wrappers.TimeLimit": {"max_episode_steps": 200}}],
                                            "train_freq": [4, "step"], "env_kwargs": {"sutton_barto_reward": True}}, "dqn"),
                       "CartPole-v1")[0]
    assert raw["env"]["max_episode_steps"] == 200 and raw["agent"]["train_freq"] == 4
    assert raw["env"]["kwargs"] == {"sutton_barto_reward": True}


def test_ppos_value_clipping_and_kl_target_come_across_under_sb3s_names(tmp_path):
    raw = import_entry(_zoo_file(tmp_path, {"target_kl": 0.01, "clip_range_vf": "lin_0.2"}), "CartPole-v1")[0]
    assert raw["agent"]["target_kl"] == 0.01 and raw["agent"]["clip_range_vf"] == "lin_0.2"


@pytest.mark.parametrize("entry,says", [
    ({"policy_kwargs": "dict(use_expln=True)"}, "policy_kwargs.use_expln = True: lab's ppo has no setting 'use_expln'"),
    ({"train_freq": [1, "episode"]}, "train_freq = [1, 'episode']: lab's train_freq counts steps"),
    ({"policy_kwargs": "dict(net_arch=dict(pi=[64], vf=[256]))"}, "policy_kwargs.net_arch = "),
    ({"policy_kwargs": "dict(activation_fn=nn.ELU)"}, "policy_kwargs.activation_fn = nn.ELU: lab's activations are nn.ReLU, nn.Tanh"),
    ({"policy_kwargs": "__import__('os').system('touch pwned')"}, "is not a literal lab reads"),
    ({"normalize": "dict(norm_obs=True, norm_obs_keys=['x'])"}, "normalize.norm_obs_keys = ['x']"),
    ({"env_wrapper": ["sb3_contrib.common.wrappers.TimeFeatureWrapper"]}, "env_wrapper = "),
    ({"frame_stack": 4}, "frame_stack = 4: lab does not stack frames"),
    ({"policy": "CnnPolicy"}, "policy = CnnPolicy: lab builds MlpPolicy networks only"),
    ({"learning_rate": "cos_0.001"}, "learning_rate = cos_0.001: lab's schedules are linear"),
    ({"stats_window_size": 50}, "stats_window_size = 50: lab's ppo has no setting 'stats_window_size'"),
    ({"target_kl": -0.01}, "agent.target_kl: must be greater than 0"),
    ({"batch_size": -5}, "agent.batch_size: must be greater than 1"),
])
def test_what_lab_cannot_honour_is_refused_naming_the_setting(tmp_path, entry, says):
    with pytest.raises(BadInput) as e:
        import_entry(_zoo_file(tmp_path, entry), "CartPole-v1")
    assert says in str(e.value) and "\n" not in str(e.value)
    assert str(e.value).startswith(f"{tmp_path}/ppo.yml: CartPole-v1: ")
    assert not (tmp_path / "pwned").exists()


def test_cli_writes_a_file_lab_run_accepts_and_prints_without_out(tmp_path):
    out = tmp_path / "cartpole.toml"
    proc = lab_cli("import", "rl-zoo", "ppo.yml", "CartPole-v1", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert load_experiment(out).agent.learning_rate == "lin_0.001"
    printed = lab_cli("import", "rl-zoo", str(ZOO / "ppo.yml"), "CartPole-v1")
    assert printed.returncode == 0 and 'learning_rate = "lin_0.001"' in printed.stdout


@pytest.mark.parametrize("args,says", [
    (["missing.yml", "CartPole-v1"], "missing.yml: no such file"),
    (["ppo.yml", "CartPol-v1"], "ppo.yml: no entry for 'CartPol-v1'; did you mean 'CartPole-v1'?"),
    (["ppo.yml", "CartPole-v1", "--algo", "ppx"], "--algo ppx: lab imports RL Zoo entries of"),
    (["tqc.yml", "Pendulum-v1"], "tqc.yml: cannot tell the algorithm from the file name 'tqc'"),
    (["ppo.yml", "MiniGrid-Unlock-v0"], "ppo.yml: MiniGrid-Unlock-v0: env_wrapper = minigrid.wrappers.FlatObsWrapper"),
])
def test_bad_input_is_one_line_exit_2_and_no_file(tmp_path, args, says):
    out = tmp_path / "out.toml"
    proc = lab_cli("import", "rl-zoo", *args, "--out", out)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"lab: {says}") and proc.stderr.count("\n") == 1, proc.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("change,says", [
    ({"env": {"normalize": {}}, "agent": {"algo": "reinforce"}}, "env.normalize: 'reinforce' has no VecNormalize"),
    ({"env": {"id": "FrozenLake-v1", "normalize": {}}}, "env.normalize.norm_obs: FrozenLake-v1's Discrete observations"),
    ({"engine": "torch", "env": {"normalize": {}}}, "env.normalize: 'ppo' on lab's torch engine has no VecNormalize"),
    ({"agent": {"use_sde": True}}, "agent.use_sde: gSDE explores continuous (Box) actions; CartPole-v1's are Discrete"),
    ({"engine": "torch", "agent": {"ortho_init": False}}, "agent.ortho_init: SB3's ppo has it, the torch engine's does not"),
])
def test_settings_lab_cannot_honour_here_are_refused(change, says):
    raw = {"name": "x", "env": {"id": "CartPole-v1"}, "agent": {"algo": "ppo", "total_steps": 100}}
    for key, value in change.items():
        raw[key] = {**raw[key], **value} if isinstance(value, dict) else value
    with pytest.raises(BadInput) as e:
        load_experiment(raw)
    assert str(e.value).startswith(f"<dict>: {says}")


def _normalize_stats(zip_path) -> dict:
    with zipfile.ZipFile(zip_path) as z:
        return json.loads(z.read("vecnormalize.json"))


@pytest.mark.slow
def test_normalized_run_is_killed_and_resumes_with_its_statistics(tmp_path, runs_dir):
    """An imported entry with normalize = true (a2c Acrobot-v1), SIGKILLed after its first
    checkpoint: `lab resume` goes on from the saved statistics, and the delivered policy (what
    lab eval, play, record and attribution load) acts and explains with its checkpoint's."""
    from lab.rl.sb3_agent import SB3Agent
    from lab.rl.train import load_delivered_policy

    experiment = tmp_path / "acrobot.toml"
    assert lab_cli("import", "rl-zoo", "a2c.yml", "Acrobot-v1", "--out", experiment).returncode == 0
    total = 1600
    sets = [f"agent.total_steps={total}", "eval.every=800", "eval.episodes=2", "eval.checkpoint_every=400",
            "env.max_episode_steps=100"]  # (short evaluation episodes: the test is about the statistics)
    crashed = run_until_resume_checkpoint(experiment, sets, runs_dir)
    resume = json.loads(crashed.checkpoint("resume.json").read_text())
    saved = _normalize_stats(crashed.path / resume["files"]["model"])["obs_rms"]
    assert saved["count"] >= resume["step"] and np.any(np.asarray(saved["var"]) != 1.0)

    # what `lab resume` loads: the statistics as saved, not fresh ones
    spec = load_experiment(crashed.spec_path)
    agent = SB3Agent(spec, "cpu")
    assert agent.vec_normalize.obs_rms.count < 1
    agent.load_resumable({k: crashed.path / v for k, v in resume["files"].items()}, resume["agent"], reseed=1)
    rms = agent.vec_normalize.obs_rms
    assert rms.count == saved["count"] and rms.mean.tolist() == saved["mean"] and rms.var.tolist() == saved["var"]
    assert agent.vec_normalize.training

    proc = lab_main("resume", crashed.id, runs_dir=runs_dir)  # (the kill was a real process's)
    assert proc.returncode == 0, proc.stderr
    run = Run.load(crashed.path)
    assert run.state == "completed" and run.results.total_steps == total
    last = _normalize_stats(run.checkpoint("last.zip"))["obs_rms"]
    assert last["count"] >= saved["count"] + (total - resume["step"])  # went on from the saved statistics

    # the delivered policy: its checkpoint's statistics, frozen; attribution's module normalizes as act does
    policy, path = load_delivered_policy(run, spec, "cpu")
    delivered = _normalize_stats(path)["obs_rms"]
    assert policy.vec_normalize.obs_rms.mean.tolist() == delivered["mean"] and not policy.vec_normalize.training
    states = np.random.default_rng(0).uniform(-1, 1, (64, 6)).astype(np.float32)
    states[:, 4:] *= 5  # the velocities' range
    import torch

    with torch.no_grad():
        scores = policy.scores_module()(torch.as_tensor(states))
    assert (scores.argmax(1).numpy() == policy.act(states, True)).all()
