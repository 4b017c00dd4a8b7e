"""One PPO minibatch step of lab's torch engine (TorchPPOAgent.update on a fixed rollout of
cartpole-ppo-torch's shape: 32 envs x 32 steps per member, minibatches of 256, 4 epochs),
per population size, 1 torch thread, CPU time.

    .venv/bin/python benchmarks/engine_update.py [--members 1 2 4 9 64]

Prints a Markdown table: members, precision (precision = "auto": bf16 from 4 members), and ms per
minibatch step (the lowest and the median of 5 timings of 10 updates each). `--kernels` adds the
time torch's profiler gives the step's heavy kernels alone (matmuls, sigmoids and their backward,
minibatch gathers, log-softmax): what the step would cost with no per-op overhead at all.
"""

import argparse
import statistics
import time

import torch


def step_ms(members: int, kernels: bool = False) -> tuple[float, float, bool, float | None]:
    import lab
    from lab.engine.onpolicy import Rollout
    from lab.engine.ppo import TorchPPOAgent

    spec = lab.load_experiment("cartpole-ppo-torch", {"population": members} if members > 1 else {})
    agent = TorchPPOAgent(spec, "cpu")
    optimizer = agent.make_optimizer()
    n = spec.env.n_envs * spec.agent.n_steps
    g = torch.Generator().manual_seed(0)
    rollout = Rollout(torch.randn(members, n, 4, generator=g), torch.randint(0, 2, (members, n), generator=g),
                      -torch.rand(members, n, generator=g), torch.randn(members, n, generator=g),
                      torch.randn(members, n, generator=g), torch.randn(members, n, generator=g))
    lr = agent.hyper("learning_rate")
    per_update = spec.agent.n_epochs * (n // spec.agent.batch_size)
    for _ in range(3):
        agent.update(optimizer, lr, rollout, 1.0)
    times = []
    for _ in range(5):
        t = time.process_time()
        for _ in range(10):
            agent.update(optimizer, lr, rollout, 1.0)
        times.append((time.process_time() - t) / (10 * per_update) * 1e3)
    heavy = kernels_ms(agent, optimizer, lr, rollout, per_update) if kernels else None
    return min(times), statistics.median(times), spec.bf16, heavy


HEAVY = ("aten::bmm", "aten::baddbmm", "aten::sigmoid_", "aten::sigmoid_backward", "aten::index",
         "aten::_log_softmax", "aten::_log_softmax_backward_data")


def kernels_ms(agent, optimizer, lr, rollout, per_update: int) -> float:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(10):
            agent.update(optimizer, lr, rollout, 1.0)
    total = sum(e.self_cpu_time_total for e in prof.key_averages() if e.key in HEAVY)
    return total / (10 * per_update) / 1e3


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--members", type=int, nargs="+", default=[1, 2, 4, 9, 64])
    p.add_argument("--kernels", action="store_true", help="also the heavy kernels' time per step (torch's profiler)")
    args = p.parse_args()
    torch.set_num_threads(1)
    extra = (" heavy kernels alone |", "---|") if args.kernels else ("", "")
    print(f"| members | precision | ms per minibatch step (lowest) | (median) |{extra[0]}\n|---|---|---|---|{extra[1]}")
    for m in args.members:
        low, median, bf16, heavy = step_ms(m, args.kernels)
        print(f"| {m} | {'bf16' if bf16 else 'float32'} | {low:.2f} | {median:.2f} |" + (f" {heavy:.2f} |" if args.kernels else ""))


if __name__ == "__main__":
    main()
