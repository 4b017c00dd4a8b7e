"""One ranking of attribution methods across metrics, and how much the metrics disagree.

As LATEC (Klein et al., NeurIPS 2024) ranks: every metric's values are median-standardised across
the methods compared (minus the median, over the interquartile range or a quarter of the range
where that is larger; the sign turned so that higher is better), averaged within each category (faithfulness, robustness, complexity, sanity),
and the categories averaged into one score. A single metric's ranking is unreliable; the
disagreement is shown with it: each method's best and worst rank over the metrics, and the mean
Spearman correlation between the metrics' rankings.
"""

from __future__ import annotations

import numpy as np

# metric -> +1 when higher is better, -1 when lower is
CATEGORIES: dict[str, dict[str, int]] = {
    "faithfulness": {"deletion_auc": -1, "insertion_auc": +1, "infidelity": -1, "pgi": +1, "pgu": -1,
                     "action_flip_rate": +1, "return_drop": +1},  # the last two: policies (lab.xai.policy_faithfulness)
    "robustness": {"sensitivity_max": -1, "ris": -1, "ros": -1},
    "complexity": {"sparseness": +1, "complexity": -1},
    "sanity": {"randomisation": -1},
}


def _standardised(values: dict[str, float], sign: int) -> dict[str, float]:
    v = np.array(list(values.values()), dtype=float)
    q1, median, q3 = np.percentile(v, [25, 50, 75])
    # at least a quarter of the range: where most methods tie (IQR near 0), one outlier would
    # otherwise outweigh every other metric; so no value lies beyond 4 spreads of the median
    spread = max(q3 - q1, np.ptp(v) / 4) or 1.0
    return {k: float(sign * (x - median) / spread) for k, x in values.items()}


def _ranks(scores: dict[str, float]) -> dict[str, int]:
    """1 = best; ties share the better rank."""
    ordered = sorted(scores.values(), reverse=True)
    return {k: 1 + ordered.index(s) for k, s in scores.items()}


def aggregate(rows: dict[str, dict]) -> dict:
    """rows: method -> {metric: value or None} (methods and the random control alike).

    Returns {"metrics": [metrics used], "methods": {name: {"score", "rank", "categories":
    {category: {"score", "rank"}}, "best_rank", "worst_rank"}}, "metric_agreement": mean Spearman
    between the metrics' rankings (None with fewer than two metrics)}. A metric enters when at
    least two methods have a finite value for it; a method missing it is left out of that metric."""
    from scipy.stats import spearmanr

    names = list(rows)
    per_metric: dict[str, dict[str, float]] = {}
    for category, metrics in CATEGORIES.items():
        for metric, sign in metrics.items():
            have = {m: float(rows[m][metric]) for m in names
                    if rows[m].get(metric) is not None and np.isfinite(rows[m][metric])}
            if len(have) >= 2:
                per_metric[metric] = _standardised(have, sign)
    out = {"metrics": list(per_metric), "methods": {}, "metric_agreement": None}
    category_scores: dict[str, dict[str, float]] = {}
    for category, metrics in CATEGORIES.items():
        scores = {}
        for m in names:
            zs = [per_metric[k][m] for k in metrics if k in per_metric and m in per_metric[k]]
            if zs:
                scores[m] = float(np.mean(zs))
        if scores:
            category_scores[category] = scores
    overall = {m: float(np.mean([s[m] for s in category_scores.values() if m in s]))
               for m in names if any(m in s for s in category_scores.values())}
    overall_rank = _ranks(overall)
    category_ranks = {c: _ranks(s) for c, s in category_scores.items()}
    metric_ranks = {k: _ranks(v) for k, v in per_metric.items()}
    for m in overall:
        mine = [r[m] for r in metric_ranks.values() if m in r]
        out["methods"][m] = {"score": round(overall[m], 4), "rank": overall_rank[m],
                             "categories": {c: {"score": round(s[m], 4), "rank": category_ranks[c][m]}
                                            for c, s in category_scores.items() if m in s},
                             "best_rank": min(mine), "worst_rank": max(mine)}
    keys = list(metric_ranks)
    pairs = []
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            common = [m for m in metric_ranks[a] if m in metric_ranks[b]]
            ra, rb = [metric_ranks[a][m] for m in common], [metric_ranks[b][m] for m in common]
            if len(common) >= 3 and np.ptp(ra) > 0 and np.ptp(rb) > 0:
                pairs.append(spearmanr(ra, rb).statistic)
    if pairs:
        out["metric_agreement"] = round(float(np.mean(pairs)), 4)
    return out


def rank_comparison(report: dict) -> dict:
    """`aggregate` over a comparison (lab.xai.explain): its methods and its random control, with
    the randomisation test by its score and a policy's faithfulness where the report has one."""
    policy = report.get("policy") or {}

    def row(name: str, entry: dict) -> dict:
        out = {k: v for k, v in entry.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if isinstance(entry.get("randomisation"), dict):
            out["randomisation"] = entry["randomisation"]["score"]
        extra = policy.get("random") if name == "random" else policy.get("methods", {}).get(name)
        for key in ("action_flip_rate", "return_drop"):
            if extra and extra.get(key) is not None:
                out[key] = extra[key]
        return out

    rows = {name: row(name, e) for name, e in report["methods"].items()}
    rows["random"] = row("random", report["random"])
    return aggregate(rows)
