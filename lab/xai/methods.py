"""The one table of attribution methods, each behind the same adapter signature.

    adapter(ctx: ExplainContext, inputs: Tensor, targets: Tensor, **params) -> np.ndarray

returns float attributions shaped like `inputs` (or an `Estimate`: them and their standard
errors), for the output `ctx.model` gives for each
input's target class (its logit, or its probability when the spec says so). Perturbation
methods send their perturbed inputs through the model in batches of `ctx.batch_size` on the
chosen device; stochastic methods are seeded from `ctx.seed`, so the same seed repeats them.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch

from lab.memory import Need


class Estimate(NamedTuple):
    """What an adapter returns when its method knows its own error: the attributions and their
    standard errors, both shaped like the inputs (0 where exact)."""

    values: np.ndarray
    standard_errors: np.ndarray


class MethodUnavailable(Exception):
    """The method cannot explain this model (a clear reason, recorded instead of attributions)."""


@dataclass
class ExplainContext:
    model: torch.nn.Module  # inputs -> the explained output per class, (n, classes)
    baseline: torch.Tensor  # (1, *input_shape): the reference input ("absent" features)
    background: torch.Tensor  # (m, *input_shape): a sample of training inputs, for SHAP and GradientShap
    train_data: np.ndarray  # training inputs, for LIME's sampling statistics
    device: str = "cpu"
    seed: int = 0
    batch_size: int = 512
    feature_names: list[str] = field(default_factory=list)
    is_image: bool = False
    patch: int = 2  # image methods that perturb groups of pixels use patch x patch squares
    on_sample: Callable[[int], None] | None = None  # progress of per-sample loops

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The model on a numpy batch, in chunks of batch_size: for SHAP and LIME."""
        out = []
        with torch.no_grad():
            for i in range(0, len(x), self.batch_size):
                chunk = torch.as_tensor(np.asarray(x[i:i + self.batch_size], dtype=np.float32), device=self.device)
                out.append(self.model(chunk).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0,))

    def feature_groups(self, shape) -> torch.Tensor:
        """Per-pixel group ids (patch x patch squares) for images; one group per feature otherwise."""
        if not self.is_image:
            return torch.arange(int(np.prod(shape))).reshape(1, *shape)
        c, h, w = shape
        rows = torch.arange(h) // self.patch
        cols = torch.arange(w) // self.patch
        grid = rows[:, None] * ((w + self.patch - 1) // self.patch) + cols[None, :]
        return grid.expand(c, h, w).reshape(1, c, h, w).clone()

    def chunk_rows(self, row_bytes: int) -> int:
        """Rows per model call for lab's batched methods: on a GPU as many as a quarter of its
        free memory holds (up to 2**20) at `row_bytes` per row (input and activations); on the
        CPU 2048, where the built-in networks ran fastest (larger batches leave the cache: the
        breast-cancer MLP ran 2x slower per row at 8192 than at 2048, the digits CNN 1.2x at 4096)."""
        if not str(self.device).startswith("cuda"):
            return 2048
        from lab.memory import available_bytes

        return int(min(2**20, max(4096, available_bytes(self.device) // 4 // max(row_bytes, 1))))

    def per_eval(self, n: int) -> int:
        return max(1, self.batch_size // max(n, 1))

    def tick(self, i: int) -> None:
        if self.on_sample is not None:
            self.on_sample(i)


@dataclass(frozen=True)
class Sizing:
    """What a method's memory estimate (`Method.memory`) is sized from, before any data is loaded."""

    name: str  # the method's
    settings: dict  # its parameters: the adapter's defaults with the spec's explain.params over them
    n_features: int  # numbers per input
    is_image: bool
    explain: object  # the spec's [explain] (lab.xai.params.ExplainSpec): samples, background, batch_size, ...


def _seed(seed: int) -> None:
    """Libraries draw from torch's, numpy's or Python's global generator: seed all three."""
    import random

    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float64)


# ------------------------------------------------------------------------------ Captum

def integrated_gradients(ctx, x, t, n_steps: int = 64, method: str = "gausslegendre"):
    from captum.attr import IntegratedGradients

    return _np(IntegratedGradients(ctx.model).attribute(
        x, baselines=ctx.baseline.expand_as(x), target=t, n_steps=n_steps, method=method,
        internal_batch_size=max(ctx.batch_size, len(x))))


def saliency(ctx, x, t, abs: bool = False):
    from captum.attr import Saliency

    return _np(Saliency(ctx.model).attribute(x, target=t, abs=abs))


def input_x_gradient(ctx, x, t):
    # Captum's InputXGradient is x * grad(x); lab measures inputs from the baseline:
    # (x - baseline) * grad(x), which is the same where the baseline is zero.
    from captum.attr import Saliency

    return _np(Saliency(ctx.model).attribute(x, target=t, abs=False) * (x - ctx.baseline))


def deeplift(ctx, x, t):
    from captum.attr import DeepLift

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _np(DeepLift(ctx.model).attribute(x, baselines=ctx.baseline.expand_as(x), target=t))


def gradient_shap(ctx, x, t, n_samples: int = 50, stdevs: float = 0.0):
    from captum.attr import GradientShap

    _seed(ctx.seed)
    return _np(GradientShap(ctx.model).attribute(x, baselines=ctx.background, target=t, n_samples=n_samples, stdevs=stdevs))


def _gradient_shap_memory(s: Sizing) -> Need:
    rows = s.explain.samples * s.settings["n_samples"]
    return Need(rows * s.n_features * 4 * 3, f"gradient_shap's inputs (samples x n_samples {rows:,} x {s.n_features:,} features)",
                "explain.samples", "lower explain.samples or explain.params.gradient_shap.n_samples")


def feature_ablation(ctx, x, t):
    from captum.attr import FeatureAblation

    return _np(FeatureAblation(ctx.model).attribute(x, baselines=ctx.baseline.expand_as(x), target=t,
                                                    perturbations_per_eval=ctx.per_eval(len(x))))


def occlusion(ctx, x, t, window: int = 2, stride: int = 1):
    from captum.attr import Occlusion

    c = x.shape[1]
    return _np(Occlusion(ctx.model).attribute(x, sliding_window_shapes=(c, window, window), strides=(c, stride, stride),
                                              baselines=ctx.baseline.expand_as(x), target=t,
                                              perturbations_per_eval=ctx.per_eval(len(x))))


def _captum_sampling(cls, ctx, x, t, n_samples, perturbations_per_eval=None, **init):
    mask = ctx.feature_groups(tuple(x.shape[1:])).to(x.device)
    explainer = cls(ctx.model, **init)
    out = []
    for i in range(len(x)):
        _seed(ctx.seed + i)
        out.append(explainer.attribute(x[i:i + 1], baselines=ctx.baseline, target=t[i:i + 1], n_samples=n_samples,
                                       feature_mask=mask, perturbations_per_eval=perturbations_per_eval or ctx.per_eval(1)))
        ctx.tick(i)
    attr = _np(torch.cat(out))
    return _spread(attr, mask, ctx)


def _spread(attr: np.ndarray, mask: torch.Tensor, ctx) -> np.ndarray:
    """Group methods give every pixel of a group the group's value; split it so sums stay true."""
    if not ctx.is_image:
        return attr
    m = mask.cpu().numpy()
    sizes = np.bincount(m.reshape(-1))
    return attr / sizes[m]


def captum_kernel_shap(ctx, x, t, n_samples: int = 500, perturbations_per_eval: int = 0):
    from captum.attr import KernelShap

    return _captum_sampling(KernelShap, ctx, x, t, n_samples, perturbations_per_eval)


def captum_lime(ctx, x, t, n_samples: int = 500, perturbations_per_eval: int = 0):
    from captum.attr import Lime

    return _captum_sampling(Lime, ctx, x, t, n_samples, perturbations_per_eval)


def _captum_sampling_memory(s: Sizing) -> Need:
    samples = s.settings["n_samples"]  # Captum keeps every sample's mask and perturbed input to fit its linear model
    return Need(samples * s.n_features * 4 * 3, f"{s.name}'s samples ({samples:,} x {s.n_features:,} features)",
                f"explain.params.{s.name}.n_samples", f"lower explain.params.{s.name}.n_samples")


# ------------------------------------------------------------------------------ SHAP

def _pick(values, t: torch.Tensor, n: int) -> np.ndarray:
    """shap >= 0.45 returns (samples, *input, outputs); older versions a list per output."""
    if isinstance(values, list):
        values = np.stack(values, axis=-1)
    values = np.asarray(values)
    return values[np.arange(n), ..., t.cpu().numpy()].astype(np.float64) if values.ndim > 1 else values


def shap_kernel(ctx, x, t, nsamples: int = 0, l1_reg: bool = False):
    """KernelExplainer on the training background (tabular), or on pixel patches against the
    baseline (images). nsamples 0 means shap's own default, 2 * features + 2048."""
    import shap

    n = len(x)
    x_np = _np(x)
    out = np.zeros_like(x_np)
    kw = {"silent": True, "l1_reg": "num_features(10)" if l1_reg else False}
    if nsamples:
        kw["nsamples"] = nsamples
    if not ctx.is_image:
        flat_bg = _np(ctx.background).reshape(len(ctx.background), -1)
        explainer = shap.KernelExplainer(lambda a: ctx.predict(a.reshape(len(a), *x.shape[1:])), flat_bg)
        for i in range(n):
            _seed(ctx.seed + i)
            v = explainer.shap_values(x_np[i].reshape(1, -1), **kw)
            out[i] = _pick(v, t[i:i + 1], 1).reshape(x.shape[1:])
            ctx.tick(i)
        return out
    mask = ctx.feature_groups(tuple(x.shape[1:])).cpu().numpy()[0]
    groups = int(mask.max()) + 1
    base = _np(ctx.baseline)[0]
    for i in range(n):
        def f(z, xi=x_np[i]):
            on = z[:, mask]  # (k, *input) of 0/1
            return ctx.predict(xi * on + base * (1 - on))
        explainer = shap.KernelExplainer(f, np.zeros((1, groups)))
        _seed(ctx.seed + i)
        v = _pick(explainer.shap_values(np.ones((1, groups)), **kw), t[i:i + 1], 1)[0]
        out[i] = v[mask] / np.bincount(mask.reshape(-1))[mask]
        ctx.tick(i)
    return out


def _shap_kernel_memory(s: Sizing) -> Need:
    nsamples = s.settings["nsamples"] or 2 * s.n_features + 2048  # shap's own default
    background = 1 if s.is_image else s.explain.background
    rows = nsamples * background  # KernelExplainer holds every sample against every background row
    return Need(rows * s.n_features * 8 * 2, f"shap_kernel's samples (nsamples {nsamples:,} x background {background}"
                f" x {s.n_features:,} features)", "explain.background",
                "lower explain.background or explain.params.shap_kernel.nsamples")


def shap_gradient(ctx, x, t, nsamples: int = 200):
    import shap

    explainer = shap.GradientExplainer(ctx.model, ctx.background, batch_size=ctx.batch_size)
    return _pick(explainer.shap_values(x, nsamples=nsamples, rseed=ctx.seed), t, len(x))


def shap_deep(ctx, x, t):
    import shap

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            explainer = shap.DeepExplainer(ctx.model, ctx.background)
            values = explainer.shap_values(x, check_additivity=False)
        except Exception as e:  # shap raises assorted errors for models it cannot trace
            raise MethodUnavailable(f"shap.DeepExplainer cannot explain this model ({type(e).__name__}: {e}); "
                                    "try deeplift or shap_gradient") from None
    unknown = sorted({str(w.message).split(": ", 1)[1] for w in caught if "unrecognized nn.Module" in str(w.message)})
    if unknown:
        # shap passes such layers' gradients through unchanged: its numbers would be wrong, not just noisy
        raise MethodUnavailable(f"shap.DeepExplainer has no rule for {', '.join(unknown)} layers; "
                                "try deeplift or shap_gradient")
    return _pick(values, t, len(x))


# ------------------------------------------------------------------------------ LIME

def lime(ctx, x, t, num_samples: int = 0):
    """lime's tabular explainer (default settings: quartile-discretized features, 5,000 samples),
    or its image explainer on pixel patches hidden with the baseline (1,000 samples)."""
    x_np = _np(x)
    targets = t.cpu().numpy()
    out = np.zeros_like(x_np)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lime warns when explaining logits, which need not sum to 1
        if not ctx.is_image:
            from lime.lime_tabular import LimeTabularExplainer

            explainer = LimeTabularExplainer(ctx.train_data.reshape(len(ctx.train_data), -1), mode="classification",
                                             feature_names=ctx.feature_names or None, random_state=ctx.seed)
            n_features = x_np[0].size
            for i in range(len(x_np)):
                exp = explainer.explain_instance(x_np[i].reshape(-1), lambda a: ctx.predict(a.reshape(len(a), *x.shape[1:])),
                                                 labels=(int(targets[i]),), num_features=n_features,
                                                 num_samples=num_samples or 5000)
                for j, w in exp.local_exp[int(targets[i])]:
                    out[i].reshape(-1)[j] = w
                ctx.tick(i)
            return out
        from lime.lime_image import LimeImageExplainer

        mask = ctx.feature_groups(tuple(x.shape[1:])).cpu().numpy()[0, 0]  # (h, w) patch ids
        sizes = np.bincount(mask.reshape(-1))
        base = float(_np(ctx.baseline).mean())
        c = x.shape[1]
        for i in range(len(x_np)):
            explainer = LimeImageExplainer(random_state=ctx.seed + i)

            def classify(images):  # lime hands (k, h, w, 3) RGB copies of a grey image
                return ctx.predict(np.repeat(images[..., :1].transpose(0, 3, 1, 2), c, axis=1))

            image = x_np[i].mean(axis=0)
            with contextlib.redirect_stderr(io.StringIO()):  # lime draws a tqdm bar on every call
                exp = explainer.explain_instance(image, classify, labels=(int(targets[i]),), top_labels=None,
                                                 hide_color=base,
                                                 num_features=int(mask.max()) + 1, num_samples=num_samples or 1000,
                                                 batch_size=ctx.batch_size, segmentation_fn=lambda img: mask)
            weights = np.zeros(int(mask.max()) + 1)
            for j, w in exp.local_exp[int(targets[i])]:
                weights[j] = w
            out[i] = np.broadcast_to(weights[mask] / sizes[mask] / c, x_np[i].shape)
            ctx.tick(i)
        return out


def _lime_memory(s: Sizing) -> Need | None:
    if s.is_image:
        return None
    samples = s.settings["num_samples"] or 5000
    return Need(samples * s.n_features * 8 * 4, f"lime's samples ({samples:,} x {s.n_features:,} features)",
                "explain.params.lime.num_samples", "lower explain.params.lime.num_samples")


# ------------------------------------------------------------------------------ lab's batched Kernel SHAP and LIME

def _row_bytes(x) -> int:
    """A guess of the memory one row takes through the model: its input and, for activations,
    64 times as much again (the batched methods size their model calls from it)."""
    return int(x[0].numel()) * 4 * 65


def kernel_shap(ctx, x, t, nsamples: int = 0, chunk_rows: int = 0):
    """lab's batched Kernel SHAP (lab/xai/kernel_shap.py): shap.KernelExplainer's estimator with
    l1_reg=False, one set of coalitions (seeded with ctx.seed) for all inputs, one solve. On the
    training background (tabular) or on pixel patches against the baseline (images), as
    shap_kernel. nsamples 0 means shap's default, 2 * features + 2048; chunk_rows 0 sizes the
    model calls to the device."""
    from lab.xai.kernel_shap import kernel_shap as batched

    rows = chunk_rows or ctx.chunk_rows(_row_bytes(x))
    if not ctx.is_image:
        return batched(ctx.model, x, t, ctx.background, nsamples=nsamples, seed=ctx.seed, chunk_rows=rows)
    mask = ctx.feature_groups(tuple(x.shape[1:])).to(x.device)  # (1, c, h, w) patch ids
    groups = int(mask.max()) + 1
    every = torch.ones((len(x), groups), dtype=torch.bool, device=x.device)  # as shap's 0/1 patch space: all vary
    phi = batched(ctx.model, x, t, ctx.baseline, groups=mask.reshape(-1), vary=every, nsamples=nsamples, seed=ctx.seed,
                  chunk_rows=rows)
    return _spread(phi[:, mask.reshape(-1).cpu().numpy()].reshape(x.shape), mask, ctx)


def _kernel_shap_memory(s: Sizing) -> Need:
    nsamples = s.settings["nsamples"] or 2 * s.n_features + 2048  # shap's default (a bound on images)
    # one set of coalitions for every input: float64 masks, and per feature a bool and a float32 copy
    return Need(nsamples * s.n_features * 16, f"kernel_shap's coalitions (nsamples {nsamples:,} x {s.n_features:,} features)",
                "explain.params.kernel_shap.nsamples", "lower explain.params.kernel_shap.nsamples")


def shapley(ctx, x, t, budget: int = 0, tolerance: float = 0.005, exact_features: int = 13, control: str = "linear",
            chunk_rows: int = 0):
    """lab's Shapley values (lab/xai/shapley.py) of the game Kernel SHAP explains: exact (all 2^M
    coalitions) where at most `exact_features` features vary or 2^M fits `budget`; elsewhere the
    stratified, paired, cross-fitted estimator with a `control` variate ("linear", or "forest" for
    less error per coalition at tens of ms more per batch), sampling in rounds until every
    standard error is under `tolerance` x (max - min attribution) or `budget` coalitions per input
    are spent (0: 512). On the training background (tabular) or on pixel patches against the
    baseline (images)."""
    from lab.xai.shapley import shapley_values

    rows = chunk_rows or ctx.chunk_rows(_row_bytes(x))
    kw = dict(budget=budget, tolerance=tolerance, seed=ctx.seed, chunk_rows=rows, exact_features=exact_features, control=control)
    if not ctx.is_image:
        r = shapley_values(ctx.model, x, t, ctx.background, **kw)
        return Estimate(r.values.reshape(x.shape), r.standard_errors.reshape(x.shape))
    mask = ctx.feature_groups(tuple(x.shape[1:])).to(x.device)
    groups = int(mask.max()) + 1
    every = torch.ones((len(x), groups), dtype=torch.bool, device=x.device)
    r = shapley_values(ctx.model, x, t, ctx.baseline, groups=mask.reshape(-1), vary=every, **kw)
    pixels = mask.reshape(-1).cpu().numpy()
    return Estimate(_spread(r.values[:, pixels].reshape(x.shape), mask, ctx),
                    _spread(r.standard_errors[:, pixels].reshape(x.shape), mask, ctx))


def _shapley_memory(s: Sizing) -> Need:
    from lab.xai.shapley import DEFAULT_BUDGET

    m = s.n_features if not s.is_image else s.n_features // 4  # 2x2 patches
    exact = m <= s.settings["exact_features"]
    coalitions = 2**m if exact else (s.settings["budget"] or DEFAULT_BUDGET)
    # the coalitions (bool and float64) and their values per input
    return Need(coalitions * (m * 9 + 8 * s.explain.samples), f"shapley's {'all ' if exact else ''}{coalitions:,} coalitions of"
                f" {m:,} features", "explain.params.shapley.exact_features" if exact else "explain.params.shapley.budget",
                "lower explain.params.shapley.exact_features" if exact else "lower explain.params.shapley.budget")


def lime_batched(ctx, x, t, num_samples: int = 0, chunk_rows: int = 0):
    """lab's batched LIME (lab/xai/lime_batched.py): lime's tabular explainer's defaults
    (quartile bins from the training rows, 5,000 samples) or its image explainer's on pixel
    patches hidden with the baseline (1,000 samples), for all inputs at once, seeded with ctx.seed."""
    from lab.xai.lime_batched import QuartileBins, lime_image, lime_tabular

    rows = chunk_rows or ctx.chunk_rows(_row_bytes(x))
    if not ctx.is_image:
        bins = QuartileBins.fit(ctx.train_data.reshape(len(ctx.train_data), -1), x.device)
        flat = x.reshape(len(x), -1)
        return lime_tabular(ctx.model, flat, t, bins, num_samples or 5000, ctx.seed, rows).reshape(x.shape)
    mask = ctx.feature_groups(tuple(x.shape[1:])).to(x.device)  # (1, c, h, w) patch ids, the same in every channel
    weights = lime_image(ctx.model, x, t, mask[0, 0], float(ctx.baseline.mean()), num_samples or 1000, ctx.seed, rows)
    return _spread(weights[:, mask.reshape(-1).cpu().numpy()].reshape(x.shape), mask, ctx)


def _lime_batched_memory(s: Sizing) -> Need:
    samples = s.settings["num_samples"] or (1000 if s.is_image else 5000)
    # at least one input's samples at a time: the uniforms, three bin indicators, values, 0/1 rows
    return Need(samples * s.n_features * 4 * 8, f"lime_batched's samples ({samples:,} x {s.n_features:,} features)",
                "explain.params.lime_batched.num_samples", "lower explain.params.lime_batched.num_samples")


# ------------------------------------------------------------------------------ the table

@dataclass(frozen=True)
class Method:
    name: str
    library: str
    fn: Callable
    data: tuple[str, ...] = ("tabular", "image")  # which inputs it applies to
    reference: str | None = None  # what its attributions sum to: f(x) - f(baseline) or - E f(background)
    image_reference: str | None = "same"  # the reference on images, where it differs
    stochastic: bool = False
    note: str = ""
    implementation: str = ""  # what computes it, recorded in each run's comparison (default: the library)
    default: bool = True  # run when no methods are named; False for a reference that lab's own path replaces
    # what it allocates beyond a batch of perturbed inputs, sized before the run starts (lab.xai.footprint,
    # lab.memory): fn(Sizing) -> Need or None; None where it holds nothing that grows with its settings
    memory: Callable[[Sizing], Need | None] | None = None
    counterpart: str | None = None  # the method that does its job on the other kind of inputs (tabular/image)
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)  # the values a text parameter allows

    def reference_for(self, is_image: bool) -> str | None:
        return self.reference if not is_image or self.image_reference == "same" else self.image_reference

    @property
    def params(self) -> dict:
        import inspect

        return {k: p.default for k, p in list(inspect.signature(self.fn).parameters.items())[3:]}


METHODS: dict[str, Method] = {m.name: m for m in (
    Method("integrated_gradients", "captum", integrated_gradients, reference="baseline", note="path integral of gradients from the baseline"),
    Method("saliency", "captum", saliency, note="the gradient itself (signed)"),
    Method("input_x_gradient", "captum", input_x_gradient, note="(input - baseline) * gradient"),
    Method("deeplift", "captum", deeplift, reference="baseline", note="DeepLIFT rescale rule against the baseline"),
    Method("gradient_shap", "captum", gradient_shap, reference="background", stochastic=True, note="expected gradients over the background",
           memory=_gradient_shap_memory),
    Method("feature_ablation", "captum", feature_ablation, data=("tabular",), note="drop in output when a feature is set to the baseline",
           counterpart="occlusion"),
    Method("occlusion", "captum", occlusion, data=("image",), note="drop in output when a patch is set to the baseline",
           counterpart="feature_ablation"),
    Method("captum_kernel_shap", "captum", captum_kernel_shap, reference="baseline", stochastic=True, note="Kernel SHAP against the baseline",
           memory=_captum_sampling_memory),
    Method("captum_lime", "captum", captum_lime, stochastic=True, note="LIME with Captum's defaults (lasso, cosine kernel)",
           memory=_captum_sampling_memory),
    Method("kernel_shap", "lab", kernel_shap, reference="background", image_reference="baseline", stochastic=True,
           note="batched Kernel SHAP: shap.KernelExplainer's estimator for all inputs at once",
           implementation="lab.xai.kernel_shap (batched, torch)", memory=_kernel_shap_memory),
    Method("shapley", "lab", shapley, reference="background", image_reference="baseline", stochastic=True,
           note="Shapley values: exact up to 13 features, else a stratified paired estimator with standard errors",
           implementation="lab.xai.shapley (exact or estimated, batched, torch)", memory=_shapley_memory,
           choices={"control": ("linear", "forest")}),
    Method("shap_kernel", "shap", shap_kernel, reference="background", image_reference="baseline", stochastic=True,
           note="shap.KernelExplainer per input (on images: pixel patches against the baseline)",
           implementation="shap.KernelExplainer", default=False, memory=_shap_kernel_memory),
    Method("shap_gradient", "shap", shap_gradient, reference="background", stochastic=True, note="shap.GradientExplainer (expected gradients)"),
    Method("shap_deep", "shap", shap_deep, reference="background", note="shap.DeepExplainer (DeepLIFT over the background)"),
    Method("lime_batched", "lab", lime_batched, stochastic=True, note="batched LIME: lime's default estimator for all inputs at once",
           implementation="lab.xai.lime_batched (batched, torch)", memory=_lime_batched_memory),
    Method("lime", "lime", lime, stochastic=True, note="lime's tabular or image explainer, per input",
           implementation="lime.lime_tabular / lime.lime_image", default=False, memory=_lime_memory),
)}

# the modules each library's methods import, imported before the first method is timed (lab.xai.explain)
LIBRARY_MODULES: dict[str, tuple[str, ...]] = {
    "captum": ("captum.attr",), "shap": ("shap",), "lime": ("lime.lime_tabular", "lime.lime_image"),
    "lab": ("lab.xai.kernel_shap", "lab.xai.shapley", "lab.xai.lime_batched", "scipy.special"),
}


def methods_for(is_image: bool) -> list[str]:
    kind = "image" if is_image else "tabular"
    return [name for name, m in METHODS.items() if kind in m.data]


def default_methods(is_image: bool) -> list[str]:
    """What runs when no methods are named: every method that applies, less the reference
    packages' own Kernel SHAP and LIME, which lab's batched paths replace (equal to them: see
    tests/test_batched_explain.py); name `shap_kernel` or `lime` to run those too."""
    return [name for name in methods_for(is_image) if METHODS[name].default]
