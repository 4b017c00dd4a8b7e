"""`lab resume` for lab's own agents: the torch engine's (PPO, a population, DQN) and tabular
Q-learning save everything they step on (weights, optimizer, environments, generators, replay
buffer), so a run killed or stopped and resumed is the uninterrupted run, update for update."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

import lab
from lab import launch
from lab.errors import BadInput
from lab.store import Run

from .conftest import lab_cli

CASES = {
    # 1,024 steps a rollout (32 envs x 32 steps): checkpoints at rollout boundaries 2,048 and 4,096
    "ppo": ("cartpole-ppo-torch", {"agent.total_steps": 5120}),
    # a stop lands anywhere in a rollout: the population finishes it and checkpoints at the boundary
    "ppo-population": ("cartpole-ppo-torch", {"agent.total_steps": 7168, "population": 3}),
    # learning from the replay buffer from step 500 on: the buffer comes back with the run
    "dqn": ("cartpole-dqn-torch", {"agent.total_steps": 2560, "agent.learning_starts": 500, "agent.net_arch": [64, 64],
                                   "agent.gradient_steps": 8}),
    # the slippery lake: its moves draw from the env's generator, which comes back too
    "qlearning": ("frozenlake-qlearning", {"agent.total_steps": 25_000}),
}
EVERY = {"ppo": 2048, "ppo-population": 2048, "dqn": 1024, "qlearning": 10_000}


def _overrides(case) -> dict:
    every = EVERY[case]
    return {**CASES[case][1], "eval.checkpoint_every": every, "eval.every": every, "eval.episodes": 3,
            "eval.final_episodes": 20}


def _start(runs_dir, case) -> subprocess.Popen:
    experiment, _ = CASES[case]
    sets = [a for k, v in _overrides(case).items() for a in ("--set", f"{k}={json.dumps(v)}")]
    return subprocess.Popen([sys.executable, "-m", "lab", "run", experiment, *sets, "--json", "--runs-dir", str(runs_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def _killed_after_first_checkpoint(runs_dir, case) -> Run:
    proc = _start(runs_dir, case)
    for line in proc.stdout:
        event = json.loads(line)
        if event["kind"] == "checkpoint" and event["label"] == "resume":
            break
    proc.kill()
    proc.wait()
    (run,) = lab.list_runs(runs_dir)
    assert run.state == "crashed"
    return run


def _stopped_mid_run(runs_dir, case) -> Run:
    proc = _start(runs_dir, case)
    for line in proc.stdout:
        event = json.loads(line)
        if event["kind"] == "metric":  # after the first update, during the second rollout
            break
    proc.send_signal(2)
    proc.communicate(timeout=60)
    (run,) = lab.list_runs(runs_dir)
    assert run.state == "stopped"
    return run


def _learning_events(run: Run) -> list:
    """What learning printed, in order: every update's losses and every evaluation (episode events
    are left out: how many are aggregated per interval depends on the clock)."""
    return [(e["kind"], e["step"], e.get("values"), e.get("mean"), e.get("members")) for e in run.events({"metric", "eval"})]


def _weights(path) -> dict:
    if path.suffix == ".npy":
        return {"q": torch.from_numpy(np.load(path))}
    return torch.load(path, weights_only=True)


@pytest.mark.slow
@pytest.mark.parametrize("case, interrupt", [("ppo", "kill"), ("ppo-population", "stop"), ("dqn", "kill"),
                                             ("qlearning", "kill")])
def test_a_run_interrupted_and_resumed_is_the_uninterrupted_run(tmp_path, case, interrupt):
    experiment, _ = CASES[case]
    interrupted = (_killed_after_first_checkpoint if interrupt == "kill" else _stopped_mid_run)(tmp_path / "b", case)
    saved = json.loads(interrupted.checkpoint("resume.json").read_text())
    if interrupt == "stop":  # the stop wrote a checkpoint at the rollout boundary it reached
        assert saved["step"] == interrupted.summary.progress.step and saved["step"] % 1024 == 0
    if case == "dqn":
        assert saved["agent"]["buffer_pos"] > 0
    if case == "ppo":  # a copy whose checkpoint file is cut short is refused before anything runs
        broken = tmp_path / "broken" / interrupted.id
        shutil.copytree(interrupted.path, broken)
        (broken / saved["files"]["agent"]).write_bytes((interrupted.path / saved["files"]["agent"]).read_bytes()[:1000])
        with pytest.raises(BadInput, match="resume.json is unreadable"):
            launch.resumable(Run.load(broken))

    if case == "ppo":  # as a user would (the other cases resume in this process, to save a start of torch)
        proc = lab_cli("resume", interrupted.id, runs_dir=tmp_path / "b")
        assert proc.returncode == 0, proc.stderr
        resumed = Run.load(interrupted.path)
    else:
        resumed = launch.resume(interrupted)
    total = _overrides(case)["agent.total_steps"]
    assert resumed.state == "completed"
    assert resumed.summary.progress.step == total and resumed.results.total_steps == total
    first, second = resumed.summary.segments
    assert first["state"] == ("crashed" if interrupt == "kill" else "stopped") and first["from_step"] == 0
    assert second == {**second, "state": "completed", "from_step": saved["step"], "to_step": total}

    # one step axis: nothing after the checkpoint was kept and then done again
    steps = [e["step"] for e in resumed.events() if isinstance(e.get("step"), int) and not e.get("final")
             and e["kind"] not in ("checkpoint", "progress")]
    assert steps == sorted(steps)
    for kind in ("metric", "eval"):
        of_kind = [e["step"] for e in resumed.events({kind}) if not e.get("final")]
        assert all(a < b for a, b in zip(of_kind, of_kind[1:])), kind

    # ... and it is the uninterrupted run's, update for update, weight for weight (the CPU is deterministic)
    uninterrupted = lab.run(lab.load_experiment(experiment, _overrides(case)), runs_dir=tmp_path / "a")
    assert _learning_events(resumed) == _learning_events(uninterrupted)
    assert resumed.results.episodes == uninterrupted.results.episodes
    suffix = ".npy" if case == "qlearning" else ".pt"
    ours, theirs = _weights(resumed.checkpoint(f"last{suffix}")), _weights(uninterrupted.checkpoint(f"last{suffix}"))
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
