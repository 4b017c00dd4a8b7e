"""lab's torch environments are Gymnasium's, step for step: from the same state and action, one
step of each gives the same observation (to 1e-5 in float64, 1e-4 in float32), reward, terminated
and truncated; and they keep Gymnasium's vector API (same-step autoreset, seeding, spaces)."""

import itertools
import math
from dataclasses import dataclass
from typing import Callable

import gymnasium as gym
import numpy as np
import pytest
import torch

from lab.engine import ENV_IDS, ENVS, make_vec
from lab.engine.envs.vector import MAX_RESET_DRAW_INTERVAL
from lab.errors import BadInput

TOLERANCE = {torch.float64: 1e-5, torch.float32: 1e-4}
SAMPLES = 2000  # random (state, action, elapsed) per seed
SEEDS = range(10)


def spread(rng: np.random.Generator, n: int, low: float, high: float, edge: float) -> np.ndarray:
    """n values in [low, high]: half uniform over it, a quarter within `edge` of each end (where
    thresholds, clipping and wrapping are)."""
    where = rng.integers(0, 4, n)
    return np.select([where == 0, where == 1], [rng.uniform(low, low + edge, n), rng.uniform(high - edge, high, n)],
                     rng.uniform(low, high, n))


def on_threshold(rng: np.random.Generator, states: np.ndarray, position: int, velocity: int, threshold: float) -> np.ndarray:
    """States with 5% of rows exactly at +-threshold and not moving: one Euler step leaves them
    there, where `>` and `>=` differ."""
    at = rng.random(len(states)) < 0.05
    states[at, position] = threshold * rng.choice([-1.0, 1.0], at.sum())
    states[at, velocity] = 0.0
    return states


@dataclass
class Case:
    """How to test one environment: states over its whole valid state space, random actions, and
    how far a float64 next state is from its termination boundary (float32 rounding may decide
    the flag differently within 1e-5 of it)."""
    states: Callable[[np.random.Generator, int], np.ndarray]
    actions: Callable[[np.random.Generator, int], np.ndarray]
    boundary_distance: Callable[[np.ndarray], float]
    exact_reward: bool = True  # a constant per outcome; Pendulum's is a continuous cost


CARTPOLE_THETA = 12 * 2 * math.pi / 360
CASES = {
    "CartPole-v1": Case(
        states=lambda rng, n: on_threshold(rng, on_threshold(rng, np.stack([
            spread(rng, n, -2.4, 2.4, 0.1), rng.uniform(-3, 3, n),
            spread(rng, n, -CARTPOLE_THETA, CARTPOLE_THETA, 0.05), rng.uniform(-3.5, 3.5, n)], 1), 0, 1, 2.4), 2, 3, CARTPOLE_THETA),
        actions=lambda rng, n: rng.integers(0, 2, n),
        boundary_distance=lambda s: min(abs(abs(s[0]) - 2.4), abs(abs(s[2]) - CARTPOLE_THETA))),
    "Acrobot-v1": Case(
        states=lambda rng, n: np.stack([spread(rng, n, -math.pi, math.pi, 0.2), spread(rng, n, -math.pi, math.pi, 0.2),
                                        spread(rng, n, -4 * math.pi, 4 * math.pi, 1.0), spread(rng, n, -9 * math.pi, 9 * math.pi, 2.0)], 1),
        actions=lambda rng, n: rng.integers(0, 3, n),
        boundary_distance=lambda s: abs(-math.cos(s[0]) - math.cos(s[1] + s[0]) - 1.0)),
    "MountainCar-v0": Case(
        # the left wall (-1.2, where a negative velocity is zeroed) and the goal (0.5) are edges
        states=lambda rng, n: np.stack([np.where(rng.random(n) < 0.05, -1.2, spread(rng, n, -1.2, 0.6, 0.08)),
                                        spread(rng, n, -0.07, 0.07, 0.01)], 1),
        actions=lambda rng, n: rng.integers(0, 3, n),
        boundary_distance=lambda s: min(abs(s[0] - 0.5), abs(s[1]) if s[0] >= 0.5 else math.inf)),
    "Pendulum-v1": Case(
        # theta is not wrapped in the state; torques beyond +-2 are clipped
        states=lambda rng, n: np.stack([rng.uniform(-4 * math.pi, 4 * math.pi, n), spread(rng, n, -8, 8, 0.5)], 1),
        actions=lambda rng, n: rng.uniform(-3, 3, (n, 1)).astype(np.float32),
        boundary_distance=lambda s: math.inf, exact_reward=False),
}


def gymnasium_steps(env_id: str, states: np.ndarray, actions: np.ndarray, elapsed: np.ndarray):
    """Gymnasium's own env (TimeLimit included) stepped once from each state: obs, reward,
    terminated, truncated, and the float64 state after the step."""
    env = gym.make(env_id)
    env.reset(seed=0)
    obs, rewards, terminated, truncated, next_states = [], [], [], [], []
    for state, action, steps in zip(states, actions, elapsed):
        env.unwrapped.state = state.copy()
        env._elapsed_steps = int(steps)  # TimeLimit's counter
        if env_id == "CartPole-v1":
            env.unwrapped.steps_beyond_terminated = None  # each sample is a fresh episode's step
        o, r, te, tr, _ = env.step(action.astype(np.float32) if action.ndim else int(action))
        obs.append(o), rewards.append(r), terminated.append(te), truncated.append(tr)
        next_states.append(np.array(env.unwrapped.state, dtype=np.float64))
    return np.array(obs), np.array(rewards), np.array(terminated), np.array(truncated), np.array(next_states)


@pytest.fixture(scope="module", params=list(CASES))
def reference(request):
    """Random states, actions and step counts (20% at the time limit's last step), per seed."""
    env_id = request.param
    case, limit = CASES[env_id], ENVS[env_id].max_episode_steps
    batches = []
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        states, actions = case.states(rng, SAMPLES), case.actions(rng, SAMPLES)
        elapsed = np.where(rng.random(SAMPLES) < 0.2, limit - 1, rng.integers(0, limit, SAMPLES))
        batches.append((states, actions, elapsed))
    return env_id, batches


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_one_step_from_the_same_state_and_action_agrees_with_gymnasium(reference, dtype):
    env_id, batches = reference
    case, tol = CASES[env_id], TOLERANCE[dtype]
    for states, actions, elapsed in batches:
        states = states.astype(np.float32).astype(np.float64) if dtype == torch.float32 else states
        obs, rewards, terminated, truncated, next_states = gymnasium_steps(env_id, states, actions, elapsed)

        env = make_vec(env_id, len(states), seed=0, dtype=dtype)
        env.state = torch.as_tensor(states)
        env.elapsed = torch.as_tensor(elapsed)
        lab_obs, lab_reward, lab_terminated, lab_truncated, info = env.step(torch.as_tensor(actions))

        # float32 may decide a flag either way only within 1e-5 of the termination boundary
        # (CartPole's 2.4 is 2.4000001 in float32): those samples' flags are not compared
        near = np.array([dtype == torch.float32 and case.boundary_distance(s) < 1e-5 for s in next_states])
        assert near.mean() < 0.15  # in float32, mostly the 10% placed right on CartPole's thresholds
        np.testing.assert_allclose(info["final_obs"].numpy(), obs, rtol=0, atol=tol)
        assert np.array_equal(lab_terminated.numpy()[~near], terminated[~near])
        assert np.array_equal(lab_truncated.numpy(), truncated)
        if case.exact_reward:
            assert np.array_equal(lab_reward.numpy()[~near], rewards[~near].astype(lab_reward.numpy().dtype))
        else:
            np.testing.assert_allclose(lab_reward.numpy(), rewards, rtol=0, atol=tol)
        # where an episode ends, obs is the next one's first (final_obs has the step's own);
        # where it goes on, obs is the step's and the state is Gymnasium's (Acrobot's wrapped angles)
        assert torch.equal(info["_final_obs"], lab_terminated | lab_truncated)
        goes_on = ~(info["_final_obs"].numpy() | terminated | truncated)
        assert torch.equal(lab_obs[goes_on], info["final_obs"][goes_on])
        np.testing.assert_allclose(env.state[goes_on].numpy(), next_states[goes_on], rtol=0, atol=tol)
        assert terminated.any() or env_id == "Pendulum-v1"  # the samples reach the boundary
        assert truncated.any()


@pytest.mark.parametrize("seed", range(20))
def test_a_whole_cartpole_episode_agrees_with_gymnasium_in_float64(seed):
    """From Gymnasium's reset state, random actions, to the end: every step's state to 1e-12.

    (An episode held up to the 500-step limit by a policy that reads Gymnasium's state drifts
    apart after a few hundred steps: torch's vectorised float64 sin differs from libm's in the
    last bit for ~0.3% of angles, and the upright pole doubles any difference every ~0.2 s.)"""
    rng = np.random.default_rng(seed)
    gym_env = gym.make("CartPole-v1")
    gym_env.reset(seed=seed)
    env = make_vec("CartPole-v1", 1, seed=0, dtype=torch.float64)
    env.state = torch.as_tensor(gym_env.unwrapped.state)[None]
    while True:
        action = int(rng.integers(0, 2))
        gym_obs, gym_reward, gym_terminated, gym_truncated, _ = gym_env.step(action)
        obs, reward, terminated, truncated, info = env.step(torch.tensor([action]))
        np.testing.assert_allclose(info["final_obs"][0].numpy(), gym_env.unwrapped.state, rtol=0, atol=1e-12)
        np.testing.assert_allclose(info["final_obs"][0].numpy(), gym_obs, rtol=0, atol=1e-5)
        assert (reward.item(), terminated.item(), truncated.item()) == (gym_reward, gym_terminated, gym_truncated)
        if gym_terminated or gym_truncated:
            break
    assert terminated.item() and info["_final_obs"].item()


@pytest.mark.parametrize("env_id", ["MountainCar-v0", "Pendulum-v1"])
def test_a_whole_episode_agrees_with_gymnasium_in_float64(env_id):
    """The stable others too, to their time limit (Acrobot's double pendulum, like CartPole's
    pole, amplifies last-bit differences over an episode: it agrees step by step, above)."""
    rng = np.random.default_rng(1)
    gym_env = gym.make(env_id)
    gym_env.reset(seed=5)
    env = make_vec(env_id, 1, seed=0, dtype=torch.float64)
    env.state = torch.as_tensor(np.array(gym_env.unwrapped.state, dtype=np.float64))[None]
    for step in range(1, 1000):
        action = CASES[env_id].actions(rng, 1)
        # Pendulum's torque goes to Gymnasium as float64 (the same number): given a float32 one,
        # it rounds its torque term 3u/(ml^2) to float32 (numpy 2 keeps float32 * Python float
        # in float32), which moves its state by ~1e-8 a step and its reward by up to 1e-6
        gym_action = action[0].astype(np.float64) if action.ndim > 1 else int(action[0])
        gym_obs, gym_reward, gym_terminated, gym_truncated, _ = gym_env.step(gym_action)
        obs, reward, terminated, truncated, info = env.step(torch.as_tensor(action))
        np.testing.assert_allclose(info["final_obs"][0].numpy(), gym_obs, rtol=0, atol=1e-5)
        if not (gym_terminated or gym_truncated):
            np.testing.assert_allclose(env.state[0].numpy(), np.array(gym_env.unwrapped.state, dtype=np.float64), rtol=0, atol=1e-12)
        assert reward.item() == pytest.approx(gym_reward, abs=1e-12)
        assert (terminated.item(), truncated.item()) == (gym_terminated, gym_truncated)
        if gym_terminated or gym_truncated:
            break
    assert step == ENVS[env_id].max_episode_steps and truncated.item()


@pytest.mark.parametrize("env_id", list(ENVS))
def test_spaces_are_gymnasiums(env_id):
    single = gym.make(env_id)
    env = make_vec(env_id, 3, seed=0)
    assert env.single_observation_space == single.observation_space
    assert env.single_action_space == single.action_space
    assert env.observation_space == gym.vector.utils.batch_space(single.observation_space, 3)
    assert env.action_space == gym.vector.utils.batch_space(single.action_space, 3)
    assert env.metadata["autoreset_mode"] == gym.vector.AutoresetMode.SAME_STEP
    obs, _ = env.reset(seed=0)
    assert obs.shape == env.observation_space.shape and obs.dtype == torch.float32
    single.reset(seed=0)
    assert env.state.shape == (3, len(single.unwrapped.state)) == (3, len(env.state_names))


@pytest.mark.parametrize("env_id", list(ENVS))
def test_float64_on_request(env_id):
    env = make_vec(env_id, 4, seed=0, dtype=torch.float64)
    obs, _ = env.reset()
    actions = torch.as_tensor(env.action_space.sample())
    obs, reward, terminated, truncated, info = env.step(actions)
    assert obs.dtype == reward.dtype == info["final_obs"].dtype == env.state.dtype == torch.float64
    assert terminated.dtype == truncated.dtype == torch.bool
    assert env.single_observation_space.dtype == np.float64


def test_an_episode_that_ends_restarts_in_the_same_step_with_its_final_obs_in_info():
    env = make_vec("CartPole-v1", 3, seed=0, dtype=torch.float64)
    env.state = torch.tensor([[2.39, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.2, 1.0]], dtype=torch.float64)
    env.elapsed = torch.tensor([10, 10, 10])
    obs, reward, terminated, truncated, info = env.step(torch.tensor([1, 0, 1]))
    assert terminated.tolist() == [True, False, True] and truncated.tolist() == [False, False, False]
    assert reward.tolist() == [1.0, 1.0, 1.0]  # the terminating step is rewarded too
    assert info["_final_obs"].tolist() == [True, False, True]
    assert info["final_obs"][0, 0] > 2.4 and info["final_obs"][2, 2] > CARTPOLE_THETA
    assert obs[[0, 2]].abs().max() <= 0.05  # first observations of new episodes
    assert torch.equal(obs[1], info["final_obs"][1])
    assert torch.equal(env.state, obs) and env.elapsed.tolist() == [0, 11, 0]


def test_truncated_at_the_time_limit_then_a_new_episode():
    env = make_vec("Pendulum-v1", 5, seed=0)
    actions = torch.zeros(5, 1)
    for _ in range(199):
        *_, truncated, _info = env.step(actions)
        assert not truncated.any()
    obs, reward, terminated, truncated, info = env.step(actions)
    assert truncated.all() and not terminated.any() and info["_final_obs"].all()
    assert env.elapsed.tolist() == [0] * 5
    assert not torch.equal(obs, info["final_obs"])


def test_terminated_and_truncated_together_at_the_limit_as_in_gymnasiums_time_limit():
    env = make_vec("CartPole-v1", 1, seed=0, dtype=torch.float64)
    env.state = torch.tensor([[2.4, 1.0, 0.0, 0.0]], dtype=torch.float64)
    env.elapsed = torch.tensor([499])
    _, _, terminated, truncated, _ = env.step(torch.tensor([1]))
    assert terminated.item() and truncated.item()


@pytest.mark.parametrize("env_id", list(ENVS))
def test_reset_with_a_seed_is_reproducible(env_id):
    a, b = make_vec(env_id, 64, seed=5), make_vec(env_id, 64, seed=5)
    first, _ = a.reset(seed=11)
    assert torch.equal(first, b.reset(seed=11)[0])
    assert torch.equal(a.reset(seed=11)[0], first)
    assert not torch.equal(a.reset(seed=12)[0], first)
    # and so is every autoreset state after it
    a.reset(seed=11), b.reset(seed=11)
    actions = torch.as_tensor(np.stack([a.single_action_space.sample() for _ in range(64)]))
    for _ in range(30):
        assert torch.equal(a.step(actions)[0], b.step(actions)[0])
    assert torch.equal(make_vec(env_id, 64, seed=5).state, make_vec(env_id, 64, seed=5).state)


@pytest.mark.parametrize("env_id", list(ENVS))
def test_reset_states_are_drawn_uniformly_from_gymnasiums_reset_box(env_id):
    low, high = np.array(ENVS[env_id].reset_low), np.array(ENVS[env_id].reset_high)
    gym_env, gym_states = gym.make(env_id), []
    for seed in range(300):
        gym_env.reset(seed=seed)
        gym_states.append(np.array(gym_env.unwrapped.state, dtype=np.float64))
    gym_states = np.array(gym_states)
    assert (gym_states >= low - 1e-7).all() and (gym_states <= high + 1e-7).all()
    assert (gym_states.min(0) <= low + 0.05 * (high - low)).all() and (gym_states.max(0) >= high - 0.05 * (high - low)).all()

    states = make_vec(env_id, 20_000, seed=0, dtype=torch.float64).state.numpy()
    assert (states >= low).all() and (states <= high).all()
    np.testing.assert_allclose(states.mean(0), (low + high) / 2, atol=0.01 * (high - low).max())
    np.testing.assert_allclose(states.std(0), (high - low) / math.sqrt(12), rtol=0.02, atol=1e-12)


@pytest.mark.parametrize("env_id", list(ENVS))
def test_no_episode_from_the_reset_box_is_shorter_than_the_pool_interval(env_id):
    """Every action sequence from the corners of the reset box (and a grid inside, for CartPole)
    runs for the pool's redraw interval without ending: so a pooled reset state is used once."""
    cls = ENVS[env_id]
    interval = min(cls.shortest_episode, MAX_RESET_DRAW_INTERVAL)
    points = 3 if env_id == "CartPole-v1" else 2
    starts = np.array(list(itertools.product(*[np.linspace(lo, hi, points) for lo, hi in zip(cls.reset_low, cls.reset_high)])))
    if isinstance(cls.gym_action_space, gym.spaces.Discrete):
        choices = [np.array(a) for a in range(cls.gym_action_space.n)]
    else:
        choices = [cls.gym_action_space.low, cls.gym_action_space.high]
    sequences = list(itertools.product(range(len(choices)), repeat=interval - 1))
    env = make_vec(env_id, len(starts) * len(sequences), seed=0, dtype=torch.float64)
    env.state = torch.as_tensor(np.repeat(starts, len(sequences), 0))
    for t in range(interval - 1):
        actions = np.stack([choices[seq[t]] for seq in sequences] * len(starts))
        *_, terminated, truncated, _ = env.step(torch.as_tensor(actions))
        assert not (terminated | truncated).any(), f"an episode of {env_id} ended at step {t + 1}"


def test_reset_states_are_never_reused():
    """Thousands of CartPole episodes ending at random times: each starts from its own draw."""
    env = make_vec("CartPole-v1", 256, seed=3)
    generator = torch.Generator().manual_seed(0)
    starts = [env.state.clone()]
    for _ in range(600):
        obs, _, terminated, truncated, _ = env.step(torch.randint(0, 2, (256,), generator=generator))
        starts.append(obs[terminated | truncated])
    starts = torch.cat(starts)
    assert len(starts) > 5000
    assert len(torch.unique(starts, dim=0)) == len(starts)


def test_setting_the_state_by_hand_redraws_the_reset_states():
    env = make_vec("CartPole-v1", 4, seed=0)
    firsts = []
    for _ in range(3):  # an episode that ends at once, three times running
        env.state = torch.full((4, 4), 3.0)
        obs, _, terminated, _, _ = env.step(torch.ones(4, dtype=torch.int64))
        assert terminated.all()
        firsts.append(obs)
    assert len(torch.unique(torch.cat(firsts), dim=0)) == 12


@pytest.mark.parametrize("env_id", list(ENVS))
def test_step_and_reset_never_read_a_tensor_on_the_host(env_id, monkeypatch):
    """What would make a GPU wait for its queue: a tensor's value in Python (bool, item, tolist,
    numpy) or a shape that depends on values (nonzero, boolean indexing goes through it)."""
    env = make_vec(env_id, 64, seed=0)
    actions = torch.as_tensor(np.stack([env.single_action_space.sample() for _ in range(64)]))
    env.step(actions)  # the first step, before the patches: lazy set-up is allowed

    def host_read(*args, **kwargs):
        raise AssertionError("a tensor's value was read on the host")
    for name in ("__bool__", "item", "tolist", "numpy", "nonzero", "__int__", "__float__"):
        monkeypatch.setattr(torch.Tensor, name, host_read)
    monkeypatch.setattr(torch, "nonzero", host_read)
    for _ in range(20):  # through pool redraws and autoresets
        env.step(actions)
    env.reset(seed=1)
    env.reset(options={"reset_mask": torch.ones(64, dtype=torch.bool)})


def test_actions_that_carry_gradients_are_taken_as_values():
    env = make_vec("Pendulum-v1", 4, seed=0)
    torque = torch.zeros(4, 1, requires_grad=True)
    obs, reward, _, _, info = env.step(torque * 2)
    assert not (obs.requires_grad or reward.requires_grad or info["final_obs"].requires_grad or env.state.requires_grad)


def test_reset_mask_restarts_only_those_environments():
    env = make_vec("MountainCar-v0", 4, seed=0)
    env.state = torch.tensor([[0.1, 0.01]] * 4)
    env.elapsed = torch.tensor([5, 5, 5, 5])
    env.reset(options={"reset_mask": torch.tensor([True, False, True, False])})
    assert env.state[[1, 3]].tolist() == [[pytest.approx(0.1), pytest.approx(0.01)]] * 2
    assert ((env.state[[0, 2], 0] >= -0.6) & (env.state[[0, 2], 0] <= -0.4)).all()
    assert env.elapsed.tolist() == [0, 5, 0, 5]
    with pytest.raises(BadInput, match="reset option 'low' is not supported"):
        env.reset(options={"low": -0.1})


def test_state_is_readable_and_settable():
    env = make_vec("Acrobot-v1", 3, seed=0)
    new = torch.arange(12, dtype=torch.float32).reshape(3, 4) / 10
    env.state = new
    new[0, 0] = 99.0  # the env keeps its own copy
    assert env.state[0, 0].item() == 0.0 and env.state[2, 3].item() == pytest.approx(1.1)
    assert torch.equal(env.state, torch.arange(12, dtype=torch.float32).reshape(3, 4) / 10)
    with pytest.raises(BadInput, match=r"Acrobot-v1: state of shape \(3, 3\); expected \(3, 4\) \(num_envs, theta1, theta2, dtheta1, dtheta2\)"):
        env.state = torch.zeros(3, 3)


def test_changing_an_observation_in_place_leaves_the_environment_alone():
    env = make_vec("CartPole-v1", 2, seed=0)
    obs, _ = env.reset(seed=0)
    before = env.state
    obs += 1.0
    env.state[0, 0] = 5.0  # a copy too: assign env.state to set it
    assert torch.equal(env.state, before)
    obs, *_ = env.step(torch.zeros(2, dtype=torch.int64))
    obs.zero_()
    assert not torch.equal(env.state, obs)


def test_actions_of_the_wrong_shape_are_refused():
    env = make_vec("Pendulum-v1", 4, seed=0)
    with pytest.raises(BadInput, match=r"Pendulum-v1: actions of shape \(4,\); expected \(4, 1\)"):
        env.step(torch.zeros(4))


def test_an_unknown_env_id_lists_the_supported_ones():
    with pytest.raises(BadInput) as caught:
        make_vec("CartPole-v0", 8)
    message = str(caught.value)
    assert "\n" not in message
    assert message == ("unknown engine environment 'CartPole-v0'; did you mean 'CartPole-v1'? "
                       "(allowed: Acrobot-v1, CartPole-v1, MountainCar-v0, Pendulum-v1)")


def test_the_torch_free_env_ids_validation_reads_are_the_ids_of_the_engines_environments():
    # ENV_CLASSES is the one list: ENV_IDS (validation, which imports no torch) and ENVS (its classes) read it
    assert ENV_IDS == tuple(ENVS) and all(cls.id == env_id for env_id, cls in ENVS.items())


@pytest.mark.parametrize("kwargs, message", [
    ({"num_envs": 0}, "CartPole-v1: num_envs must be a whole number >= 1, got 0"),
    ({"num_envs": 2, "dtype": torch.float16}, "CartPole-v1: dtype torch.float16 is not supported; use torch.float32 or torch.float64"),
    pytest.param({"num_envs": 2, "device": "cuda"}, "CartPole-v1: device 'cuda' requested but torch sees no CUDA device; use 'cpu'",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="there is a CUDA device")),
])
def test_bad_sizes_and_dtypes_are_refused(kwargs, message):
    with pytest.raises(BadInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        make_vec("CartPole-v1", **kwargs)
