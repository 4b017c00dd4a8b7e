"""Shapley value estimators: error against exact values, model evaluations and wall time.

    .venv/bin/pip install -e '.[bench]'     # shapiq, for its approximators' rows (without it they are left out)
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/shapley_error.py [--inputs 10] [--seeds 3] [--out benchmarks/shapley_error.png]
    .venv/bin/python benchmarks/shapley_error.py --device cuda --models digits     # on a GPU

Two models, each with an exact reference by enumeration of all 2^16 coalitions:
- a tabular MLP 16-64-64-2 on the first 16 breast-cancer features (standardized), trained here
  (Adam, 300 full-batch steps, seeded), explained against 50 training rows (the game Kernel SHAP
  explains: v(z) = E_b f(x z + b (1 - z)));
- the digits CNN of `digits-attributions` (trained here by its own recipe, no `lab run`), over its
  16 patches of 2x2 pixels against the baseline (one row, as lab's image methods do).

Methods, at equal budgets of coalitions per input where they take one:
- lab `shapley` (lab.xai.shapley) with tolerance 0 at each budget, with its linear control variate
  (the default) and with `control = "forest"`, and at its defaults (budget 512, tolerance 0.005);
- lab `kernel_shap` (shap's estimator, batched);
- shap.KernelExplainer at its defaults (nsamples 2 * 16 + 2048, l1_reg "num_features(10)"), with its
  default l1_reg at the smaller budgets, and with l1_reg=False at each budget;
- shapiq 1.4 approximators at each budget: KernelSHAP (paired), UnbiasedKernelSHAP, kADDSHAP (k=2),
  PermutationSamplingSV, SVARM.
Error: the mean over inputs of ||phi - phi_exact|| / ||phi_exact||, averaged over seeds. Time: wall
seconds per input, model calls included, 1 torch thread (the per-input references run one input
at a time; lab's methods take all inputs in one call).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BUDGETS = (256, 512, 1024, 2080)


def tabular_model():
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    X = X[:, :16]
    X = ((X - X.mean(0)) / X.std(0)).astype(np.float32)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(X))
    X, y = torch.as_tensor(X[order]), torch.as_tensor(y[order])
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64), torch.nn.ReLU(),
                              torch.nn.Linear(64, 2))
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    for _ in range(300):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(X[:450]), y[:450]).backward()
        opt.step()
    net.eval()
    bg = X[:450][rng.choice(450, 50, replace=False)]
    return net, X[450:], bg, None


def digits_model():
    import lab
    from lab.xai.data import load_dataset
    from lab.xai.models import build_model

    spec = lab.load_experiment("digits-attributions")
    ds = load_dataset(spec)
    torch.manual_seed(0)
    net = build_model(spec, ds)
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    X, y = torch.as_tensor(ds.X_train), torch.as_tensor(ds.y_train)
    for _ in range(40):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(X), y).backward()
        opt.step()
    net.eval()
    c, h, w = ds.X_test.shape[1:]
    groups = ((torch.arange(h)[:, None] // 2) * (w // 2) + torch.arange(w)[None, :] // 2).expand(c, h, w).reshape(-1)
    return net, torch.as_tensor(ds.X_test), torch.as_tensor(np.asarray(ds.baseline, np.float32)).reshape(1, c, h, w), groups


class Game:
    """v(z) - v(empty) of one input as the reference libraries take it: coalitions (k, 16) -> (k,)."""

    def __init__(self, model, x, t, background, groups):
        self.model, self.x, self.t, self.bg = model, x, t, background
        self.groups = groups if groups is not None else torch.arange(x.numel(), device=x.device)
        self.calls = 0
        with torch.no_grad():
            self.null = float(model(background)[:, t].mean())

    def __call__(self, coalitions: np.ndarray) -> np.ndarray:
        z = torch.as_tensor(np.asarray(coalitions, dtype=bool), device=self.x.device).reshape(-1, len(self.groups.unique()))
        self.calls += len(z)
        on = z[:, self.groups].float()  # (k, D)
        flat_x, flat_b = self.x.reshape(1, -1), self.bg.reshape(len(self.bg), -1)
        out = []
        with torch.no_grad():
            for i in range(0, len(on), max(1, 2048 // len(self.bg))):
                o = on[i:i + max(1, 2048 // len(self.bg))]
                synth = flat_b[None] + o[:, None, :] * (flat_x - flat_b)[None]  # (k, N, D)
                y = self.model(synth.reshape(-1, *self.x.shape))[:, self.t].reshape(len(o), len(self.bg)).mean(1)
                out.append(y)
        values = (torch.cat(out) - self.null).double().cpu().numpy()
        return values if np.ndim(coalitions) > 1 else values[:1]


def run(model, xs, bg, groups, seeds, budgets):
    from lab.xai.kernel_shap import kernel_shap
    from lab.xai.shapley import exact_shapley, shapley_values

    with torch.no_grad():
        t = model(xs).argmax(1)
    n = len(xs)
    m = 16
    start = time.perf_counter()
    exact = exact_shapley(model, xs, t, bg, groups=groups)
    if xs.is_cuda:
        torch.cuda.synchronize()
    print(f"  exact reference: {(time.perf_counter() - start) / n * 1000:.0f} ms per input ({2 ** m:,} coalitions)", flush=True)
    every = torch.ones((n, m), dtype=torch.bool, device=xs.device) if groups is not None else None

    def error(phi):
        return float(np.mean(np.linalg.norm(phi - exact, axis=1) / np.linalg.norm(exact, axis=1)))

    rows = []

    def timed(label, budget, fn, per_input=False):
        errs, secs, evals = [], [], []
        for seed in range(seeds):
            start = time.perf_counter()
            phi, used = fn(seed)
            secs.append((time.perf_counter() - start) / n)
            errs.append(error(phi))
            evals.append(used)
        rows.append({"method": label, "budget": budget, "evaluations": float(np.mean(evals)), "error": float(np.mean(errs)),
                     "error_sd": float(np.std(errs)), "ms": 1000 * float(np.median(secs))})
        print(f"  {label:<34} budget {budget!s:>7} evals {rows[-1]['evaluations']:>7.0f} error {rows[-1]['error']:.4f} "
              f"{rows[-1]['ms']:8.1f} ms/input", flush=True)

    def lab_shapley(budget, tolerance, control="linear"):
        def fn(seed):
            r = shapley_values(model, xs, t, bg, groups=groups, vary=every, budget=budget, tolerance=tolerance, seed=seed,
                               control=control)
            return r.values, float(r.evaluations.mean())
        return fn

    timed("lab shapley (defaults)", "default", lab_shapley(0, 0.005))
    for b in budgets:
        timed("lab shapley", b, lab_shapley(b, 0.0))
        timed("lab shapley, control forest", b, lab_shapley(b, 0.0, "forest"))
        timed("lab kernel_shap (shap's estimator)", b,
              lambda seed, b=b: (kernel_shap(model, xs, t, bg, groups=groups, vary=every, nsamples=b, seed=seed), b))
    timed("shap KernelExplainer (defaults)", "default", lambda seed: _shap(model, xs, t, bg, groups, seed, None, True))
    for b in budgets[:-1]:  # shap's default nsamples is 2 * 16 + 2048 = 2080, the row above
        timed("shap KernelExplainer (default l1_reg)", b, lambda seed, b=b: _shap(model, xs, t, bg, groups, seed, b, True))
    for b in budgets:
        timed("shap KernelExplainer l1_reg=False", b, lambda seed, b=b: _shap(model, xs, t, bg, groups, seed, b, False))
    try:
        import shapiq
    except ImportError:  # not one of lab's own dependencies: the bench extra
        print("  shapiq is not installed: its rows are left out (.venv/bin/pip install -e '.[bench]' adds it)", flush=True)
        return rows

    approximators = {"shapiq KernelSHAP (paired)": lambda s: shapiq.KernelSHAP(m, pairing_trick=True, random_state=s),
                     "shapiq UnbiasedKernelSHAP": lambda s: shapiq.UnbiasedKernelSHAP(m, random_state=s),
                     "shapiq kADDSHAP (k=2)": lambda s: shapiq.kADDSHAP(m, max_order=2, random_state=s),
                     "shapiq PermutationSamplingSV": lambda s: shapiq.PermutationSamplingSV(m, random_state=s),
                     "shapiq SVARM": lambda s: shapiq.SVARM(m, random_state=s)}
    for label, make in approximators.items():
        for b in budgets:
            def fn(seed, b=b, make=make):
                phi = np.zeros((n, m))
                used = 0
                for i in range(n):
                    game = Game(model, xs[i], int(t[i]), bg, groups)
                    values = make(seed).approximate(b, game)
                    phi[i] = [values[(j,)] for j in range(m)]
                    used += game.calls
                return phi, used / n
            timed(label, b, fn)
    return rows


def _shap(model, xs, t, bg, groups, seed, budget, l1_default):
    import shap

    n, m = len(xs), 16
    kw = {"silent": True}
    if budget:
        kw["nsamples"] = budget
    if not l1_default:
        kw["l1_reg"] = False
    phi = np.zeros((n, m))
    calls = 0
    if groups is None:
        def f(a):
            nonlocal calls
            calls += len(a)
            with torch.no_grad():
                return model(torch.as_tensor(a, dtype=torch.float32, device=xs.device)).cpu().numpy()
        explainer = shap.KernelExplainer(f, bg.cpu().numpy())
        for i in range(n):
            np.random.seed(seed * 1000 + i)
            v = np.asarray(explainer.shap_values(xs[i:i + 1].cpu().numpy(), **kw))
            phi[i] = v[0, :, int(t[i])]
        return phi, calls / len(bg) / n
    for i in range(n):
        game = Game(model, xs[i], int(t[i]), bg, groups)
        explainer = shap.KernelExplainer(lambda z, game=game: game(z > 0.5)[:, None], np.zeros((1, m)))
        np.random.seed(seed * 1000 + i)
        phi[i] = np.asarray(explainer.shap_values(np.ones((1, m)), **kw)).reshape(-1)[:m]
        calls += game.calls
    return phi, calls / n


def table(name, rows) -> str:
    out = [f"### {name}", "", "| method | budget | coalitions per input | error (rel. L2) | ms per input |", "|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['method']} | {r['budget']} | {r['evaluations']:,.0f} | {r['error']:.4f} ± {r['error_sd']:.4f} | {r['ms']:.1f} |")
    return "\n".join(out)


def ratios(rows) -> str:
    """lab's error over shap's at each budget (equal coalitions per input)."""
    err = {(r["method"], r["budget"]): r["error"] for r in rows}
    out = ["| budget | shapley / shap (l1_reg=False) | shapley, control forest / shap (l1_reg=False) |"
           " shapley / shap (default l1_reg) |", "|---|---|---|---|"]
    for b in BUDGETS:
        shap_plain = err.get(("shap KernelExplainer l1_reg=False", b))
        shap_l1 = err.get(("shap KernelExplainer (default l1_reg)", b)) or (err.get(("shap KernelExplainer (defaults)", "default"))
                                                                           if b == BUDGETS[-1] else None)
        lin, forest = err.get(("lab shapley", b)), err.get(("lab shapley, control forest", b))
        if shap_plain and lin and forest and shap_l1:
            out.append(f"| {b:,} | {lin / shap_plain:.2f}x | {forest / shap_plain:.2f}x | {lin / shap_l1:.3f}x |")
    return "\n".join(out)


def figure(path, results):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(results), figsize=(6.2 * len(results), 8.5), squeeze=False)
    for col, (name, rows) in enumerate(results.items()):
        for i, label in enumerate(dict.fromkeys(r["method"] for r in rows)):
            pts = [r for r in rows if r["method"] == label]
            style = dict(marker="o" if len(pts) > 1 else "*", markersize=5 if len(pts) > 1 else 12,
                         linewidth=2.2 if label.startswith("lab shapley") else 1.0, color=plt.cm.tab20(i))  # 12 methods: no colour twice
            axes[0, col].plot([r["evaluations"] for r in pts], [r["error"] for r in pts], label=label, **style)
            axes[1, col].plot([r["ms"] for r in pts], [r["error"] for r in pts], label=label, **style)
        for row, xlabel in ((0, "coalitions per input (model evaluations x background rows)"), (1, "wall ms per input (1 thread)")):
            ax = axes[row, col]
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel(xlabel, fontsize=8)
            ax.set_ylabel("relative L2 error vs exact", fontsize=8)
            ax.grid(alpha=0.3, which="both")
            ax.set_title(name, fontsize=9)
        axes[0, col].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--inputs", type=int, default=10)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--models", nargs="+", default=["tabular", "digits"], choices=["tabular", "digits"])
    p.add_argument("--out", default="benchmarks/shapley_error.png")
    p.add_argument("--device", default="cpu", help="cpu or cuda: where the models and lab's methods run")
    a = p.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    import logging

    logging.getLogger("shap").setLevel(logging.ERROR)
    results = {}
    for name in a.models:
        label = "tabular MLP 16-64-64-2 (breast cancer, 16 features, 50 background rows)" if name == "tabular" else \
            "digits CNN (16 patches of 2x2 against the baseline)"
        print(label, flush=True)
        model, xs, bg, groups = tabular_model() if name == "tabular" else digits_model()
        model, xs, bg = model.to(a.device), xs[:a.inputs].to(a.device), bg.to(a.device)
        groups = groups.to(a.device) if groups is not None else None
        results[label] = run(model, xs, bg, groups, a.seeds, BUDGETS)
    for label, rows in results.items():
        print("\n" + table(label, rows) + "\n\n" + ratios(rows))
    figure(a.out, results)
    print(f"\nfigure: {a.out}")


if __name__ == "__main__":
    main()
