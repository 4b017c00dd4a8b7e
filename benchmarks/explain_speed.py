"""lab's batched attribution paths against each library's own usage.

    .venv/bin/python benchmarks/explain_speed.py [--samples 20] [--sizes 20 200 2000]
        [--reference-max 200] [--digits-max 200] [--skip-captum]

On the breast-cancer MLP and the digits CNN (both trained here through `lab run`), on the same
test inputs, 1 torch thread; times are the process's CPU time per input. Prints Markdown tables:

1. Captum's perturbation methods (--samples inputs): lab's calls against Captum's defaults.
2. lab's batched Kernel SHAP and LIME (`kernel_shap`, `lime_batched`) at each of --sizes
   inputs, against the reference package's default usage and its best usage (the fastest way
   the package itself offers: every input in one shap call with l1_reg=False; lime with one
   explainer, every feature and no feature selection, images in one classifier call), all at the
   package's default number of samples. The references run per input, so their time per input
   does not depend on how many there are: past --reference-max inputs (and past --digits-max on
   the CNN) their figures are those measured at the largest size run, marked "(n=...)".
   Agreement: Spearman rank correlation per input, averaged, of lab's attributions with each
   reference's (lab's seed 0; the references' seed 0).
3. How far each reference agrees with itself under another seed (the bar lab's agreement meets).
"""

import argparse
import contextlib
import io
import tempfile
import time
import warnings

import numpy as np
import torch

import lab
from lab.xai.data import load_dataset
from lab.xai.explain import explain
from lab.xai.models import build_model

warnings.filterwarnings("ignore")


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    return float(np.nanmean([spearmanr(x, y).statistic for x, y in zip(a, b)]))


def timed(fn):
    """(result, seconds of this process's CPU time): one torch thread, and the machine is shared,
    so CPU time is what the other jobs on it do not inflate the way they inflate wall time."""
    start = time.process_time()
    out = fn()
    return out, time.process_time() - start


def trained(root: str, experiment: str):
    run = lab.run(lab.load_experiment(experiment, {"explain.methods": ["saliency"], "explain.samples": 1}), runs_dir=root)
    spec = lab.load_experiment(run.spec_path)
    ds = load_dataset(spec)
    model = build_model(spec, ds)
    model.load_state_dict(torch.load(run.checkpoint("model.pt"), weights_only=True))
    return model.eval(), ds


def logits_fn(model):
    def predict(a):
        with torch.inference_mode():
            return model(torch.as_tensor(np.asarray(a, dtype=np.float32))).numpy()
    return predict


# ------------------------------------------------------------------------------ 1. Captum

def captum_table(model, ds, n: int) -> None:
    from captum.attr import FeatureAblation, KernelShap, Lime

    x = ds.X_test[:n]
    xt = torch.as_tensor(x)
    with torch.no_grad():
        targets = model(xt).argmax(1)

    def ours(name, **params):
        explain(model, x[:2], targets[:2], [name], params={name: params} if params else None)  # warm up
        ex, seconds = timed(lambda: explain(model, x, targets, [name], params={name: params} if params else None))
        return ex.attributions[name], seconds / n

    rows = []
    for name, cls, kw in [("captum_kernel_shap", KernelShap, {"n_samples": 500}), ("captum_lime", Lime, {"n_samples": 500})]:
        def plain(cls=cls, kw=kw):
            out = []
            for i in range(n):
                torch.manual_seed(i)
                out.append(cls(model).attribute(xt[i:i + 1], target=targets[i:i + 1], **kw))
            return torch.cat(out).numpy()
        ref, t_plain = timed(plain)
        mine, t_ours = ours(name, n_samples=500)
        rows.append((name, f"captum {cls.__name__}, n_samples=500, perturbations_per_eval=1 (default)", t_plain / n, t_ours, spearman(ref, mine)))
    ref, t_plain = timed(lambda: FeatureAblation(model).attribute(xt, target=targets).numpy())
    mine, t_ours = ours("feature_ablation")
    rows.append(("feature_ablation", "captum FeatureAblation, perturbations_per_eval=1 (default)", t_plain / n, t_ours, spearman(ref, mine)))
    print(f"### Captum: {n} breast-cancer test inputs, MLP 30-64-64-2, 1 CPU thread\n")
    print("| lab method | library default it is compared with | default ms/input | lab ms/input | speed-up | Spearman(default, lab) |")
    print("|---|---|---|---|---|---|")
    for name, what, tp, to, rho in rows:
        print(f"| {name} | {what} | {tp * 1000:.1f} | {to * 1000:.1f} | {tp / to:.1f}x | {rho:.2f} |")
    print()


# ------------------------------------------------------------------------------ 2. the references

def shap_tabular(model, x, t, bg, l1_reg, seed=0):
    """shap.KernelExplainer on the background, every input in one shap_values call."""
    import shap

    np.random.seed(seed)
    kw = {} if l1_reg == "default" else {"l1_reg": False}
    values = shap.KernelExplainer(logits_fn(model), bg).shap_values(x, silent=True, **kw)
    return values[np.arange(len(x)), :, t]


def patches(shape, size=2):
    c, h, w = shape
    rows, cols = np.arange(h) // size, np.arange(w) // size
    return rows[:, None] * ((w + size - 1) // size) + cols[None, :]  # (h, w) patch ids


def shap_image(model, x, t, base, l1_reg, seed=0):
    """shap.KernelExplainer on 2x2 pixel patches against the baseline, one explainer per input
    (the model of the patches depends on the input), as lab's shap_kernel."""
    import shap

    mask = patches(x.shape[1:])
    full = np.broadcast_to(mask, x.shape[1:])
    groups = int(mask.max()) + 1
    predict = logits_fn(model)
    out = np.zeros(x.shape)
    kw = {} if l1_reg == "default" else {"l1_reg": False}
    for i in range(len(x)):
        def f(z, xi=x[i]):
            on = z[:, full]
            return predict(xi * on + base * (1 - on))
        np.random.seed(seed + i)
        v = shap.KernelExplainer(f, np.zeros((1, groups))).shap_values(np.ones((1, groups)), silent=True, **kw)[0, :, t[i]]
        out[i] = v[full] / np.bincount(full.reshape(-1))[full]
    return out


def lime_tabular(model, x, t, train, usage, seed=0):
    """lime per input; 'default': the documented call (10 features, feature selection 'auto');
    'best': every feature, no feature selection."""
    from lime.lime_tabular import LimeTabularExplainer

    best = usage == "best"
    explainer = LimeTabularExplainer(train, mode="classification", random_state=seed,
                                     feature_selection="none" if best else "auto")
    predict = logits_fn(model)
    out = np.zeros(x.shape)
    for i in range(len(x)):
        label = int(t[i])
        exp = explainer.explain_instance(x[i], predict, labels=(label,), **({"num_features": x.shape[1]} if best else {}))
        for j, w in exp.local_exp[label]:
            out[i, j] = w
    return out


def lime_image(model, x, t, base, usage, seed=0):
    """lime_image per input on 2x2 patches hidden with the baseline; 'default': top_labels=5,
    batch_size=10 (lime's defaults); 'best': the target label only, one classifier call."""
    from lime.lime_image import LimeImageExplainer

    mask = patches(x.shape[1:])
    sizes = np.bincount(mask.reshape(-1))
    predict = logits_fn(model)
    c = x.shape[1]
    out = np.zeros(x.shape)
    for i in range(len(x)):
        explainer = LimeImageExplainer(random_state=seed + i)
        label = int(t[i])
        kw = {"labels": (label,), "top_labels": None, "batch_size": 1000} if usage == "best" else {}
        with contextlib.redirect_stderr(io.StringIO()):
            exp = explainer.explain_instance(x[i].mean(axis=0), lambda im: predict(np.repeat(im[..., :1].transpose(0, 3, 1, 2), c, axis=1)),
                                             hide_color=float(base), segmentation_fn=lambda img: mask, num_samples=1000, **kw)
        weights = np.zeros(int(mask.max()) + 1)
        for j, w in exp.local_exp.get(label, []):
            weights[j] = w
        out[i] = np.broadcast_to(weights[mask] / sizes[mask] / c, x.shape[1:])
    return out


# ------------------------------------------------------------------------------ 2. the table

def batched_table(models: dict, sizes: list[int], reference_max: int, digits_max: int) -> None:
    print("### lab's batched Kernel SHAP and LIME against the packages, 1 CPU thread\n")
    print("Reference times per input past the sizes they ran at are those of the largest run, marked (n=...).\n")
    print("| model | lab method | inputs | reference default ms/input | reference best ms/input | lab ms/input "
          "| vs default | vs best | Spearman(lab, default) | Spearman(lab, best) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    selves = []
    for label, (model, ds, is_image) in models.items():
        bg = ds.X_train[np.random.default_rng(0).choice(len(ds.X_train), 50, replace=False)]
        base = np.zeros((1, *ds.X_test.shape[1:]), dtype=np.float32)
        pool = np.concatenate([ds.X_test, ds.X_val, ds.X_train])  # 2,000 inputs need more than the test rows
        largest = max(sizes)
        pool = np.concatenate([pool] * (largest // len(pool) + 1))[:largest]
        with torch.no_grad():
            targets = model(torch.as_tensor(pool)).argmax(1).numpy()
        if is_image:
            refs = {"kernel_shap": (lambda x, t, u, s=0: shap_image(model, x, t, 0.0, u, s)),
                    "lime_batched": (lambda x, t, u, s=0: lime_image(model, x, t, 0.0, u, s))}
        else:
            refs = {"kernel_shap": (lambda x, t, u, s=0: shap_tabular(model, x, t, bg, u, s)),
                    "lime_batched": (lambda x, t, u, s=0: lime_tabular(model, x, t, ds.X_train, u, s))}
        cap = digits_max if is_image else max(sizes)
        for name, ref in refs.items():
            explain(model, pool[:2], targets[:2], [name], background=bg, train_data=ds.X_train, baseline=base)  # warm up
            measured = {}
            for n in [s for s in sizes if s <= cap]:
                x, t = pool[:n], targets[:n]
                ex, t_lab = timed(lambda: explain(model, x, t, [name], background=bg, train_data=ds.X_train, baseline=base))
                mine = ex.attributions[name]
                if n <= reference_max:
                    for usage in ("default", "best"):
                        values, seconds = timed(lambda: ref(x, t, usage))
                        measured[usage] = (values, seconds / n, n)
                    if n == min(sizes):
                        other = ref(x, t, "best", 1000)
                        selves.append((label, name, n, spearman(measured["best"][0], other), spearman(mine, other)))
                (d_vals, d_time, d_n), (b_vals, b_time, b_n) = measured["default"], measured["best"]
                m = min(n, len(d_vals))
                note = lambda k: "" if k == n else f" (n={k})"  # noqa: E731
                print(f"| {label} | {name} | {n:,} | {d_time * 1000:.1f}{note(d_n)} | {b_time * 1000:.1f}{note(b_n)} | "
                      f"{t_lab / n * 1000:.1f} | {d_time / (t_lab / n):.1f}x | {b_time / (t_lab / n):.1f}x | "
                      f"{spearman(mine[:m], d_vals[:m]):.2f}{note(m)} | {spearman(mine[:m], b_vals[:m]):.2f}{note(m)} |", flush=True)
    print("\n### Agreement bar: each reference's best usage against itself with another seed\n")
    print("| model | lab method | inputs | Spearman(reference seed 0, reference seed 1000) | Spearman(lab, reference seed 1000) |")
    print("|---|---|---|---|---|")
    for label, name, n, rho_self, rho_lab in selves:
        print(f"| {label} | {name} | {n} | {rho_self:.3f} | {rho_lab:.3f} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=20, help="inputs for the Captum table")
    p.add_argument("--sizes", type=int, nargs="+", default=[20, 200, 2000], help="inputs for the batched table")
    p.add_argument("--reference-max", type=int, default=200, help="run the references up to this many inputs")
    p.add_argument("--digits-max", type=int, default=200, help="run the digits CNN up to this many inputs")
    p.add_argument("--skip-captum", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(1)
    root = tempfile.mkdtemp(prefix="lab-explain-speed-")
    cancer, cancer_ds = trained(root, "breast-cancer-attributions")
    if not args.skip_captum:
        captum_table(cancer, cancer_ds, args.samples)
    digits, digits_ds = trained(root, "digits-attributions")
    batched_table({"breast-cancer MLP 30-64-64-2": (cancer, cancer_ds, False), "digits CNN (8x8, 16 patches)": (digits, digits_ds, True)},
                  sorted(args.sizes), args.reference_max, args.digits_max)


if __name__ == "__main__":
    main()
