"""`explain`: run attribution methods on any torch classifier and compare them.

    from lab.xai.explain import explain      # also lab.explain
    ex = explain(model, inputs, methods=["integrated_gradients", "kernel_shap", "lime_batched"], background=X_train)
    ex.attributions["lime_batched"].shape == inputs.shape
    ex.seconds_per_sample, ex.compare()
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from lab.errors import BadInput, did_you_mean, one_of
from lab.xai import metrics
from lab.xai.methods import LIBRARY_MODULES, METHODS, Estimate, ExplainContext, MethodUnavailable, default_methods, methods_for


# why attribution runs where 'auto' puts it: (on the CPU, on a GPU)
DEVICE_NOTES = ("small models: the CPU is fast enough",
                "attribution sends many perturbed inputs through the model in batches; the GPU is faster")


def check_methods(methods: list[str] | None, is_image: bool | None, params: dict | None = None, where: str = "methods") -> list[str]:
    """The methods to run (default: every one that applies, with lab's batched Kernel SHAP and
    LIME in place of the packages' own), and their params, checked.
    is_image None (not known yet) checks names and params only."""
    applicable = methods_for(is_image) if is_image is not None else list(METHODS)
    chosen = list(methods) if methods else (default_methods(is_image) if is_image is not None else applicable)
    kind = "image" if is_image else "tabular"
    for name in chosen:
        if name not in METHODS:
            raise BadInput(f"{where}: unknown method '{name}'{did_you_mean(name, METHODS)} (allowed: {one_of(METHODS, 20)})")
        if name not in applicable:
            alt = METHODS[name].counterpart
            raise BadInput(f"{where}: '{name}' does not apply to {kind} inputs" + (f"; use '{alt}'" if alt else ""))
    if len(set(chosen)) != len(chosen):
        raise BadInput(f"{where}: a method is listed twice ({', '.join(chosen)})")
    for name, given in (params or {}).items():
        if name not in METHODS:
            raise BadInput(f"{where}.params.{name}: unknown method{did_you_mean(name, METHODS)}")
        allowed = METHODS[name].params
        for key, value in given.items():
            if key not in allowed:
                hint = did_you_mean(key, allowed)
                raise BadInput(f"{where}.params.{name}.{key}: unknown parameter{hint}"
                               + (f" (allowed: {', '.join(allowed) or 'none'})" if not hint else ""))
            default = allowed[key]
            ok = isinstance(value, type(default)) and not (isinstance(value, bool) and not isinstance(default, bool))
            if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
                ok = True
            if not ok:
                raise BadInput(f"{where}.params.{name}.{key}: must be a {type(default).__name__} (got {value!r}; default {default!r})")
            allowed_values = METHODS[name].choices.get(key)
            if allowed_values and value not in allowed_values:
                raise BadInput(f"{where}.params.{name}.{key}: must be one of {', '.join(allowed_values)} (got {value!r})"
                               + did_you_mean(str(value), allowed_values))
            if isinstance(value, float) and not math.isfinite(value):
                raise BadInput(f"{where}.params.{name}.{key}: must be a finite number (got {value!r}; default {default!r})")
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                # a count whose default is 0 means "the library's default"; any other count needs 1 or more
                least = 1 if isinstance(default, int) and not isinstance(default, bool) and default > 0 else 0
                if value < least:
                    raise BadInput(f"{where}.params.{name}.{key}: must be >= {least} (got {value!r}; default {default!r})")
    return chosen


@dataclass
class Explanation:
    """Attributions of several methods for the same inputs and targets."""

    inputs: np.ndarray
    targets: np.ndarray
    attributions: dict[str, np.ndarray]
    seconds_per_sample: dict[str, float]
    skipped: dict[str, str]
    feature_names: list[str]
    output: str
    seed: int
    probabilities: np.ndarray | None = None  # (n, classes): the model's softmax per input, whatever `output` explains
    standard_errors: dict[str, np.ndarray] = field(default_factory=dict)  # of the methods that estimate their own error
    _ctx: ExplainContext = field(repr=False, default=None)
    _logit_model: torch.nn.Module = field(repr=False, default=None)
    _params: dict = field(repr=False, default_factory=dict)

    def compare(self, top_k: int = 5, sensitivity_samples: int = 5, on_method: Callable[[str], None] | None = None,
                randomisation: str = "cascading", randomisation_samples: int = 5) -> dict:
        """Per method and for a random control: time, deletion/insertion curves and areas,
        infidelity, PGI/PGU, sparseness and complexity, sensitivity_max and RIS/ROS (on
        `sensitivity_samples` inputs), the model-parameter randomisation test (`randomisation`:
        "cascading", "independent" or "off", on `randomisation_samples` inputs), completeness
        error (methods with that axiom). Per pair: Spearman, top-k and sign agreement. Then one
        ranking across the metrics (lab.xai.ranking)."""
        with torch.random.fork_rng(devices=[]), _quiet_libraries():
            return self._compare(top_k, sensitivity_samples, on_method, randomisation, randomisation_samples)

    def random_control(self) -> np.ndarray:
        """The random attribution of the comparison's control row: standard normal, seeded."""
        return np.random.default_rng(self.seed).standard_normal(self.inputs.shape)

    def _explained_by(self, logit_model: torch.nn.Module) -> torch.nn.Module:
        """What the methods explain of a logit model: its logits, or their softmax."""
        return logit_model if self.output == "logit" else torch.nn.Sequential(logit_model, torch.nn.Softmax(dim=1)).eval()

    def _compare(self, top_k, sensitivity_samples, on_method, randomisation, randomisation_samples) -> dict:
        ctx, dev = self._ctx, self._ctx.device
        x = torch.as_tensor(self.inputs, device=dev)
        t = torch.as_tensor(self.targets, device=dev)
        rand_del, rand_ins = metrics.random_curves(self._logit_model, x, t, ctx.baseline, self.seed)
        control = self.random_control()  # the random attribution every method must beat
        rng = np.random.default_rng(self.seed + 1)  # the control's draws for perturbed inputs and randomised models
        report = {"samples": len(x), "output": self.output, "top_k": top_k, "methods": {}, "skipped": dict(self.skipped),
                  "random": {"deletion_auc": round(metrics.area(rand_del), 4), "insertion_auc": round(metrics.area(rand_ins), 4),
                             "deletion_curve": _r(rand_del), "insertion_curve": _r(rand_ins)},
                  "randomisation": randomisation}

        def random_fn(inputs, target):
            return rng.standard_normal(tuple(inputs.shape))

        report["random"].update(self._shared_metrics(control, random_fn, lambda model, inputs, target: random_fn(inputs, target),
                                                     x, t, top_k, sensitivity_samples, randomisation, randomisation_samples))
        for name, attr in self.attributions.items():
            method = METHODS[name]
            params = self._params.get(name, {})
            dele, ins = metrics.deletion_insertion(self._logit_model, x, t, attr, ctx.baseline)
            entry = {"library": method.library, "implementation": method.implementation or method.library,
                     "seconds_per_sample": self.seconds_per_sample[name],
                     "deletion_auc": round(metrics.area(dele), 4), "insertion_auc": round(metrics.area(ins), 4),
                     "completeness_error": None,
                     "standard_error": _round(_relative_error(self.standard_errors.get(name), attr)),
                     "completeness_reference": method.reference_for(ctx.is_image),
                     "deletion_curve": _r(dele), "insertion_curve": _r(ins)}
            if entry["completeness_reference"] is not None:
                ref = ctx.baseline if entry["completeness_reference"] == "baseline" else ctx.background
                entry["completeness_error"] = _round(metrics.completeness_error(ctx.model, x, t, attr, ref))

            def explain_fn(inputs, target, method=method, params=params):
                return _values(method.fn(ctx, inputs, target, **params))

            def explain_with(logit_model, inputs, target, method=method, params=params):
                return _values(method.fn(dataclasses.replace(ctx, model=self._explained_by(logit_model), on_sample=None),
                                         inputs, target, **params))

            entry.update(self._shared_metrics(attr, explain_fn, explain_with, x, t, top_k, sensitivity_samples,
                                              randomisation, randomisation_samples))
            report["methods"][name] = entry
            if on_method is not None:
                on_method(name)
        report["pairs"] = metrics.pairwise(self.attributions, top_k)
        from lab.xai.ranking import rank_comparison

        report["ranking"] = rank_comparison(report)
        return report

    def _shared_metrics(self, attr, explain_fn, explain_with, x, t, top_k, sensitivity_samples, randomisation,
                        randomisation_samples) -> dict:
        """The metrics every method and the random control get alike."""
        ctx = self._ctx
        pgi, pgu = metrics.prediction_gaps(ctx.model, x, t, attr, top_k, self.seed)
        out = {"infidelity": _round(metrics.infidelity(ctx.model, x, t, attr, self.seed)),
               "pgi": _round(pgi), "pgu": _round(pgu),
               "sparseness": _round(metrics.sparseness(attr)), "complexity": _round(metrics.complexity(attr)),
               "sensitivity_max": None, "ris": None, "ros": None, "randomisation": None}
        if sensitivity_samples:
            m = min(sensitivity_samples, len(x))
            out["sensitivity_max"] = _round(metrics.sensitivity_max(explain_fn, x[:m], t[:m]))
            ris, ros = metrics.relative_stability(explain_fn, self._logit_model, x[:m], t[:m], attr[:m], self.seed)
            out["ris"], out["ros"] = _round(ris), _round(ros)
        if randomisation != "off" and randomisation_samples:
            from lab.xai.sanity import randomisation_test

            m = min(randomisation_samples, len(x))
            out["randomisation"] = randomisation_test(explain_with, self._logit_model, x[:m], t[:m], attr[:m], self.seed,
                                                      randomisation)
        return out


@contextlib.contextmanager
def _quiet_libraries():
    """Captum warns on every gradient call that it made the inputs require gradients (lab hands
    it plain tensors on purpose); silenced inside lab's calls only, never process-wide."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Input Tensor 0 did not already require gradients")
        yield


def _import_libraries(methods: list[str]) -> None:
    import importlib

    for library in {METHODS[m].library for m in methods}:
        for module in LIBRARY_MODULES[library]:
            importlib.import_module(module)


def _relative_error(se: np.ndarray | None, attr: np.ndarray) -> float | None:
    """The mean over inputs of the largest standard error relative to the range of the input's
    attributions (what a method's `tolerance` bounds), None for methods that give none."""
    if se is None:
        return None
    n = len(attr)
    spread = np.ptp(attr.reshape(n, -1), axis=1)
    return float(np.mean(se.reshape(n, -1).max(axis=1) / np.maximum(spread, 1e-12)))


def _values(attr):
    return attr.values if isinstance(attr, Estimate) else attr


def _r(curve) -> list[float]:
    return [round(float(v), 5) for v in curve]


def _round(v: float) -> float | None:
    return None if v is None or not np.isfinite(v) else float(f"{v:.6g}")


def explain(model: torch.nn.Module, inputs, targets=None, methods: list[str] | None = None, background=None,
            feature_names: list[str] | None = None, output: str = "logit", device: str = "auto", seed: int = 0,
            baseline=None, params: dict | None = None, batch_size: int = 512, train_data=None,
            on_method: Callable[[str, float], None] | None = None, on_sample: Callable[[str, int], None] | None = None) -> Explanation:
    """Explain `model`'s outputs for `inputs` with several attribution methods.

    model: a torch classifier, inputs (n, features) or (n, channels, h, w) -> logits (n, classes).
    targets: the class explained per input (default: the predicted class, the argmax of
        `Explanation.probabilities`, the softmax of the model's logits).
    background: training inputs summarizing the data for SHAP/GradientShap (default: the inputs).
    baseline: the reference input (default: zeros, the training mean after standardization).
    output: "logit" explains the target's raw output, "probability" its softmax.
    params: {"integrated_gradients": {"n_steps": 128}, ...}.
    """
    if output not in ("logit", "probability"):
        raise BadInput(f"output: must be 'logit' or 'probability' (got {output!r})")
    from lab.device import choose_device

    dev, _ = choose_device(device, *DEVICE_NOTES)
    x = torch.as_tensor(np.asarray(inputs, dtype=np.float32))
    if x.ndim not in (2, 4):
        raise BadInput(f"inputs: must be (n, features) or (n, channels, height, width); got shape {tuple(x.shape)}")
    is_image = x.ndim == 4
    chosen = check_methods(methods, is_image, params)
    logit_model = model.to(dev).eval()
    explained = logit_model if output == "logit" else torch.nn.Sequential(logit_model, torch.nn.Softmax(dim=1)).eval()
    x = x.to(dev)
    with torch.no_grad():
        probabilities = torch.softmax(logit_model(x), dim=1)
    predicted = probabilities.argmax(1)
    t = predicted if targets is None else torch.as_tensor(np.asarray(targets), dtype=torch.long, device=dev)
    base = torch.zeros((1, *x.shape[1:]), device=dev) if baseline is None else \
        torch.as_tensor(np.asarray(baseline, dtype=np.float32), device=dev).reshape(1, *x.shape[1:])
    bg = torch.as_tensor(np.asarray(background if background is not None else inputs, dtype=np.float32), device=dev)
    train = np.asarray(train_data if train_data is not None else (background if background is not None else inputs), dtype=np.float32)
    names = list(feature_names) if feature_names is not None else [f"x{i}" for i in range(int(np.prod(x.shape[1:])))]
    ctx = ExplainContext(explained, base, bg, train, dev, seed, batch_size, names, is_image)
    _import_libraries(chosen)  # so that no method's time includes importing its library
    attributions, seconds, skipped, errors = {}, {}, {}, {}
    # seeded methods reseed torch's global RNG, and the libraries warn: keep both inside this call
    with torch.random.fork_rng(devices=[]), _quiet_libraries():
        for name in chosen:
            method = METHODS[name]
            ctx.on_sample = (lambda i, n=name: on_sample(n, i)) if on_sample else None
            kw = (params or {}).get(name, {})
            torch.manual_seed(seed)
            start = time.perf_counter()
            try:
                attr = method.fn(ctx, x, t, **kw)
            except MethodUnavailable as e:
                skipped[name] = str(e)
                continue
            if dev == "cuda":
                torch.cuda.synchronize()
            elapsed = time.perf_counter() - start
            if isinstance(attr, Estimate):
                errors[name] = np.asarray(attr.standard_errors, dtype=np.float32).reshape(x.shape)
                attr = attr.values
            attributions[name] = np.asarray(attr, dtype=np.float32).reshape(x.shape)
            seconds[name] = round(elapsed / len(x), 6)
            if on_method is not None:
                on_method(name, seconds[name])
    return Explanation(x.cpu().numpy(), t.cpu().numpy(), attributions, seconds, skipped, names, output, seed,
                       probabilities=probabilities.float().cpu().numpy(), standard_errors=errors, _ctx=ctx, _logit_model=logit_model,
                       _params=dict(params or {}))
