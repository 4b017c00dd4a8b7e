"""What an attribution run will allocate, sized from its spec and its inputs (lab.memory checks it)."""

from __future__ import annotations

from lab.memory import Need, mlp_bytes


def needs(spec, n_features: int, n_classes: int, is_image: bool, methods: list[str]) -> list[Need]:
    from lab.xai.methods import METHODS

    ex = spec.explain
    bg = ex.background
    out: list[Need] = []

    def param(name: str, key: str):
        return ex.params.get(name, {}).get(key, METHODS[name].params[key])

    for name in methods:
        fix = f"or drop {name} from explain.methods"
        if name == "shap_kernel":
            nsamples = param(name, "nsamples") or 2 * n_features + 2048  # shap's own default
            rows = nsamples * (1 if is_image else bg)  # KernelExplainer holds every sample against every background row
            out.append(Need(rows * n_features * 8 * 2, f"shap_kernel's samples (nsamples {nsamples:,} x background {1 if is_image else bg}"
                            f" x {n_features:,} features)", "explain.background",
                            f"lower explain.background or explain.params.shap_kernel.nsamples, {fix}"))
        elif name == "kernel_shap":
            nsamples = param(name, "nsamples") or 2 * n_features + 2048  # shap's default (a bound on images)
            # one set of coalitions for every input: float64 masks, and per feature a bool and a float32 copy
            out.append(Need(nsamples * n_features * 16, f"kernel_shap's coalitions (nsamples {nsamples:,} x {n_features:,} features)",
                            "explain.params.kernel_shap.nsamples", f"lower explain.params.kernel_shap.nsamples, {fix}"))
        elif name == "lime_batched":
            samples = param(name, "num_samples") or (1000 if is_image else 5000)
            # at least one input's samples at a time: the uniforms, three bin indicators, values, 0/1 rows
            out.append(Need(samples * n_features * 4 * 8, f"lime_batched's samples ({samples:,} x {n_features:,} features)",
                            "explain.params.lime_batched.num_samples", f"lower explain.params.lime_batched.num_samples, {fix}"))
        elif name == "lime" and not is_image:
            samples = param(name, "num_samples") or 5000
            out.append(Need(samples * n_features * 8 * 4, f"lime's samples ({samples:,} x {n_features:,} features)",
                            "explain.params.lime.num_samples", f"lower explain.params.lime.num_samples, {fix}"))
        elif name in ("captum_kernel_shap", "captum_lime"):
            samples = param(name, "n_samples")  # Captum keeps every sample's mask and perturbed input to fit its linear model
            out.append(Need(samples * n_features * 4 * 3, f"{name}'s samples ({samples:,} x {n_features:,} features)",
                            f"explain.params.{name}.n_samples", f"lower explain.params.{name}.n_samples, {fix}"))
        elif name == "gradient_shap":
            rows = ex.samples * param(name, "n_samples")
            out.append(Need(rows * n_features * 4 * 3, f"gradient_shap's inputs (samples x n_samples {rows:,} x {n_features:,} features)",
                            "explain.samples", f"lower explain.samples or explain.params.gradient_shap.n_samples, {fix}"))
    out.append(Need(ex.batch_size * n_features * 4 * 4, f"a batch of perturbed inputs ({ex.batch_size:,} x {n_features:,} features)",
                    "explain.batch_size", "lower explain.batch_size"))
    if spec.model.arch == "mlp":
        sizes = [n_features, *spec.model.hidden, n_classes]
        out.append(Need(mlp_bytes(sizes), f"the classifier (hidden {list(spec.model.hidden)})", "model.hidden",
                        "use smaller hidden layers"))
    return out
