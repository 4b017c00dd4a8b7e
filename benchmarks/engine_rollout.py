"""One rollout step of lab's torch engine (cartpole-ppo-torch's shape: 32 CartPole envs per
member): the actors' pass and sampling with log-probabilities (`OnPolicyAgent.sample`), and the
batched CartPole step, per population size, 1 torch thread.

    .venv/bin/python benchmarks/engine_rollout.py [--members 1 9 64]

Prints a Markdown table: ms per step (policy and sampling, the env step, both), the best of 5
timings of 400 steps.
"""

import argparse
import time

import torch


def best_ms(fn, steps: int = 400) -> float:
    for _ in range(30):
        fn()
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(steps):
            fn()
        best = min(best, (time.perf_counter() - t) / steps * 1e3)
    return best


def timings(members: int) -> tuple[float, float, float]:
    import lab
    from lab.engine.ppo import TorchPPOAgent

    spec = lab.load_experiment("cartpole-ppo-torch", {"population": members})
    agent = TorchPPOAgent(spec, "cpu")
    env = agent.make_env(members * spec.env.n_envs, 0)
    obs = [env.reset(seed=0)[0].view(members, spec.env.n_envs, -1)]
    zeros = torch.zeros(members * spec.env.n_envs, dtype=torch.long)

    def step():
        action, _ = agent.sample(obs[0])
        obs[0] = env.step(agent.env_actions(action))[0].view(members, spec.env.n_envs, -1)

    with torch.no_grad():
        return best_ms(lambda: agent.sample(obs[0])), best_ms(lambda: env.step(zeros)), best_ms(step)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--members", type=int, nargs="+", default=[1, 9, 64])
    args = p.parse_args()
    torch.set_num_threads(1)
    print("| members | policy and sampling | CartPole step | rollout step |\n|---|---|---|---|")
    for m in args.members:
        policy, env, both = timings(m)
        print(f"| {m} | {policy:.3f} ms | {env:.3f} ms | {both:.3f} ms |")


if __name__ == "__main__":
    main()
