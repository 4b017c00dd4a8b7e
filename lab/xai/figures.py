"""PNG figures of an explanation: methods side by side per input, agreement, deletion curves.

Drawn so that agreement shows at a glance: every method's panel uses the same feature order
(by mean |attribution| across methods) and its own symmetric scale (methods differ in units).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _figure(**kw):
    """A figure with its own Agg canvas: pyplot and the process-wide backend are never touched."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(**kw)
    FigureCanvasAgg(fig)
    return fig


def _subplots(rows, cols, figsize, **kw):
    fig = _figure(figsize=figsize)
    return fig, fig.subplots(rows, cols, **kw)


def _save(fig, path: Path) -> None:
    from lab.store import atomic_target

    with atomic_target(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")


def _normalized(a: np.ndarray) -> np.ndarray:
    m = np.abs(a).max()
    return a / m if m > 0 else a


def sample_figure(path: Path, x: np.ndarray, attrs: dict[str, np.ndarray], feature_names: list[str],
                  title: str, image: bool, max_features: int = 12, errors: dict[str, np.ndarray] | None = None) -> None:
    """Every method's attributions of one input side by side; `errors`: standard errors of the
    methods that estimate them, drawn as 95% error bars (bar charts) or named in the title."""
    names = list(attrs)
    errors = errors or {}
    if image:
        cols = min(len(names) + 1, 7)
        rows = int(np.ceil((len(names) + 1) / cols))
        fig, axes = _subplots(rows, cols, figsize=(1.9 * cols, 2.1 * rows + 0.4), squeeze=False)
        axes = list(axes.flat)
        axes[0].imshow(x.mean(axis=0), cmap="gray_r")
        axes[0].set_title("input", fontsize=8)
        for ax in axes[len(names) + 1:]:
            ax.axis("off")
        for ax, name in zip(axes[1:], names):
            a = attrs[name].sum(axis=0)
            lim = np.abs(a).max() or 1.0
            ax.imshow(a, cmap="bwr", vmin=-lim, vmax=lim)
            se = errors.get(name)
            ax.set_title(name.replace("_", " ") + (f"\n±{1.96 * se.sum(axis=0).max() / lim:.1%} (95%)" if se is not None and se.any() else ""),
                         fontsize=7)
        for ax in axes[:len(names) + 1]:
            ax.set_xticks([])
            ax.set_yticks([])
    else:
        stacked = np.stack([_normalized(attrs[n].reshape(-1)) for n in names])
        order = np.argsort(-np.abs(stacked).mean(axis=0))[:max_features]
        cols = min(len(names), 5)
        rows = int(np.ceil(len(names) / cols))
        fig, axes = _subplots(rows, cols, figsize=(3.1 * cols, 0.28 * len(order) * rows + 1.2), sharey=True, squeeze=False)
        labels = [feature_names[i] for i in order]
        for k, ax in enumerate(axes.flat):
            if k >= len(names):
                ax.axis("off")
                continue
            v = stacked[k, order]
            se = errors.get(names[k])
            bars = None
            if se is not None and se.any():  # on the bar's scale: the same division as _normalized
                scale = np.abs(attrs[names[k]]).max() or 1.0
                bars = 1.96 * se.reshape(-1)[order] / scale
            ax.barh(range(len(order)), v, color=np.where(v >= 0, "#d62728", "#1f77b4"), xerr=bars,
                    error_kw={"elinewidth": 0.8, "capsize": 2, "ecolor": "black"})
            ax.axvline(0, color="black", linewidth=0.6)
            ax.set_xlim(-1.05, 1.05)
            ax.set_title(names[k].replace("_", " "), fontsize=8)
            ax.set_yticks(range(len(order)))
            ax.set_yticklabels(labels, fontsize=7)
            ax.tick_params(axis="x", labelsize=6)
        axes.flat[0].invert_yaxis()  # most important first; the y axis is shared, so invert once
    bars = "; black: 95% intervals of estimated values" if any(e is not None and e.any() for e in errors.values()) else ""
    fig.suptitle(title + f"   (red: for the target class, blue: against; each method scaled to its max |value|{bars})", fontsize=9)
    fig.tight_layout()
    _save(fig, path)


def agreement_figure(path: Path, pairs: dict, top_k: int) -> None:
    names = list(pairs["spearman"])
    side = 0.42 * len(names) + 1.6
    fig, axes = _subplots(1, 3, figsize=(3 * side + 1.5, side + 0.6))
    for ax, (metric, label, vmin) in zip(axes, [("spearman", "Spearman rank correlation", -1),
                                                  ("top_k_agreement", f"top-{top_k} feature agreement", 0),
                                                  ("sign_agreement", f"top-{top_k} sign agreement", 0)]):
        m = np.array([[pairs[metric][a][b] for b in names] for a in names], dtype=float)
        im = ax.imshow(m, cmap="viridis", vmin=vmin, vmax=1)
        for i in range(len(names)):
            for j in range(len(names)):
                if np.isfinite(m[i, j]):
                    ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=6,
                            color="white" if m[i, j] < (vmin + 1) / 2 else "black")
        short = [n.replace("_", " ") for n in names]
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(short, rotation=60, ha="right", fontsize=7)
        ax.set_yticks(range(len(names)))
        ax.set_yticklabels(short, fontsize=7)
        ax.set_title(label, fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.suptitle("How far the methods agree (mean over explained inputs)", fontsize=10)
    fig.tight_layout()
    _save(fig, path)


def curves_figure(path: Path, comparison: dict) -> None:
    fig, axes = _subplots(1, 2, figsize=(11, 4.2))
    methods = comparison["methods"]
    order = sorted(methods, key=lambda m: methods[m]["deletion_auc"])
    from matplotlib import colormaps

    cmap = colormaps["tab20"]
    for ax, kind, better in [(axes[0], "deletion", "lower"), (axes[1], "insertion", "higher")]:
        for i, name in enumerate(order):
            curve = methods[name][f"{kind}_curve"]
            ax.plot(np.linspace(0, 1, len(curve)), curve, color=cmap(i % 20), linewidth=1.3,
                    label=f"{name} ({methods[name][f'{kind}_auc']:.2f})")
        rc = comparison["random"][f"{kind}_curve"]
        ax.plot(np.linspace(0, 1, len(rc)), rc, "k--", linewidth=1.2, label=f"random order ({comparison['random'][f'{kind}_auc']:.2f})")
        ax.set_xlabel(f"fraction of features {'deleted' if kind == 'deletion' else 'inserted'} (most positive attribution first)")
        ax.set_ylabel("probability of the target class")
        ax.set_title(f"{kind.title()} curves: area under curve, {better} is more faithful", fontsize=9)
        ax.legend(fontsize=6.5)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    _save(fig, path)


# ------------------------------------------------------------------------------ robustness

_ATTACK_STYLE = {"fgsm": ("#1f77b4", "-"), "pgd": ("#d62728", "-"), "fgsm_targeted": ("#1f77b4", ":"),
                 "pgd_targeted": ("#d62728", ":"), "noise": ("#2ca02c", "-"), "clipping": ("#9467bd", "-")}


def robustness_figure(path: Path, report: dict) -> None:
    """Accuracy vs epsilon, a panel per model: each attack (targeted dotted), and each defense
    under the untargeted attacks (dashed, the defense's colour, marker per attack)."""
    models = report["models"]
    fig, axes = _subplots(1, len(models), figsize=(max(5.6 * len(models), 8.0), 4.5), squeeze=False, sharey=True)
    for ax, (name, entry) in zip(axes.flat, models.items()):
        for attack, rows in entry["attacks"].items():
            color, style = _ATTACK_STYLE.get(attack, ("black", "-"))
            ax.plot([r["epsilon"] for r in rows], [r["accuracy"] for r in rows], style, color=color, marker="o", markersize=3,
                    linewidth=1.6, label=attack.replace("_", " "))
        for defense, d in entry.get("defenses", {}).items():
            color = _ATTACK_STYLE.get(defense, ("gray", "-"))[0]
            for attack, rows in d["attacks"].items():
                ax.plot([r["epsilon"] for r in rows], [r["accuracy"] for r in rows], "--", color=color,
                        marker="s" if attack == "pgd" else "^", markersize=3, linewidth=1.1, label=f"{defense} defense, {attack}")
        ax.set_title(f"{name} model (clean accuracy {entry['clean_accuracy']:.3f})", fontsize=9)
        ax.set_xlabel(f"epsilon (L-infinity, {report['unit']})")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6.5)
    axes.flat[0].set_ylabel("accuracy under attack")
    fig.suptitle(f"Accuracy under attack on {report['samples']} test inputs\n(an input counts as broken once any epsilon' <= epsilon "
                 "broke it; defenses: the attacker does not know them)", fontsize=8)
    fig.tight_layout()
    _save(fig, path)


def policy_robustness_figure(path: Path, report: dict) -> None:
    fig, ax = _subplots(1, 1, figsize=(6.4, 4.2))
    p = report["policy"]
    for attack, rows in p["attacks"].items():
        eps = np.array([r["epsilon"] for r in rows])
        mean = np.array([r["return_mean"] for r in rows])
        std = np.array([r["return_std"] for r in rows])
        color = _ATTACK_STYLE.get(attack, ("black", "-"))[0]
        ax.plot(eps, mean, marker="o", color=color, label={"noise": "random-sign noise", "fgsm": "FGSM"}.get(attack, attack))
        ax.fill_between(eps, mean - std, mean + std, color=color, alpha=0.15)
    ax.set_xlabel(f"epsilon (L-infinity, {report['unit']})")
    ax.set_ylabel(f"return (mean +/- std over {p['episodes']} episodes)")
    ax.set_title(f"Policy of run {p['run']}: return under attacks on its observations", fontsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)


def adversarial_figure(path: Path, rows: list[dict], feature_names: list[str], image: bool, title: str,
                       max_features: int = 8) -> None:
    """Per input two rows: the clean input and each method's attributions (of the clean
    prediction), then the adversarial input and each method's attributions (of its prediction)."""
    names = list(rows[0]["clean_attrs"])
    cols = len(names) + 1
    fig, axes = _subplots(2 * len(rows), cols, figsize=(1.75 * cols + 0.3, 1.9 * 2 * len(rows) + 0.5), squeeze=False)
    for r, row in enumerate(rows):
        for k, tag in enumerate(("clean", "adversarial")):
            line = axes[2 * r + k]
            attrs = row[f"{tag}_attrs"]
            if image:
                x = row[tag]
                line[0].imshow(x.mean(axis=0), cmap="gray_r", vmin=float(min(row["clean"].min(), row["adversarial"].min())),
                               vmax=float(max(row["clean"].max(), row["adversarial"].max())))
            else:
                line[0].axis("off")
            line[0].set_title(row[f"{tag}_title"], fontsize=7)
            for ax, name in zip(line[1:], names):
                a = attrs[name]
                if image:
                    a = a.sum(axis=0)
                    lim = np.abs(a).max() or 1.0
                    ax.imshow(a, cmap="bwr", vmin=-lim, vmax=lim)
                else:
                    both = np.abs(row["clean_attrs"][name]) + np.abs(row["adversarial_attrs"][name])
                    order = np.argsort(-both)[:max_features]
                    v = _normalized(a)[order]
                    ax.barh(range(len(order)), v, color=np.where(v >= 0, "#d62728", "#1f77b4"))
                    ax.set_yticks(range(len(order)))
                    ax.set_yticklabels([feature_names[i][:14] for i in order], fontsize=5)
                    ax.invert_yaxis()
                    ax.set_xlim(-1.05, 1.05)
                if r == 0 and k == 0:
                    ax.set_title(name.replace("_", " "), fontsize=7)
            for ax in line:
                ax.set_xticks([])
                if image:
                    ax.set_yticks([])
    fig.suptitle(title + "\n(red: for the explained class, blue: against; each panel scaled to its own max |value|)", fontsize=8)
    fig.tight_layout()
    _save(fig, path)


def population_figure(path: Path, report: dict, feature_names: list[str]) -> None:
    """Per method: every member's importance profile (share of |attribution| per feature) as a
    heatmap, members sorted by their largest feature, and the share of members with each feature
    in their top k."""
    methods = list(report["methods"])
    fig, axes = _subplots(2, len(methods), figsize=(max(3.2 * len(methods), 6), 6.2), squeeze=False,
                          gridspec_kw={"height_ratios": [3, 1]})
    for col, name in enumerate(methods):
        r = report["methods"][name]
        profiles = np.asarray(r["profiles"])
        order = np.lexsort((-profiles.max(axis=1), profiles.argmax(axis=1)))
        ax = axes[0, col]
        ax.imshow(profiles[order], aspect="auto", cmap="viridis", vmin=0, vmax=max(float(profiles.max()), 1e-6),
                  interpolation="nearest")
        ax.set_title(f"{name.replace('_', ' ')}\nmembers agree: Spearman {r['spearman']}", fontsize=8)
        ax.set_ylabel(f"member ({r['members']})", fontsize=7)
        ax.set_xticks([])
        ax.tick_params(axis="y", labelsize=6)
        share = [r["in_top_k"][f] for f in feature_names]
        bx = axes[1, col]
        bx.bar(range(len(feature_names)), share, color=["#d62728" if v == 1 else "#7f7f7f" for v in share])
        bx.set_ylim(0, 1.05)
        bx.set_ylabel(f"in top {r['k']}", fontsize=7)
        bx.set_xticks(range(len(feature_names)))
        bx.set_xticklabels(feature_names, rotation=45, ha="right", fontsize=6)
        bx.tick_params(axis="y", labelsize=6)
    fig.suptitle(f"{report['members']} members explained on the same states: each one's share of |attribution| per feature"
                 " (top), the share of members with the feature in their top k (bottom; red: every member)", fontsize=8)
    fig.tight_layout()
    _save(fig, path)
