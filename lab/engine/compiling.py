"""Whether a run on lab's torch engine compiles its gradient step (the `compile` setting), and why.

'on' compiles the step with torch.compile, and on a GPU captures it, and the rollout's policy
step, in CUDA graphs (mode 'reduce-overhead': torch captures where capture works and runs the
rest as compiled code); 'off' runs eagerly; 'auto' compiles where it pays: on a GPU (without
CUDA graphs until they are measured there: benchmarks/engine_gpu.py), and on a CPU when the run
has enough gradient steps to earn back the compile time. The decision and its reason go into the
run's log and summary.json, as the device's do.
"""

from __future__ import annotations

from dataclasses import dataclass

# Measured on this project's 2-core CPU, one thread (benchmarks/engine_update.py): compiling the
# PPO step took 5-18 s on a cold Inductor cache (3 s warm) and saved 23-35% of an eager step
# (1 member: 1.22 -> 0.79 ms; 64 members in bf16: 29.4 -> 22.7 ms). 'auto' assumes a cold cache.
COMPILE_SECONDS = 15.0
SAVED_FRACTION = 0.25
# an eager step: a fixed cost per op, and the members' matmuls (multiply-adds of both networks)
STEP_FIXED_SECONDS, SECONDS_PER_MULTIPLY_ADD = 1.0e-3, 1.9e-10


@dataclass(frozen=True)
class CompileDecision:
    on: bool
    reason: str
    cuda_graphs: bool = False


def gradient_steps(spec) -> int:
    """The gradient steps a run of `spec` takes at most: an on-policy agent's epochs over the
    minibatches of each rollout, an off-policy agent's steps after each block of env steps."""
    p, algo, n_envs = spec.agent, spec.algo, spec.env.n_envs
    if algo.buffer == "rollout":
        rollout = p.n_steps * n_envs
        per_update = getattr(p, "n_epochs", 1) * -(-rollout // (p.batch_size if algo.update_batch == "minibatch" else rollout))
        return -(-p.total_steps // rollout) * per_update
    if algo.buffer == "replay":
        per_block = p.gradient_steps if p.gradient_steps >= 0 else p.train_freq * n_envs
        return max(p.total_steps - p.learning_starts, 0) // (p.train_freq * n_envs) * per_block
    return 0


def compile_decision(spec, device_type: str) -> CompileDecision:
    if not spec.algo.compiles:
        return CompileDecision(False, f"{spec.algo.name}'s gradient step runs eagerly")
    if spec.compile != "auto":
        on = spec.compile == "on"
        return CompileDecision(on, "requested" + (", with CUDA graphs" if on and device_type == "cuda" else ""),
                               cuda_graphs=on and device_type == "cuda")
    if device_type == "cuda":
        return CompileDecision(True, "auto: on a GPU a compiled step fuses its kernels; CUDA graphs are 'on''s")
    steps = gradient_steps(spec)
    seconds = steps * step_seconds(spec)
    pays = seconds * SAVED_FRACTION > COMPILE_SECONDS
    return CompileDecision(pays, f"auto: {steps:,} gradient steps of about {seconds:.0f} s eager on the CPU; compiling "
                                 f"costs about {COMPILE_SECONDS:.0f} s and saves about {SAVED_FRACTION:.0%} of them")


def step_seconds(spec) -> float:
    """An eager gradient step's time on this CPU, roughly (within a factor of 2 on the shapes
    measured): a fixed cost plus the members' matmuls (hidden layers; inputs and outputs taken as 8 wide)."""
    p, algo = spec.agent, spec.algo
    rollout = getattr(p, "n_steps", 1) * spec.env.n_envs
    batch = rollout if algo.update_batch == "rollout" else min(p.batch_size, rollout) if algo.buffer == "rollout" else p.batch_size
    sizes = [8, *(p.net_arch or algo.net_arch), 8]
    multiply_adds = 2 * sum(a * b for a, b in zip(sizes, sizes[1:]))  # actor and critic
    return STEP_FIXED_SECONDS + SECONDS_PER_MULTIPLY_ADD * spec.population * batch * multiply_adds
