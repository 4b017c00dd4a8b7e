"""Whether a run on lab's torch engine compiles its gradient step (the `compile` setting), and why.

'on' compiles the step with torch.compile (on a GPU in mode 'reduce-overhead', which captures
it in CUDA graphs where capture works); 'off' runs it eagerly; 'auto' compiles where it pays:
on a GPU, and on a CPU when the run has enough gradient steps to earn back the compile time.
The decision and its reason go into the run's log, as the device's do.
"""

from __future__ import annotations

from dataclasses import dataclass

# Measured on this project's 2-core CPU (benchmarks/engine_compile.py): compiling the PPO step
# costs COMPILE_SECONDS once and saves SAVED_FRACTION of each eager step's time.
COMPILE_SECONDS = 8.0
SAVED_FRACTION = 0.4


@dataclass(frozen=True)
class CompileDecision:
    on: bool
    reason: str


def gradient_steps(spec) -> int:
    """The gradient steps a run of `spec` takes at most (an on-policy agent's; 0 where unknown)."""
    p = spec.agent
    n_steps = getattr(p, "n_steps", None)
    if n_steps is None:
        return 0
    updates = -(-p.total_steps // (n_steps * spec.env.n_envs))
    rollout = n_steps * spec.env.n_envs
    per_update = getattr(p, "n_epochs", 1) * -(-rollout // getattr(p, "batch_size", rollout))
    return updates * per_update


def compile_decision(spec, device_type: str) -> CompileDecision:
    if spec.compile != "auto":
        return CompileDecision(spec.compile == "on", "requested")
    if device_type == "cuda":
        return CompileDecision(True, "auto: on a GPU, a compiled step in CUDA graphs launches once instead of per op")
    steps = gradient_steps(spec)
    seconds = steps * step_seconds(spec)
    if seconds * SAVED_FRACTION > COMPILE_SECONDS:
        return CompileDecision(True, f"auto: {steps:,} gradient steps, about {seconds:.0f} s eager: compiling "
                                     f"({COMPILE_SECONDS:.0f} s) pays")
    return CompileDecision(False, f"auto: {steps:,} gradient steps, about {seconds:.0f} s eager: compiling "
                                  f"({COMPILE_SECONDS:.0f} s) would not pay")


def step_seconds(spec) -> float:
    """An eager gradient step's time on a CPU, roughly: per-op costs plus the samples' arithmetic."""
    p = spec.agent
    batch = min(getattr(p, "batch_size", 64), p.n_steps * spec.env.n_envs)
    width = sum(p.net_arch or [64, 64])
    return 1e-3 + 2e-9 * spec.population * batch * width * 64
