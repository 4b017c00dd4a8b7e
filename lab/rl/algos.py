"""The one table of RL algorithms: name -> hyperparameter schema, implementation, and whatever
else differs between algorithms (device notes, the metrics they report).

The CLI, validation, docs and the dashboard read this table; nothing lists algorithms twice.
Implementations are named by import path and loaded only when a run needs them. A new
algorithm is a row here, its schema in `params.py`, and its module (or, for one of SB3's, the
name of its SB3 class); `torch_agent` names its implementation on lab's torch engine, if any.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from lab.rl import params


@dataclass(frozen=True)
class Algo:
    name: str
    title: str
    params: type[params.AgentParams]
    agent: str  # "module:Class", imported lazily; it follows the agent protocol (lab.rl.agent)
    library: str
    action_spaces: tuple[str, ...]  # gymnasium space class names it can act in
    observation_spaces: tuple[str, ...] = ("Box", "Discrete")
    vectorized: bool = True  # can train on env.n_envs > 1
    device_note: str = "small network"  # why the CPU suits it (device choice, in summary.json)
    uses_torch: bool = True  # False: 'cuda' means nothing for it
    metrics: tuple[str, ...] = ()  # the metric events it reports, most telling first (the live view's order)
    sb3_class: str | None = None  # for SB3Agent: stable_baselines3's class ("PPO"), or "module:Class" ("sb3_contrib:TQC")
    torch_agent: str | None = None  # "module:Class" on lab's torch engine (engine = "torch"), if it has one
    # the agent settings a population's members may each have ([members.agent]) on the torch engine;
    # () where the engine trains one agent per run. Here, not on the agent class, so that validating
    # a population or a population sweep imports no torch.
    member_settings: tuple[str, ...] = ()
    compiles: bool = False  # its torch engine agent can compile its gradient step (the `compile` setting)
    # what it learns from between updates: "rollout" (on-policy: agent.n_steps x env.n_envs steps), "replay"
    # (off-policy: agent.buffer_size steps), None (whole episodes, or one step at a time); the memory check sizes it
    buffer: str | None = None
    # what one gradient step runs through its networks: "minibatch" (agent.batch_size rows), "rollout" (A2C:
    # the whole rollout at once), "episodes" (REINFORCE: agent.episodes_per_update whole episodes), None (a table's one step)
    update_batch: str | None = "minibatch"
    # its hidden layers when agent.net_arch is None (SB3's MLP); the schemas of algorithms with other defaults set theirs
    net_arch: tuple[int, ...] = params.SB3_NET_ARCH
    tabular: bool = False  # its policy is a table of states x actions, no network
    # what its policy's scores are, the numbers policy attribution explains (lab.xai.policy): "logits" (of
    # its actions), "q_values", "action" (a deterministic actor's action, scaled to [-1, 1]); None: nothing to attribute
    scores: str | None = "logits"

    def agent_class(self, engine: str = "gymnasium"):
        """The implementation for `engine`: 'gymnasium' (Gymnasium envs stepped on the host) or
        'torch' (lab.engine: environments and agent on the device)."""
        module, _, cls = (self.torch_agent if engine == "torch" else self.agent).partition(":")
        return getattr(importlib.import_module(module), cls)


_SB3 = "lab.rl.sb3_agent:SB3Agent"
_OFF_POLICY = {"buffer": "replay", "scores": "action"}  # SAC, TD3, DDPG
# why a GPU suits a run on lab's torch engine, whatever its algorithm (device choice, in summary.json)
ENGINE_NOTE = "lab's torch engine keeps environments and agent on the device, so a GPU pays off"
_ALL_SPACES = ("Discrete", "Box", "MultiDiscrete", "MultiBinary")
_SMALL_MLP = "a small MLP {}: per-step inference latency dominates, the CPU is faster"
# not measured against a GPU yet (no GPU was lent to this work); SB3 steps the envs on the host between updates
_OFF_POLICY_NOTE = "small MLP actor and critics updated between single env steps: per-step latency dominates, the CPU suits it"

ALGOS: dict[str, Algo] = {
    a.name: a
    for a in (
        Algo("ppo", "Proximal Policy Optimization", params.PPOParams, _SB3, "stable-baselines3", _ALL_SPACES,
             device_note="SB3 runs PPO with an MLP policy faster on the CPU", sb3_class="PPO",
             torch_agent="lab.engine.ppo:TorchPPOAgent",
             member_settings=("learning_rate", "clip_range", "ent_coef", "vf_coef", "gamma", "gae_lambda", "max_grad_norm"),
             compiles=True, buffer="rollout",
             metrics=("loss", "policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction",
                      "explained_variance", "learning_rate", "clip_range", "epochs")),
        Algo("a2c", "Advantage Actor-Critic", params.A2CParams, _SB3, "stable-baselines3", _ALL_SPACES,
             device_note="SB3 runs A2C with an MLP policy faster on the CPU", sb3_class="A2C",
             torch_agent="lab.engine.a2c:TorchA2CAgent",
             member_settings=("learning_rate", "ent_coef", "vf_coef", "gamma", "gae_lambda", "max_grad_norm"),
             compiles=True, buffer="rollout", update_batch="rollout",
             metrics=("policy_loss", "value_loss", "entropy", "explained_variance", "learning_rate")),
        Algo("dqn", "Deep Q-Network", params.DQNParams, _SB3, "stable-baselines3", ("Discrete",),
             device_note=_SMALL_MLP.format("Q-network"), sb3_class="DQN",
             torch_agent="lab.engine.dqn:TorchDQNAgent", compiles=True, buffer="replay", scores="q_values",
             metrics=("loss", "epsilon", "learning_rate")),
        Algo("sac", "Soft Actor-Critic", params.SACParams, _SB3, "stable-baselines3", ("Box",),
             device_note=_OFF_POLICY_NOTE, sb3_class="SAC", **_OFF_POLICY,
             metrics=("actor_loss", "critic_loss", "ent_coef", "ent_coef_loss", "learning_rate")),
        Algo("td3", "Twin Delayed DDPG", params.TD3Params, _SB3, "stable-baselines3", ("Box",),
             device_note=_OFF_POLICY_NOTE, sb3_class="TD3", **_OFF_POLICY,
             metrics=("actor_loss", "critic_loss", "learning_rate")),
        Algo("ddpg", "Deep Deterministic Policy Gradient", params.DDPGParams, _SB3, "stable-baselines3", ("Box",),
             device_note=_OFF_POLICY_NOTE, sb3_class="DDPG", **_OFF_POLICY,
             metrics=("actor_loss", "critic_loss", "learning_rate")),
        Algo("reinforce", "REINFORCE (Monte-Carlo policy gradient)", params.ReinforceParams,
             "lab.rl.reinforce:ReinforceAgent", "lab (torch)", ("Discrete", "Box"),
             device_note=_SMALL_MLP.format("policy"), torch_agent="lab.engine.reinforce:TorchReinforceAgent",
             update_batch="episodes",
             metrics=("policy_loss", "value_loss", "entropy", "learning_rate", "batch_steps")),
        Algo("qlearning", "Tabular Q-learning", params.QLearningParams,
             "lab.rl.qlearning:QLearningAgent", "lab (numpy)", ("Discrete",), ("Discrete",), vectorized=False,
             device_note="tabular: no neural network", uses_torch=False, tabular=True, update_batch=None, scores=None,
             metrics=("td_error", "epsilon", "learning_rate")),
    )
}


# what to try, best first, instead of an algorithm that cannot act in an action space (validation's hint)
SUGGESTED = {"Box": ("sac", "ppo"), "Discrete": ("ppo", "dqn")}


def suggestions(action_space: str, observation_space: str, instead_of: str) -> list[str]:
    """Algorithms to suggest, best first, for an environment with these spaces (gymnasium class
    names), other than `instead_of`."""
    return [name for name in SUGGESTED.get(action_space, ("ppo",)) if name != instead_of
            and action_space in ALGOS[name].action_spaces and observation_space in ALGOS[name].observation_spaces]
