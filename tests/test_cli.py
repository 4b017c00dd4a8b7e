"""The `lab` command line as a user drives it: a real process and real signals where the process is
the point (exit codes, stderr, signals); what a command computes, through lab.cli.main in-process."""

import json
import signal
import subprocess
import sys
import time

import pytest

import lab
from lab.store import Run

from .conftest import copy_run, lab_cli, lab_main


def test_help_answers_fast_without_heavy_imports():
    start = time.perf_counter()
    proc = lab_cli("--help")
    elapsed = time.perf_counter() - start
    assert proc.returncode == 0 and "run" in proc.stdout
    assert elapsed < 1.0, elapsed
    probe = subprocess.run([sys.executable, "-c", "import sys, lab.cli, lab; print(sorted(m for m in ('torch', 'stable_baselines3', 'gymnasium', 'shap', 'lime', 'captum', 'textual') if m in sys.modules))"],
                           capture_output=True, text=True)
    assert probe.stdout.strip() == "[]"


def test_list_shows_every_builtin_with_algo_and_env():
    proc = lab_cli("list")
    assert proc.returncode == 0
    for name, algo, env in [("cartpole-ppo", "ppo", "CartPole-v1"), ("cartpole-dqn", "dqn", "CartPole-v1"),
                            ("cartpole-a2c", "a2c", "CartPole-v1"), ("cartpole-reinforce", "reinforce", "CartPole-v1"),
                            ("taxi-qlearning", "qlearning", "Taxi-v4"), ("acrobot-ppo", "ppo", "Acrobot-v1"),
                            ("mountaincar-dqn", "dqn", "MountainCar-v0")]:
        line = next(l for l in proc.stdout.splitlines() if l.split() and l.split()[0] == name)
        assert algo in line and env in line


def _start(runs_dir, *extra):
    cmd = [sys.executable, "-m", "lab", "run", "cartpole-ppo", "--set", "agent.total_steps=2000000", "--json",
           "--runs-dir", str(runs_dir), *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_progress(proc) -> None:
    """Read JSON events until training is under way."""
    deadline = time.time() + 60
    for line in proc.stdout:
        event = json.loads(line)
        if event["kind"] == "progress" and event["step"] > 0:
            break
        assert time.time() < deadline


@pytest.mark.slow
def test_sigkilled_run_is_listed_as_crashed_and_stays_readable(runs_dir):
    proc = _start(runs_dir)
    _wait_for_progress(proc)
    proc.kill()
    proc.wait()
    (run,) = lab.list_runs(runs_dir)
    assert run.summary.state == "running"  # nobody wrote the end...
    assert run.state == "crashed"  # ...and readers see the dead pid
    assert any(e["kind"] in ("episode", "episodes") for e in run.events())  # fast stretches come aggregated
    listing = lab_cli("runs", runs_dir=runs_dir)
    assert "crashed" in listing.stdout
    shown = lab_cli("show", run.path.name, runs_dir=runs_dir)
    assert shown.returncode == 0 and "state crashed" in shown.stdout


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_sigint_sigterm_and_sighup_stop_with_a_final_checkpoint(runs_dir, sig):
    proc = _start(runs_dir)
    _wait_for_progress(proc)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130
    (run,) = lab.list_runs(runs_dir)
    assert run.state == "stopped" and run.summary.ended is not None and run.summary.stop_reason == sig.name
    assert (run.path / "checkpoints" / "last.zip").is_file()
    from stable_baselines3 import PPO

    PPO.load(run.path / "checkpoints" / "last.zip", device="cpu")
    assert json.loads(out.splitlines()[-1])["state"] == "stopped"


@pytest.mark.slow
def test_a_run_whose_reader_goes_away_stops_checkpointed_not_failed(runs_dir):
    """`lab run X --json | head -3`: the pipe closes under the run, which stops as on Ctrl-C."""
    proc = _start(runs_dir)
    _wait_for_progress(proc)
    proc.stdout.close()  # the reader is gone: the run's next line meets a broken pipe
    assert proc.wait(timeout=60) == 130
    (run,) = lab.list_runs(runs_dir)
    assert run.state == "stopped" and run.summary.stop_reason == "SIGTERM" and run.summary.error is None
    assert (run.path / "checkpoints" / "last.zip").is_file()
    assert "Traceback" not in proc.stderr.read()


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, cartpole_ppo_folder):
    root = tmp_path_factory.mktemp("runs")
    return root, copy_run(cartpole_ppo_folder, root)


def test_plain_output_has_one_line_per_evaluation_and_a_result(finished_run):
    root, run = finished_run
    text = lab_cli("show", "cartpole-ppo", runs_dir=root).stdout
    assert "final_eval_return_mean" in text and "state completed" in text
    assert any(0x2800 <= ord(c) <= 0x28FF for c in text)  # the braille return curve


def test_runs_lists_state_progress_and_return(finished_run):
    root, run = finished_run
    line = next(l for l in lab_cli("runs", runs_dir=root).stdout.splitlines() if run.path.name in l)
    assert "completed" in line and "100%" in line
    assert f"{run.results.final_eval_return_mean:.2f}" in line


def test_eval_of_a_saved_run_repeats_its_recorded_evaluation(finished_run):
    root, run = finished_run
    results = run.results
    same_seed = run.summary.seed + 20_000  # the seed of the recorded final evaluation
    proc = lab_main("eval", run.path.name, "--episodes", 20, "--seed", same_seed, "--json", runs_dir=root)
    out = json.loads(proc.stdout)
    assert out["return_mean"] == pytest.approx(results["final_eval_return_mean"], abs=1e-3)
    fresh = json.loads(lab_main("eval", run.path.name, "--episodes", 50, "--json", runs_dir=root).stdout)
    noise = 3 * ((fresh["return_std"] ** 2 / 50 + results["final_eval_return_std"] ** 2 / 20) ** 0.5) + 1.0
    assert abs(fresh["return_mean"] - results["final_eval_return_mean"]) <= noise, (fresh, results)


def test_eval_of_unknown_run_is_bad_input(runs_dir):
    proc = lab_cli("eval", "no-such-run", runs_dir=runs_dir)
    assert proc.returncode == 2 and proc.stderr.startswith("lab: no run 'no-such-run'") and "Traceback" not in proc.stderr


def test_runs_dir_before_the_command_is_the_commands_runs_root(tmp_path):
    """`lab --runs-dir DIR run ...` (the dashboard's option, given before the command) puts the run in DIR."""
    proc = lab_cli("--runs-dir", tmp_path / "mine", "run", "frozenlake-qlearning", "--set", "agent.total_steps=100",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert len(list((tmp_path / "mine").iterdir())) == 1 and not (tmp_path / "runs").exists()
    listed = lab_cli("--runs-dir", tmp_path / "mine", "runs", cwd=tmp_path)
    assert "frozenlake-qlearning" in listed.stdout


def test_failed_run_exits_1_and_keeps_its_traceback(runs_dir, tmp_path):
    # 'module:Id' loads an env from a third-party module; this one raises mid-training
    spec = tmp_path / "exploding.toml"
    spec.write_text('name = "exploding"\n[env]\nid = "tests.exploding_env:Exploding-v0"\n'
                    '[agent]\nalgo = "ppo"\ntotal_steps = 5000\nn_steps = 64\n')
    proc = lab_cli("run", spec, runs_dir=runs_dir)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "failed" in proc.stdout and "RuntimeError: the env blew up on purpose" in proc.stdout
    (run,) = [r for r in lab.list_runs(runs_dir) if r.experiment == "exploding"]  # (a name calls a completed run)
    assert run.state == "failed" and run.summary.error == "RuntimeError: the env blew up on purpose"
    errors = [e for e in run.events({"log"}) if e["level"] == "error"]
    assert [e["message"] for e in errors] == [run.summary.error]  # one line, no tensor dump
    assert "Traceback" in errors[0]["traceback"] and "[nan, nan]" in errors[0]["traceback"]


@pytest.mark.slow
def test_ctrl_c_during_a_prerequisites_training_stops_both_runs_and_shows_its_progress(runs_dir):
    """cartpole-policy-attributions on an empty runs root trains cartpole-ppo first, inside itself."""
    proc = subprocess.Popen([sys.executable, "-m", "lab", "run", "cartpole-policy-attributions", "--json",
                             "--runs-dir", str(runs_dir)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    for line in proc.stdout:  # the outer run's own events, as --json prints them
        event = json.loads(line)
        if event["kind"] == "progress" and event.get("phase") == "prerequisite" and event["step"] > 0:
            break
        assert time.time() < deadline
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    runs = {r.experiment: r for r in lab.list_runs(runs_dir)}
    outer, inner = runs["cartpole-policy-attributions"], runs["cartpole-ppo"]
    assert outer.state == "stopped" and inner.state == "stopped"
    assert outer.summary.prerequisites == [inner.id]
    logs = [e["message"] for e in outer.events({"log"})]
    assert any("cartpole-ppo is needed first" in m for m in logs)
    assert any(m.startswith("cartpole-ppo: ") for m in logs)  # the training's own lines, in the outer log
    progress = [e for e in outer.events({"progress"}) if e.get("phase") == "prerequisite"]
    assert progress and progress[-1]["method"] == "cartpole-ppo" and progress[-1]["total"] == inner.summary.progress.total
    assert inner.summary.progress.step > 0  # the step it reached, not 0


@pytest.mark.slow
def test_lab_stop_stops_a_running_run_and_refuses_a_finished_one(runs_dir):
    proc = _start(runs_dir)
    _wait_for_progress(proc)
    (run,) = lab.list_runs(runs_dir)
    stopped = lab_cli("stop", run.id, runs_dir=runs_dir)
    assert stopped.returncode == 0 and "stopping" in stopped.stdout
    proc.communicate(timeout=60)
    assert proc.returncode == 130 and Run.load(run.path).state == "stopped"
    again = lab_cli("stop", run.id, runs_dir=runs_dir)
    assert again.returncode == 2 and again.stderr.strip() == f"lab: {run.id} is stopped, not running"


class _LeavesAMark:
    """Unpickling this creates a file: the proof that something unpickled it."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        from pathlib import Path

        return Path.touch, (Path(self.path),)


def _doctor(checkpoint, mark):
    """Add a pickled object to an SB3 zip's `data`, the way SB3 itself stores objects."""
    import base64
    import pickle
    import zipfile

    with zipfile.ZipFile(checkpoint) as z:
        files = {name: z.read(name) for name in z.namelist()}
    data = json.loads(files["data"])
    data["doctored"] = {":type:": "<class 'object'>", ":serialized:": base64.b64encode(pickle.dumps(_LeavesAMark(mark))).decode()}
    files["data"] = json.dumps(data).encode()
    with zipfile.ZipFile(checkpoint, "w") as z:
        for name, content in files.items():
            z.writestr(name, content)


def test_no_command_unpickles_a_doctored_checkpoint(finished_run, tmp_path):
    import shutil

    from stable_baselines3 import PPO

    root, run = finished_run
    copy = tmp_path / "runs" / run.path.name
    shutil.copytree(run.path, copy)
    mark = tmp_path / "unpickled"
    for zip_path in (copy / "checkpoints").glob("*.zip"):
        _doctor(zip_path, mark)
    PPO.load(copy / "checkpoints" / "best.zip", device="cpu")  # SB3's own loader does run it...
    assert mark.exists()
    mark.unlink()
    evaluated = lab_main("eval", run.path.name, "--episodes", 5, "--json", runs_dir=copy.parent)  # ...lab does not
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["return_mean"] == pytest.approx(
        json.loads(lab_main("eval", run.path.name, "--episodes", 5, "--json", runs_dir=root).stdout)["return_mean"])
    explained = lab_main("explain", run.path.name, "--methods", "saliency", "--samples", 3, runs_dir=copy.parent)
    assert explained.returncode == 0, explained.stderr
    for command in (("show", run.path.name), ("runs",)):
        assert lab_cli(*command, runs_dir=copy.parent).returncode == 0
    assert not mark.exists()


@pytest.mark.slow
@pytest.mark.parametrize("sig, gap", [(signal.SIGINT, 0.005), (signal.SIGTERM, 0.2)], ids=["sigint-5ms", "sigterm-200ms"])
def test_a_second_signal_soon_after_the_first_is_absorbed_and_the_run_checkpoints(runs_dir, sig, gap):
    proc = _start(runs_dir)
    _wait_for_progress(proc)
    proc.send_signal(sig)
    time.sleep(gap)
    proc.send_signal(sig)
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    (run,) = lab.list_runs(runs_dir)
    assert run.state == "stopped" and (run.path / "checkpoints" / "last.zip").is_file()  # not cut short
    assert run.summary.progress.step > 0 and run.summary.progress.step == run.results.total_steps


@pytest.mark.slow
def test_a_third_signal_stops_at_once_and_the_run_ends_recorded(runs_dir):
    proc = _start(runs_dir)
    _wait_for_progress(proc)
    for _ in range(3):
        proc.send_signal(signal.SIGINT)
        time.sleep(0.01)
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    (run,) = lab.list_runs(runs_dir)
    assert run.state == "stopped" and run.summary.ended is not None
    assert run.summary.progress.step > 0  # the step it reached, not 0
    statuses = [e["state"] for e in run.events({"status"})]
    assert statuses[-1] == "stopped"
