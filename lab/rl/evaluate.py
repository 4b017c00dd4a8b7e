"""Evaluating a policy: complete episodes, stepped in a batch across a few envs."""

from __future__ import annotations

import numpy as np

from lab.rl.envs import make_env


def evaluate(act, spec, episodes: int, seed: int, deterministic: bool = True,
             max_parallel: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Returns and lengths of `episodes` full episodes of `act(obs_batch, deterministic)`.

    Episodes run in up to `max_parallel` envs stepped together so the policy sees one batch
    per step; env i starts from seed + i, so the same seed gives the same episodes.
    """
    n = min(episodes, max_parallel)
    quota = [episodes // n + (i < episodes % n) for i in range(n)]
    envs = [make_env(spec) for _ in range(n)]
    try:
        obs = [env.reset(seed=seed + i)[0] for i, env in enumerate(envs)]
        ret = [0.0] * n
        length = [0] * n
        returns: list[float] = []
        lengths: list[int] = []
        active = [i for i in range(n) if quota[i] > 0]
        while active:
            actions = act(np.stack([np.asarray(obs[i]) for i in active]), deterministic)
            still = []
            for i, action in zip(active, actions):
                obs[i], reward, terminated, truncated, _ = envs[i].step(_env_action(action))
                ret[i] += float(reward)
                length[i] += 1
                if terminated or truncated:
                    returns.append(ret[i])
                    lengths.append(length[i])
                    quota[i] -= 1
                    ret[i], length[i] = 0.0, 0
                    if quota[i] == 0:
                        continue
                    obs[i] = envs[i].reset()[0]
                still.append(i)
            active = still
        return np.asarray(returns), np.asarray(lengths)
    finally:
        for env in envs:
            env.close()


def _env_action(action):
    action = np.asarray(action)
    return action.item() if action.ndim == 0 else action
