"""The `[robustness]` part of an attribution run: attack the explained model (and a hardened or
plain twin), compare defenses, find each explained input's smallest flipping perturbation,
measure how fragile each method's attributions are; for a policy, its return under attack.

Writes `artifacts/robustness.json` (pinned for scripts: `{"models": {"plain": {"clean_accuracy":
a, "attacks": {"fgsm": [{"epsilon": e, "accuracy": a, ...}, ...], "pgd": [...]}, ...}, ...}, ...}`)
and PNGs; the science is in lab/xai/robustness.py and lab/xai/policy_robustness.py.
"""

from __future__ import annotations

import json
import time

import numpy as np
import torch

from lab import store

DEFAULT_EPSILONS = {"pixels": [0.0, 0.5, 1.0, 2.0, 3.0, 4.0],
                    "standardized units": [0.0, 0.05, 0.1, 0.2, 0.3, 0.5],
                    "observation units": [0.0, 0.01, 0.02, 0.05, 0.1, 0.2]}

COUNTING = ("accuracy at epsilon counts an input as broken if the attack broke it at any epsilon' <= epsilon of the grid "
            "(the clean input included); PGD's candidates include FGSM's point; accuracy_at_epsilon: the attack at exactly epsilon")
DEFENSE_NOTE = "defenses transform the attacked input; the attacks are computed on the undefended model (the attacker does not know the defense)"


def epsilons(spec, unit: str) -> list[float]:
    grid = list(spec.robustness.epsilons or DEFAULT_EPSILONS[unit])
    return grid if grid[0] == 0 else [0.0, *grid]


def run(spec, ctx, subject, explain_fn) -> dict:
    """Robustness of the subject; returns the entries it adds to the run's results.
    explain_fn(model, inputs, targets) -> Explanation explains like the run did."""
    started = time.monotonic()
    if subject.policy is not None:
        report = _policy(spec, ctx, subject, explain_fn)
    else:
        report = _classifiers(spec, ctx, subject, explain_fn)
    report["seconds"] = round(time.monotonic() - started, 2)
    _write(ctx, subject, report, explain_fn)
    return _results(report)


# ------------------------------------------------------------------------------ classifiers

def _models(spec, ctx, subject) -> dict:
    """name -> model: the run's own model, and its plain or hardened twin when asked for."""
    own = "hardened" if spec.model.adversarial_training is not None else "plain"
    models = {own: subject.model}
    for name in spec.robustness.models or [own]:
        if name in models:
            continue
        from lab.xai.models import build_model, classification_metrics, train_classifier

        twin = spec.model_copy(update={"model": spec.model.model_copy(
            update={"adversarial_training": None if name == "plain" else spec.model.adversarial_training})})
        ctx.log(f"training the {name} twin of the {own} model for the comparison")
        model = build_model(twin, subject.dataset).to(ctx.device)
        history = train_classifier(model, subject.dataset, twin, _Quiet(ctx), ctx.device)
        store.write_torch(ctx.checkpoint(f"model_{name}.pt"), model.state_dict())
        ds = subject.dataset
        acc = classification_metrics(model, ds.X_test, ds.y_test, ds.n_classes, ctx.device)["test_accuracy"]
        ctx.log(f"{name} twin: {history['epochs']} epochs, test accuracy {acc:.3f}")
        models[name] = model
    order = [m for m in ("plain", "hardened") if m in models]
    return {m: models[m] for m in order}


class _Quiet:
    """The run context for a second model's training: its epoch metrics would mix with the
    first model's series, so they are dropped; logs and the stop request pass through."""

    def __init__(self, ctx):
        self._ctx = ctx

    def emit(self, kind, **fields):
        if kind != "metric":
            return self._ctx.emit(kind, **fields)

    def log(self, *a, **kw):
        self._ctx.log(*a, **kw)

    @property
    def stop_requested(self):
        return self._ctx.stop_requested


def _classifiers(spec, ctx, subject, explain_fn) -> dict:
    from lab.xai import robustness as rb

    r, device, ds = spec.robustness, ctx.device, subject.dataset
    space = rb.dataset_space(ds, device)
    grid = epsilons(spec, space.unit)
    noise_std = r.noise_std or grid[-1] / 2
    n = min(r.samples, len(ds.X_test))
    x = space.to_attack(torch.as_tensor(ds.X_test[:n], device=device))
    y = np.asarray(ds.y_test[:n])
    yt = torch.as_tensor(y, device=device)
    x_exp = space.to_attack(torch.as_tensor(subject.inputs, device=device))
    report = {"unit": space.unit, "epsilons": grid, "samples": n, "counting": COUNTING, "defense_note": DEFENSE_NOTE,
              "noise_std": noise_std, "pgd_steps": r.pgd_steps, "pgd_step_fraction": r.pgd_step_fraction,
              "flip_attack": r.flip_attack, "models": {}}
    if space.unit == "pixels":
        report["pixel_range"] = [space.lower, space.upper]
    models = _models(spec, ctx, subject)
    for name, model in models.items():
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        model_a = space.wrap(model)
        ctx.emit("progress", phase="robustness", model=name, step=0, total=4)
        clean, preds, goal = rb.attacked_predictions(model_a, space, x, yt, grid, r.attacks, r.targeted, r.pgd_steps,
                                                     r.pgd_step_fraction, spec.seed)
        entry = {"clean_accuracy": round(float((clean == y).mean()), 4),
                 "attacks": rb.accuracy_curves(clean, preds, y, goal, grid), "defenses": {}}
        ctx.log(f"{name}: clean accuracy {entry['clean_accuracy']:.3f}; at epsilon {grid[-1]:g} {space.unit}: "
                + ", ".join(f"{a} {rows[-1]['accuracy']:.3f}" for a, rows in entry["attacks"].items()))
        for d in r.defenses:
            c_d, p_d, g_d = rb.attacked_predictions(model_a, space, x, yt, grid, r.attacks, False, r.pgd_steps,
                                                    r.pgd_step_fraction, spec.seed, defense=d, noise_std=noise_std)
            entry["defenses"][d] = {"clean_accuracy": round(float((c_d == y).mean()), 4),
                                    "attacks": rb.accuracy_curves(c_d, p_d, y, g_d, grid)}
        ctx.emit("progress", phase="robustness", model=name, step=2, total=4)
        entry.update(_explained(spec, ctx, subject, explain_fn, model, model_a, space, x_exp, grid, own=model is subject.model))
        report["models"][name] = entry
        ctx.emit("progress", phase="robustness", model=name, step=4, total=4)
    if len(models) == 2:
        report["attribution_agreement"] = _agreement(report["models"], models, subject, explain_fn)
    return report


def faithfulness(methods: dict) -> dict:
    """method -> {deletion_auc, sensitivity_max} of a comparison's methods: shown beside fragility."""
    return {m: {k: v[k] for k in ("deletion_auc", "sensitivity_max")} for m, v in methods.items()}


def _explained(spec, ctx, subject, explain_fn, model, model_a, space, x_exp, grid, own: bool) -> dict:
    """Smallest flipping perturbations, attributions (sparsity) and their fragility on the
    explained inputs."""
    from lab.xai import robustness as rb

    r = spec.robustness
    flips = rb.min_perturbations(model_a, space, x_exp, r.flip_attack, grid[-1] * 2, r.pgd_steps, r.pgd_step_fraction, spec.seed)
    found = [f["epsilon"] for f in flips if f["epsilon"] is not None]
    ctx.log(f"smallest {r.flip_attack} epsilon that flips the prediction: found for {len(found)} of {len(flips)} explained inputs"
            + (f", median {np.median(found):.3g} {space.unit}" if found else ""))
    if own:
        attrs, faith = subject.attributions, subject.faithfulness
    else:  # the twin's attributions of the same inputs, compared as the run's own were
        ex = explain_fn(model, subject.inputs, subject.targets)
        attrs = ex.attributions
        faith = faithfulness(ex.compare(spec.explain.top_k, spec.explain.sensitivity_samples)["methods"])
    out = {"min_perturbation": [{k: v for k, v in f.items() if not k.startswith("_")} for f in flips],
           "sparsity": {m: round(float(np.mean([rb.gini(a[i]) for i in range(len(a))])), 4) for m, a in attrs.items()},
           "deletion_auc": {m: faith[m]["deletion_auc"] for m in attrs if m in faith},
           "fragility": {}}
    out.update(_flips=flips, _attrs=attrs, _model=model, _space=space, _inputs=x_exp)
    k = spec.explain.top_k
    m = min(r.fragility_samples, len(x_exp))
    if m:
        adv, rnd, radii = rb.prediction_keeping_perturbations(model_a, space, x_exp[:m], flips[:m], grid[-1] * 2, r.pgd_steps,
                                                              r.pgd_step_fraction, spec.seed)
        targets = subject.targets[:m]
        a_adv = explain_fn(model, space.to_model(adv).cpu().numpy(), targets).attributions
        a_rnd = explain_fn(model, space.to_model(rnd).cpu().numpy(), targets).attributions
        frag = rb.fragility({n: a[:m] for n, a in attrs.items()}, a_adv, a_rnd, k)
        for name, row in frag.items():
            row["sensitivity_max"] = faith.get(name, {}).get("sensitivity_max")
        out["fragility"] = frag
        out["fragility_radius_median"] = round(float(np.median(radii)), 6)
        out["fragility_top_k"] = k
    return out


def _agreement(entries: dict, models: dict, subject, explain_fn) -> dict:
    """Per method: Spearman between the plain and the hardened model's attributions of the same inputs."""
    from lab.xai import robustness as rb

    a, b = entries["plain"]["_attrs"], entries["hardened"]["_attrs"]
    out = {}
    for name in a:
        if name in b:
            rho = [s for s in (rb.spearman(a[name][i], b[name][i]) for i in range(len(a[name]))) if s is not None]
            out[name] = round(float(np.mean(rho)), 4) if rho else None
    return out


# ------------------------------------------------------------------------------ policies

def _policy(spec, ctx, subject, explain_fn) -> dict:
    from lab.xai.policy_robustness import return_curve
    from lab.rl.seeds import PLAY_SEED_OFFSET
    from lab.xai import robustness as rb

    r, p = spec.robustness, subject.policy
    space = rb.states_space(subject.train_data, ctx.device)
    grid = epsilons(spec, space.unit)
    ctx.log(f"policy return under {', '.join(r.policy_attacks)} at epsilon {', '.join(f'{e:g}' for e in grid)} "
            f"({space.unit}), {r.policy_episodes} episodes each")
    total = len(grid) * len(r.policy_attacks)
    done = []

    def on_point(attack, row):
        done.append(row)
        ctx.emit("progress", phase="robustness", attack=attack, step=len(done), total=total, fraction=round(len(done) / total, 4))
        ctx.log(f"{attack} at epsilon {row['epsilon']:g}: return {row['return_mean']:.1f} +/- {row['return_std']:.1f}")

    curves = return_curve(p["agent"], p["spec"], grid, r.policy_attacks, r.policy_episodes, spec.seed + PLAY_SEED_OFFSET, on_point)
    module = subject.model
    x_exp = torch.as_tensor(subject.inputs, device=ctx.device)
    entry = _explained(spec, ctx, subject, explain_fn, module, module, space, x_exp, grid, own=True)
    return {"unit": space.unit, "epsilons": grid, "counting": COUNTING, "flip_attack": r.flip_attack,
            "pgd_steps": r.pgd_steps, "pgd_step_fraction": r.pgd_step_fraction,
            "policy": {"run": subject.source_run, "episodes": r.policy_episodes, "attacks": curves,
                       "noise": "random signs: x + epsilon * s, s in {-1, +1} per dimension (the size of FGSM's step)"},
            "models": {"policy": entry}}


# ------------------------------------------------------------------------------ artifacts

def _write(ctx, subject, report: dict, explain_fn) -> None:
    from lab.xai import figures

    art = ctx.run.artifacts_dir
    private = {name: {k: entry.pop(k) for k in [k for k in entry if k.startswith("_")]} for name, entry in report["models"].items()}
    store.write_atomic(art / store.ROBUSTNESS, json.dumps(report, indent=1, allow_nan=False) + "\n")
    written = [(store.ROBUSTNESS, _DESCRIPTIONS[store.ROBUSTNESS])]
    if "policy" in report:
        curve = POLICY_FIGURE
        figures.policy_robustness_figure(art / curve, report)
    else:
        curve = ACCURACY_FIGURE
        figures.robustness_figure(art / curve, report)
    written.append((curve, _DESCRIPTIONS[curve]))
    for name, extra in private.items():
        png = f"robustness_adversarial_{name}.png"
        if _adversarial_figure(subject, report, name, extra, explain_fn, art / png):
            written.append((png, _DESCRIPTIONS["robustness_adversarial"]))
    for name, description in written:
        ctx.emit("artifact", path=ctx.relpath(ctx.artifact(name)), description=description)


def _adversarial_figure(subject, report, name, extra, explain_fn, path) -> bool:
    """Up to three explained inputs that an attack flips: clean and adversarial, each method's
    attributions beside them (of the clean prediction, and of the adversarial one)."""
    from lab.xai import figures

    flips, attrs = extra["_flips"], extra["_attrs"]
    picked = [i for i, f in enumerate(flips) if f.get("_adversarial") is not None][:3]
    if not picked:
        return False
    rows = []
    space, cls = extra["_space"], subject.class_names
    for i in picked:
        f = flips[i]
        adv = f["_adversarial"]
        a_adv = explain_fn(extra["_model"], space.to_model(adv).cpu().numpy(), np.array([f["adversarial_prediction"]])).attributions
        rows.append({"clean": extra["_inputs"][i].cpu().numpy(), "adversarial": adv[0].cpu().numpy(),
                     "clean_title": f"input {i}: '{cls[f['prediction']]}'",
                     "adversarial_title": f"epsilon {f['epsilon']:.3g}: '{cls[f['adversarial_prediction']]}'",
                     "clean_attrs": {m: a[i] for m, a in attrs.items()}, "adversarial_attrs": {m: a[0] for m, a in a_adv.items()}})
    figures.adversarial_figure(path, rows, subject.feature_names, subject.is_image,
                               f"{name} model: clean vs adversarial ({report['flip_attack']}, smallest flipping epsilon, {report['unit']})")
    return True


ACCURACY_FIGURE, POLICY_FIGURE = "robustness_accuracy.png", "robustness_policy.png"  # in artifacts/
_DESCRIPTIONS = {store.ROBUSTNESS: "accuracy under attack per epsilon, defenses, smallest flips, fragility of attributions",
                 ACCURACY_FIGURE: "accuracy vs epsilon per attack and defense",
                 POLICY_FIGURE: "policy return vs epsilon per observation attack",
                 "robustness_adversarial": "clean vs adversarial inputs with each method's attributions"}


def _results(report: dict) -> dict:
    """The summary's view: accuracy (or return) at the largest epsilon."""
    eps = report["epsilons"][-1]
    if "policy" in report:
        return {"robustness_epsilon": eps,
                "robust_return": {a: rows[-1]["return_mean"] for a, rows in report["policy"]["attacks"].items()}}
    return {"robustness_epsilon": eps,
            "robust_accuracy": {m: {"clean": e["clean_accuracy"], **{a: rows[-1]["accuracy"] for a, rows in e["attacks"].items()}}
                                for m, e in report["models"].items()}}
