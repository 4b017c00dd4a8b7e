#!/usr/bin/env python3
"""Build the red-team harness's base runs root and experiment files with real lab commands.

    python3 benchmarks/hostile/build_base.py            # ROOT = $LAB_REDTEAM_DIR or /tmp/redteam
    python3 benchmarks/hostile/build_base.py --force    # remove ROOT/base first

Writes ROOT/files (the six experiment and sweep files the cases name: tiny-ppo-torch.toml,
tiny-taxi.toml, mid-taxi.toml, tiny-local-sweep.toml, tiny-pop-sweep.toml, stop-sweep.toml) and
builds ROOT/base/runs, in this order (harness.base_ids() finds each by its experiment name and
state, not by its id's time):

    PPO     cartpole-ppo-torch, 2,048 steps                   completed
    DQN     cartpole-dqn, 500 steps                           completed
    FL      frozenlake-qlearning                              completed
    TAXI    taxi-qlearning, 2,000 steps                       completed
    WINE    wine-linear-attributions, 20 epochs, 5 samples    completed
    REINF   cartpole-reinforce, 2,000 steps                   completed
    POPSW   tiny-pop-sweep (population backend, 2 settings)   completed, one run POPRUN
    LOCSW   tiny-local-sweep (local backend, 2 trials)        completed, runs LOCRUN1, LOCRUN2
    STOPSW  stop-sweep (3 trials of mid-taxi)                 stopped (`lab stop`) in trial 0: MIDRUN
    SPPO    cartpole-ppo-torch, 120,000 steps                 stopped (`lab stop`) after 30,000
    SDQN    cartpole-dqn, 9,000 steps                         stopped (SIGINT, as Ctrl-C) after 1,500
    STAXI   taxi-qlearning                                    stopped (SIGINT) after 30,000

Each stopped run is stopped after its first evaluation (so it has a best checkpoint; SDQN's
first, at 2,500 steps, usually comes after the stop, as in the original base) and checkpoints
where it stops, so `lab resume` has a resume.json. About 60-90 s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RT = Path(os.environ.get("LAB_REDTEAM_DIR", "/tmp/redteam"))
REPO = Path(__file__).resolve().parents[2]
LAB = str(REPO / ".venv" / "bin" / "lab")

# The experiment and sweep files, as the original base was made with; {FILES} is ROOT/files.
FILE_TEXTS = {
    "tiny-ppo-torch.toml": '''name = "tiny-ppo-torch"
kind = "rl"
description = """PPO on CartPole-v1 on lab's torch engine: batched environments and agent on one \\
device (the GPU when there is one), the hyperparameter names of cartpole-ppo (SB3), matmuls in bf16 \\
for populations. With eval.target_return=475 it stops at 2e4-3e4 steps, 2.5-3.9 s a run here against \\
6.8-17.6 s for cartpole-ppo; --set population=64 trains 64 seeds in 52 s, all 64 ending at 475 or more."""
seed = 0
device = "auto"
threads = 1
engine = "torch"
precision = "auto"

[env]
id = "CartPole-v1"
n_envs = 32

[agent]
algo = "ppo"
total_steps = 2048
learning_rate = "lin_0.005"
n_steps = 32
batch_size = 256
gae_lambda = 0.8
gamma = 0.98
n_epochs = 4
ent_coef = 0.0
clip_range = "lin_0.2"

[eval]
every = 10_000
episodes = 10
final_episodes = 20
''',
    "tiny-taxi.toml": '''name = "tiny-taxi"
kind = "rl"
description = """Tabular Q-learning on Taxi-v4 (500 states, 6 actions): return about 7.6 \\
(an optimal policy averages about 7.9) within 2e5 steps, about 20 s on a laptop-class CPU."""
seed = 0
device = "cpu"
threads = 1

[env]
id = "Taxi-v4"
n_envs = 1

[agent]
algo = "qlearning"
total_steps = 2000
learning_rate = 0.5
gamma = 0.99
exploration_fraction = 0.5
exploration_initial_eps = 1.0
exploration_final_eps = 0.05

[eval]
every = 1000
episodes = 100
final_episodes = 200
''',
    "mid-taxi.toml": '''name = "mid-taxi"
kind = "rl"
description = """Tabular Q-learning on Taxi-v4 (500 states, 6 actions): return about 7.6 \\
(an optimal policy averages about 7.9) within 2e5 steps, about 20 s on a laptop-class CPU."""
seed = 0
device = "cpu"
threads = 1

[env]
id = "Taxi-v4"
n_envs = 1

[agent]
algo = "qlearning"
total_steps = 200000
learning_rate = 0.5
gamma = 0.99
exploration_fraction = 0.5
exploration_initial_eps = 1.0
exploration_final_eps = 0.05

[eval]
checkpoint_every = 2000
every = 5000
episodes = 100
final_episodes = 200
''',
    "tiny-local-sweep.toml": '''name = "tiny-local-sweep"
kind = "sweep"
[sweep]
experiment = "{FILES}/tiny-taxi.toml"
seeds = [0]
metric = "final_eval_return_mean"
method = "grid"
backend = "local"
workers = 1
[sweep.params]
"agent.learning_rate" = [0.3, 0.5]
''',
    "tiny-pop-sweep.toml": '''name = "tiny-pop-sweep"
kind = "sweep"
[sweep]
experiment = "{FILES}/tiny-ppo-torch.toml"
seeds = [0]
metric = "final_eval_return_mean"
method = "grid"
backend = "population"
[sweep.params]
"agent.learning_rate" = [0.002, 0.005]
''',
    "stop-sweep.toml": '''name = "stop-sweep"
kind = "sweep"
[sweep]
experiment = "{FILES}/mid-taxi.toml"
seeds = [0]
metric = "final_eval_return_mean"
method = "grid"
backend = "local"
workers = 1
[sweep.params]
"agent.learning_rate" = [0.3, 0.5, 0.7]
''',
}


def env() -> dict:
    """lab's environment: none of the caller's LAB_* settings, a HOME of its own."""
    out = {k: v for k, v in os.environ.items() if not k.startswith("LAB_") and k != "XDG_CONFIG_HOME"}
    home = RT / "base" / "home"
    home.mkdir(parents=True, exist_ok=True)
    out.update(HOME=str(home), PYTHONDONTWRITEBYTECODE="1")
    return out


def say(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {msg}", flush=True)


def lab(runs: Path, *args: str, rc: int = 0) -> None:
    """One lab command to the end; its exit code must be rc."""
    t0 = time.monotonic()
    p = subprocess.run([LAB, *args, "--runs-dir", str(runs)], env=env(), stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True, timeout=600)
    if p.returncode != rc:
        sys.exit(f"build_base: lab {' '.join(args)}: exit {p.returncode}, expected {rc}\n{p.stderr[-2000:]}")
    say(f"lab {' '.join(args)}: exit {p.returncode} ({time.monotonic() - t0:.1f} s)")


def new_folder(runs: Path, before: set[str], name: str, proc: subprocess.Popen, timeout: float = 120) -> Path:
    """The folder of NAME (an experiment or sweep name) that appeared in RUNS since BEFORE."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = sorted(n for n in os.listdir(runs) if n not in before and n[16:-5] == name)
        if found:
            return runs / found[-1]
        if proc.poll() is not None:
            sys.exit(f"build_base: the process ended (exit {proc.returncode}) before {name}'s folder appeared")
        time.sleep(0.2)
    sys.exit(f"build_base: no folder for {name} in {runs} after {timeout} s")


def progress(run: Path) -> int:
    """The latest progress step in a run's events.jsonl (0 before the first)."""
    step = 0
    try:
        with open(run / "events.jsonl", "rb") as f:
            for line in f:
                if b'"progress"' in line:
                    try:
                        e = json.loads(line)
                    except ValueError:  # a line being written
                        continue
                    if e.get("kind") == "progress":
                        step = int(e.get("step", 0))
    except FileNotFoundError:
        pass
    return step


def stop_midway(runs: Path, args: list[str], name: str, at_step: int, how: str, run_name: str | None = None) -> None:
    """Start `lab ARGS`, wait until the run named RUN_NAME (default NAME) passes AT_STEP, stop it
    (how: 'lab stop' on the folder named NAME, or 'sigint' to the process as Ctrl-C does), and
    check that it ended 'stopped' (exit 130)."""
    before = set(os.listdir(runs))
    t0 = time.monotonic()
    errf = tempfile.TemporaryFile()
    proc = subprocess.Popen([LAB, *args, "--runs-dir", str(runs)], env=env(), stdout=subprocess.DEVNULL, stderr=errf)

    def err() -> str:
        errf.seek(0)
        return errf.read().decode("utf-8", "replace")[-2000:]

    try:
        target = new_folder(runs, before, name, proc)
        run = target if run_name is None else new_folder(runs, before, run_name, proc)
        while progress(run) < at_step:
            if proc.poll() is not None:
                sys.exit(f"build_base: lab {' '.join(args)} ended (exit {proc.returncode}) before step "
                         f"{at_step:,}: {err()}")
            time.sleep(0.1)
        step = progress(run)
        if how == "lab stop":
            lab(runs, "stop", target.name)
        else:
            proc.send_signal(signal.SIGINT)
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 130:
        sys.exit(f"build_base: lab {' '.join(args)}: exit {proc.returncode} after the stop, expected 130\n{err()}")
    summary = json.loads((run / "summary.json").read_text())
    if summary.get("state") != "stopped" or not (run / "checkpoints" / "resume.json").exists():
        sys.exit(f"build_base: {run.name} is {summary.get('state')} after the stop, without a resume.json")
    say(f"lab {' '.join(args)}: {how} at step {step:,}, {run.name} stopped at "
        f"{summary['progress']['step']:,} of {summary['progress']['total']:,} ({time.monotonic() - t0:.1f} s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--force", action="store_true", help="remove ROOT/base first")
    args = ap.parse_args()
    base, files = RT / "base", RT / "files"
    runs = base / "runs"
    if base.exists():
        if not args.force:
            sys.exit(f"build_base: {base} exists (--force removes it first)")
        shutil.rmtree(base)
    files.mkdir(parents=True, exist_ok=True)
    for name, text in FILE_TEXTS.items():
        (files / name).write_text(text.replace("{FILES}", str(files)))
    runs.mkdir(parents=True)
    t0 = time.monotonic()
    say(f"building {runs}")

    # completed runs
    lab(runs, "run", "cartpole-ppo-torch", "--set", "agent.total_steps=2048")                  # PPO
    lab(runs, "run", "cartpole-dqn", "--set", "agent.total_steps=500")                         # DQN
    lab(runs, "run", "frozenlake-qlearning")                                                   # FL
    lab(runs, "run", "taxi-qlearning", "--set", "agent.total_steps=2000", "--set", "eval.every=1000",
        "--set", "eval.checkpoint_every=1000")                                                 # TAXI
    lab(runs, "run", "wine-linear-attributions", "--set", "model.epochs=20", "--set", "explain.samples=5")  # WINE
    lab(runs, "run", "cartpole-reinforce", "--set", "agent.total_steps=2000")                  # REINF
    # sweeps
    lab(runs, "sweep", str(files / "tiny-pop-sweep.toml"))                                     # POPSW, POPRUN
    lab(runs, "sweep", str(files / "tiny-local-sweep.toml"))                                   # LOCSW, LOCRUN1, LOCRUN2
    stop_midway(runs, ["sweep", str(files / "stop-sweep.toml")], "stop-sweep", 50_000, "lab stop",
                run_name="mid-taxi")                                                           # STOPSW, MIDRUN
    # stopped runs
    stop_midway(runs, ["run", "cartpole-ppo-torch", "--set", "agent.total_steps=120000",
                       "--set", "eval.checkpoint_every=4096"], "cartpole-ppo-torch", 30_000, "lab stop")  # SPPO
    stop_midway(runs, ["run", "cartpole-dqn", "--set", "agent.total_steps=9000", "--set", "eval.checkpoint_every=1000"],
                "cartpole-dqn", 1_500, "sigint")                                               # SDQN
    stop_midway(runs, ["run", "taxi-qlearning", "--set", "eval.checkpoint_every=5000"], "taxi-qlearning", 30_000,
                "sigint")                                                                      # STAXI

    shutil.rmtree(base / "home", ignore_errors=True)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    os.environ["LAB_REDTEAM_DIR"] = str(RT)
    import harness  # the keys the cases use: each must be found

    say(f"built {runs} in {time.monotonic() - t0:.0f} s:")
    for key, rid in harness.IDS.items():
        print(f"  {key:8} {rid}")


if __name__ == "__main__":
    main()
