"""Deterministic run folders for dashboard tests and snapshots: fixed ids, times and curves."""

import json
import math
from pathlib import Path

import numpy as np

T0 = 1795400000.0


def _write(path: Path, summary: dict, events: list[dict], spec: str = "") -> Path:
    path.mkdir(parents=True)
    (path / "checkpoints").mkdir()
    (path / "artifacts").mkdir()
    (path / "summary.json").write_text(json.dumps(summary, indent=1))
    (path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    (path / "spec.toml").write_text(spec)
    return path


def rl_run(root: Path, name: str, experiment: str, seed: int, speed: float = 1.0, state: str = "completed",
           process: dict | None = None, final: float = 500.0) -> Path:
    """A CartPole-like learning curve: returns rise from ~20 to 500 over 100k steps; its final
    evaluation `final`."""
    rng = np.random.default_rng(seed)
    events = [{"t": T0, "kind": "status", "state": "running", "message": "device cpu"}]
    step, recent, t = 0, [], T0
    for i in range(300):
        level = 20 + 480 / (1 + math.exp(-(i - 120 * speed) / 25))
        ret = float(min(500, max(8, level + rng.normal(0, 30))))
        step += int(ret)
        t += ret / 2500
        recent = (recent + [ret])[-100:]
        events.append({"t": round(t, 3), "kind": "episode", "step": step, "return": round(ret, 1), "length": int(ret),
                       "rolling_return": round(sum(recent) / len(recent), 2)})
        if i % 20 == 0:
            events.append({"t": round(t, 3), "kind": "metric", "step": step,
                           "values": {"value_loss": round(30 * math.exp(-i / 80), 4), "policy_loss": round(-0.01 * (1 + i % 3), 4),
                                      "entropy": round(0.69 - i / 1000, 4), "learning_rate": 1e-3}})
            events.append({"t": round(t, 3), "kind": "progress", "step": step, "total": 100000, "fraction": min(step / 1e5, 1),
                           "steps_per_second": 2500.0, "eta_seconds": max(1e5 - step, 0) / 2500, "elapsed": round(t - T0, 2)})
        if i % 50 == 49:
            events.append({"t": round(t, 3), "kind": "eval", "step": step, "mean": round(min(500, level + 20), 1), "std": 5.0,
                           "episodes": 10, "best": True})
            events.append({"t": round(t, 3), "kind": "log", "level": "info", "message": f"evaluation at step {step}"})
    events.append({"t": round(t, 3), "kind": "status", "state": state, "message": ""})
    summary = {"id": name, "experiment": experiment, "kind": "rl", "state": state, "started": T0, "ended": round(t, 3),
               "duration_seconds": round(t - T0, 3), "algo": "ppo", "env": "CartPole-v1", "seed": seed, "device": "cpu",
               "device_reason": "auto: no CUDA device visible to torch", "threads": 1,
               "progress": {"step": step, "total": 100000, "fraction": min(step / 1e5, 1.0)},
               "results": {"final_eval_return_mean": final, "final_eval_return_std": 0.0, "best_eval_return_mean": 500.0,
                           "steps_per_second": 2500.0, "total_steps": step}, "error": None, **(process or {})}
    return _write(root / name, summary, events)


def attribution_run(root: Path, name: str = "20261123-000300-breast-cancer-attributions-0003") -> Path:
    """Breast-cancer-like attributions of 6 inputs: names that differ only at one end, predicted
    probabilities, and inputs 2 and 5 misclassified (their true label is not the prediction)."""
    rng = np.random.default_rng(0)
    methods = ["integrated_gradients", "saliency", "shapley", "lime"]
    features = ["mean radius", "mean texture", "mean concave points", "worst concave points", "concavity error",
                "concave points error", "mean fractal dimension", "worst fractal dimension", "worst smoothness", "worst texture"]
    n, f = 6, len(features)
    x = rng.normal(size=(n, f)).astype(np.float32)
    w = rng.normal(size=f).astype(np.float32)
    p_benign = 1 / (1 + np.exp(-0.4 * (x @ w)))
    probabilities = np.stack([1 - p_benign, p_benign], axis=1).astype(np.float32)
    targets = probabilities.argmax(axis=1)
    labels = targets.copy()
    labels[[1, 4]] = 1 - labels[[1, 4]]
    scale, mean = np.linspace(0.5, 40, f, dtype=np.float32), np.linspace(1, 600, f, dtype=np.float32)
    arrays = {"inputs": x, "inputs_original": x * scale + mean, "targets": targets, "labels": labels,
              "probabilities": probabilities, "feature_names": np.array(features),
              "class_names": np.array(["malignant", "benign"]), "baseline": np.zeros(f, np.float32)}
    for k, m in enumerate(methods):
        arrays[m] = (x * w + rng.normal(0, 0.1 * k, size=x.shape)).astype(np.float32)
    arrays["shapley.se"] = np.abs(0.08 * x * w).astype(np.float32)  # an estimate's standard errors: drawn as intervals
    events = [{"t": T0, "kind": "status", "state": "running"}]
    for epoch in range(1, 31):
        events.append({"t": T0 + epoch * 0.1, "kind": "metric", "step": epoch,
                       "values": {"train_loss": round(0.7 * math.exp(-epoch / 8), 4), "val_loss": round(0.1 + 0.6 * math.exp(-epoch / 8), 4),
                                  "val_accuracy": round(min(0.97, 0.6 + epoch / 50), 3)}})
    comparison = {"samples": n, "output": "logit", "top_k": 3, "methods": {}, "skipped": {},
                  "random": {"deletion_auc": 0.85, "insertion_auc": 0.9, "deletion_curve": [0.9] * 7, "insertion_curve": [0.9] * 7}}
    for k, m in enumerate(methods):
        entry = {"library": "captum" if k < 2 else "lab" if k == 2 else "lime", "seconds_per_sample": 0.001 * (k + 1) ** 3,
                 "deletion_auc": round(0.3 + 0.05 * k, 3), "insertion_auc": round(0.95 - 0.02 * k, 3), "infidelity": 0.02,
                 "sensitivity_max": 0.01 * (k + 1), "completeness_error": 0.001 if m in ("integrated_gradients", "shapley") else None,
                 "standard_error": 0.012 if m == "shapley" else None,
                 "completeness_reference": None, "deletion_curve": [0.9, 0.5, 0.3, 0.2, 0.1, 0.1, 0.1],
                 "insertion_curve": [0.2, 0.8, 0.9, 0.95, 0.95, 0.95, 0.95],
                 "randomisation": {"mode": "cascading", "layers": ["2", "0"], "similarity": [0.6, 0.1 + 0.2 * k],
                                   "score": round(0.1 + 0.2 * k, 2), "fails": 0.1 + 0.2 * k >= 0.5}}
        comparison["methods"][m] = entry
        events.append({"t": T0 + 4 + k, "kind": "method", "name": m, "seconds_per_sample": entry["seconds_per_sample"]})
    comparison["random"]["randomisation"] = {"mode": "cascading", "layers": ["2", "0"], "similarity": [0.0, -0.02],
                                             "score": -0.02, "fails": False}
    comparison["ranking"] = {"metrics": ["deletion_auc"], "metric_agreement": 0.4,
                             "methods": {m: {"score": 1.0 - 0.3 * k, "rank": k + 1, "categories": {}, "best_rank": 1, "worst_rank": 5}
                                         for k, m in enumerate([*methods, "random"])}}
    comparison["pairs"] = {t: {a: {b: (1.0 if a == b else round(0.9 - 0.1 * abs(i - j), 2)) for j, b in enumerate(methods)}
                               for i, a in enumerate(methods)} for t in ("spearman", "top_k_agreement", "sign_agreement")}
    events.append({"t": T0 + 9, "kind": "comparison", "methods": {m: {k: v for k, v in e.items() if not k.endswith("curve")}
                                                                  for m, e in comparison["methods"].items()}})
    events.append({"t": T0 + 10, "kind": "status", "state": "completed"})
    summary = {"id": name, "experiment": "breast-cancer-attributions", "kind": "attribution", "state": "completed",
               "started": T0, "ended": T0 + 10, "duration_seconds": 10.0, "seed": 0, "device": "cpu", "device_reason": "auto",
               "threads": 1, "progress": {"step": 4, "total": 4, "fraction": 1.0},
               "results": {"test_accuracy": 0.965, "methods": methods, "most_faithful_method": "integrated_gradients"}, "error": None}
    path = _write(root / name, summary, events)
    np.savez(path / "artifacts" / "attributions.npz", **arrays)
    (path / "artifacts" / "comparison.json").write_text(json.dumps(comparison))
    return path


def seeded_root(root: Path) -> Path:
    rl_run(root, "20261123-000100-cartpole-ppo-0001", "cartpole-ppo", 0)
    rl_run(root, "20261123-000200-cartpole-ppo-0002", "cartpole-ppo", 1, speed=1.3)
    rl_run(root, "20261123-000150-cartpole-dqn-0004", "cartpole-dqn", 2, speed=0.8, state="stopped")
    attribution_run(root)
    return root
