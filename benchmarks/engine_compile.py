"""Does torch.compile (or, on CUDA, CUDA graphs through mode="reduce-overhead") pay off for the
torch engine's PPO? Times one minibatch step (forward, backward, clipping and the optimizer
step) eager and compiled, for one agent and a population, and the compile time itself.

    .venv/bin/python benchmarks/engine_compile.py [--device cuda] [--members 1 64] [--steps 200]

The loss is compiled (forward and backward through AOTAutograd); the per-member optimizer
(lab.engine.optim) stays eager. A run of cartpole-ppo-torch takes about 1,300 minibatch steps
for one agent, so compiling pays off when (eager - compiled) x 1,300 exceeds the compile time.
Writes benchmarks/results-engine-compile.md.
"""

import argparse
import time
from pathlib import Path

import torch

from lab.engine.onpolicy import ActorCritic
from lab.engine.optim import MemberAdam

REPO = Path(__file__).resolve().parent.parent


def make_step(members: int, batch: int, device: str, mode: str | None):
    torch.manual_seed(0)
    net = ActorCritic(4, 2, False, [64, 64], "tanh", members=members).to(device)
    opt = MemberAdam(net.parameters(), members, eps=1e-5)
    obs = torch.randn(members, batch, 4, device=device)
    act = torch.randint(0, 2, (members, batch), device=device)
    adv, ret, old = (torch.randn(members, batch, device=device) for _ in range(3))
    lr, max_norm = torch.full((members,), 1e-3, device=device), torch.full((members,), 0.5, device=device)

    def loss_fn(obs, act, adv, ret, old):
        dist, value = net(obs)
        log_ratio = dist.log_prob(act) - old
        ratio = log_ratio.exp()
        a = (adv - adv.mean(1, keepdim=True)) / (adv.std(1, keepdim=True) + 1e-8)
        policy = -torch.min(a * ratio, a * ratio.clamp(0.8, 1.2)).mean(1)
        return (policy + 0.5 * (ret - value).pow(2).mean(1)).sum()

    loss = loss_fn if mode is None else torch.compile(loss_fn, mode=mode)

    def step():
        opt.zero_grad()
        loss(obs, act, adv, ret, old).backward()
        opt.clip_grad_norm(max_norm)
        opt.step(lr)

    return step


def timed(step, steps: int, device: str) -> float:
    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    for _ in range(10):
        step()
    sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    return (time.perf_counter() - t0) / steps * 1e3


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--members", type=int, nargs="+", default=[1, 64])
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=200)
    args = p.parse_args()
    torch.set_num_threads(1)
    modes = [None, "default"] + (["reduce-overhead"] if args.device == "cuda" else [])
    lines = [f"One PPO minibatch step ({args.batch} samples per member, 64x64 tanh actor and critic), {args.device}, "
             "1 torch thread; eager against torch.compile of the loss.", "",
             "| members | mode | compile (s) | ms per step | eager / this |", "|---|---|---|---|---|"]
    for members in args.members:
        eager = None
        for mode in modes:
            step = make_step(members, args.batch, args.device, mode)
            t0 = time.perf_counter()
            step()  # the first call compiles
            compile_s = time.perf_counter() - t0 if mode else 0.0
            ms = timed(step, args.steps, args.device)
            eager = eager or ms
            lines.append(f"| {members} | {mode or 'eager'} | {compile_s:.1f} | {ms:.2f} | {eager / ms:.2f}x |")
            print(lines[-1], flush=True)
    text = "\n".join(lines)
    print(text)
    (REPO / "benchmarks" / "results-engine-compile.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
