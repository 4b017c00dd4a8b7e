"""What an attribution run will allocate, sized from its spec and its inputs (lab.memory checks it)."""

from __future__ import annotations

from dataclasses import replace

from lab.memory import Need, mlp_bytes


def needs(spec, n_features: int, n_classes: int, is_image: bool, methods: list[str]) -> list[Need]:
    from lab.xai.methods import METHODS, Sizing
    from lab.xai.models import ARCHS

    ex = spec.explain
    out: list[Need] = []
    for name in methods:
        method = METHODS[name]
        if method.memory is None:
            continue
        need = method.memory(Sizing(name, {**method.params, **ex.params.get(name, {})}, n_features, is_image, ex))
        if need is not None:
            out.append(replace(need, fix=f"{need.fix}, or drop {name} from explain.methods"))
    out.append(Need(ex.batch_size * n_features * 4 * 4, f"a batch of perturbed inputs ({ex.batch_size:,} x {n_features:,} features)",
                    "explain.batch_size", "lower explain.batch_size"))
    if spec.model.arch is not None and ARCHS[spec.model.arch].hidden:
        sizes = [n_features, *spec.model.hidden, n_classes]
        out.append(Need(mlp_bytes(sizes), f"the classifier (hidden {list(spec.model.hidden)})", "model.hidden",
                        "use smaller hidden layers"))
    return out
