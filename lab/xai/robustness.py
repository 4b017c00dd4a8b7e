"""Adversarial robustness of a classifier, beside its explanations: attacks, defenses, the
smallest flipping perturbation, and how fragile each method's attributions are.

The attacks are Captum's (`captum.robust`): FGSM and PGD on the cross-entropy of the class to
keep (untargeted) or to reach (targeted: the class the clean model finds least likely),
`AttackComparator` to evaluate them through each defense, `MinParamPerturbation` for the
smallest epsilon that flips each explained input.

Units. Images are attacked in pixel units (digits: 0..16; the model is wrapped with its
standardization, and attacked pixels are clipped to the valid range); tabular inputs and policy
observations in the model's own units (one unit = one training standard deviation for
standardized features).

Counting. Accuracy at epsilon counts an input as broken when the attack broke it at any
epsilon' <= epsilon of the grid (an attacker with budget epsilon may spend less), the clean input
(epsilon 0) included; PGD's candidates include FGSM's point at the same epsilon. So accuracy never
rises with epsilon, PGD is at least as strong as FGSM, and accuracy at 0 is the clean accuracy, by
construction; the raw accuracy of each attack at exactly epsilon is reported beside it
(`accuracy_at_epsilon`), so nothing is hidden.

Defenses are input transformations applied after the attack (Gaussian noise; clipping each
feature to its training range); the attacker does not know them (attacks are computed on the
undefended model), which flatters the defenses: say so wherever they are shown.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

ATTACKS = ("fgsm", "pgd")
DEFENSES = ("noise", "clipping")


# ------------------------------------------------------------------------------ units

@dataclass
class AttackSpace:
    """Where attacks happen: the model's input space, or pixel units for images."""

    unit: str
    lower: float = float("-inf")
    upper: float = float("inf")
    mean: torch.Tensor | None = None  # per feature, shaped like one input; None: the model's own space
    std: torch.Tensor | None = None
    feature_min: torch.Tensor | None = None  # training range per feature, in attack units (clipping defense)
    feature_max: torch.Tensor | None = None

    def to_attack(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.mean is None else x * self.std + self.mean

    def to_model(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.mean is None else (x - self.mean) / self.std

    def wrap(self, model: nn.Module) -> nn.Module:
        """The model as a function of inputs in attack units."""
        return model if self.mean is None else _Standardized(model, self)


class _Standardized(nn.Module):
    def __init__(self, model: nn.Module, space: AttackSpace):
        super().__init__()
        self.model, self.space = model, space

    def forward(self, x):
        return self.model(self.space.to_model(x))


def dataset_space(ds, device: str) -> AttackSpace:
    """Pixel units for an image dataset (bounded by the training pixels' range), standardized
    units for tabular data (unbounded)."""
    train = torch.as_tensor(ds.X_train, device=device)
    if ds.image_shape is None:
        return AttackSpace("standardized units", feature_min=train.min(0).values, feature_max=train.max(0).values)
    shape = (1, *ds.image_shape)
    mean = torch.as_tensor(ds.mean, device=device).reshape(shape)
    std = torch.as_tensor(ds.std, device=device).reshape(shape)
    pixels = train * std + mean
    return AttackSpace("pixels", float(pixels.min()), float(pixels.max()), mean, std,
                       pixels.min(0).values[None], pixels.max(0).values[None])


def states_space(states: np.ndarray, device: str) -> AttackSpace:
    s = torch.as_tensor(states, device=device)
    return AttackSpace("observation units", feature_min=s.min(0).values, feature_max=s.max(0).values)


# ------------------------------------------------------------------------------ the attacks

def _loss(outputs, target):
    return nn.functional.cross_entropy(outputs, target, reduction="none")


@contextlib.contextmanager
def quiet():
    """Captum warns on every call that it made the inputs require gradients: silenced here only."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Input Tensor 0 did not already require gradients")
        yield


def fgsm(model_a: nn.Module, space: AttackSpace):
    """Captum's FGSM on `model_a` (a model of inputs in attack units): x + epsilon * sign(grad of
    the cross-entropy), clipped to the space's bounds. Every nonzero gradient moves its feature
    (Captum skips |grad| <= 1e-6 by default, which spares confidently classified inputs)."""
    from captum.robust import FGSM

    attack = FGSM(model_a, _loss, space.lower, space.upper)
    attack.zero_thresh = 0.0
    return attack


class PGDAttack:
    """Captum's PGD (L-infinity) with a step of `step_fraction` * epsilon, so that its search
    scales with the budget; a random start, when asked for, is seeded (the same start for the
    same seed)."""

    def __init__(self, model_a: nn.Module, space: AttackSpace, steps: int, step_fraction: float,
                 random_start: bool = False, seed: int = 0):
        from captum.robust import PGD

        self.pgd = PGD(model_a, _loss, space.lower, space.upper)
        self.pgd.fgsm.zero_thresh = 0.0
        self.steps, self.step_fraction, self.random_start, self.seed = steps, step_fraction, random_start, seed

    def __call__(self, inputs, epsilon: float, target, targeted: bool = False):
        if epsilon <= 0:
            return inputs.detach().clone()
        with torch.random.fork_rng(devices=[inputs.device] if inputs.is_cuda else []):
            torch.manual_seed(self.seed)
            return self.pgd.perturb(inputs, radius=epsilon, step_size=self.step_fraction * epsilon, step_num=self.steps,
                                    target=target, targeted=targeted, random_start=self.random_start)


def adversarial_examples(model: nn.Module, space: AttackSpace, x: torch.Tensor, y: torch.Tensor, epsilon: float,
                         steps: int, seed: int) -> torch.Tensor:
    """PGD examples for adversarial training (Madry et al.: random start, step 2.5 epsilon /
    steps), in the model's own space."""
    was_training = model.training
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        with quiet():
            attack = PGDAttack(space.wrap(model), space, steps, 2.5 / steps, random_start=True, seed=seed)
            x_adv = attack(space.to_attack(x), epsilon, y)
    finally:
        for p in model.parameters():
            p.requires_grad_(True)
        model.train(was_training)
    return space.to_model(x_adv).detach()


# ------------------------------------------------------------------------------ defenses

def defense_fn(name: str | None, space: AttackSpace, noise_std: float, seed: int):
    """The preprocessing a defense applies to (attacked) inputs in attack units; None: none."""
    if name is None:
        return None
    if name == "noise":
        def noise(x):
            gen = torch.Generator(device=x.device).manual_seed(seed)  # the same noise for every attack
            out = x + noise_std * torch.randn(x.shape, generator=gen, device=x.device)
            return out.clamp(space.lower, space.upper)
        return noise
    if name == "clipping":
        return lambda x: torch.maximum(torch.minimum(x, space.feature_max), space.feature_min)
    raise ValueError(name)


# ------------------------------------------------------------------------------ accuracy under attack

def least_likely(model_a: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model_a(x).argmin(1)


def attacked_predictions(model_a: nn.Module, space: AttackSpace, x: torch.Tensor, y: torch.Tensor, epsilons: list[float],
                         attacks: list[str], targeted: bool, pgd_steps: int, pgd_step_fraction: float, seed: int,
                         defense: str | None = None, noise_std: float = 0.0) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """(clean predictions (n,), {attack name: predictions (epsilons, n)}, targeted classes (n,))
    through AttackComparator: each attack at each epsilon, then the defense, then the model."""
    from captum.robust import AttackComparator

    goal = least_likely(model_a, x)
    comparator = AttackComparator(model_a, metric=lambda out, **_: out.argmax(1).float(),
                                  preproc_fn=defense_fn(defense, space, noise_std, seed))
    comparator.metric_aggregator = lambda v: v  # per input, not the mean: counting needs each input
    made = {"fgsm": fgsm(model_a, space), "pgd": PGDAttack(model_a, space, pgd_steps, pgd_step_fraction, seed=seed)}
    names = []
    for attack in attacks:
        for tgt in ([False, True] if targeted else [False]):
            name = attack + ("_targeted" if tgt else "")
            names.append(name)
            for i, eps in enumerate(epsilons):
                comparator.add_attack(made[attack], f"{name}@{i}", attack_kwargs={"epsilon": float(eps), "target": goal if tgt else y,
                                                                                   "targeted": tgt})
    with quiet():
        out = comparator.evaluate(x, perturbations_per_eval=4)
    clean = out["Original"].long().cpu().numpy()
    preds = {name: np.stack([out[f"{name}@{i}"]["mean"].long().cpu().numpy() for i in range(len(epsilons))]) for name in names}
    return clean, preds, goal.cpu().numpy()


def accuracy_curves(clean: np.ndarray, preds: dict[str, np.ndarray], labels: np.ndarray, goal: np.ndarray,
                    epsilons: list[float]) -> dict[str, list[dict]]:
    """Per attack, per epsilon: accuracy with the counting of this module's docstring (broken at
    epsilon if broken at any epsilon' <= epsilon; PGD includes FGSM's point), the raw accuracy at
    exactly epsilon, and for targeted attacks the share of inputs sent to the target class."""
    out = {}
    for name, p in preds.items():
        broken_raw = p != labels[None]
        hit_raw = p == goal[None]
        if name.startswith("pgd") and name.replace("pgd", "fgsm") in preds:
            f = preds[name.replace("pgd", "fgsm")]
            broken_raw = broken_raw | (f != labels[None])
            hit_raw = hit_raw | (f == goal[None])
        broken = np.logical_or.accumulate(broken_raw | (clean != labels)[None], axis=0)
        hit = np.logical_or.accumulate(hit_raw, axis=0)
        rows = []
        for i, eps in enumerate(epsilons):
            row = {"epsilon": float(eps), "accuracy": round(float(1 - broken[i].mean()), 4),
                   "accuracy_at_epsilon": round(float((p[i] == labels).mean()), 4)}
            if name.endswith("_targeted"):
                row["target_rate"] = round(float(hit[i].mean()), 4)
            rows.append(row)
        out[name] = rows
    return out


def min_perturbations(model_a: nn.Module, space: AttackSpace, x: torch.Tensor, attack: str, max_epsilon: float,
                      pgd_steps: int, pgd_step_fraction: float, seed: int) -> list[dict]:
    """Per input: the smallest epsilon (binary search, resolution max_epsilon / 200) at which the
    attack changes the model's prediction, with the predictions before and after; epsilon None
    when even max_epsilon does not flip it."""
    from captum.robust import MinParamPerturbation

    made = fgsm(model_a, space) if attack == "fgsm" else PGDAttack(model_a, space, pgd_steps, pgd_step_fraction, seed=seed)
    search = MinParamPerturbation(model_a, attack=made, arg_name="epsilon", arg_min=0.0, arg_max=float(max_epsilon),
                                  arg_step=float(max_epsilon) / 200, mode="binary")
    with torch.no_grad():
        pred = model_a(x).argmax(1)
    rows = []
    with quiet():
        for i in range(len(x)):
            xi, pi = x[i:i + 1], pred[i:i + 1]
            adv, eps = search.evaluate(xi, target=pi, attack_kwargs={"target": pi})
            row = {"input": i, "prediction": int(pi), "epsilon": None, "adversarial_prediction": None}
            if adv is not None:
                with torch.no_grad():
                    row.update(epsilon=round(float(eps), 6), adversarial_prediction=int(model_a(adv).argmax(1)))
                row["_adversarial"] = adv.detach()
            rows.append(row)
    return rows


# ------------------------------------------------------------------------------ fragile explanations

def top_k_intersection(a: np.ndarray, b: np.ndarray, k: int) -> float:
    """Share of the k largest |a| features that are among the k largest |b| (Ghorbani et al.)."""
    a, b = a.reshape(-1), b.reshape(-1)
    k = min(k, len(a))
    ta = np.argsort(-np.abs(a), kind="stable")[:k]
    tb = np.argsort(-np.abs(b), kind="stable")[:k]
    return len(np.intersect1d(ta, tb)) / k


def spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    from scipy.stats import spearmanr

    a, b = a.reshape(-1), b.reshape(-1)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(spearmanr(a, b).statistic)


def gini(a: np.ndarray) -> float:
    """Gini index of |a| (0: spread evenly over the features, 1: all on one): sparsity."""
    v = np.sort(np.abs(a.reshape(-1)))
    n = len(v)
    if v.sum() == 0:
        return 0.0
    return float(1 - 2 * np.sum((n - np.arange(1, n + 1) + 0.5) * v) / (n * v.sum()))


def prediction_keeping_perturbations(model_a: nn.Module, space: AttackSpace, x: torch.Tensor, flips: list[dict],
                                     max_epsilon: float, pgd_steps: int, pgd_step_fraction: float,
                                     seed: int) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """(adversarial, random, radius) perturbed inputs in attack units: the attack's own step
    toward the decision boundary at half the epsilon that flips the input (or at max_epsilon / 2
    when nothing flips it), halved again until the prediction stays; and random signs of the
    same L-infinity size as a control."""
    with torch.no_grad():
        pred = model_a(x).argmax(1)
    attack = PGDAttack(model_a, space, pgd_steps, pgd_step_fraction, seed=seed)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    adv, rnd, radii = [], [], []
    with quiet():
        for i in range(len(x)):
            eps = (flips[i]["epsilon"] or max_epsilon) / 2
            xi, pi = x[i:i + 1], pred[i:i + 1]
            for _ in range(20):
                a = attack(xi, eps, pi)
                with torch.no_grad():
                    if model_a(a).argmax(1).item() == pi.item():
                        break
                eps /= 2
            signs = (torch.randint(0, 2, xi.shape, generator=gen) * 2 - 1).to(x.device, x.dtype)
            r = (xi + eps * signs).clamp(space.lower, space.upper)
            adv.append(a)
            rnd.append(r)
            radii.append(eps)
    return torch.cat(adv), torch.cat(rnd), np.asarray(radii)


def fragility(attrs_clean: dict[str, np.ndarray], attrs_adv: dict[str, np.ndarray], attrs_rand: dict[str, np.ndarray],
              k: int) -> dict[str, dict]:
    """Per method, mean over inputs: top-k intersection and Spearman between the attributions of
    x and of x + delta (delta: the attack's, or random of the same size)."""
    out = {}
    for name, clean in attrs_clean.items():
        if name not in attrs_adv or name not in attrs_rand:
            continue
        row = {}
        for tag, other in (("adversarial", attrs_adv[name]), ("random", attrs_rand[name])):
            n = len(other)
            tk = [top_k_intersection(clean[i], other[i], k) for i in range(n)]
            rho = [r for r in (spearman(clean[i], other[i]) for i in range(n)) if r is not None]
            row[f"{tag}_top_k_intersection"] = round(float(np.mean(tk)), 4)
            row[f"{tag}_spearman"] = round(float(np.mean(rho)), 4) if rho else None
        out[name] = row
    return out
