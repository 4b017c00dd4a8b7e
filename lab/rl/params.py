"""Hyperparameters of each algorithm: typed, documented, and the validation of `[agent]`.

One model per algorithm. Field descriptions are the documentation (`lab list --params`, the
dashboard's form); defaults are the library defaults (stable-baselines3 2.x) unless noted.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator

_NUMBER = r"(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?"
_SCHEDULE = re.compile(rf"^lin_{_NUMBER}$")
_AUTO_ENT_COEF = re.compile(rf"^auto_{_NUMBER}$")


def _rate(value: object) -> float | str:
    """A positive number, or an RL Zoo linear schedule 'lin_<start>' that decays to 0."""
    if isinstance(value, bool):
        raise ValueError("must be a positive number or a schedule like 'lin_0.001'")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        if value <= 0:
            raise ValueError("must be greater than 0")
        return float(value)
    if isinstance(value, str) and _SCHEDULE.match(value) and float(value[4:]) > 0:
        if not math.isfinite(float(value[4:])):  # lin_1e999: NaN outputs at the first step
            raise ValueError("a schedule's start must be a finite number, like 'lin_0.001'")
        return value
    raise ValueError("must be a positive number or a schedule like 'lin_0.001'")


Rate = Annotated[float | str, PlainValidator(_rate, json_schema_input_type=float | str)]


def _ent_coef(value: object) -> float | str:
    """SAC's entropy coefficient: 'auto' (learned from 1), 'auto_<x>' (learned from x) or a fixed number."""
    if isinstance(value, str) and (value == "auto" or (_AUTO_ENT_COEF.match(value) and float(value[5:]) > 0)):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        if value <= 0:
            raise ValueError("must be greater than 0")
        return float(value)
    raise ValueError("must be 'auto', 'auto_<start>' like 'auto_0.1', or a positive number")


def _target_entropy(value: object) -> float | str:
    """'auto' (minus the number of action dimensions) or a number."""
    if value == "auto":
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return float(value)
    raise ValueError("must be 'auto' or a number")


EntCoef = Annotated[float | str, PlainValidator(_ent_coef, json_schema_input_type=float | str)]
TargetEntropy = Annotated[float | str, PlainValidator(_target_entropy, json_schema_input_type=float | str)]
Gamma = Annotated[float, Field(gt=0, le=1, description="discount factor")]
NetArch = Annotated[list[Annotated[int, Field(gt=0)]], Field(min_length=1, max_length=8)]
SB3_NET_ARCH = (64, 64)  # SB3's hidden layers for PPO's, A2C's and DQN's MLP when net_arch is None
_SB3_NET_ARCH = f"hidden layer sizes (None: SB3 default {list(SB3_NET_ARCH)})"
# PPO's and A2C's settings that SB3 has and lab's torch engine does not (it refuses other values than the default)
_SB3_ONLY = {"sb3_only": True}
UseSDE = Annotated[bool, Field(description="explore with generalized state-dependent exploration (gSDE; Box actions)",
                               json_schema_extra=_SB3_ONLY)]
SDESampleFreq = Annotated[int, Field(ge=-1, description="steps between gSDE noise matrix samples (-1: once per rollout)",
                                     json_schema_extra=_SB3_ONLY)]
LogStdInit = Annotated[float, Field(description="initial log std of the Gaussian policy (Box actions)", json_schema_extra=_SB3_ONLY)]
OrthoInit = Annotated[bool, Field(description="orthogonal initialization of the networks (SB3's default)", json_schema_extra=_SB3_ONLY)]


def schedule(value: float | str):
    """SB3-style schedule: a constant, or lin_<x> = x * progress_remaining (1 -> 0)."""
    if isinstance(value, str):
        start = float(value[4:])
        return lambda progress_remaining: progress_remaining * start
    return value


class AgentParams(BaseModel):
    """Fields every algorithm has."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    algo: str = Field(description="algorithm name")
    total_steps: int = Field(gt=0, le=10**10, description="environment steps to train for")


class _PolicyNet(AgentParams):
    net_arch: NetArch | None = Field(None, description=_SB3_NET_ARCH)
    activation: Literal["tanh", "relu"] = Field("tanh", description="hidden activation")


class PPOParams(_PolicyNet):
    algo: Literal["ppo"] = "ppo"
    learning_rate: Rate = Field(3e-4, description="Adam step size, or lin_<x>")
    n_steps: int = Field(2048, gt=0, description="steps per env per rollout")
    batch_size: int = Field(64, gt=1, description="minibatch size")
    n_epochs: int = Field(10, gt=0, description="passes over each rollout")
    gamma: Gamma = 0.99
    gae_lambda: float = Field(0.95, ge=0, le=1, description="GAE lambda")
    clip_range: Rate = Field(0.2, description="PPO clip range, or lin_<x>")
    clip_range_vf: Rate | None = Field(None, description="value clipping: the new value stays within this of the "
                                       "rollout's, or lin_<x> (None: no clipping; SB3's, unlike the policy's clip "
                                       "range it depends on the reward scale)")
    target_kl: float | None = Field(None, gt=0, description="stop an update's epochs early once the approximate KL "
                                    "to the rollout's policy passes 1.5 x this (None: all n_epochs)")
    ent_coef: float = Field(0.0, ge=0, description="entropy bonus coefficient")
    vf_coef: float = Field(0.5, ge=0, description="value loss coefficient")
    max_grad_norm: float = Field(0.5, gt=0, description="gradient clipping norm")
    normalize_advantage: bool = Field(True, description="normalize advantages per minibatch")
    use_sde: UseSDE = False
    sde_sample_freq: SDESampleFreq = -1
    log_std_init: LogStdInit = 0.0
    ortho_init: OrthoInit = True


class A2CParams(_PolicyNet):
    algo: Literal["a2c"] = "a2c"
    learning_rate: Rate = Field(7e-4, description="RMSprop step size, or lin_<x>")
    n_steps: int = Field(5, gt=0, description="steps per env per update")
    gamma: Gamma = 0.99
    gae_lambda: float = Field(1.0, ge=0, le=1, description="GAE lambda (1: plain n-step returns)")
    ent_coef: float = Field(0.0, ge=0, description="entropy bonus coefficient")
    vf_coef: float = Field(0.5, ge=0, description="value loss coefficient")
    max_grad_norm: float = Field(0.5, gt=0, description="gradient clipping norm")
    use_rms_prop: bool = Field(True, description="RMSprop (True) or Adam (False)")
    normalize_advantage: bool = Field(False, description="normalize advantages")
    use_sde: UseSDE = False
    sde_sample_freq: SDESampleFreq = -1
    log_std_init: LogStdInit = 0.0
    ortho_init: OrthoInit = True


class DQNParams(AgentParams):
    algo: Literal["dqn"] = "dqn"
    learning_rate: Rate = Field(1e-4, description="Adam step size, or lin_<x>")
    buffer_size: int = Field(1_000_000, gt=0, description="replay buffer capacity")
    learning_starts: int = Field(100, ge=0, description="steps before the first update")
    batch_size: int = Field(32, gt=0, description="minibatch size")
    tau: float = Field(1.0, gt=0, le=1, description="target network soft update (1: hard copy)")
    gamma: Gamma = 0.99
    train_freq: int = Field(4, gt=0, description="env steps between updates")
    gradient_steps: int = Field(1, ge=-1, description="gradient steps per update (-1: as many as env steps)")
    target_update_interval: int = Field(10_000, gt=0, description="env steps between target updates")
    exploration_fraction: float = Field(0.1, gt=0, le=1, description="fraction of training over which epsilon decays")
    exploration_initial_eps: float = Field(1.0, ge=0, le=1, description="epsilon at the start")
    exploration_final_eps: float = Field(0.05, ge=0, le=1, description="epsilon at the end of the decay")
    max_grad_norm: float = Field(10.0, gt=0, description="gradient clipping norm")
    net_arch: NetArch | None = Field(None, description=_SB3_NET_ARCH)


class ReinforceParams(AgentParams):
    algo: Literal["reinforce"] = "reinforce"
    learning_rate: Rate = Field(1e-3, description="Adam step size of the policy, or lin_<x>")
    baseline: bool = Field(True, description="subtract a learned state-value baseline")
    baseline_learning_rate: float = Field(3e-3, gt=0, description="Adam step size of the baseline")
    gamma: Gamma = 0.99
    episodes_per_update: int = Field(8, gt=0, description="complete episodes per gradient step")
    ent_coef: float = Field(0.0, ge=0, description="entropy bonus coefficient")
    normalize_advantage: bool = Field(True, description="normalize returns/advantages per batch")
    max_grad_norm: float = Field(1.0, gt=0, description="gradient clipping norm")
    net_arch: NetArch = Field([64, 64], description="hidden layer sizes of policy and baseline")
    activation: Literal["tanh", "relu"] = Field("tanh", description="hidden activation")


class QLearningParams(AgentParams):
    algo: Literal["qlearning"] = "qlearning"
    learning_rate: Rate = Field(0.1, description="step size alpha, or lin_<x>")
    gamma: Gamma = 0.99
    exploration_fraction: float = Field(0.5, gt=0, le=1, description="fraction of training over which epsilon decays")
    exploration_initial_eps: float = Field(1.0, ge=0, le=1, description="epsilon at the start")
    exploration_final_eps: float = Field(0.05, ge=0, le=1, description="epsilon at the end of the decay")


class _OffPolicyActorCritic(AgentParams):
    """What SB3's continuous-action off-policy algorithms (SAC, TD3, DDPG) share: a replay
    buffer, a deterministic or squashed-Gaussian actor, Q-critics with Polyak-averaged targets."""

    learning_rate: Rate = Field(1e-3, description="Adam step size of actor and critics, or lin_<x>")
    buffer_size: int = Field(1_000_000, gt=0, description="replay buffer capacity")
    learning_starts: int = Field(100, ge=0, description="steps of uniformly random actions before the first update")
    batch_size: int = Field(256, gt=0, description="minibatch size")
    tau: float = Field(0.005, gt=0, le=1, description="target networks' soft update coefficient (1: hard copy)")
    gamma: Gamma = 0.99
    train_freq: int = Field(1, gt=0, description="env steps (per env) between updates")
    gradient_steps: int = Field(1, ge=-1, description="gradient steps per update (-1: as many as env steps)")
    net_arch: NetArch = Field([400, 300], description="hidden layer sizes of the actor and of each critic")
    activation: Literal["relu", "tanh"] = Field("relu", description="hidden activation")


class _ActionNoise(_OffPolicyActorCritic):
    """A deterministic actor explores with noise added to its actions (RL Zoo's noise_type, noise_std)."""

    noise_type: Literal["normal", "ornstein-uhlenbeck"] | None = Field(
        None, description="exploration noise added to the actor's actions while training (None: none, only the random warm-up)")
    noise_std: float = Field(0.1, gt=0, description="std of the exploration noise, on actions scaled to [-1, 1]")


class SACParams(_OffPolicyActorCritic):
    algo: Literal["sac"] = "sac"
    learning_rate: Rate = Field(3e-4, description="Adam step size of actor, critics and entropy coefficient, or lin_<x>")
    net_arch: NetArch = Field([256, 256], description="hidden layer sizes of the actor and of each critic")
    ent_coef: EntCoef = Field("auto", description="entropy coefficient: 'auto' (learned, from 1), 'auto_<x>' (learned, from x) or fixed")
    target_entropy: TargetEntropy = Field("auto", description="entropy the learned coefficient aims at ('auto': -action dimensions)")
    target_update_interval: int = Field(1, gt=0, description="gradient steps between target network updates")
    use_sde: bool = Field(False, description="explore with generalized state-dependent exploration (gSDE)")
    sde_sample_freq: int = Field(-1, ge=-1, description="steps between gSDE noise matrix samples (-1: once per rollout)")
    use_sde_at_warmup: bool = Field(False, description="gSDE instead of uniform random actions before learning_starts")
    log_std_init: float = Field(-3.0, description="initial log std of the gSDE exploration noise (with use_sde)")


class TD3Params(_ActionNoise):
    algo: Literal["td3"] = "td3"
    policy_delay: int = Field(2, gt=0, description="critic updates per actor (and target) update")
    target_policy_noise: float = Field(0.2, ge=0, description="std of the smoothing noise on target actions")
    target_noise_clip: float = Field(0.5, ge=0, description="clip of the target smoothing noise")


class DDPGParams(_ActionNoise):
    algo: Literal["ddpg"] = "ddpg"
