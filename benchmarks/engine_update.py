"""One PPO gradient step of lab's torch engine (cartpole-ppo-torch's shape: minibatches of 256
samples per member), per population size, four ways: the members' networks as batched matmuls
(`lab.engine.nets.StackedMLP`, what the engine uses) or as one nn.Sequential MLP vmapped over
stacked parameters (`torch.func.functional_call` + `vmap`), each eager and under torch.compile.

    .venv/bin/python benchmarks/engine_update.py [--members 1 9 64] [--precision float32|bf16|auto]

A step is the loss (the engine's `TorchPPOAgent.loss`, or the same expressions on the vmapped
networks), `loss.backward()` and the member optimizer's step. Prints a Markdown table: ms per
step, the best of 5 timings of 50 steps, 1 torch thread, and each compile's first call (the
compile time: longer on a cold Inductor cache, ~/.cache or /tmp/torchinductor_$USER).
"""

import argparse
import time

import torch
from torch import nn


def vmapped_step(members: int, bf16: bool):
    """The same step with the members' actor and critic as nn.Sequential MLPs vmapped over
    stacked parameters (torch.func), and the engine's optimizer over those stacked parameters."""
    from torch.func import functional_call, stack_module_state

    from lab.engine.nets import Categorical
    from lab.engine.optim import MemberAdam

    def mlp(out):
        return nn.Sequential(nn.Linear(4, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, out))

    actors, critics = [mlp(2) for _ in range(members)], [mlp(1) for _ in range(members)]
    params = {}
    for name, nets in (("actor", actors), ("critic", critics)):
        stacked, _ = stack_module_state(nets)
        params.update({f"{name}.{k}": nn.Parameter(v) for k, v in stacked.items()})
    holder = nn.ParameterList(params.values())
    optimizer = MemberAdam(holder, members, eps=1e-5)
    base = {"actor": actors[0], "critic": critics[0]}

    def forward(name, obs):
        own = {k.split(".", 1)[1]: v for k, v in zip(params, holder) if k.startswith(name + ".")}
        return torch.vmap(lambda p, x: functional_call(base[name], p, (x,)))(own, obs)

    def step(batch, lr, max_grad_norm):
        with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            dist, value = Categorical(forward("actor", batch["obs"])), forward("critic", batch["obs"])[..., 0]
            log_ratio = dist.log_prob(batch["actions"]) - batch["log_probs"]
            ratio = log_ratio.exp()
            a = batch["advantages"]
            a = (a - a.mean(1, keepdim=True)) / (a.std(1, keepdim=True) + 1e-8)
            policy_loss = -torch.min(a * ratio, a * ratio.clamp(0.8, 1.2)).mean(1)
            value_loss = (batch["returns"] - value).pow(2).mean(1)
            loss = policy_loss + 0.5 * value_loss - 0.0 * dist.entropy().mean(1)
        optimizer.zero_grad()
        loss.sum().backward()
        optimizer.step(lr, max_grad_norm)

    return step


def engine_step(members: int, bf16: bool):
    import lab
    from lab.engine.ppo import TorchPPOAgent

    spec = lab.load_experiment("cartpole-ppo-torch", {"population": members, "compile": "off",
                                                      "precision": "bf16" if bf16 else "float32"})
    agent = TorchPPOAgent(spec, "cpu")
    optimizer = agent.make_optimizer()
    h = agent.hyperparameters(1.0)
    active = torch.ones(members, dtype=torch.bool)

    def step(batch, lr, max_grad_norm):
        from lab.engine.onpolicy import Rollout

        agent.train_step(optimizer, lr, h, Rollout(**batch), active)

    return step


def timings(members: int, bf16: bool) -> dict[str, tuple[float, float]]:
    g = torch.Generator().manual_seed(0)
    batch = {"obs": torch.randn(members, 256, 4, generator=g), "actions": torch.randint(0, 2, (members, 256), generator=g),
             "log_probs": torch.full((members, 256), -0.69), "values": torch.randn(members, 256, generator=g),
             "advantages": torch.randn(members, 256, generator=g), "returns": torch.randn(members, 256, generator=g)}
    lr, max_grad_norm = torch.full((members,), 1e-3), torch.full((members,), 0.5)
    out = {}
    for name, make in (("stacked matmuls", engine_step), ("vmap(functional_call)", vmapped_step)):
        for compiled in (False, True):
            step = make(members, bf16)
            if compiled:
                torch._dynamo.reset()
                step = torch.compile(step)
            t = time.perf_counter()
            step(batch, lr, max_grad_norm)
            first = time.perf_counter() - t
            for _ in range(5):
                step(batch, lr, max_grad_norm)
            best = float("inf")
            for _ in range(5):
                t = time.perf_counter()
                for _ in range(50):
                    step(batch, lr, max_grad_norm)
                best = min(best, (time.perf_counter() - t) / 50 * 1e3)
            out[f"{name}, {'compiled' if compiled else 'eager'}"] = (best, first)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--members", type=int, nargs="+", default=[1, 9, 64])
    p.add_argument("--precision", choices=("float32", "bf16", "auto"), default="auto",
                   help="auto: bf16 from 4 members, as the engine's precision = 'auto'")
    args = p.parse_args()
    torch.set_num_threads(1)
    from lab.spec import BF16_FROM_MEMBERS

    rows = {}
    for m in args.members:
        bf16 = args.precision == "bf16" or (args.precision == "auto" and m >= BF16_FROM_MEMBERS)
        rows[m] = (bf16, timings(m, bf16))
        print(f"  {m} members done", flush=True)
    names = list(next(iter(rows.values()))[1])
    print("| members | precision | " + " | ".join(names) + " |\n|---|---|" + "---|" * len(names))
    for m, (bf16, t) in rows.items():
        cells = [f"{t[n][0]:.2f} ms" + (f" (compile {t[n][1]:.1f} s)" if "compiled" in n else "") for n in names]
        print(f"| {m} | {'bf16' if bf16 else 'float32'} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
