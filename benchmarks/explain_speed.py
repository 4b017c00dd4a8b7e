"""lab's batched attribution paths against each library's plain default usage.

    .venv/bin/python benchmarks/explain_speed.py [--samples 20]

On the breast-cancer MLP (trained here through `lab run`) and the same test inputs, times
each pair and measures how far their outputs agree (Spearman rank correlation per input,
averaged). Prints one Markdown table. 1 torch thread.
"""

import argparse
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
    return float(np.mean([spearmanr(x, y).statistic for x, y in zip(a, b)]))


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=20)
    args = p.parse_args()
    torch.set_num_threads(1)
    root = tempfile.mkdtemp(prefix="lab-explain-speed-")
    run = lab.run(lab.load_experiment("breast-cancer-attributions", {"explain.methods": ["saliency"], "explain.samples": 1}), runs_dir=root)
    spec = lab.load_experiment(run.spec_path)
    ds = load_dataset(spec)
    model = build_model(spec, ds)
    model.load_state_dict(torch.load(run.checkpoint("model.pt"), weights_only=True))
    model.eval()
    n = args.samples
    x, bg = ds.X_test[:n], ds.X_train[np.random.default_rng(0).choice(len(ds.X_train), 50, replace=False)]
    xt = torch.as_tensor(x)
    with torch.no_grad():
        targets = model(xt).argmax(1)

    def predict(a):
        with torch.no_grad():
            return model(torch.as_tensor(np.asarray(a, dtype=np.float32))).numpy()

    def ours(name, **params):
        explain(model, x[:2], targets[:2], [name], background=bg, train_data=ds.X_train, params={name: params} if params else None)  # warm up
        ex, seconds = timed(lambda: explain(model, x, targets, [name], background=bg, train_data=ds.X_train,
                                            params={name: params} if params else None))
        return ex.attributions[name], seconds / n

    rows = []

    # Captum's perturbation methods with their default perturbations_per_eval=1
    from captum.attr import FeatureAblation, KernelShap, Lime

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

    # shap.KernelExplainer with its defaults (nsamples='auto', l1_reg='auto'), all inputs in one call
    import shap

    def plain_kernel():
        np.random.seed(0)
        values = shap.KernelExplainer(predict, bg).shap_values(x, silent=True)
        return values[np.arange(n), :, targets.numpy()]
    ref, t_plain = timed(plain_kernel)
    mine, t_ours = ours("shap_kernel")
    rows.append(("shap_kernel", "shap.KernelExplainer defaults (nsamples auto, l1_reg auto)", t_plain / n, t_ours, spearman(ref, mine)))

    # lime tabular, per input, with predict_proba as its docs show
    from lime.lime_tabular import LimeTabularExplainer

    def plain_lime():
        explainer = LimeTabularExplainer(ds.X_train, mode="classification", random_state=0)
        out = np.zeros_like(x)
        for i in range(n):
            t = int(targets[i])
            exp = explainer.explain_instance(x[i], lambda a: torch.softmax(torch.as_tensor(predict(a)), 1).numpy(), labels=(t,))
            for j, w in exp.local_exp[t]:
                out[i, j] = w
        return out
    ref, t_plain = timed(plain_lime)
    mine, t_ours = ours("lime")
    rows.append(("lime", "lime tabular per input, defaults (num_features=10, probabilities)", t_plain / n, t_ours, spearman(ref, mine)))

    print(f"{n} breast-cancer test inputs, MLP 30-64-64-2, 1 CPU thread\n")
    print("| lab method | library default it is compared with | default ms/input | lab ms/input | speed-up | Spearman(default, lab) |")
    print("|---|---|---|---|---|---|")
    for name, what, tp, to, rho in rows:
        print(f"| {name} | {what} | {tp * 1000:.1f} | {to * 1000:.1f} | {tp / to:.1f}x | {rho:.2f} |")


if __name__ == "__main__":
    main()
