"""One rollout step of lab's torch engine (cartpole-ppo-torch's shape: 32 CartPole envs per
member): the policy's pass, sampling with log-probabilities, the batched CartPole step, 1 torch
thread, in four ways the policy's pass can be computed.

    .venv/bin/python benchmarks/engine_rollout.py [--members 1 9 64]

- both networks under bf16 autocast at every step (the engine's rollout for populations before
  2026-11-25; plain runs were float32);
- both networks in float32;
- the actors alone through `StackedMLP.forward`, slicing their weights at every step;
- the actors alone, prepared once (`ActorCritic.actors_now`, `StackedMLP.frozen`): what the
  engine's rollout and evaluation do now (the critics run once per rollout, over all of it).

Prints a Markdown table: ms per step, the median of 5 timings of 400 steps.
"""

import argparse
import statistics
import time

import torch


def timings(members: int) -> dict[str, float]:
    import lab
    from lab.engine import make_vec
    from lab.engine.ppo import TorchPPOAgent

    spec = lab.load_experiment("cartpole-ppo-torch", {"population": members})
    net = TorchPPOAgent(spec, "cpu").net
    n_envs = spec.env.n_envs
    env = make_vec("CartPole-v1", members * n_envs, device="cpu", seed=0)
    first = env.reset(seed=0)[0].view(members, n_envs, 4)

    def both(obs, bf16: bool):
        x = obs.unsqueeze(1).expand(members, 2, *obs.shape[1:]).reshape(2 * members, *obs.shape[1:])
        if bf16:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return net.nets(x).float().view(members, 2, n_envs, -1)[:, 0]
        return net.nets(x).view(members, 2, n_envs, -1)[:, 0]

    actors = net.actors_now()
    ways = {"both networks, bf16 autocast": lambda obs: both(obs, True),
            "both networks, float32": lambda obs: both(obs, False),
            "actors alone, sliced at every step": net.actor,
            "actors alone, prepared once (now)": actors}

    def step(policy, obs):
        dist = net.distribution(policy(obs))
        action = dist.sample()
        dist.log_prob(action)
        return env.step(action.reshape(-1))[0].view(members, n_envs, 4)

    times: dict[str, list[float]] = {name: [] for name in ways}
    with torch.no_grad():
        for _ in range(5):
            for name, policy in ways.items():  # interleaved, so that drift falls on every way alike
                obs = first
                for _ in range(30):
                    obs = step(policy, obs)
                t = time.perf_counter()
                for _ in range(400):
                    obs = step(policy, obs)
                times[name].append((time.perf_counter() - t) / 400 * 1e3)
    return {name: statistics.median(v) for name, v in times.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--members", type=int, nargs="+", default=[1, 9, 64])
    args = p.parse_args()
    torch.set_num_threads(1)
    rows = {m: timings(m) for m in args.members}
    names = list(next(iter(rows.values())))
    print("| members | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))
    for m, t in rows.items():
        print(f"| {m} | " + " | ".join(f"{t[n]:.3f} ms" for n in names) + " |")


if __name__ == "__main__":
    main()
