"""lab's torch engine on a GPU: environment steps per second, a gradient step eager, compiled and
in CUDA graphs, and a population of 1,024 CartPole agents as whole runs.

    .venv/bin/python benchmarks/engine_gpu.py [--envs 4096 65536 1048576] [--population 1024]

Needs a CUDA device (through the device tool where a session is lent one). Prints three Markdown
tables: CartPole steps per second at each batch size (random actions drawn on the device); one PPO
gradient step of `population` members (cartpole-ppo-torch's shapes) eager, under torch.compile and
under torch.compile with CUDA graphs (mode 'reduce-overhead'), ms per step and the first call;
and `lab run cartpole-ppo-torch --set population=N --device cuda` with compile off, auto and on
(whole processes: wall time, members whose final evaluation reaches 475).
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

from lab_process import lab_run


def env_steps_per_second(num_envs: int, steps: int = 200) -> float:
    from lab.engine import make_vec

    env = make_vec("CartPole-v1", num_envs, device="cuda", seed=0)
    env.reset(seed=0)
    actions = [torch.randint(0, 2, (num_envs,), device="cuda") for _ in range(8)]
    for t in range(20):
        env.step(actions[t % 8])
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for t in range(steps):
        env.step(actions[t % 8])
    torch.cuda.synchronize()
    return num_envs * steps / (time.perf_counter() - t0)


def gradient_step_ms(population: int, mode: str) -> tuple[float, float]:
    import lab
    from lab.engine.onpolicy import Rollout
    from lab.engine.ppo import TorchPPOAgent

    spec = lab.load_experiment("cartpole-ppo-torch", {"population": population, "compile": "off"})
    agent = TorchPPOAgent(spec, "cuda")
    optimizer, h = agent.make_optimizer(), agent.hyperparameters(1.0)
    lr, active = agent.hyper("learning_rate"), torch.ones(population, dtype=torch.bool, device="cuda")
    g = torch.Generator(device="cuda").manual_seed(0)
    batch = Rollout(torch.randn(population, 256, 4, device="cuda", generator=g),
                    torch.randint(0, 2, (population, 256), device="cuda", generator=g),
                    torch.full((population, 256), -0.69, device="cuda"), torch.randn(population, 256, device="cuda"),
                    torch.randn(population, 256, device="cuda"), torch.randn(population, 256, device="cuda"))
    step = agent.train_step if mode == "eager" else torch.compile(
        agent.train_step, mode="reduce-overhead" if mode == "CUDA graphs" else None)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    step(optimizer, lr, h, batch, active)
    torch.cuda.synchronize()
    first = time.perf_counter() - t0
    for _ in range(10):
        step(optimizer, lr, h, batch, active)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(100):
        step(optimizer, lr, h, batch, active)
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) / 100 * 1e3, first


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--envs", type=int, nargs="+", default=[4096, 65536, 1_048_576])
    p.add_argument("--population", type=int, default=1024)
    p.add_argument("--no-runs", action="store_true", help="skip the whole runs")
    args = p.parse_args()
    if not torch.cuda.is_available():
        sys.exit("engine_gpu: torch sees no CUDA device")
    print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}\n")
    print("| CartPole envs | env steps per second |\n|---|---|")
    for n in args.envs:
        print(f"| {n:,} | {env_steps_per_second(n):,.0f} |", flush=True)
    print(f"\n| PPO gradient step, {args.population} members | ms per step | first call (compile) |\n|---|---|---|")
    for mode in ("eager", "compiled", "CUDA graphs"):
        ms, first = gradient_step_ms(args.population, mode)
        print(f"| {mode} | {ms:.2f} | {first:.1f} s |", flush=True)
    if args.no_runs:
        return
    print(f"\n| `lab run cartpole-ppo-torch --set population={args.population} --device cuda` | compile | wall time "
          "| members with final eval >= 475 |\n|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="lab-gpu-") as tmp:
        for setting in ("off", "auto", "on"):
            r = lab_run("cartpole-ppo-torch", Path(tmp), [f"population={args.population}", f"compile={setting}"],
                        device="cuda")
            finals = [m["final_eval_return_mean"] for m in r["summary"]["results"]["members"]]
            print(f"| compile = \"{setting}\" | {r['summary'].get('compile')} | {r['wall']:.1f} s | "
                  f"{sum(f >= 475 for f in finals)} of {len(finals)} |", flush=True)


if __name__ == "__main__":
    main()
