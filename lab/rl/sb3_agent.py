"""PPO, A2C, DQN, SAC, TD3 and DDPG through stable-baselines3, hooked with its callbacks and logger.

Checkpoints are SB3's own zip files (`stable_baselines3.PPO.load("checkpoints/best.zip")` opens
them too); lab itself reads only their weights, never the pickled parts.
"""

from __future__ import annotations

from pathlib import Path

from lab.rl.envs import make_vec_env
from lab.rl.params import schedule
from lab.store import atomic_target

# SB3 logger keys -> our metric names
_METRIC_NAMES = {
    "train/loss": "loss",
    "train/policy_gradient_loss": "policy_loss",
    "train/policy_loss": "policy_loss",
    "train/value_loss": "value_loss",
    "train/entropy_loss": "entropy_loss",
    "train/approx_kl": "approx_kl",
    "train/clip_fraction": "clip_fraction",
    "train/explained_variance": "explained_variance",
    "train/learning_rate": "learning_rate",
    "train/clip_range": "clip_range",
    "rollout/exploration_rate": "epsilon",
    "train/actor_loss": "actor_loss",
    "train/critic_loss": "critic_loss",
    "train/ent_coef": "ent_coef",
    "train/ent_coef_loss": "ent_coef_loss",
}

# Fields of our schemas that SB3 takes in policy_kwargs or as an object, not as its own arguments
_POLICY_FIELDS = ("net_arch", "activation", "log_std_init")
_NOISE_FIELDS = ("noise_type", "noise_std")


def _sb3_class(spec):
    import stable_baselines3

    return getattr(stable_baselines3, spec.algo.sb3_class)


def _sb3_kwargs(params, action_space) -> dict:
    import torch

    kw = params.model_dump(exclude={"algo", "total_steps", *_POLICY_FIELDS, *_NOISE_FIELDS})
    for key in ("learning_rate", "clip_range"):
        if key in kw:
            kw[key] = schedule(kw[key])
    policy_kwargs = {}
    if params.net_arch is not None:
        policy_kwargs["net_arch"] = list(params.net_arch)
    if hasattr(params, "activation"):
        policy_kwargs["activation_fn"] = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}[params.activation]
    if hasattr(params, "log_std_init"):
        policy_kwargs["log_std_init"] = params.log_std_init
    if policy_kwargs:
        kw["policy_kwargs"] = policy_kwargs
    if getattr(params, "noise_type", None) is not None:
        kw["action_noise"] = _action_noise(params.noise_type, params.noise_std, action_space)
    return kw


def _action_noise(noise_type: str, std: float, action_space):
    """RL Zoo's noise_type/noise_std: the same std on every action dimension (SB3 adds it to the
    actions scaled to [-1, 1], and gives each env its own copy when there are several)."""
    import numpy as np
    from stable_baselines3.common.noise import NormalActionNoise, OrnsteinUhlenbeckActionNoise

    n = int(np.prod(action_space.shape))
    cls = {"normal": NormalActionNoise, "ornstein-uhlenbeck": OrnsteinUhlenbeckActionNoise}[noise_type]
    return cls(mean=np.zeros(n), sigma=std * np.ones(n))


class SB3Agent:
    suffix = ".zip"

    def __init__(self, spec, device: str, model=None):
        self.spec = spec
        if model is None:
            env = make_vec_env(spec, spec.seed)
            model = _sb3_class(spec)("MlpPolicy", env, seed=spec.seed, device=device, verbose=0,
                                     **_sb3_kwargs(spec.agent, env.action_space))
        self.model = model

    def learn(self, tracker) -> None:
        from stable_baselines3.common.callbacks import BaseCallback
        from stable_baselines3.common.logger import KVWriter, Logger

        class Hooks(BaseCallback):
            def _on_step(self) -> bool:
                for info in self.locals.get("infos", ()):
                    ep = info.get("episode")
                    if ep is not None:
                        tracker.episode(self.num_timesteps, ep["r"], ep["l"])
                return tracker.step(self.num_timesteps)

        model = self.model

        class Metrics(KVWriter):
            def write(self, key_values, key_excluded, step=0):
                values = {_METRIC_NAMES[k]: v for k, v in key_values.items() if k in _METRIC_NAMES}
                if "entropy_loss" in values:
                    values["entropy"] = -values["entropy_loss"]
                tracker.metrics(model.num_timesteps, values)

            def close(self):
                pass

        model.set_logger(Logger(folder=None, output_formats=[Metrics()]))
        # On-policy algorithms dump losses every `log_interval` rollouts: aim at ~1,000 steps apart.
        # Off-policy ones (DQN, SAC, TD3, DDPG) count episodes there; SB3's default of 4 suits them.
        rollout = getattr(self.spec.agent, "n_steps", 0) * self.spec.env.n_envs
        log_interval = max(1, 1000 // rollout) if rollout else 4
        model.learn(total_timesteps=self.spec.agent.total_steps, callback=Hooks(), log_interval=log_interval,
                    progress_bar=False)

    def act(self, obs, deterministic: bool = True):
        return self.model.predict(obs, deterministic=deterministic)[0]

    def save(self, path: Path) -> None:
        with atomic_target(path) as tmp:
            self.model.save(tmp)

    @classmethod
    def load(cls, path: Path, spec, device: str) -> SB3Agent:
        """The model is built from the run's spec and only its weights are read from the zip
        (SB3's set_parameters: torch tensors with weights_only=True). `PPO.load` would pass the
        zip's `data` through cloudpickle, running whatever a doctored checkpoint holds."""
        agent = cls(spec, device)
        agent.model.set_parameters(str(path), exact_match=True, device=device)
        return agent

    def scores_module(self):
        """Q-values for value-based algorithms (DQN), action logits (or means) for on-policy
        actor-critics, the deterministic action scaled to [-1, 1] for SAC's, TD3's and DDPG's actors."""
        from torch import nn

        policy = self.model.policy
        if hasattr(policy, "q_net"):
            return policy.q_net
        if hasattr(policy, "actor"):

            class ActorAction(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.policy = policy

                def forward(self, obs):
                    return policy._predict(obs, deterministic=True)

            return ActorAction()

        class ActorLogits(nn.Module):
            def __init__(self):
                super().__init__()
                self.policy = policy

            def forward(self, obs):
                features = policy.extract_features(obs, policy.pi_features_extractor)
                return policy.action_net(policy.mlp_extractor.forward_actor(features))

        return ActorLogits()

    def export_artifacts(self, ctx, policy) -> None:
        """SB3 policies are their checkpoint zips; nothing more to export."""
