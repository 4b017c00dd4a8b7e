"""Faithfulness of attributions of an RL policy, measured by what the policy does.

- **Action-flip rate**: on the explained states, the top-k observation features by |attribution|
  are replaced by their values in random background states (other states the policy visited);
  the share of states whose greedy action changes, mean over `draws` replacements. A faithful
  ranking names the features whose loss changes the decision: higher is more faithful.
- **Return drop over whole episodes**: the k features with the largest mean |attribution| over the
  explained states are masked (held at the baseline, the mean visited state) in every observation
  the policy sees for whole episodes; the drop of the mean return against unmasked episodes on the
  same seeds, relative to the unmasked return. Higher is more faithful.

The random control gets the same: its top-k are random features (for the return, a fresh draw
of k features per episode).
"""

from __future__ import annotations

import numpy as np
import torch


def policy_k(top_k: int, n_features: int) -> int:
    """k for policies: the comparison's top_k, at most a quarter of the observation (at least 1):
    a policy without half its observation fails whichever half it is (CartPole without any two
    of its four features drops 98% of its return), and the measure no longer tells methods apart."""
    return max(1, min(top_k, n_features // 4))


def action_flip_rate(module, states: np.ndarray, attr: np.ndarray, k: int, background: np.ndarray, seed: int,
                     draws: int = 10) -> float:
    """Share of states whose greedy action changes when their top-k |attribution| features take a
    random background state's values, mean over `draws`."""
    rng = np.random.default_rng(seed)
    n = len(states)
    top = np.argsort(-np.abs(attr.reshape(n, -1)), axis=1, kind="stable")[:, :k]
    device = next(module.parameters()).device
    with torch.no_grad():
        clean = module(torch.as_tensor(states, device=device)).argmax(1).cpu().numpy()
        flips = []
        for _ in range(draws):
            moved = states.copy()
            donors = background[rng.integers(len(background), size=n)]
            rows = np.arange(n)[:, None]
            moved[rows, top] = donors[rows, top]
            flips.append((module(torch.as_tensor(moved, device=device)).argmax(1).cpu().numpy() != clean).mean())
    return float(np.mean(flips))


def masked_returns(agent, spec, features: list[int], baseline: np.ndarray, episodes: int, seed: int) -> np.ndarray:
    """Returns of `episodes` greedy episodes (seeds seed, seed + 1, ...) with `features` of every
    observation held at `baseline`."""
    from lab.rl.evaluate import evaluate

    held = np.asarray(baseline, dtype=np.float32)

    def act(obs, deterministic=True):
        obs = np.array(obs, dtype=np.float32)
        obs[..., features] = held[features]
        return agent.act(obs, deterministic)

    returns, _ = evaluate(act, spec, episodes, seed, True)
    return np.asarray(returns, dtype=float)


def policy_faithfulness(agent, module, spec, states: np.ndarray, attributions: dict[str, np.ndarray], control: np.ndarray,
                        background: np.ndarray, baseline: np.ndarray, top_k: int, episodes: int, seed: int,
                        on_method=None) -> dict:
    """{"k", "episodes", "return": unmasked mean, "methods": {name: {...}}, "random": {...}} with
    action_flip_rate, masked_return and return_drop per method and for the random control."""
    n_features = states.shape[1]
    k = policy_k(top_k, n_features)
    clean = masked_returns(agent, spec, [], baseline, episodes, seed)
    base = float(clean.mean())

    def measure(attr: np.ndarray | None) -> dict:
        """A method's top-k features masked in every episode; for the control (None), a random k
        features drawn afresh for each episode, on the same episode seeds."""
        if attr is None:
            attr = control
            rng = np.random.default_rng(seed)
            draws = [sorted(int(i) for i in rng.choice(n_features, k, replace=False)) for _ in range(episodes)]
            masked = np.concatenate([masked_returns(agent, spec, f, baseline, 1, seed + e) for e, f in enumerate(draws)])
            features = draws
        else:
            features = [int(i) for i in np.argsort(-np.abs(attr.reshape(len(attr), -1)).mean(axis=0), kind="stable")[:k]]
            masked = masked_returns(agent, spec, features, baseline, episodes, seed)
        return {"action_flip_rate": round(action_flip_rate(module, states, attr, k, background, seed), 4),
                "masked_features": features, "masked_return": round(float(masked.mean()), 3),
                "return_drop": round((base - float(masked.mean())) / max(abs(base), 1e-8), 4)}

    out = {"k": k, "episodes": episodes, "return": round(base, 3), "methods": {}}
    for name, attr in attributions.items():
        out["methods"][name] = measure(attr)
        if on_method is not None:
            on_method(name)
    out["random"] = measure(None)
    return out
