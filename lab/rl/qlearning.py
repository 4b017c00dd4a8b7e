"""Tabular Q-learning (Watkins, 1989): the first RL method people learn.

For environments with Discrete observations and actions (FrozenLake-v1, Taxi-v4, CliffWalking).
epsilon-greedy behaviour with linearly decaying epsilon; greedy ties broken at random so an
all-zero table does not always pick action 0. The delivered Q-table is saved as
`artifacts/q_table.npy` (states x actions).

Resumable (`lab resume`) after any step: the table, the generator, and the environment as it was
(a toy-text env is a few numbers: its state, last action, random generator, the time limit's
count), so a resumed run makes the same moves as the uninterrupted one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lab.rl.envs import make_env
from lab.rl.params import schedule
from lab.store import atomic_target, read_npy_checked, read_npz_checked

METRIC_EVERY = 1000
Q_TABLE = "q_table.npy"  # in artifacts/: the delivered Q-table


class QLearningAgent:
    suffix = ".npy"

    def __init__(self, spec, device: str = "cpu", table: np.ndarray | None = None):
        self.spec = spec
        if table is None:
            env = make_env(spec)
            table = np.zeros((env.observation_space.n, env.action_space.n))
            env.close()
        self.q = table
        self.resumed: dict | None = None  # what `load_resumable` brought back, for learn
        self.live: tuple = ()  # learn's state after its latest step (save_resumable's)

    def epsilon(self, step: int) -> float:
        p = self.spec.agent
        frac = min(step / (p.exploration_fraction * p.total_steps), 1.0)
        return p.exploration_initial_eps + frac * (p.exploration_final_eps - p.exploration_initial_eps)

    def learn(self, tracker) -> None:
        p = self.spec.agent
        rng = np.random.default_rng(self.spec.seed)
        lr = schedule(p.learning_rate)
        env = make_env(self.spec)
        env.action_space.seed(self.spec.seed)
        n_actions = self.q.shape[1]
        obs, _ = env.reset(seed=self.spec.seed)
        ep_return, ep_length, td_sum, done = 0.0, 0, 0.0, 0
        if self.resumed is not None:
            saved, self.resumed = self.resumed, None
            rng.bit_generator.state = saved["rng"]
            _restore_env(env, saved["env"])
            done, obs, ep_return, ep_length, td_sum = saved["step"], saved["obs"], saved["ep_return"], saved["ep_length"], saved["td_sum"]
        try:
            for step in range(done + 1, p.total_steps + 1):
                # after every step nothing is half-done: a resumable checkpoint may be written here
                self.live = (step - 1, obs, ep_return, ep_length, td_sum, env, rng)
                if not tracker.boundary(step - 1):
                    break
                eps = self.epsilon(step)
                if rng.random() < eps:
                    action = int(rng.integers(n_actions))
                else:
                    row = self.q[obs]
                    action = int(rng.choice(np.flatnonzero(row == row.max())))
                next_obs, reward, terminated, truncated, _ = env.step(action)
                alpha = lr(1.0 - step / p.total_steps) if callable(lr) else lr
                target = reward + (0.0 if terminated else p.gamma * self.q[next_obs].max())
                td = target - self.q[obs, action]
                self.q[obs, action] += alpha * td
                td_sum += abs(td)
                ep_return += reward
                ep_length += 1
                obs = next_obs
                if terminated or truncated:
                    tracker.episode(step, ep_return, ep_length)
                    obs, _ = env.reset()
                    ep_return, ep_length = 0.0, 0
                if step % METRIC_EVERY == 0:
                    tracker.metrics(step, {"epsilon": eps, "learning_rate": alpha, "td_error": td_sum / METRIC_EVERY})
                    td_sum = 0.0
                if not tracker.step(step):
                    break
        finally:
            env.close()

    def save_resumable(self, path_for, stem: str) -> tuple[dict, dict]:
        """The table (`stem`.npz); the step, generator, episode under way and environment in the JSON state."""
        step, obs, ep_return, ep_length, td_sum, env, rng = self.live
        files = {"agent": path_for(f"{stem}.npz")}
        with atomic_target(files["agent"]) as tmp:
            np.savez(tmp, q=self.q)
        return files, {"step": int(step), "obs": int(obs), "ep_return": float(ep_return), "ep_length": int(ep_length),
                       "td_sum": float(td_sum), "rng": rng.bit_generator.state, "env": _env_state(env)}

    def load_resumable(self, files: dict, state: dict, reseed: int) -> None:
        """The table now, the rest when `learn` starts (the environment as it was: `reseed` is not needed)."""
        with read_npz_checked(files["agent"], self.q.nbytes + (1 << 20)) as f, np.load(f, allow_pickle=False) as data:
            q = data["q"]
        if q.shape != self.q.shape:
            raise ValueError(f"a Q-table of shape {q.shape} does not fit this environment's {self.q.shape}")
        # the rest as `learn` will use it, on a throwaway environment (one step taken): what does
        # not fit this spec fails here, where `lab resume` refuses it before touching the run folder
        obs, ep_length = state["obs"], state["ep_length"]
        if not (isinstance(obs, int) and 0 <= obs < q.shape[0] and isinstance(ep_length, int) and ep_length >= 0
                and all(isinstance(state[k], (int, float)) and np.isfinite(state[k]) for k in ("ep_return", "td_sum"))):
            raise ValueError("obs, ep_return, ep_length or td_sum: not the numbers of this environment's episode")
        np.random.default_rng().bit_generator.state = state["rng"]
        env = make_env(self.spec)
        try:
            _restore_env(env, state["env"])
            env.step(0)
        finally:
            env.close()
        self.q = q
        self.resumed = state

    def act(self, obs, deterministic: bool = True):
        obs = np.asarray(obs, dtype=np.int64).reshape(-1)
        return self.q[obs].argmax(axis=1)

    def save(self, path: Path) -> None:
        with atomic_target(path) as tmp:
            np.save(tmp, self.q)

    @classmethod
    def load(cls, path: Path, spec, device: str = "cpu") -> QLearningAgent:
        agent = cls(spec, device)  # the table this spec's spaces make: what the file must fit
        expected = agent.q.shape
        try:
            table = read_npy_checked(path, expected)  # the header first: it may declare gigabytes
        except ValueError as e:
            raise ValueError(f"a Q-table that does not fit this environment's {expected} (states x actions): {e}") from None
        agent.q = table.astype(np.float64, copy=False)
        return agent

    def scores_module(self):
        from lab.errors import BadInput
        from lab.rl.algos import ALGOS

        neural = [name for name, a in ALGOS.items() if a.scores is not None and "Discrete" in a.action_spaces]
        raise BadInput("model.from_run: a qlearning policy is a table, with no gradients to attribute; "
                       f"explain a neural policy ({', '.join(neural)})")

    def export_artifacts(self, ctx, policy) -> None:
        path = ctx.artifact(Q_TABLE)
        policy.save(path)
        ctx.emit("artifact", path=ctx.relpath(path), description="delivered Q-table, states x actions")


def _time_limit(env):
    import gymnasium as gym

    while isinstance(env, gym.Wrapper):
        if isinstance(env, gym.wrappers.TimeLimit):
            return env
        env = env.env
    return None


def _env_state(env) -> dict:
    """A toy-text env's own variables (the plain numbers among its attributes: its state `s`, last
    action, ...), its random generator and the time limit's count, as JSON."""
    plain = {k: v.item() if isinstance(v, np.generic) else v for k, v in vars(env.unwrapped).items()
             if v is None or isinstance(v, (bool, int, float, np.integer, np.floating))}
    limit = _time_limit(env)
    return {"vars": plain, "np_random": env.unwrapped.np_random.bit_generator.state,
            "elapsed": None if limit is None else limit._elapsed_steps}


def _restore_env(env, state: dict) -> None:
    """ValueError for a state whose variables are not this env's own plain ones."""
    env.reset()  # (the wrappers' checks want a reset before a step)
    own = _env_state(env)["vars"]
    for k, v in state["vars"].items():
        if k not in own or not (v is None or isinstance(v, (bool, int, float))) or (
                own[k] is not None and v is not None and type(v) is not type(own[k])):
            raise ValueError(f"env: {k!r} = {v!r} is not one of this environment's variables")
    elapsed = state["elapsed"]
    if elapsed is not None and not (isinstance(elapsed, int) and elapsed >= 0):
        raise ValueError(f"env: elapsed {elapsed!r} is not a step count")
    for k, v in state["vars"].items():
        setattr(env.unwrapped, k, v)
    env.unwrapped.np_random.bit_generator.state = state["np_random"]
    limit = _time_limit(env)
    if limit is not None and state["elapsed"] is not None:
        limit._elapsed_steps = state["elapsed"]
