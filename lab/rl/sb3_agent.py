"""The algorithm table's SB3 rows (`Algo.sb3_class`: PPO, A2C, DQN, SAC, TD3, DDPG) through
stable-baselines3, hooked with its callbacks and logger.

Checkpoints are SB3's own zip files (`stable_baselines3.PPO.load("checkpoints/best.zip")` opens
them too); lab itself reads only their weights, never the pickled parts.

Resumable checkpoints (`lab resume`) add what SB3's `set_parameters` does not bring back: the
optimizers' state is in the zip's weights already; the step count and update counters, SAC's
entropy coefficient, the action space's RNG go in a JSON state, and an off-policy algorithm's
replay buffer in a plain .npz of its arrays (never SB3's pickle of it).

Observation/reward normalization (`[env.normalize]`, SB3's VecNormalize, RL Zoo's `normalize`):
its running statistics go into every checkpoint zip as `vecnormalize.json` (plain numbers,
never VecNormalize's pickle), so the best, last, resumable and delivered checkpoints each
carry the statistics their weights were trained with. `act` and `scores_module` take raw
observations and normalize them with those statistics, frozen: evaluation, `lab eval`,
`lab play`/`record` and policy attribution see the environment's own values.
"""

from __future__ import annotations

import json
import zipfile
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
_POLICY_FIELDS = ("net_arch", "activation", "log_std_init", "ortho_init")
_NOISE_FIELDS = ("noise_type", "noise_std")
NORMALIZE_MEMBER = "vecnormalize.json"  # in a checkpoint zip: VecNormalize's running statistics


def _attr(obj, dotted: str):
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def _rng_state(space):
    rng = getattr(space, "_np_random", None)
    return None if rng is None else rng.bit_generator.state


def _sb3_class(spec):
    """The algorithm table's `sb3_class`: a class of stable_baselines3 ('PPO'), or of another
    module ('sb3_contrib:TQC')."""
    import importlib

    module, _, name = spec.algo.sb3_class.rpartition(":")
    return getattr(importlib.import_module(module or "stable_baselines3"), name)


def _sb3_kwargs(params, action_space) -> dict:
    import torch

    kw = params.model_dump(exclude={"algo", "total_steps", *_POLICY_FIELDS, *_NOISE_FIELDS})
    for key in ("learning_rate", "clip_range", "clip_range_vf"):
        if kw.get(key) is not None:
            kw[key] = schedule(kw[key])
    policy_kwargs = {}
    if params.net_arch is not None:
        policy_kwargs["net_arch"] = list(params.net_arch)
    if hasattr(params, "activation"):
        policy_kwargs["activation_fn"] = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}[params.activation]
    for key in ("log_std_init", "ortho_init"):
        if hasattr(params, key):
            policy_kwargs[key] = getattr(params, key)
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


def _vec_normalize(venv, spec):
    """The training envs wrapped in VecNormalize as [env.normalize] says; returns are discounted
    with the agent's gamma (as RL Zoo does)."""
    from stable_baselines3.common.vec_env import VecNormalize

    n = spec.env.normalize
    return VecNormalize(venv, norm_obs=n.norm_obs, norm_reward=n.norm_reward, clip_obs=n.clip_obs,
                        clip_reward=n.clip_reward, epsilon=n.epsilon, gamma=getattr(spec.agent, "gamma", 0.99))


_RMS = ("obs_rms", "ret_rms")


def normalize_state(vec_normalize) -> dict:
    """VecNormalize's running statistics as JSON-able numbers (floats round-trip exactly)."""
    return {name: {"mean": _attr(vec_normalize, name).mean.tolist(), "var": _attr(vec_normalize, name).var.tolist(),
                   "count": float(_attr(vec_normalize, name).count)} for name in _RMS}


def _load_normalize_state(vec_normalize, state: dict) -> None:
    import numpy as np

    for name in _RMS:
        rms, saved = getattr(vec_normalize, name), state[name]
        mean, var = np.asarray(saved["mean"], dtype=np.float64), np.asarray(saved["var"], dtype=np.float64)
        if mean.shape != rms.mean.shape or var.shape != rms.var.shape:
            raise ValueError(f"{NORMALIZE_MEMBER}: {name} has shape {mean.shape}, this environment's is {rms.mean.shape}")
        rms.mean, rms.var, rms.count = mean, var, float(saved["count"])


class SB3Agent:
    suffix = ".zip"
    normalizes = True  # [env.normalize]: SB3's VecNormalize

    def __init__(self, spec, device: str, model=None):
        self.spec = spec
        if model is None:
            env = make_vec_env(spec, spec.seed)
            if spec.env.normalize is not None:
                env = _vec_normalize(env, spec)
            model = _sb3_class(spec)("MlpPolicy", env, seed=spec.seed, device=device, verbose=0,
                                     **_sb3_kwargs(spec.agent, env.action_space))
        self.model = model

    @property
    def vec_normalize(self):
        """The training envs' VecNormalize, or None."""
        return self.model.get_vec_normalize_env()

    def learn(self, tracker) -> None:
        from stable_baselines3.common.callbacks import BaseCallback
        from stable_baselines3.common.logger import KVWriter, Logger

        class Hooks(BaseCallback):
            go_on = True

            def _on_rollout_start(self) -> None:
                # after the previous update, before any step of the next rollout: nothing half-done
                # (a stop lets the rollout finish and stops here, at its first step)
                self.go_on = tracker.boundary(self.num_timesteps)

            def _on_step(self) -> bool:
                if not self.go_on:
                    return False
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
        # a resumed model goes on from its step count: SB3 adds it to the total, so the schedules
        # and exploration continue where they were
        done = model.num_timesteps
        model.learn(total_timesteps=self.spec.agent.total_steps - done, callback=Hooks(), log_interval=log_interval,
                    reset_num_timesteps=done == 0, progress_bar=False)

    def act(self, obs, deterministic: bool = True):
        """Actions for raw observations (normalized here with the statistics, which this does not update)."""
        if self.vec_normalize is not None:
            obs = self.vec_normalize.normalize_obs(obs)
        return self.model.predict(obs, deterministic=deterministic)[0]

    def save(self, path: Path) -> None:
        with atomic_target(path) as tmp:
            self.model.save(tmp)
            if self.vec_normalize is not None:
                with zipfile.ZipFile(tmp, "a") as z:  # SB3's load reads only its own members
                    z.writestr(NORMALIZE_MEMBER, json.dumps(normalize_state(self.vec_normalize)))

    def _load_weights(self, path: Path, device) -> None:
        """Weights (and VecNormalize's statistics, when this spec normalizes) from a checkpoint zip."""
        import warnings

        from lab.files import open_regular
        from lab.store import ARCHIVE_SLACK, check_archive, tensor_bytes

        # the policy's tensors, its optimizers' (twice over: Adam's moments) and the variables:
        # a forged zip declaring more would have torch allocate it before reading
        with open_regular(path) as f:
            check_archive(f, 4 * tensor_bytes(self.model.policy) + ARCHIVE_SLACK)
        with warnings.catch_warnings():  # torch's about the file (an unusual pickle protocol): not lab's to print
            warnings.simplefilter("ignore")
            self.model.set_parameters(str(path), exact_match=True, device=device)
        if self.vec_normalize is not None:
            with zipfile.ZipFile(path) as z:
                if NORMALIZE_MEMBER not in z.namelist():
                    raise ValueError(f"it has no {NORMALIZE_MEMBER} (VecNormalize's statistics), which [env.normalize] needs")
                _load_normalize_state(self.vec_normalize, json.loads(z.read(NORMALIZE_MEMBER)))

    # --- resumable checkpoints (lab resume) ----------------------------------------------------
    _COUNTERS = ("num_timesteps", "_n_updates", "_episode_num", "_n_calls")

    def save_resumable(self, path_for, stem: str) -> tuple[dict, dict]:
        """Write this model's resumable files as `stem`.*; returns (files: label -> path,
        state: JSON-able) for the tracker's resume state, which is written last and names them."""
        import numpy as np

        model = self.model
        files = {"model": path_for(f"{stem}.zip")}
        self.save(files["model"])
        buffer = getattr(model, "replay_buffer", None)
        if buffer is not None:
            files["buffer"] = path_for(f"{stem}.buffer.npz")
            n = buffer.buffer_size if buffer.full else buffer.pos
            arrays = {}
            for name, value in vars(buffer).items():
                if isinstance(value, np.ndarray):
                    arrays[name] = value[:n]
                elif isinstance(value, dict):
                    arrays.update({f"{name}/{k}": v[:n] for k, v in value.items() if isinstance(v, np.ndarray)})
            with atomic_target(files["buffer"]) as tmp:
                np.savez(tmp, **arrays)
        state = {k: int(getattr(model, k)) for k in self._COUNTERS if hasattr(model, k)}
        if buffer is not None:
            state["buffer_pos"], state["buffer_full"] = int(buffer.pos), bool(buffer.full)
        variables = model._get_torch_save_params()[1]
        state["variables"] = {name: _attr(model, name).detach().cpu().tolist() for name in variables}
        state["action_space_rng"] = _rng_state(model.action_space)
        return files, state

    def load_resumable(self, files: dict, state: dict, reseed: int) -> None:
        """Bring back what `save_resumable` wrote (weights and optimizers with weights_only
        torch loads, the buffer with allow_pickle=False); the environments restart from reset,
        seeded with `reseed` (an episode cut by the checkpoint is not continued)."""
        import numpy as np
        import torch

        from lab.store import ARCHIVE_SLACK, read_npz_checked

        model = self.model
        self._load_weights(files["model"], model.device)
        for k in self._COUNTERS:
            if k in state:
                setattr(model, k, int(state[k]))
        own = set(model._get_torch_save_params()[1])
        for name, value in state.get("variables", {}).items():
            if name not in own:
                raise ValueError(f"variables: {name!r} is not one of this model's ({', '.join(sorted(own)) or 'none'})")
            target = _attr(model, name)
            with torch.no_grad():
                target.copy_(torch.tensor(value, dtype=target.dtype, device=target.device))
        buffer = getattr(model, "replay_buffer", None)
        if buffer is not None:
            if "buffer" not in files:
                raise ValueError("the checkpoint has no replay buffer")
            expected = sum(v.nbytes for v in vars(buffer).values() if isinstance(v, np.ndarray)) + sum(
                a.nbytes for v in vars(buffer).values() if isinstance(v, dict) for a in v.values() if isinstance(a, np.ndarray))
            with read_npz_checked(files["buffer"], expected + ARCHIVE_SLACK) as f, np.load(f, allow_pickle=False) as data:
                for key in data.files:
                    name, _, sub = key.partition("/")
                    into = vars(buffer).get(name)
                    into = into.get(sub) if sub and isinstance(into, dict) else into
                    if not isinstance(into, np.ndarray):
                        raise ValueError(f"replay buffer {key}: this model's buffer has no such array")
                    part = data[key]
                    if part.shape[1:] != into.shape[1:] or len(part) > len(into):
                        raise ValueError(f"replay buffer {key}: shape {part.shape} does not fit {into.shape}")
                    into[: len(part)] = part
            pos = state["buffer_pos"]
            if not isinstance(pos, int) or not 0 <= pos < buffer.buffer_size:
                raise ValueError(f"buffer_pos {pos!r} is not within this replay buffer (0 .. {buffer.buffer_size - 1})")
            buffer.pos, buffer.full = pos, bool(state["buffer_full"])
        if state.get("action_space_rng") is not None:
            model.action_space.np_random.bit_generator.state = state["action_space_rng"]
        model.env.seed(reseed)
        model._last_obs = None  # learn() resets the (reseeded) environments

    @classmethod
    def load(cls, path: Path, spec, device: str) -> SB3Agent:
        """The model is built from the run's spec and only its weights are read from the zip
        (SB3's set_parameters: torch tensors with weights_only=True). `PPO.load` would pass the
        zip's `data` through cloudpickle, running whatever a doctored checkpoint holds."""
        agent = cls(spec, device)
        agent._load_weights(path, device)
        if agent.vec_normalize is not None:
            agent.vec_normalize.training = False  # a delivered policy: its statistics stay as trained
        return agent

    def scores_module(self):
        """What the algorithm table's `scores` says: Q-values (DQN), action logits (or means) for
        on-policy actor-critics, the deterministic action scaled to [-1, 1] for SAC's, TD3's and DDPG's actors."""
        module = self._policy_scores_module()
        vn = self.vec_normalize
        if vn is None or not vn.norm_obs:
            return module
        return _normalized_input(module, vn.obs_rms.mean, vn.obs_rms.var, vn.epsilon, vn.clip_obs)

    def _policy_scores_module(self):
        """The policy's scores of the observations it sees (normalized ones, with [env.normalize])."""
        from torch import nn

        policy, scores = self.model.policy, self.spec.algo.scores
        if scores == "q_values":
            return policy.q_net
        if scores == "action":

            class ActorAction(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.policy = policy

                def forward(self, obs):  # self.policy, not the closure's: a copy (deepcopy) must use its own
                    return self.policy._predict(obs, deterministic=True)

            return ActorAction()

        class ActorLogits(nn.Module):
            def __init__(self):
                super().__init__()
                self.policy = policy

            def forward(self, obs):  # self.policy, not the closure's: a copy (deepcopy) must use its own
                features = self.policy.extract_features(obs, self.policy.pi_features_extractor)
                return self.policy.action_net(self.policy.mlp_extractor.forward_actor(features))

        return ActorLogits()

    def export_artifacts(self, ctx, policy) -> None:
        """SB3 policies are their checkpoint zips; nothing more to export."""


def _normalized_input(module, mean, var, epsilon: float, clip: float):
    """`module` behind VecNormalize's observation normalization, as a torch module: attribution
    explains the policy in the environment's own observation values."""
    import torch
    from torch import nn

    class NormalizedInput(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = module
            self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
            self.register_buffer("std", torch.as_tensor((var + epsilon) ** 0.5, dtype=torch.float32))

        def forward(self, obs):
            return self.inner(torch.clamp((obs - self.mean) / self.std, -clip, clip))

    return NormalizedInput()
