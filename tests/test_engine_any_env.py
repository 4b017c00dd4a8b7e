"""Any environment on the torch engine: a user's own batched torch environment ('module:Class',
checked at validation with one line naming the class) and any Gymnasium id lab has no torch
version of (stepped through Gymnasium's vector env). Runs of both train, are recorded with their
path, and work with lab eval, record, resume, attribution and the dashboard. Real (short) runs."""

import json
import os
import subprocess
import sys

import pytest
import torch

import lab
from lab.errors import BadInput
from lab.events import read_events

from .conftest import REPO, lab_cli, lab_main, run_until_resume_checkpoint

GRIDWORLD = {"id": "tests.gridworld_env:GridWorld", "n_envs": 8}
# PPO for a small discrete task, as docs/gridworld-ppo.toml trains it: short rollouts, four epochs of large steps
SMALL_PPO = {"algo": "ppo", "n_steps": 128, "batch_size": 256, "n_epochs": 4, "learning_rate": 1e-3, "ent_coef": 0.01}
GYMNASIUM_PATH = "Gymnasium's vector env (numpy on the CPU)"


def experiment(env: dict, total_steps: int, **top) -> dict:
    return {"name": "any-env", "engine": "torch", "env": env, "agent": {**SMALL_PPO, "total_steps": total_steps},
            "eval": {"every": 5120, "episodes": 20, "checkpoint_every": 5120}, **top}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A grid world run (a user torch env) and a FrozenLake run (Gymnasium's vector env), finished."""
    root = tmp_path_factory.mktemp("runs")
    grid = lab.run(lab.load_experiment(experiment(GRIDWORLD, 20_480)), runs_dir=root)
    lake = lab.run(lab.load_experiment(experiment({"id": "FrozenLake-v1", "n_envs": 8, "kwargs": {"is_slippery": False}},
                                                  10_240)), runs_dir=root)
    return root, grid, lake


def random_return(env_cls, episodes=2000, seed=0) -> float:
    """The mean return of uniformly random actions over `episodes` first episodes."""
    env = env_cls(episodes, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    ret, running = torch.zeros(episodes), torch.ones(episodes, dtype=torch.bool)
    for _ in range(env.max_episode_steps):
        _, reward, terminated, truncated, _ = env.step(torch.randint(0, env.single_action_space.n, (episodes,), generator=generator))
        ret += reward * running
        running &= ~(terminated | truncated)
    return float(ret.mean())


def test_the_docs_page_quotes_its_grid_world_and_experiment_whole():
    code = (REPO / "docs" / "gridworld.py").read_text()
    page = (REPO / "docs" / "custom-environment.md").read_text()
    assert f"```python\n{code}```" in page
    assert f"```toml\n{(REPO / 'docs' / 'gridworld-ppo.toml').read_text()}```" in page


@pytest.mark.slow
def test_a_user_torch_env_trains_with_engine_ppo_and_learns(runs):
    from tests.gridworld_env import GridWorld

    _, grid, _ = runs
    assert grid.state == "completed", grid.summary.error
    assert grid.summary.env_path == "user torch env tests.gridworld_env:GridWorld"
    random = random_return(GridWorld)  # about 0.33: a random walk finds the goal within 50 steps two times in three
    # the shortest walks earn about 0.97 on average; a policy that learned nothing stays near the random walk
    assert grid.results.final_eval_return_mean >= random + 0.4, (grid.results.final_eval_return_mean, random)
    logged = [e for e in read_events(grid.events_path) if e["kind"] == "log" and e.get("env_path")]
    assert logged and "through user torch env tests.gridworld_env:GridWorld" in logged[0]["message"]


def test_a_gymnasium_id_lab_does_not_ship_trains_on_the_engine(runs):
    _, _, lake = runs
    assert lake.state == "completed", lake.summary.error
    assert lake.summary.env_path == GYMNASIUM_PATH
    assert lake.results.final_eval_return_mean == 1.0  # the non-slippery lake's goal, every time


def test_continuous_actions_step_through_gymnasiums_vector_env(runs_dir):
    run = lab.run(lab.load_experiment({"name": "mcc", "engine": "torch", "env": {"id": "MountainCarContinuous-v0", "n_envs": 4,
                                                                                "max_episode_steps": 100},
                                       "agent": {"algo": "ppo", "total_steps": 2048, "n_steps": 256},
                                       "eval": {"every": 1024, "episodes": 3, "final_episodes": 20}}), runs_dir=runs_dir)
    assert run.state == "completed", run.summary.error
    assert run.summary.env_path == GYMNASIUM_PATH and run.results.final_eval_length_mean <= 100  # env.max_episode_steps


def test_a_third_party_packages_gymnasium_id_takes_the_gymnasium_path(runs_dir):
    pytest.importorskip("pybullet_envs_gymnasium")  # the dev extra's (benchmarks/engine_any_env.py learns it)
    run = lab.run(lab.load_experiment({
        "name": "bullet", "engine": "torch", "env": {"id": "pybullet_envs_gymnasium:InvertedPendulumBulletEnv-v0", "n_envs": 2},
        "agent": {"algo": "ppo", "total_steps": 512, "n_steps": 128}, "eval": {"every": 512, "episodes": 2, "final_episodes": 20}}),
        runs_dir=runs_dir)
    assert run.state == "completed", run.summary.error
    assert run.summary.env_path == GYMNASIUM_PATH and run.results.final_eval_length_mean <= 1000


@pytest.mark.parametrize("env_id, expected", [
    ("CartPole-v1", "lab's torch CartPole-v1"),
    ("FrozenLake-v1", GYMNASIUM_PATH),
    ("tests.gridworld_env:GridWorld", "user torch env tests.gridworld_env:GridWorld"),
])
def test_validation_says_which_path_a_run_takes(env_id, expected):
    from lab.engine import env_path

    spec = lab.load_experiment(experiment({"id": env_id}, 1000))
    assert env_path(spec.env) == expected


def test_validating_a_gymnasium_id_for_the_engine_imports_no_torch():
    probe = ("import sys; from lab.spec import load_experiment; from lab.engine import env_path; "
             f"spec = load_experiment({experiment({'id': 'FrozenLake-v1'}, 1000)!r}); "
             "print(env_path(spec.env)); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [GYMNASIUM_PATH, "False"]


BROKEN = [
    # (class in tests/broken_envs.py, [env] settings, key, what the line says)
    ("NotAnEnv", {}, "env.id", "NotAnEnv is not a subclass of lab.engine.TorchVecEnv"),
    ("NoDynamics", {}, "env.id", "has no dynamics(self, state, actions) -> (next_state, reward, terminated) method"),
    ("NoActionSpace", {}, "env.id", "missing class attribute gym_action_space"),
    ("NoLimit", {}, "env.id", "max_episode_steps = 0; must be a whole number >= 1"),
    ("ShortResetBox", {}, "env.id", "reset_low has 1 value for 2 state_names ('x', 'speed'); give one per name"),
    ("RewardPerEnvInAColumn", {}, "env.id", "dynamics returned reward of shape (2, 1), torch.float32; expected (2,), torch.float32"),
    ("FloatTerminated", {}, "env.id", "dynamics returned terminated of shape (2,), torch.float32; expected (2,), torch.bool"),
    ("Float64State", {}, "env.id", "dynamics returned next_state of shape (2, 2), torch.float64; expected (2, 2), torch.float32"),
    ("ObservationTooShort", {}, "env.id", "observe returned obs of shape (2, 1), torch.float32; expected (2, 2), torch.float32"),
    ("RaisingDynamics", {}, "env.id", "dynamics raises ValueError: the walk fell over"),
    ("Walk", {"kwargs": {"speed": 2}}, "env.kwargs", "does not take env.kwargs ['speed']"),
    ("Walk", {"max_episode_steps": 10}, "env.max_episode_steps", "states its own time limit (its class's max_episode_steps)"),
]


@pytest.mark.parametrize("cls, settings, key, expected", BROKEN, ids=[f"{b[0]}-{b[2]}" for b in BROKEN])
def test_a_broken_torch_env_is_one_line_naming_the_class(cls, settings, key, expected):
    with pytest.raises(BadInput) as e:
        lab.load_experiment(experiment({"id": f"tests.broken_envs:{cls}", **settings}, 1000))
    message = str(e.value)
    assert "\n" not in message and e.value.key == key
    assert message.startswith(f"<dict>: {key}: tests.broken_envs:{cls}")
    assert expected in message, message


@pytest.mark.parametrize("raw, expected", [
    ({"engine": "gymnasium", "env": {"id": "tests.broken_envs:Walk"}},
     "env.id: 'tests.broken_envs:Walk' names a class, a batched torch environment; set engine = \"torch\""),
    ({"env": {"id": "tests.broken_envs:Wakl"}},
     "env.id: module 'tests.broken_envs' has no class 'Wakl' and registers no Gymnasium id 'Wakl'; did you mean 'Walk'?"),
    ({"env": {"id": "tests.exploding_env:Exploding-v0"}},
     "env.max_episode_steps: Exploding-v0 has no time limit, and the torch engine needs one"),
    ({"env": {"id": "Blackjack-v1"}}, "env.id: the torch engine reads Box and Discrete observations; Blackjack-v1's are Tuple"),
    ({"env": {"id": "CartPole-v1", "kwargs": {"sutton_barto_reward": True}}},
     "env.kwargs: the torch engine's environments take no arguments when they are lab's own"),
])
def test_what_the_engine_cannot_step_is_one_line(raw, expected):
    with pytest.raises(BadInput) as e:
        lab.load_experiment({**experiment({}, 1000), **raw})
    assert expected in str(e.value) and "\n" not in str(e.value), str(e.value)


def test_env_kwargs_reach_a_user_envs_constructor():
    from lab.engine import env_spaces, make_env

    spec = lab.load_experiment(experiment({"id": "tests.broken_envs:Walk", "kwargs": {"speed_limit": 0.05}}, 1000))
    env = make_env(spec.env, 3, "cpu", seed=0)
    assert env.speed_limit == 0.05 and env.resumes_exactly
    assert env_spaces(spec.env)[1].n == 2


def test_gymnasiums_vector_env_gives_final_observations_and_one_hot_states():
    from lab.engine import env_spaces, make_env

    spec = lab.load_experiment(experiment({"id": "FrozenLake-v1", "kwargs": {"is_slippery": False}}, 1000))
    env = make_env(spec.env, 2, "cpu", seed=0)
    assert not env.resumes_exactly and env.snapshot() == {} and env.max_episode_steps == 100
    assert env_spaces(spec.env)[0].shape == (16,) == env.single_observation_space.shape
    obs, _ = env.reset(seed=0)
    assert obs.dtype == torch.float32 and obs.tolist() == [[1.0] + [0.0] * 15] * 2  # both on the start cell
    # env 0 walks down into the hole at cell 5 (down, then right); env 1 walks right along the top row
    env.step(torch.tensor([1, 2]))
    obs, reward, terminated, truncated, info = env.step(torch.tensor([2, 2]))
    assert terminated.tolist() == [True, False] and info["_final_obs"].tolist() == [True, False]
    assert info["final_obs"][0].argmax().item() == 5 and obs[0].argmax().item() == 0  # the next episode began
    assert obs[1].argmax().item() == 2 and reward.dtype == torch.float32


def test_lab_eval_and_record_play_a_user_torch_env(runs, tmp_path):
    root, grid, _ = runs
    # a run folder's module is imported only where the user allows it (their own, here)
    out = lab_cli("eval", grid.path, "--episodes", "10", "--json", "--allow-module", "tests.gridworld_env", runs_dir=root)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["return_mean"] > 0.8
    gif = tmp_path / "grid.gif"
    out = lab_cli("record", grid.path, "--out", gif, "--allow-module", "tests", runs_dir=root)  # a package: its modules
    assert out.returncode == 0, out.stderr
    from PIL import Image

    with Image.open(gif) as image:
        assert image.size == (81, 81) and image.n_frames >= 2  # the reset frame and one a step


def test_an_env_without_draw_is_refused_in_one_line(runs_dir):
    run = lab.run(lab.load_experiment(experiment({"id": "tests.broken_envs:Walk"}, 256, eval={"every": 256})), runs_dir=runs_dir)
    out = lab_cli("record", run.path, "--out", runs_dir / "walk.gif", runs_dir=runs_dir, env={**os.environ, "LAB_ALLOW_MODULES": "tests"})
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "tests.broken_envs:Walk has no 'rgb_array' render mode" in out.stderr


def test_lab_eval_feeds_a_gymnasium_runs_policy_the_observations_it_trained_on(runs):
    root, _, lake = runs
    out = lab_main("eval", lake.path, "--episodes", "5", "--json", runs_dir=root)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["return_mean"] == 1.0


@pytest.mark.slow
@pytest.mark.parametrize("env, path", [
    (GRIDWORLD, "user torch env tests.gridworld_env:GridWorld"),
    ({"id": "FrozenLake-v1", "n_envs": 8, "kwargs": {"is_slippery": False}}, GYMNASIUM_PATH),
], ids=["user-torch-env", "gymnasium"])
def test_a_killed_run_resumes_on_both_paths(env, path, tmp_path):
    import tomli_w

    toml = tmp_path / "any-env.toml"
    toml.write_text(tomli_w.dumps(experiment(env, 5 * 1024, eval={"every": 1024, "episodes": 5, "checkpoint_every": 2048})))
    runs_dir = tmp_path / "runs"
    crashed = run_until_resume_checkpoint(toml, [], runs_dir)
    assert crashed.state == "crashed"
    out = lab_cli("resume", crashed.id, "--allow-module", "tests", runs_dir=runs_dir)
    assert out.returncode == 0, out.stderr + out.stdout
    (run,) = lab.list_runs(runs_dir)
    assert run.state == "completed" and run.results.total_steps == 5 * 1024
    assert run.summary.env_path == path


def test_policy_attribution_explains_a_user_torch_envs_policy(runs):
    root, grid, _ = runs
    spec = lab.load_experiment({"name": "grid-attributions", "kind": "attribution",
                                "model": {"from_run": str(grid.path), "rollout_episodes": 3},
                                "explain": {"samples": 5, "background": 10, "methods": ["integrated_gradients"]}})
    run = lab.run(spec, runs_dir=root)
    assert run.state == "completed", run.summary.error
    assert run.results.module_matches_agent == 1.0 and run.results.rollout_states >= 3


async def test_the_dashboard_plays_a_user_torch_envs_run(runs):
    from lab.tui.app import LabApp
    from lab.tui.widgets.play_pane import PlayPane

    from .pilot import wait_for

    root, grid, lake = runs
    app = LabApp(root)
    async with app.run_test(size=(160, 48)) as pilot:
        for path in (lake.path, grid.path):  # a run of each path opens
            app.open_run(path)
            await wait_for(pilot, lambda: getattr(app.screen, "ready", False))
        await pilot.press("p")
        pane = app.screen.query_one(PlayPane)
        await wait_for(pilot, lambda: pane.frames >= 2, timeout=30)
