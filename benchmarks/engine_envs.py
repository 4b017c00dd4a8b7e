"""Environment throughput: lab's torch environments beside Gymnasium's vector environments.

    .venv/bin/python benchmarks/engine_envs.py [--device cpu|cuda] [--sizes 1024 4096 65536]
                                               [--threads 1] [--seconds 1.0] [--sync-max 65536]

Steps per second = num_envs x steps / seconds, with random actions drawn each step where the
environment lives (torch on lab's device, numpy for Gymnasium's), autoreset on, float32.
Gymnasium's side is its numpy vector env where it has one (`vectorization_mode=
"vector_entry_point"`: CartPole's CartPoleVectorEnv) and otherwise the only vector env it offers,
SyncVectorEnv (one Python env per copy, stepped in a loop; not built beyond --sync-max envs).
torch runs on --threads threads (1 by default: numpy's vector env uses one core). On a GPU the
clock stops after torch.cuda.synchronize(). Prints a Markdown table; with the defaults it also
writes it to benchmarks/results-engine-envs.md. A GPU run:

    .venv/bin/python benchmarks/engine_envs.py --device cuda --sizes 4096 65536 1048576
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from lab.engine import ENVS, make_vec

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SIZES = [1024, 4096, 65536]


def timed_rate(step, num_envs: int, seconds: float, sync=lambda: None) -> float:
    """Steps per second of `step()` over about `seconds`, after a warm-up."""
    for _ in range(3):
        step()
    sync()
    start, steps = time.perf_counter(), 0
    while True:  # calibrate on a few steps, then time a run of about `seconds`
        step()
        steps += 1
        sync()
        spent = time.perf_counter() - start
        if spent > 0.05 * seconds:
            break
    steps = max(2, int(steps * seconds / spent))
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    return num_envs * steps / (time.perf_counter() - start)


def lab_rate(env_id: str, num_envs: int, device: str, seconds: float) -> float:
    env = make_vec(env_id, num_envs, device=device, seed=0)
    space = env.single_action_space
    generator = torch.Generator(device=device).manual_seed(1)
    if hasattr(space, "n"):
        def step():
            env.step(torch.randint(0, int(space.n), (num_envs,), device=device, generator=generator))
    else:
        low, high = float(space.low[0]), float(space.high[0])

        def step():
            env.step(torch.rand((num_envs, 1), device=device, generator=generator) * (high - low) + low)
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    return timed_rate(step, num_envs, seconds, sync)


def gymnasium_rate(env_id: str, num_envs: int, seconds: float, sync_max: int) -> tuple[float | None, str]:
    import gymnasium as gym

    mode = "vector_entry_point" if gym.spec(env_id).vector_entry_point else "sync"
    if mode == "sync" and num_envs > sync_max:
        return None, mode
    env = gym.make_vec(env_id, num_envs, vectorization_mode=mode)
    env.reset(seed=0)
    rng = np.random.default_rng(1)
    space = env.single_action_space
    if hasattr(space, "n"):
        def step():
            env.step(rng.integers(0, int(space.n), num_envs))
    else:
        def step():
            env.step(rng.uniform(space.low[0], space.high[0], (num_envs, 1)).astype(np.float32))
    try:
        return timed_rate(step, num_envs, seconds), mode
    finally:
        env.close()


def millions(rate: float | None) -> str:
    return "-" if rate is None else f"{rate / 1e6:,.2f}" if rate < 1e8 else f"{rate / 1e6:,.0f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", help="torch device of lab's environments (cpu, cuda)")
    p.add_argument("--sizes", type=int, nargs="+", default=DEFAULT_SIZES, help="numbers of environments")
    p.add_argument("--threads", type=int, default=1, help="torch threads (torch.set_num_threads)")
    p.add_argument("--seconds", type=float, default=1.0, help="about how long each measurement runs")
    p.add_argument("--sync-max", type=int, default=65536,
                   help="largest Gymnasium SyncVectorEnv built (one Python env per copy)")
    p.add_argument("--envs", nargs="+", default=list(ENVS), choices=list(ENVS))
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    rows = []
    for env_id in args.envs:
        for n in args.sizes:
            ours = lab_rate(env_id, n, args.device, args.seconds)
            theirs, mode = gymnasium_rate(env_id, n, args.seconds, args.sync_max)
            rows.append((env_id, n, ours, theirs, mode))
            print(f"{env_id} x {n:,}: lab {millions(ours)} M/s, gymnasium ({mode}) {millions(theirs)} M/s", file=sys.stderr)

    argv = " ".join(sys.argv[1:])
    where = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU, {os.cpu_count()} cores"
    lines = [f"Machine: {where}; torch {torch.__version__} with {torch.get_num_threads()} thread(s); "
             f"Python {sys.version.split()[0]}. Command: `.venv/bin/python benchmarks/engine_envs.py"
             f"{' ' + argv if argv else ''}`.",
             "Million environment steps per second (num_envs x steps / seconds), random actions, "
             f"autoreset, float32; lab on {args.device}. Gymnasium: its numpy vector env where it has one "
             "(vector_entry_point), else SyncVectorEnv (a Python loop over single envs; `-` past "
             f"{args.sync_max:,} envs).", "",
             "| env | envs | lab (M steps/s) | Gymnasium (M steps/s) | Gymnasium's vector env | lab / Gymnasium |",
             "|---|---|---|---|---|---|"]
    for env_id, n, ours, theirs, mode in rows:
        ratio = "-" if theirs is None else f"{ours / theirs:,.1f}x"
        lines.append(f"| {env_id} | {n:,} | {millions(ours)} | {millions(theirs)} | {mode} | {ratio} |")
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.device == "cpu" and args.sizes == DEFAULT_SIZES and args.threads == 1 and args.envs == list(ENVS):
        (REPO / "benchmarks" / "results-engine-envs.md").write_text(text)


if __name__ == "__main__":
    main()
