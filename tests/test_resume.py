"""`lab resume RUN`: a stopped or crashed RL run goes on in its own folder from its latest
resumable checkpoint, its curves one continuous step axis; anything else is refused in one line."""

import json
import subprocess
import sys

import pytest

import lab
from lab.store import Run

from .conftest import lab_cli, lab_main, run_until_resume_checkpoint

SHORT = {
    "cartpole-ppo": ["agent.total_steps=8192", "eval.checkpoint_every=2048", "eval.every=2048", "eval.episodes=3"],
    # DQN learns from its replay buffer from step 500 on; the buffer must come back with the run
    # (SB3 collects train_freq = 256 steps at a time: a total it divides is reached exactly)
    "cartpole-dqn": ["agent.total_steps=3072", "agent.learning_starts=500", "eval.checkpoint_every=1024",
                     "eval.every=1000", "eval.episodes=3"],
}


def _run_until_checkpoint(runs_dir, experiment) -> Run:
    """Start `lab run`, SIGKILL it once its first resumable checkpoint is written: a crashed run."""
    run = run_until_resume_checkpoint(experiment, SHORT[experiment], runs_dir)
    assert run.state == "crashed"
    return run


def _steps_in_order(run: Run) -> list[int]:
    """The step of every event that has one, in file order (the final evaluation aside)."""
    return [e["step"] for e in run.events() if isinstance(e.get("step"), int) and not e.get("final")
            and e["kind"] != "checkpoint"]


@pytest.mark.slow
@pytest.mark.parametrize("experiment", ["cartpole-ppo", "cartpole-dqn"])
def test_sigkilled_run_resumes_to_completion_on_one_step_axis(runs_dir, experiment):
    crashed = _run_until_checkpoint(runs_dir, experiment)
    saved = json.loads(crashed.checkpoint("resume.json").read_text())
    if experiment == "cartpole-dqn":
        assert "buffer" in saved["files"] and saved["agent"]["buffer_pos"] > 0

    proc = lab_main("resume", crashed.id, "--json", runs_dir=runs_dir)  # (the kill was a real process's)
    assert proc.returncode == 0, proc.stderr
    run = Run.load(crashed.path)
    total = int(SHORT[experiment][0].split("=")[1])
    assert run.state == "completed"
    assert run.summary.progress.step == total and run.results.total_steps == total
    assert run.results.final_eval_return_mean is not None

    steps = _steps_in_order(run)
    assert steps == sorted(steps)  # one continuous axis: nothing after the checkpoint was kept, then redone
    evals = [e["step"] for e in run.events({"eval"}) if not e.get("final")]
    assert len(evals) == len(set(evals)) and evals == sorted(evals)
    assert evals[-1] == total

    first, second = run.summary.segments
    assert first["state"] == "crashed" and first["from_step"] == 0 and first["to_step"] >= saved["step"]
    assert second == {**second, "state": "completed", "from_step": saved["step"], "to_step": total}


@pytest.mark.slow
def test_stopped_run_resumes_from_where_it_stopped(runs_dir):
    sets = [a for s in SHORT["cartpole-ppo"] for a in ("--set", s)]
    proc = subprocess.Popen([sys.executable, "-m", "lab", "run", "cartpole-ppo", *sets, "--json", "--runs-dir", str(runs_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        event = json.loads(line)
        if event["kind"] == "progress" and event["step"] > 0:
            break
    proc.send_signal(2)
    proc.communicate(timeout=60)
    (run,) = lab.list_runs(runs_dir)
    assert run.state == "stopped"
    saved = json.loads(run.checkpoint("resume.json").read_text())
    assert saved["step"] == run.summary.progress.step  # the stop wrote a checkpoint at the step it reached

    assert lab_main("resume", run.id, runs_dir=runs_dir).returncode == 0
    run = Run.load(run.path)
    assert run.state == "completed" and run.summary.progress.step == 8192
    assert [s["state"] for s in run.summary.segments] == ["stopped", "completed"]


def _folder(runs_dir, name, state, kind="rl", algo="ppo", resume_json=True, spec_extra=""):
    """A run folder as `lab run` leaves one, without training."""
    from lab.summary import Summary

    path = runs_dir / f"20260101-000000-{name}"
    (path / "checkpoints").mkdir(parents=True)
    spec = lab.load_experiment("cartpole-ppo" if algo == "ppo" else "cartpole-reinforce")
    (path / "spec.toml").write_text(spec.to_toml() + spec_extra)
    (path / "events.jsonl").write_text("")
    (path / "summary.json").write_text(Summary(id=path.name, experiment=name, kind=kind, state=state, started=1.0,
                                               ended=2.0).to_json())
    if resume_json:
        (path / "checkpoints" / "resume.json").write_text("{not json")
    return path


@pytest.mark.parametrize("state, kind, algo, resume_json, says", [
    ("completed", "rl", "ppo", True, "is completed, not stopped or crashed"),
    ("failed", "rl", "ppo", True, "is failed, not stopped or crashed"),
    ("stopped", "attribution", "ppo", True, "only RL runs resume"),
    ("stopped", "rl", "ppo", False, "no resumable checkpoint"),
    ("stopped", "rl", "ppo", True, "resume.json is unreadable"),
    ("stopped", "rl", "reinforce", False, "no resumable checkpoint"),  # lab's own agents resume too
])
def test_what_cannot_resume_is_refused_in_one_line(runs_dir, state, kind, algo, resume_json, says):
    path = _folder(runs_dir, f"x-{state}-{kind}-{algo}", state, kind, algo, resume_json)
    before = (path / "summary.json").read_bytes()
    proc = lab_main("resume", path.name, runs_dir=runs_dir)
    assert proc.returncode == 2
    assert proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1 and says in proc.stderr, proc.stderr
    assert (path / "summary.json").read_bytes() == before  # nothing changed


@pytest.mark.slow
def test_a_checkpoint_whose_model_file_is_truncated_is_refused_and_the_run_left_as_it_was(runs_dir):
    crashed = _run_until_checkpoint(runs_dir, "cartpole-ppo")
    saved = json.loads(crashed.checkpoint("resume.json").read_text())
    model = crashed.path / saved["files"]["model"]
    model.write_bytes(model.read_bytes()[:100])
    events = crashed.events_path.read_bytes()
    proc = lab_cli("resume", crashed.id, runs_dir=runs_dir)
    assert proc.returncode == 2 and "resume.json is unreadable" in proc.stderr and len(proc.stderr.splitlines()) == 1
    assert crashed.events_path.read_bytes() == events and Run.load(crashed.path).state == "crashed"
