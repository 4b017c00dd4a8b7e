"""Classifier architectures and their training (early stopping on validation loss)."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


def _logistic(ds, spec) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(ds.input_shape)), ds.n_classes))


def _mlp(ds, spec) -> nn.Module:
    sizes = [int(np.prod(ds.input_shape)), *spec.model.hidden]
    layers: list[nn.Module] = [nn.Flatten()]
    for a, b in zip(sizes, sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]  # a ReLU module per layer: DeepLift/DeepExplainer need that
    layers.append(nn.Linear(sizes[-1], ds.n_classes))
    return nn.Sequential(*layers)


def _cnn(ds, spec) -> nn.Module:
    c, h, w = ds.input_shape
    return nn.Sequential(
        nn.Conv2d(c, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * (h // 2) * (w // 2), 64), nn.ReLU(),
        nn.Linear(64, ds.n_classes),
    )


@dataclass(frozen=True)
class Arch:
    """A row of ARCHS: what `model.arch` names."""

    name: str
    build: Callable[..., nn.Module]  # (dataset, spec) -> the untrained classifier
    description: str
    images: bool = False  # needs image inputs (channels, height, width)
    hidden: bool = False  # an MLP whose hidden layers are model.hidden (sized in the memory check, lab.xai.footprint)


# the one table of architectures; validation, the attribution job and the docs read it
ARCHS: dict[str, Arch] = {a.name: a for a in (
    Arch("logistic", _logistic, "multinomial logistic regression: linear, so its true attributions are known"),
    Arch("mlp", _mlp, "multilayer perceptron with ReLU hidden layers", hidden=True),
    Arch("cnn", _cnn, "small convolutional network for images (two conv layers, max-pool, dense)", images=True),
)}


def build_model(spec, ds) -> nn.Module:
    torch.manual_seed(spec.seed)
    return ARCHS[spec.model.arch].build(ds, spec)


def train_classifier(model: nn.Module, ds, spec, ctx, device: str) -> dict:
    """Adam on cross-entropy; stops when validation loss has not improved for `patience` epochs
    and restores the best weights. Streams epoch losses as metric events.

    With `model.adversarial_training` (PGD adversarial training, Madry et al. 2018): every
    minibatch is replaced by its PGD examples (random start, seeded per batch; epsilon growing
    linearly over the warm-up epochs) and the validation loss is measured on PGD examples of the
    validation rows at the full epsilon, so the most robust epoch after the warm-up is kept."""
    m = spec.model
    adv = m.adversarial_training
    if adv is not None:
        from lab.xai.robustness import adversarial_examples, dataset_space

        space = dataset_space(ds, device)
    gen = torch.Generator().manual_seed(spec.seed)
    X = torch.as_tensor(ds.X_train, device=device)
    y = torch.as_tensor(ds.y_train, device=device)
    Xv = torch.as_tensor(ds.X_val, device=device)
    yv = torch.as_tensor(ds.y_val, device=device)
    opt = torch.optim.Adam(model.parameters(), lr=m.learning_rate, weight_decay=m.weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    best_loss, best_state, best_epoch, waited = float("inf"), None, 0, 0
    started = last_progress = time.monotonic()
    epoch = 0
    for epoch in range(1, m.epochs + 1):
        model.train()
        order = torch.randperm(len(X), generator=gen).to(device)
        total = 0.0
        for i in range(0, len(X), m.batch_size):
            idx = order[i:i + m.batch_size]
            xb = X[idx]
            if adv is not None:
                eps = adv.epsilon * min(1.0, epoch / (adv.warmup_epochs + 1))
                xb = adversarial_examples(model, space, xb, y[idx], eps, adv.steps, seed=spec.seed + 7919 * epoch + i)
            opt.zero_grad()
            loss = loss_fn(model(xb), y[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        model.eval()
        values = {}
        if adv is not None:
            Xv_adv = adversarial_examples(model, space, Xv, yv, adv.epsilon, adv.steps, seed=spec.seed)
        with torch.no_grad():
            logits = model(Xv)
            val_acc = (logits.argmax(1) == yv).float().mean().item()
            if adv is not None:  # the validation loss is the adversarial one
                logits = model(Xv_adv)
                values["val_adversarial_accuracy"] = (logits.argmax(1) == yv).float().mean().item()
            val_loss = loss_fn(logits, yv).item()
        ctx.emit("metric", step=epoch, values={"train_loss": total / len(X), "val_loss": val_loss, "val_accuracy": val_acc, **values})
        if not math.isfinite(val_loss) or not math.isfinite(total):
            raise RuntimeError(f"training diverged at epoch {epoch} (loss {total / len(X):.4g}, validation loss {val_loss:.4g}); "
                               "lower model.learning_rate or model.weight_decay")
        if adv is not None and epoch <= adv.warmup_epochs:
            pass  # the training epsilon is still growing: not yet the model asked for
        elif val_loss < best_loss - 1e-6:
            best_loss, best_state, best_epoch, waited = val_loss, copy.deepcopy(model.state_dict()), epoch, 0
        else:
            waited += 1
        now = time.monotonic()
        if now - last_progress >= 0.5 or waited >= m.patience or epoch == m.epochs:
            ctx.emit("progress", phase="train", step=epoch, total=m.epochs, fraction=round(epoch / m.epochs, 4),
                     elapsed=round(now - started, 2))
            last_progress = now
        if waited >= m.patience or ctx.stop_requested:
            break
    if best_state is None:  # stopped within the warm-up: the last epoch is the model
        best_loss, best_epoch = val_loss, epoch
    else:
        model.load_state_dict(best_state)
    model.eval()
    how = "" if adv is None else f" on PGD examples (epsilon {adv.epsilon:g}, {adv.steps} steps; validation loss on PGD examples too)"
    ctx.log(f"trained {spec.model.arch}{how} for {epoch} epochs; best validation loss {best_loss:.4f} at epoch {best_epoch}")
    return {"epochs": epoch, "best_epoch": best_epoch, "best_val_loss": round(best_loss, 6),
            "train_seconds": round(time.monotonic() - started, 2)}


def classification_metrics(model: nn.Module, X: np.ndarray, y: np.ndarray, n_classes: int, device: str) -> dict:
    from sklearn.metrics import confusion_matrix, f1_score, roc_auc_score

    with torch.no_grad():
        probs = torch.softmax(model(torch.as_tensor(X, device=device)), 1).cpu().numpy()
    pred = probs.argmax(1)
    out = {"test_accuracy": round(float((pred == y).mean()), 4),
           "test_macro_f1": round(float(f1_score(y, pred, average="macro")), 4),
           "confusion_matrix": confusion_matrix(y, pred, labels=list(range(n_classes))).tolist()}
    try:
        auc = roc_auc_score(y, probs[:, 1]) if n_classes == 2 else roc_auc_score(y, probs, multi_class="ovr", average="macro", labels=list(range(n_classes)))
        out["test_roc_auc"] = round(float(auc), 4)
    except ValueError:  # a class absent from the test rows
        out["test_roc_auc"] = None
    return out
