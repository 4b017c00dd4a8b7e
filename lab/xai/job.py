"""The attribution job: get a model (train one, or take a run's), explain it, compare, draw.

Writes `checkpoints/model.pt` (trained classifiers), `artifacts/attributions.npz` (no
pickles: inputs, targets, the model's predicted probabilities, feature_names and one array per
method, shaped like the inputs),
`artifacts/comparison.json`, and PNG figures; streams epochs, methods and the comparison as
events. With a `[robustness]` table, lab/xai/robustness_job.py then attacks the model (or the
policy) and writes `artifacts/robustness.json` and its figures.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lab import store
from lab.store import ARCHIVE_SLACK, read_torch, tensor_bytes
from lab.summary import RunState

MODEL_WEIGHTS = "model.pt"  # in checkpoints/: a trained classifier's weights
AGREEMENT_FIGURE, CURVES_FIGURE = "agreement.png", "deletion_curves.png"  # in artifacts/
POPULATION_FIGURE = "population.png"  # in artifacts/, with model.members = "all"
from lab.errors import BadInput, checkpoint_error


@dataclass
class Subject:
    """What gets explained: a model and the inputs, targets and context for it."""

    model: torch.nn.Module
    inputs: np.ndarray
    targets: np.ndarray
    true_labels: np.ndarray | None
    background: np.ndarray
    train_data: np.ndarray
    baseline: np.ndarray
    feature_names: list[str]
    class_names: list[str]
    is_image: bool
    results: dict
    source_run: str | None = None
    display_inputs: np.ndarray | None = None  # inputs in their original units, for figures
    dataset: object | None = None  # the split and scaled Dataset of a classifier (robustness attacks the test rows)
    policy: dict | None = None  # an RL policy's {"agent", "spec"} (robustness rolls it out under attack)
    attributions: dict | None = None  # method -> attributions of `inputs`, once explained
    faithfulness: dict | None = None  # method -> {deletion_auc, sensitivity_max}, once compared


# ------------------------------------------------------------------------------ finding the model

def _candidates(spec) -> list[str]:
    ref = spec.model.from_run
    return [ref] if isinstance(ref, str) else list(ref)


def find_source_run(spec, runs_dir):
    """The run whose model is explained: one named by id or path (completed), or the run called
    by one of the names (`lab.store.run_called`: the latest completed run of the experiment that is
    not a sweep's trial; of several names, the latest of those). None when none has completed yet
    but the first name is a built-in RL experiment (the job then trains it first)."""
    runs = store.list_runs(runs_dir)
    named = []
    for ref in _candidates(spec):
        try:
            run = store.run_by_id(ref, runs, runs_dir)
        except BadInput as e:
            raise BadInput(f"{spec.source}: model.from_run: {e}") from None
        if run is not None:
            if run.state != RunState.COMPLETED:
                raise BadInput(f"{spec.source}: model.from_run: run {run.path.name} is {run.state}, not completed")
            return run
        called = store.run_called(ref, runs)
        if called is not None:
            named.append(called)
    if named:
        return max(named, key=lambda r: r.summary.started or 0)
    first = _candidates(spec)[0]
    if spec.is_builtin(first):
        return None
    why = "; ".join(filter(None, (store.none_called(ref, runs) for ref in _candidates(spec))))
    raise BadInput(f"{spec.source}: model.from_run: {why or 'no completed run of ' + ' or '.join(map(repr, _candidates(spec)))} "
                   f"in {store.runs_root(runs_dir)}; run one first (`lab run NAME`) or give a run id")


def prepare(spec, runs_dir):
    """The Plan of an attribution run, checked before any folder exists: its device, the RL
    experiment to train first when `model.from_run` names one with no completed run yet, that
    the source run's model loads, and that the methods fit in memory."""
    from lab import memory
    from lab.device import choose_device
    from lab.plan import Plan
    from lab.xai import footprint
    from lab.xai.data import DATASETS, dimensions
    from lab.xai.explain import DEVICE_NOTES, check_methods

    device, reason = choose_device(spec.device, *DEVICE_NOTES, source=spec.source)
    if spec.model.from_run is None:
        shape, n_classes = dimensions(spec)
        is_image = DATASETS[spec.data.dataset].is_image
    else:
        run = find_source_run(spec, runs_dir)
        if run is None:
            return Plan(device, reason, [spec.load_experiment(_candidates(spec)[0])])
        shape, n_classes, is_image = _source_model(spec, run)
    methods = check_methods(spec.explain.methods, is_image, spec.explain.params, where=f"{spec.source}: explain.methods")
    memory.check(footprint.needs(spec, int(np.prod(shape)), n_classes, is_image, methods), spec.source, device)
    return Plan(device, reason)


def _source_model(spec, run) -> tuple[tuple[int, ...], int, bool]:
    """(input shape, classes, is_image) of the model a run delivers, loaded once on the CPU to
    check that it loads: a missing or garbage checkpoint is bad input, found before any folder."""
    try:
        if run.kind == "attribution":
            _, src_spec, ds = _load_classifier(spec, run, "cpu")
            return ds.input_shape, ds.n_classes, ds.image_shape is not None
        from lab.rl.envs import make_env
        from lab.xai.policy import load_policy

        rl_spec = spec.load_experiment(run.spec_path)
        _, module = load_policy(run, rl_spec, "cpu")
        env = make_env(rl_spec)
        shape, n_actions = env.observation_space.shape, env.action_space.n
        env.close()
        return shape, n_actions, False
    except BadInput:
        raise
    except Exception as e:  # a checkpoint that is not what the spec builds: garbage, truncated, other shapes
        raise BadInput(f"{spec.source}: model.from_run: run {run.id}: its model cannot be loaded ({checkpoint_error(e)})") from None


def _load_classifier(spec, run, device):
    """(model with the run's weights, the spec that trained it, its dataset) of an attribution run."""
    from lab.xai.data import load_dataset
    from lab.xai.models import build_model

    src_spec, weights = classifier_source(spec, run)
    if not weights.is_file():
        raise BadInput(f"{run.id}: no classifier checkpoint at {run.relpath(weights)}")
    ds = load_dataset(src_spec)
    model = build_model(src_spec, ds).to(device)
    model.load_state_dict(read_torch(weights, device, 2 * tensor_bytes(model) + ARCHIVE_SLACK))
    model.eval()
    return model, src_spec, ds


def classifier_source(spec, run):
    """(spec with arch and data, weights path) behind an attribution run, following from_run;
    `spec`: the explaining run's (it loads the others)."""
    seen = set()
    while True:
        run_spec = spec.load_experiment(run.spec_path)
        weights = run.checkpoint(MODEL_WEIGHTS)
        if run_spec.model.arch is not None:
            return run_spec, weights
        if run_spec.model.from_run is None or run.path.name in seen:
            raise BadInput(f"{run.path.name}: no trained classifier behind this run")
        seen.add(run.path.name)
        # the run it explained, as it recorded it: its name may call another run by now
        parent = store.resolve_run(run.results.source_run or _candidates(run_spec)[0], run.path.parent)
        if weights.is_file():  # a re-explained run keeps a copy of the weights
            src_spec, _ = classifier_source(spec, parent)
            return src_spec, weights
        run = parent


# ------------------------------------------------------------------------------ subjects

def _from_dataset(spec, ctx, device) -> Subject:
    from lab.xai.data import load_dataset
    from lab.xai.models import build_model, classification_metrics, train_classifier

    ds = load_dataset(spec)
    ctx.log(f"{ds.name}: {len(ds.X_train)} train / {len(ds.X_val)} validation / {len(ds.X_test)} test rows, "
            f"{len(ds.feature_names)} features, {ds.n_classes} classes")
    model = build_model(spec, ds).to(device)
    history = train_classifier(model, ds, spec, ctx, device)
    store.write_torch(ctx.checkpoint(MODEL_WEIGHTS), model.state_dict())
    ctx.emit("checkpoint", step=history["epochs"], label="model", path=ctx.relpath(ctx.checkpoint(MODEL_WEIGHTS)))
    results = {**classification_metrics(model, ds.X_test, ds.y_test, ds.n_classes, device), **history}
    ctx.log(f"test accuracy {results['test_accuracy']:.3f}, macro F1 {results['test_macro_f1']:.3f}, ROC AUC {results['test_roc_auc']}")
    return _dataset_subject(spec, ds, model, results)


def _dataset_subject(spec, ds, model, results, source_run=None) -> Subject:
    n = min(spec.explain.samples, len(ds.X_test))
    x = ds.X_test[:n]
    with torch.no_grad():
        pred = model(torch.as_tensor(x, device=next(model.parameters()).device)).argmax(1).cpu().numpy()
    targets = pred if spec.explain.target == "predicted" else ds.y_test[:n]
    rng = np.random.default_rng(spec.seed)
    bg = ds.X_train[rng.choice(len(ds.X_train), size=min(spec.explain.background, len(ds.X_train)), replace=False)]
    raw = (x.reshape(n, -1) * ds.std + ds.mean).reshape(x.shape)
    return Subject(model, x, targets, ds.y_test[:n], bg, ds.X_train, ds.baseline, ds.feature_names, ds.class_names,
                   ds.image_shape is not None, results, source_run, raw, dataset=ds)


def _from_classifier_run(spec, run, ctx, device) -> Subject:
    from lab.xai.models import classification_metrics

    model, src_spec, ds = _load_classifier(spec, run, device)
    store.write_torch(ctx.checkpoint(MODEL_WEIGHTS), model.state_dict())
    ctx.log(f"explaining the {src_spec.model.arch} classifier of run {run.path.name} (no retraining)")
    results = classification_metrics(model, ds.X_test, ds.y_test, ds.n_classes, device)
    return _dataset_subject(spec, ds, model, results, run.path.name)


def _from_policy_run(spec, run, ctx, device) -> Subject:
    from lab.xai.policy import load_policy, observation_names, policy_inputs_check, rollout_states

    rl_spec = spec.load_experiment(run.spec_path)
    agent, module = load_policy(run, rl_spec, device)
    states, actions = rollout_states(rl_spec, agent, spec.model.rollout_episodes, spec.seed)
    agreement = policy_inputs_check(module, states, actions, device)
    ctx.log(f"explaining the {rl_spec.agent.algo} policy of run {run.path.name} on {len(states)} states from "
            f"{spec.model.rollout_episodes} rollouts (the explained module picks the agent's action in {agreement:.1%} of them)")
    rng = np.random.default_rng(spec.seed)
    n = min(spec.explain.samples, len(states))
    pick = np.sort(rng.choice(len(states), size=n, replace=False))
    bg = states[rng.choice(len(states), size=min(spec.explain.background, len(states)), replace=False)]
    env = _env_actions(rl_spec)
    results = {"policy_run": run.path.name, "rollout_states": len(states), "module_matches_agent": round(agreement, 4),
               "policy_final_eval_return_mean": run.results.final_eval_return_mean}
    return Subject(module, states[pick], actions[pick], None, bg, states, states.mean(axis=0),
                   observation_names(rl_spec.env.id, states.shape[1]), env, False, results, run.path.name,
                   policy={"agent": agent, "spec": rl_spec, "member": run.results.best_member or 0})


def _env_actions(rl_spec) -> list[str]:
    from lab.rl.envs import make_env

    env = make_env(rl_spec)
    n = env.action_space.n
    env.close()
    if rl_spec.env.id.startswith("CartPole"):
        return ["push left", "push right"]
    return [f"action {i}" for i in range(n)]


# ------------------------------------------------------------------------------ the job

def run(spec, ctx) -> None:
    torch.set_num_threads(spec.threads)
    torch.manual_seed(spec.seed)
    device = ctx.device
    if spec.model.arch is not None:
        subject = _from_dataset(spec, ctx, device)
    else:
        # the run trained as this run's prerequisite, else the one prepare() found
        source = ctx.prerequisites[0] if ctx.prerequisites else find_source_run(spec, ctx.path.parent)
        if source.kind == "attribution":
            subject = _from_classifier_run(spec, source, ctx, device)
        else:
            subject = _from_policy_run(spec, source, ctx, device)
    if ctx.stop_requested:
        ctx.update_summary(results=subject.results)
        return

    ex_spec = spec.explain
    from lab.xai.explain import check_methods

    methods = check_methods(ex_spec.methods, subject.is_image, ex_spec.params, where="explain.methods")
    started = time.monotonic()
    done = []

    def on_method(name, seconds):
        done.append(name)
        ctx.emit("method", name=name, seconds_per_sample=seconds)
        ctx.emit("progress", phase="explain", method=name, step=len(done), total=len(methods),
                 fraction=round(len(done) / len(methods), 4), elapsed=round(time.monotonic() - started, 2))

    def on_sample(name, i):
        ctx.emit("progress", phase="explain", method=name, sample=i + 1, samples=len(subject.inputs),
                 step=len(done), total=len(methods), fraction=round((len(done) + (i + 1) / len(subject.inputs)) / len(methods), 4))

    ctx.log(f"explaining {len(subject.inputs)} inputs with {len(methods)} methods ({spec.explain.output} of the target class)")
    n_features = int(np.prod(subject.inputs.shape[1:]))
    if ex_spec.top_k >= n_features:
        ctx.log(f"explain.top_k = {ex_spec.top_k} covers all {n_features} features: top-k agreement will be 1 for every pair;"
                f" set it below {n_features}", "warning")
    ex = _explain(spec, subject, device, subject.model, subject.inputs, subject.targets, methods, on_method=on_method, on_sample=on_sample)
    for name, reason in ex.skipped.items():
        ctx.log(f"{name} skipped: {reason}", "warning")
    compared = []

    def on_compared(name):
        compared.append(name)
        ctx.emit("progress", phase="compare", method=name, step=len(compared), total=len(ex.attributions),
                 fraction=round(len(compared) / len(ex.attributions), 4))

    comparison = ex.compare(ex_spec.top_k, ex_spec.sensitivity_samples, on_method=on_compared,
                            randomisation=ex_spec.randomisation, randomisation_samples=ex_spec.randomisation_samples)
    if subject.policy is not None and spec.model.members == "all" and not ctx.stop_requested:
        comparison["population"] = _population(spec, ctx, subject, device, list(ex.attributions))
    if subject.policy is not None and not ctx.stop_requested:
        comparison["policy"] = _policy_faithfulness(spec, ctx, subject, ex)
        from lab.xai.ranking import rank_comparison

        comparison["ranking"] = rank_comparison(comparison)
    comparison.update(feature_names=subject.feature_names, class_names=subject.class_names)
    write_artifacts(ctx, subject, ex, comparison)
    summary = {name: {k: v for k, v in m.items() if not k.endswith("_curve")} for name, m in comparison["methods"].items()}
    ctx.emit("comparison", methods=summary, random=comparison["random"]["deletion_auc"])
    results = {**subject.results, "samples_explained": len(subject.inputs), "methods": sorted(ex.attributions),
               "skipped_methods": ex.skipped,
               "most_faithful_method": min(summary, key=lambda m: summary[m]["deletion_auc"]) if summary else None,
               "seconds_per_sample": {m: v["seconds_per_sample"] for m, v in summary.items()},
               "implementations": {m: v["implementation"] for m, v in summary.items()},
               "deletion_auc": {m: v["deletion_auc"] for m, v in summary.items()},
               "random_deletion_auc": comparison["random"]["deletion_auc"],
               "best_ranked_method": _best_ranked(comparison["ranking"]),
               "failing_sanity_check": sorted(m for m, v in summary.items() if (v.get("randomisation") or {}).get("fails"))}
    if comparison.get("population", {}).get("methods"):
        pop = comparison["population"]["methods"]
        results["population_agreement"] = {m: r["spearman"] for m, r in pop.items()}
        results["relied_on_by_all_members"] = {m: r["relied_on_by_all"] for m, r in pop.items()}
    if subject.source_run:
        results["source_run"] = subject.source_run
    if spec.robustness is not None and not ctx.stop_requested:
        from lab.xai import robustness_job

        subject.attributions = ex.attributions
        subject.faithfulness = robustness_job.faithfulness(summary)
        methods_done = list(ex.attributions)
        results.update(robustness_job.run(spec, ctx, subject, lambda model, inputs, targets: _explain(
            spec, subject, device, model, inputs, targets, methods_done)))
    ctx.update_summary(results=results, progress={"step": len(methods), "total": len(methods), "fraction": 1.0})
    ctx.log(f"most faithful by deletion AUC: {results['most_faithful_method']}; artifacts in {ctx.run.artifacts_dir}")


def _population(spec, ctx, subject: Subject, device, methods: list[str]) -> dict:
    """Every member of a population run explained on the same states, each on its own greedy
    action: per method, how far the members agree and which features they all rely on
    (lab.xai.population)."""
    from lab.xai.policy import explained_module
    from lab.xai.population import agreement

    agent, rl_spec = subject.policy["agent"], subject.policy["spec"]
    members = rl_spec.population
    if members < 2:
        ctx.log(f"model.members = 'all': run {subject.source_run} is no population (population = 1); one member explained", "warning")
    per_method: dict[str, list[np.ndarray]] = {m: [] for m in methods}
    targets = []
    started = time.monotonic()
    try:
        for member in range(members):
            if ctx.stop_requested:
                break
            if members > 1:
                agent.use_member(member)
            module = explained_module(agent, device)
            with torch.no_grad():
                t = module(torch.as_tensor(subject.inputs, device=device)).argmax(1).cpu().numpy()
            ex = _explain(spec, subject, device, module, subject.inputs, t, methods)
            targets.append(t)
            for m in methods:
                if m in ex.attributions:
                    per_method[m].append(ex.attributions[m])
            ctx.emit("progress", phase="population", member=member + 1, members=members, step=member + 1, total=members,
                     fraction=round((member + 1) / members, 4), elapsed=round(time.monotonic() - started, 2))
    finally:
        if members > 1:  # the delivered member again, for what follows
            agent.use_member(subject.policy["member"])
    out = {"members": len(targets), "methods": {}}
    if targets:
        actions = np.stack(targets)
        out["action_agreement"] = round(float((actions == actions[0]).mean()), 4)  # with member 0, for scale
        for m, attrs in per_method.items():
            if len(attrs) == len(targets):
                out["methods"][m] = agreement(np.stack(attrs), spec.explain.top_k, subject.feature_names)
    for m, r in out["methods"].items():
        ctx.log(f"population, {m}: members agree at Spearman {r['spearman']}, top-{r['k']} agreement {r['top_k_agreement']};"
                f" relied on by all {len(targets)}: {', '.join(r['relied_on_by_all']) or 'no feature'}")
    return out


def _policy_faithfulness(spec, ctx, subject: Subject, ex) -> dict:
    """Action flips and return drops of the policy when each method's top features are taken away."""
    from lab.xai.policy_faithfulness import policy_faithfulness

    done = []

    def on_method(name):
        done.append(name)
        ctx.emit("progress", phase="policy faithfulness", method=name, step=len(done), total=len(ex.attributions),
                 fraction=round(len(done) / len(ex.attributions), 4))

    out = policy_faithfulness(subject.policy["agent"], subject.model, subject.policy["spec"], ex.inputs, ex.attributions,
                              ex.random_control(), subject.background, np.asarray(subject.baseline, np.float32),
                              spec.explain.top_k, spec.explain.policy_episodes, spec.seed, on_method)
    ctx.log(f"policy faithfulness: masking {out['k']} features over {out['episodes']} episodes (return {out['return']:.1f} unmasked);"
            f" random features: return drop {out['random']['return_drop']:.1%}, action flips {out['random']['action_flip_rate']:.1%}")
    return out


def _best_ranked(ranking: dict) -> str | None:
    """The method (not the random control) ranked first across the metrics."""
    ranked = {m: v["rank"] for m, v in ranking["methods"].items() if m != "random"}
    return min(ranked, key=ranked.get) if ranked else None


def _explain(spec, subject: Subject, device, model, inputs, targets, methods, **callbacks):
    """The run's explanation settings applied to any model and inputs of the subject's kind."""
    from lab.xai.explain import explain

    ex_spec = spec.explain
    return explain(model, inputs, targets, methods, background=subject.background, feature_names=subject.feature_names,
                   output=ex_spec.output, device=device, seed=spec.seed, baseline=subject.baseline, params=ex_spec.params,
                   batch_size=ex_spec.batch_size, train_data=subject.train_data, **callbacks)


def write_artifacts(ctx, subject: Subject, ex, comparison: dict) -> None:
    from lab.xai import figures

    art = ctx.run.artifacts_dir
    buf = io.BytesIO()
    arrays = {"inputs": ex.inputs, "targets": ex.targets, "feature_names": np.array(subject.feature_names, dtype=np.str_),
              "class_names": np.array(subject.class_names, dtype=np.str_), "baseline": np.asarray(subject.baseline, np.float32)}
    if ex.probabilities is not None:
        arrays["probabilities"] = ex.probabilities.astype(np.float32)  # (n, classes), softmax of the logits
    if subject.true_labels is not None:
        arrays["labels"] = subject.true_labels
    if subject.display_inputs is not None:
        arrays["inputs_original"] = subject.display_inputs.astype(np.float32)  # before standardization
    for name, attr in ex.attributions.items():
        arrays[name] = attr
    for name, se in ex.standard_errors.items():
        arrays[f"{name}.se"] = se  # standard errors, shaped like the attributions (not a method: no identifier)
    np.savez_compressed(buf, **arrays)
    store.write_atomic(art / store.ATTRIBUTIONS, buf.getvalue())
    store.write_atomic(art / store.COMPARISON, json.dumps(comparison, indent=1, allow_nan=False, default=_json_default) + "\n")
    written = [store.ATTRIBUTIONS, store.COMPARISON]
    figures.agreement_figure(art / AGREEMENT_FIGURE, comparison["pairs"], comparison["top_k"])
    figures.curves_figure(art / CURVES_FIGURE, comparison)
    written += [AGREEMENT_FIGURE, CURVES_FIGURE]
    if comparison.get("population", {}).get("methods"):
        figures.population_figure(art / POPULATION_FIGURE, comparison["population"], subject.feature_names)
        written.append(POPULATION_FIGURE)
    for i in range(min(ctx.spec.explain.figure_samples, len(ex.inputs))):
        target = subject.class_names[int(ex.targets[i])] if subject.class_names else str(ex.targets[i])
        label = "" if subject.true_labels is None else f", true class {subject.class_names[int(subject.true_labels[i])]}"
        name = f"sample_{i:03d}.png"
        shown = subject.display_inputs[i] if subject.display_inputs is not None else ex.inputs[i]
        figures.sample_figure(art / name, shown, {m: a[i] for m, a in ex.attributions.items()},
                              subject.feature_names, f"input {i}: explaining class '{target}'{label}", subject.is_image,
                              errors={m: e[i] for m, e in ex.standard_errors.items()})
        written.append(name)
    for name in written:
        ctx.emit("artifact", path=ctx.relpath(ctx.artifact(name)), description=_DESCRIPTIONS.get(name.split("_")[0], "figure"))


_DESCRIPTIONS = {store.ATTRIBUTIONS: "inputs, targets, predicted probabilities, feature names and one attribution array per method",
                 store.COMPARISON: "per-method cost and faithfulness, pairwise agreement",
                 AGREEMENT_FIGURE: "agreement matrices between methods",
                 POPULATION_FIGURE: "each member's feature importance per method, and the share of members relying on each feature",
                 "deletion": "deletion and insertion curves per method",
                 "sample": "every method's attributions for one input, side by side"}


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    raise TypeError(type(value).__name__)
