"""What a run on lab's torch engine will allocate, sized from its spec and its env's spaces
(lab.memory checks it; runs on Gymnasium's environments: lab.rl.footprint)."""

from __future__ import annotations

from lab.engine import GYMNASIUM_PATH, env_path
from lab.memory import Need, mlp_bytes
from lab.rl.footprint import elements, net_input, outputs

# A Gymnasium environment object on the host, behind the engine's Gymnasium path (CartPole-v1's:
# 5.6 KB, measured over 2,000 of them); few hold less.
GYMNASIUM_ENV_BYTES = 4 << 10


def needs(spec, observation_space, action_space) -> list[Need]:
    """What lab's torch engine allocates on the run's device (lab.engine.onpolicy, dqn, agent),
    every member's at once: it multiplies by population x env.n_envs.

    An on-policy rollout keeps, per step of every member's environments, the observation and the
    final observation, the action, three float32 columns, a long and two flags; on top of that,
    at the larger of two moments: the critics' pass over the whole rollout (two more copies of the
    observations and the activations of the widest layer), or the update (the rollout's copies
    for the update, and the activations autograd keeps: a PPO minibatch's, or A2C's whole
    rollout's). Checked against the peak RSS of runs on a CPU, over a tiny run's (MiB, measured /
    these needs): cartpole-ppo-torch, rollouts of 1,048,576 steps as 64 members x 256 envs x 64
    steps 608 / 624, 16 x 256 x 256 595 / 614, 256 x 64 x 64 629 / 667; net_arch [256, 256],
    16 x 256 x 64 568 / 587; pendulum-ppo-torch 16 x 256 x 256 572 / 594; A2C on CartPole 64 x 256
    x 64 1,738 / 1,656. What dominates is the rollout, which grows with population x env.n_envs x
    agent.n_steps."""
    a, algo, members, n_envs = spec.agent, spec.algo, spec.population, spec.env.n_envs
    obs = net_input(observation_space)  # the engine's observations: flat float32 vectors (one-hot for Discrete)
    act = 8 if type(action_space).__name__ == "Discrete" else elements(action_space) * 4
    net_arch = list(getattr(a, "net_arch", None) or algo.net_arch)
    widest, hidden = max(net_arch), sum(net_arch)
    who = f"{members:,} members x " if members > 1 else ""
    fewer = "lower population, env.n_envs" if members > 1 else "lower env.n_envs"
    out: list[Need] = []
    if algo.buffer == "rollout":  # PPO, A2C
        steps = a.n_steps * members * n_envs
        kept = 8 * obs + act + 22
        critics = 8 * obs + 8 * widest + 4
        update = 4 * obs + act + 20 + (12 * hidden if algo.update_batch == "rollout" else 0)
        minibatch = members * min(a.batch_size, a.n_steps * n_envs) * 12 * hidden if algo.update_batch == "minibatch" else 0
        out.append(Need(steps * kept + max(steps * critics, steps * update + minibatch),
                        f"the rollout ({who}{n_envs} envs x {a.n_steps:,} steps)",
                        "population" if members > 1 else "agent.n_steps", f"{fewer} or agent.n_steps", on_device=True))
    elif algo.buffer == "replay":  # DQN: observations and next observations, an action, reward and flag a row
        rows = min(a.buffer_size, a.total_steps)
        out.append(Need(rows * (8 * obs + 16), f"the replay buffer (min(buffer_size, total_steps) {rows:,} x 2 observations)",
                        "agent.buffer_size", "lower agent.buffer_size", on_device=True))
    # evaluations: each member's episodes in environments of their own, all members at once
    episodes = max(spec.eval.episodes, spec.eval.final_episodes)
    eval_envs = members * episodes
    out.append(Need(eval_envs * (12 * obs + 8 * widest + 40), f"the final evaluation's environments ({who}{episodes:,} episodes)",
                    "eval.final_episodes", "lower eval.final_episodes" + (" or population" if members > 1 else ""),
                    on_device=True))
    # every member's networks: weights, gradients, two Adam moments, best weights, a checkpoint's copy
    sizes = [obs, *net_arch, outputs(action_space)]
    out.append(Need(2 * members * mlp_bytes(sizes, copies=6), f"the networks ({who}net_arch {net_arch})",
                    "agent.net_arch", "use smaller hidden layers" + (" or a smaller population" if members > 1 else ""),
                    on_device=True))
    if env_path(spec.env) == GYMNASIUM_PATH:  # Python environment objects on the host, training's and evaluation's
        out.append(Need((members * n_envs + eval_envs) * GYMNASIUM_ENV_BYTES,
                        f"Gymnasium's environments ({who}{n_envs} for training, {eval_envs:,} to evaluate)",
                        "population" if members > 1 else "env.n_envs", f"{fewer} or eval.final_episodes"))
    return out
