"""The `[data]`, `[model]`, `[explain]` and `[robustness]` tables of an attribution experiment."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class DataSpec(_Strict):
    dataset: str = Field(description="breast_cancer, wine, iris, digits (8x8 images) or csv")
    path: str | None = Field(None, description="csv: the file, relative to the experiment file or absolute")
    target: str | None = Field(None, description="csv: the column holding the class label")
    test_fraction: float = Field(0.2, gt=0, lt=0.9, description="share of rows held out for testing")
    validation_fraction: float = Field(0.2, gt=0, lt=0.9, description="share of the remaining rows used for early stopping")


class AdversarialTraining(_Strict):
    epsilon: float = Field(gt=0, description="L-infinity radius of the training attack, in the units of [robustness] epsilons (pixels for images, standardized units for tabular data)")
    steps: int = Field(7, ge=1, le=100, description="PGD steps per training example (step size 2.5 * epsilon / steps, random start)")
    warmup_epochs: int = Field(5, ge=0, le=10_000, description="epochs over which the training epsilon grows linearly to its value (training at the full epsilon from the start can collapse to a constant prediction); early stopping starts after them")


class ModelSpec(_Strict):
    arch: str | None = Field(None, description="logistic, mlp or cnn (digits); not with from_run")
    from_run: str | Annotated[list[str], Field(min_length=1)] | None = Field(None, description="explain a trained model instead: an RL run (its policy) or an attribution run (its classifier), by id or experiment name (its latest completed run, not a sweep's trial); a list takes the latest of those")
    hidden: list[Annotated[int, Field(gt=0)]] = Field([64, 64], min_length=1, max_length=6, description="mlp: hidden layer sizes")
    epochs: int = Field(200, ge=1, le=100_000, description="most epochs to train")
    patience: int = Field(20, ge=1, description="epochs without validation improvement before stopping")
    learning_rate: float = Field(1e-3, gt=0, le=1, description="Adam step size")
    weight_decay: float = Field(0.0, ge=0, le=10, description="Adam weight decay (L2 penalty)")
    batch_size: int = Field(64, ge=1, description="minibatch size")
    rollout_episodes: int = Field(5, ge=1, le=1000, description="from_run with an RL policy: episodes rolled out to collect states")
    members: Literal["best", "all"] = Field("best", description="from_run with a population run: explain the member it delivers (its best) or every member on the best one's states, to see whether they rely on the same features")
    adversarial_training: AdversarialTraining | None = Field(None, description="harden the classifier: train on PGD examples (Madry et al.), e.g. {epsilon = 2.0, steps = 7}")


class ExplainSpec(_Strict):
    methods: Annotated[list[str], Field(min_length=1)] | None = Field(None, description="attribution methods (default: every one that applies)")
    samples: int = Field(20, ge=1, le=10_000, description="test inputs to explain")
    output: Literal["logit", "probability"] = Field("logit", description="explain the target's raw output or its softmax probability")
    target: Literal["predicted", "true"] = Field("predicted", description="the class explained for each input")
    background: int = Field(50, ge=1, le=10_000, description="training rows summarizing the data for SHAP and GradientShap")
    batch_size: int = Field(512, ge=1, description="model inputs per forward pass for perturbation methods")
    top_k: int = Field(5, ge=1, description="k of the top-k feature and sign agreement")
    sensitivity_samples: int = Field(5, ge=0, description="inputs re-explained under small perturbations for sensitivity_max and OpenXAI's RIS/ROS (0: skip them)")
    randomisation: Literal["cascading", "independent", "off"] = Field("cascading", description="the model-parameter randomisation test (Adebayo et al. 2018): layers re-initialised from the output down ('cascading') or one at a time ('independent'); a method whose maps stay alike is marked as failing")
    randomisation_samples: int = Field(5, ge=1, le=10_000, description="inputs re-explained by each randomised model")
    policy_episodes: int = Field(5, ge=1, le=1000, description="policies: episodes per method with its top-k observation features masked (the return drop)")
    figure_samples: int = Field(4, ge=0, le=50, description="inputs drawn with every method side by side")
    params: dict[str, dict[str, Any]] = Field(default_factory=dict, description="per-method parameters, e.g. {integrated_gradients = {n_steps = 100}}")


def _epsilons(value: list[float]) -> list[float]:
    if any(b <= a for a, b in zip(value, value[1:])):
        raise ValueError("must be strictly increasing, e.g. [0, 0.1, 0.2, 0.5]")
    return value


class RobustnessSpec(_Strict):
    epsilons: Annotated[list[Annotated[float, Field(ge=0, le=1e4)]], Field(min_length=1, max_length=30),
                        AfterValidator(_epsilons)] | None = Field(
        None, description="attack budgets (L-infinity), increasing; pixels for images (digits: 0..16), standardized units "
                          "for tabular data, observation units for policies; 0 is added if missing (default: a grid per kind)")
    attacks: Annotated[list[Literal["fgsm", "pgd"]], Field(min_length=1)] = Field(["fgsm", "pgd"], description="attacks on the classifier (captum.robust)")
    targeted: bool = Field(True, description="also attack toward the class the clean model finds least likely")
    samples: int = Field(500, ge=1, le=100_000, description="test inputs attacked for the accuracy curves")
    pgd_steps: int = Field(10, ge=1, le=500, description="PGD iterations")
    pgd_step_fraction: float = Field(0.25, gt=0, le=1, description="PGD step size as a fraction of epsilon")
    defenses: list[Literal["noise", "clipping"]] = Field(["noise", "clipping"], description="input defenses compared under the same attacks (Gaussian noise; clipping each feature to its training range)")
    noise_std: float | None = Field(None, gt=0, description="noise defense: standard deviation in attack units (default: half the largest epsilon)")
    flip_attack: Literal["fgsm", "pgd"] = Field("pgd", description="attack whose smallest flipping epsilon is searched per explained input (MinParamPerturbation)")
    fragility_samples: int = Field(5, ge=0, le=1000, description="explained inputs re-explained under a perturbation that keeps the prediction (0: skip)")
    models: Annotated[list[Literal["plain", "hardened"]], Field(min_length=1, max_length=2)] | None = Field(
        None, description="classifiers compared: 'plain' and/or 'hardened' (trained with model.adversarial_training); default: the experiment's model")
    policy_attacks: Annotated[list[Literal["noise", "fgsm"]], Field(min_length=1)] = Field(["noise", "fgsm"], description="policies: observation attacks for the return-vs-epsilon curve")
    policy_episodes: int = Field(10, ge=1, le=1000, description="policies: episodes per point of the return-vs-epsilon curve")


def check_robustness(spec, fail) -> None:
    """[robustness] and [model] adversarial_training fit the experiment."""
    m, r = spec.model, spec.robustness
    if m.adversarial_training is not None and m.arch is None:
        fail("model.adversarial_training: only for a classifier this experiment trains (model.arch), not with from_run")
    if r is None:
        return
    if r.models is not None:
        if len(set(r.models)) != len(r.models):
            fail(f"robustness.models: a model is listed twice ({', '.join(r.models)})")
        if m.arch is None:
            fail("robustness.models: only when this experiment trains its classifier (model.arch); remove it with from_run")
        if "hardened" in r.models and m.adversarial_training is None:
            fail("robustness.models: 'hardened' needs [model] adversarial_training = {epsilon = ..., steps = ...}")
