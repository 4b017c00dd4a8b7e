"""The `[data]`, `[model]` and `[explain]` tables of an attribution experiment."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class DataSpec(_Strict):
    dataset: str = Field(description="breast_cancer, wine, iris, digits (8x8 images) or csv")
    path: str | None = Field(None, description="csv: the file, relative to the experiment file or absolute")
    target: str | None = Field(None, description="csv: the column holding the class label")
    test_fraction: float = Field(0.2, gt=0, lt=0.9, description="share of rows held out for testing")
    validation_fraction: float = Field(0.2, gt=0, lt=0.9, description="share of the remaining rows used for early stopping")


class ModelSpec(_Strict):
    arch: str | None = Field(None, description="logistic, mlp or cnn (digits); not with from_run")
    from_run: str | Annotated[list[str], Field(min_length=1)] | None = Field(None, description="explain a trained model instead: an RL run (its policy) or an attribution run (its classifier), by id or experiment name; a list takes the latest completed run among them")
    hidden: list[Annotated[int, Field(gt=0)]] = Field([64, 64], min_length=1, max_length=6, description="mlp: hidden layer sizes")
    epochs: int = Field(200, ge=1, le=100_000, description="most epochs to train")
    patience: int = Field(20, ge=1, description="epochs without validation improvement before stopping")
    learning_rate: float = Field(1e-3, gt=0, le=1, description="Adam step size")
    weight_decay: float = Field(0.0, ge=0, le=10, description="Adam weight decay (L2 penalty)")
    batch_size: int = Field(64, ge=1, description="minibatch size")
    rollout_episodes: int = Field(5, ge=1, le=1000, description="from_run with an RL policy: episodes rolled out to collect states")


class ExplainSpec(_Strict):
    methods: Annotated[list[str], Field(min_length=1)] | None = Field(None, description="attribution methods (default: every one that applies)")
    samples: int = Field(20, ge=1, le=10_000, description="test inputs to explain")
    output: Literal["logit", "probability"] = Field("logit", description="explain the target's raw output or its softmax probability")
    target: Literal["predicted", "true"] = Field("predicted", description="the class explained for each input")
    background: int = Field(50, ge=1, le=10_000, description="training rows summarizing the data for SHAP and GradientShap")
    batch_size: int = Field(512, ge=1, description="model inputs per forward pass for perturbation methods")
    top_k: int = Field(5, ge=1, description="k of the top-k feature and sign agreement")
    sensitivity_samples: int = Field(5, ge=0, description="inputs on which sensitivity_max re-explains (0: skip it)")
    figure_samples: int = Field(4, ge=0, le=50, description="inputs drawn with every method side by side")
    params: dict[str, dict[str, Any]] = Field(default_factory=dict, description="per-method parameters, e.g. {integrated_gradients = {n_steps = 100}}")
