"""A trained policy's return under attacks on its observations (Huang et al., 2017, "Adversarial
Attacks on Neural Network Policies").

Every step, before the policy sees the observation, it is perturbed within an L-infinity ball of
radius epsilon, in observation units (the environment's own, not scaled per dimension):

- `noise`: random signs, x + epsilon * s with s uniform in {-1, +1} per dimension: the same size as
  FGSM's perturbation in every norm, so the two compare at equal size;
- `fgsm`: x + epsilon * sign(grad_x CE(scores(x), a)), where scores are the policy's action
  logits (Q-values for DQN, read as logits) and a the action it takes on the clean observation:
  the step that most raises the loss of that action (captum.robust.FGSM).

Discrete-action policies only (FGSM needs the action's scores).
"""

from __future__ import annotations

import numpy as np

ATTACKS = ("noise", "fgsm")


def attacked_policy(agent, attack: str, epsilon: float, seed: int):
    """act(obs_batch, deterministic) of `agent` acting on attacked observations."""
    import torch

    if attack not in ATTACKS:
        raise ValueError(f"attack: {attack!r} (allowed: {', '.join(ATTACKS)})")
    if epsilon == 0:
        return agent.act
    rng = np.random.default_rng(seed)
    if attack == "noise":
        def act(obs, deterministic=True):
            obs = np.asarray(obs, dtype=np.float32)
            return agent.act(obs + epsilon * rng.choice(np.array([-1.0, 1.0], np.float32), size=obs.shape), deterministic)
        return act

    from lab.xai.robustness import AttackSpace, fgsm, quiet

    module = agent.scores_module().eval()
    device = next(module.parameters()).device
    attack_fn = fgsm(module, AttackSpace("observation units"))  # unbounded: the environment's own units

    def act(obs, deterministic=True):
        obs = np.asarray(obs, dtype=np.float32)
        clean = torch.as_tensor(np.asarray(agent.act(obs, True)).reshape(len(obs)), dtype=torch.long, device=device)
        x = torch.as_tensor(obs, device=device)
        with quiet(), torch.enable_grad():
            adv = attack_fn.perturb(x, epsilon, clean)
        return agent.act(adv.detach().cpu().numpy(), deterministic)
    return act


def return_under_attack(agent, spec, attack: str, epsilon: float, episodes: int, seed: int,
                        deterministic: bool = True) -> np.ndarray:
    """Returns of `episodes` episodes (seeds seed, seed + 1, ...) with attacked observations."""
    from lab.rl.evaluate import evaluate

    returns, _ = evaluate(attacked_policy(agent, attack, epsilon, seed), spec, episodes, seed, deterministic)
    return returns


def return_curve(agent, spec, epsilons: list[float], attacks: list[str], episodes: int, seed: int,
                 on_point=None) -> dict[str, list[dict]]:
    """{attack: [{epsilon, return_mean, return_std}, ...]}: the same episodes (seeds) at every point."""
    out = {}
    for attack in attacks:
        rows = []
        for eps in epsilons:
            r = return_under_attack(agent, spec, attack, float(eps), episodes, seed, spec.eval.deterministic)
            rows.append({"epsilon": float(eps), "return_mean": round(float(r.mean()), 3), "return_std": round(float(r.std()), 3)})
            if on_point is not None:
                on_point(attack, rows[-1])
        out[attack] = rows
    return out
