"""Sweeps: files validated like experiments, real runs on every backend, pruning, crashes, Ctrl-C,
resume. Every sweep here trains real (small) agents."""

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab.errors import BadInput
from lab.store import Run
from lab.sweep.record import SweepFolder, list_sweeps
from lab.sweep.spec import load_sweep

from .conftest import TINY_SWEEP, lab_main

REPO = Path(__file__).resolve().parent.parent


def lab(*args, runs=None, check=True, timeout=300):
    cmd = [sys.executable, "-m", "lab", *args] + (["--runs-dir", str(runs)] if runs is not None else [])
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=timeout)
    if check and out.returncode != 0:
        raise AssertionError(f"lab {' '.join(args)} exited {out.returncode}:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return out


def sweep_file(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(f'name = "{name}"\nkind = "sweep"\n' + body)
    return path


TINY = TINY_SWEEP  # the sweep the session fixture tiny_sweep made


# ------------------------------------------------------------------------------ bad sweep files

BAD = [
    ('[sweep]\nexperiment = "cartpole-ppo"\ncolour = 1\n[sweep.params]\n"agent.gamma" = [0.9]\n',
     "sweep.colour: unknown key in sweep"),
    ('[sweep]\nexperiment = "cartpole-ppo"\n[sweep.params]\n"agent.learnin_rate" = [0.1]\n',
     'sweep.params."agent.learnin_rate": cartpole-ppo has no setting \'agent.learnin_rate\'; did you mean \'agent.learning_rate\''),
    ('[sweep]\nexperiment = "cartpole-ppo"\nmethod = "tpe"\n[sweep.params]\n"agent.gamma" = { low = 0.999, high = 0.9 }\n',
     'sweep.params."agent.gamma": low (0.999) is greater than high (0.9); swap them'),
    ('[sweep]\nexperiment = "cartpole-ppo"\nmetric = "test_accuracy"\n[sweep.params]\n"agent.gamma" = [0.9]\n',
     "sweep.metric: rl runs do not produce 'test_accuracy'"),
    ('[sweep]\nexperiment = "cartpole-ppo"\n[sweep.params]\n"agent.gamma" = { low = 0.9, high = 0.99 }\n',
     'sweep.params."agent.gamma": a grid needs a list of choices, not a range'),
    ('[sweep]\nexperiment = "cartpole-ppo"\n[sweep.params]\n"agent.gamma" = [0.9, 1.5]\n',
     'sweep.params."agent.gamma"[1]: must be less than or equal to 1'),
    ('[sweep]\nexperiment = "cartpole-ppo"\nbackend = "population"\n[sweep.params]\n"agent.gamma" = [0.9]\n',
     "sweep.backend: the population backend trains on lab's torch engine"),
    ('[sweep]\nexperiment = "cartpole-ppo-torch"\nbackend = "population"\n[sweep.params]\n"agent.n_steps" = [16, 32]\n',
     'sweep.params."agent.n_steps": a population\'s members cannot differ in agent.n_steps'),
    ('[sweep]\nexperiment = "no-such-experiment"\n[sweep.params]\n"agent.gamma" = [0.9]\n',
     "sweep.experiment: unknown experiment 'no-such-experiment'"),
    ('[sweep]\nexperiment = "cartpole-ppo"\npruner = "median"\nmetric = "final_eval_return_std"\ndirection = "minimize"\n'
     '[sweep.params]\n"agent.gamma" = [0.9]\n', "sweep.pruner: pruning compares evaluation returns"),
    ('[sweep]\nexperiment = "cartpole-ppo"\n[sweep.params]\n"seed" = [1, 2]\n',
     'sweep.params."seed": cannot be swept (give the seeds in sweep.seeds)'),
]


@pytest.mark.parametrize("body,message", BAD, ids=[m.split(":")[0] for _, m in BAD])
def test_bad_sweep_file_is_one_line_naming_file_and_key(tmp_path, body, message):
    path = sweep_file(tmp_path, "bad", body)
    with pytest.raises(BadInput) as e:
        load_sweep(path)
    assert message in str(e.value)
    assert str(e.value).startswith(str(path)) and "\n" not in str(e.value)


def test_bad_sweep_exits_2_and_starts_nothing(tmp_path):
    path = sweep_file(tmp_path, "bad", BAD[1][0])
    out = lab("sweep", str(path), runs=tmp_path / "runs", check=False)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.count("\n") == 1 and "agent.learnin_rate" in out.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_running_a_sweep_file_as_an_experiment_says_to_use_lab_sweep(tmp_path):
    out = lab("run", "cartpole-ppo-lr", runs=tmp_path, check=False)
    assert out.returncode == 2 and "is a sweep" in out.stderr and "lab sweep" in out.stderr


# ------------------------------------------------------------------------------ shaping a sweep: --set, --trials, --seeds

BAD_SHAPES = [  # (sweep, arguments, the line's key and what follows it)
    ("cartpole-ppo-tpe", ["--set", "sweep.trails=3"], "sweep.trails (set by override): unknown key in sweep; did you mean 'trials'?"),
    ("cartpole-ppo-lr", ["--set", 'sweep.params."agent.lerning_rate"=[1e-3]'],
     'sweep.params."agent.lerning_rate" (set by override): cartpole-ppo has no setting \'agent.lerning_rate\'; '
     "did you mean 'agent.learning_rate'?"),
    ("cartpole-ppo-lr", ["--set", "sweep.params.agent.gamma=[0.9, 1.5]"],  # a bare dotted key, as in the file
     'sweep.params."agent.gamma"[1] (set by override): must be less than or equal to 1'),
    ("cartpole-ppo-tpe", ["--set", 'sweep.params."agent.gamma"={ low = 0.99, high = 0.9 }'],
     'sweep.params."agent.gamma" (set by override): low (0.99) is greater than high (0.9); swap them'),
    ("cartpole-ppo-lr", ["--set", 'sweep.backend="popul"'], "sweep.backend (set by override): must be 'local', "
                                                           "'population' or 'ray' (got 'popul'); did you mean 'population'?"),
    ("cartpole-ppo-lr", ["--set", "sweep.workers=0"], "sweep.workers (set by override): must be greater than or equal to 1"),
    ("cartpole-ppo-lr", ["--set", "sweep.pruner=asha", "--set", 'sweep.metric="final_eval_return_std"'],
     "sweep.pruner (set by override): pruning compares evaluation returns"),
    ("cartpole-ppo-lr", ["--set", "agent.learning_rate=1e-3"],
     'agent.learning_rate (set by override): not a key of a sweep file (allowed: description, name, sweep.KEY); '
     'to give every trial one agent.learning_rate, make it one choice: --set \'sweep.params."agent.learning_rate"=[0.001]\''),
    ("cartpole-ppo-lr", ["--set", "sweep.params={}"], "sweep.params (set by override): must have at least 1 item"),
    ("cartpole-ppo-lr", ["--set", "sweep.trials"], "--set sweep.trials: expected KEY=VALUE"),
    ("cartpole-ppo-lr", ["--set", "sweep.params.=1"], "--set sweep.params.=1: expected KEY=VALUE"),
    ("cartpole-ppo-tpe", ["--trials", "0"], "sweep.trials (set by override): must be greater than or equal to 1 (got 0)"),
    ("cartpole-ppo-tpe", ["--trials", "many"], "sweep.trials (set by override): must be a valid integer"),
    ("cartpole-ppo-lr", ["--trials", "2"], "sweep.trials (set by override): a grid runs every combination of its "
                                           "choices (3 here), not a number of trials"),
    ("cartpole-ppo-lr", ["--seeds", "0,0"], "sweep.seeds (set by override): must be distinct seeds >= 0"),
    ("cartpole-ppo-lr", ["--seeds", "0-3"], "--seeds 0-3: expected seeds separated by commas"),
    ("cartpole-ppo-lr", ["--seeds", ""], "--seeds : expected seeds separated by commas"),
]


@pytest.mark.parametrize("sweep,args,message", BAD_SHAPES, ids=[" ".join(a) for _, a, _ in BAD_SHAPES])
def test_a_bad_shape_is_one_line_like_a_bad_experiment_override_and_starts_nothing(tmp_path, sweep, args, message):
    from .conftest import lab_main

    out = lab_main("sweep", sweep, *args, runs_dir=tmp_path / "runs")
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.count("\n") == 1 and message in out.stderr, out.stderr
    if not message.startswith("--"):
        assert out.stderr.startswith(f"lab: experiments/{sweep}.toml: ")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_resumed_sweep_keeps_its_shape(tmp_path):
    from .conftest import lab_main

    for args in (["--set", "sweep.workers=1"], ["--trials", "2"], ["--seeds", "0"]):
        out = lab_main("sweep", "--resume", "cartpole-ppo-lr", *args, runs_dir=tmp_path / "runs")
        assert out.returncode == 2 and "a resumed sweep keeps the shape its sweep.toml holds" in out.stderr, out.stderr


def test_shaping_a_sweep_is_setting_its_files_keys():
    """--trials N and --seeds S,S are --set sweep.trials=N and --set sweep.seeds=[S, S]; a parameter's
    choices or range is its key in [sweep.params], quoted or bare, as in the file."""
    spec = load_sweep("cartpole-ppo-tpe", {"sweep.trials": "3", "sweep.seeds": "[4]", "sweep.workers": 1,
                                           'sweep.params."agent.gamma"': "[0.95, 0.99]",
                                           "sweep.params.agent.n_steps": {"low": 64, "high": 128, "int": True}})
    s = spec.sweep
    assert (s.trials, s.seeds, s.workers) == (3, [4], 1)
    assert s.params["agent.gamma"] == [0.95, 0.99] and s.params["agent.n_steps"].high == 128
    assert list(s.params) == ["agent.learning_rate", "agent.gamma", "agent.n_epochs", "agent.n_steps"]
    assert load_sweep("cartpole-ppo-tpe").sweep.trials == 16  # the file is as it was


def test_lab_list_params_of_a_sweep_lists_the_keys_set_changes():
    from .conftest import lab_main

    out = lab_main("list", "--params", "cartpole-ppo-tpe")
    assert out.returncode == 0, out.stderr
    rows = {line.split()[0]: line for line in out.stdout.splitlines()[2:] if line.strip()}
    assert "16" in rows["sweep.trials"] and "[0, 1]" in rows["sweep.seeds"] and "runs at a time" in rows["sweep.workers"]
    assert "low = 1e-05" in rows['sweep.params."agent.learning_rate"']
    assert "agent.learning_rate" not in rows and "env.id" not in rows  # not an experiment's settings


@pytest.mark.slow
def test_a_sweep_shaped_on_the_command_line_runs_as_shaped_and_its_folder_keeps_the_shape(tmp_path):
    path = sweep_file(tmp_path, "shaped", TINY.replace('method = "grid"', 'method = "random"\ntrials = 4')
                      .replace('"agent.learning_rate" = [1e-3, 3e-3]', '"agent.learning_rate" = [1e-3, 3e-3, 1e-2]'))
    runs = tmp_path / "runs"
    out = lab("sweep", str(path), "--trials", "1", "--seeds", "3", "--workers", "1", "--json",
              "--set", 'sweep.params."agent.learning_rate"={ low = 2e-3, high = 4e-3 }', runs=runs)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    [trial] = result["trials"]
    assert len(trial["runs"]) == 1 and 2e-3 <= trial["params"]["agent.learning_rate"] <= 4e-3
    run = Run.load(runs / trial["runs"][0])
    assert run.state == "completed" and run.summary.seed == 3
    # what `lab sweep --resume` and the dashboard's 'r' read back: the sweep as shaped, not the file
    [folder] = list_sweeps(runs)
    shaped = load_sweep(folder.toml_path).sweep
    assert (shaped.trials, shaped.seeds, shaped.workers) == (1, [3], 1)
    assert shaped.params["agent.learning_rate"].low == 2e-3
    record = json.loads(folder.json_path.read_text())
    assert record["total_trials"] == 1 and record["seeds"] == [3]


# ------------------------------------------------------------------------------ local backend, end to end

def local_result(tiny_sweep) -> dict:
    """What `lab sweep TINY --json` printed (the session's sweep: a test that needs no more than this
    takes no module fixture, so xdist need not run it on the worker of local_sweep's tests)."""
    return json.loads((tiny_sweep / "result.json").read_text())


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory, tiny_sweep):
    """`lab sweep` of TINY (a copy of what it made) and what it printed."""
    runs = shutil.copytree(tiny_sweep / "runs", tmp_path_factory.mktemp("local") / "runs")
    return runs, json.loads((tiny_sweep / "result.json").read_text())


@pytest.mark.slow
def test_local_sweep_runs_every_setting_and_seed_as_ordinary_runs(local_sweep):
    runs, result = local_sweep
    assert result["state"] == "completed"
    assert [t["params"]["agent.learning_rate"] for t in result["trials"]] == [1e-3, 3e-3]
    for trial in result["trials"]:
        assert trial["state"] == "complete" and len(trial["runs"]) == 2 and len(trial["values"]) == 2
        assert trial["value"] == pytest.approx(sum(trial["values"]) / 2)
        for run_id, value in zip(trial["runs"], trial["values"]):
            run = Run.load(runs / run_id)
            assert run.state == "completed" and run.summary.sweep == result["sweep"]
            assert run.results.final_eval_return_mean == value
    best = max(result["trials"], key=lambda t: t["value"])
    assert result["best"] == {"params": best["params"], "value": best["value"]}


@pytest.mark.slow
def test_sweep_folder_holds_the_file_the_record_the_study_and_the_best_settings(local_sweep):
    runs, result = local_sweep
    folder = SweepFolder(runs / result["sweep"])
    record = json.loads(folder.json_path.read_text())
    assert {"trials", "best", "metric", "direction", "method", "backend", "seeds", "state"} <= set(record)
    assert (folder.path / "study.db").is_file() and folder.toml_path.is_file()
    from lab.spec import load_experiment

    best = load_experiment(folder.path / "best.toml")  # runnable: lab run repeats the best settings
    assert best.agent.learning_rate == result["best"]["params"]["agent.learning_rate"]
    assert best.agent.total_steps == 2048


@pytest.mark.slow
def test_lab_show_and_lab_runs_read_a_sweep(local_sweep):
    runs, result = local_sweep
    shown = lab("show", result["sweep"], runs=runs).stdout
    assert "tiny" in shown and "complete" in shown and "best: trial" in shown and "best.toml" in shown
    listed = lab("runs", runs=runs).stdout
    assert re.search(rf"{result['sweep']}\s+tiny\s+completed\s+local\s+2/2", listed)
    assert [s.id for s in list_sweeps(runs)] == [result["sweep"]]


# ------------------------------------------------------------------------------ pruning

@pytest.mark.slow
def test_median_pruning_stops_a_trial_that_falls_behind(tmp_path):
    """Four good learning rates, then one that cannot learn: it is pruned at its first evaluation,
    its run stops as a stopped run does (checkpoint written) and is marked pruned."""
    path = sweep_file(tmp_path, "prune", """
[sweep]
experiment = "cartpole-ppo-torch"
seeds = [0]
method = "grid"
workers = 2
pruner = "median"
[sweep.params]
"agent.learning_rate" = [0.005, 0.004, 0.006, 0.003, 1e-9]
"agent.total_steps" = [16384]
"eval.every" = [4096]
""")  # (at the first evaluation the four learn to 64-110, the fifth holds 9: seed 0, 2026-12-07)
    result = json.loads(lab("sweep", str(path), "--json", runs=tmp_path / "runs").stdout.strip().splitlines()[-1])
    states = [t["state"] for t in result["trials"]]
    assert states[:4] == ["complete"] * 4 and states[4] == "pruned", states
    run = Run.load(tmp_path / "runs" / result["trials"][4]["runs"][0])
    assert run.state == "stopped" and run.summary.stop_reason == "pruned"
    assert run.summary.progress.step < 16384 and (run.path / "checkpoints" / "last.pt").exists()
    assert result["steps"] < 5 * 16384


# ------------------------------------------------------------------------------ faults

def _wait(predicate, timeout=90.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def _running_runs(runs: Path) -> list[Run]:
    out = []
    for p in runs.glob("*-cartpole-ppo-torch-*"):
        if (p / "summary.json").exists():
            r = Run.load(p)
            training = (p / "events.jsonl").exists() and '"progress"' in (p / "events.jsonl").read_text()
            if r.summary.state == "running" and r.summary.pid and training:
                out.append(r)
    return out


SLOW = """
[sweep]
experiment = "cartpole-ppo-torch"
seeds = [0]
method = "grid"
workers = 2
[sweep.params]
"agent.learning_rate" = [0.005, 0.004]
"agent.total_steps" = [81920]
"""


@pytest.mark.slow
def test_a_killed_run_is_crashed_the_others_complete_and_resume_reruns_only_it(tmp_path):
    runs = tmp_path / "runs"
    path = sweep_file(tmp_path, "crash", SLOW.replace("81920", "32768"))  # killed at once; the other runs to its end
    proc = subprocess.Popen([sys.executable, "-m", "lab", "sweep", str(path), "--runs-dir", str(runs), "--json"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    victim = _wait(lambda: _running_runs(runs))[0]
    os.kill(victim.summary.pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err  # the sweep went on, and says a trial crashed
    result = json.loads(out.strip().splitlines()[-1])
    by_run = {t["runs"][0]: t for t in result["trials"]}
    assert by_run[victim.id]["state"] == "crashed"
    assert [t["state"] for t in result["trials"] if t["runs"][0] != victim.id] == ["complete"]
    kept = [t["runs"][0] for t in result["trials"] if t["state"] == "complete"]

    again = json.loads(lab("sweep", "--resume", result["sweep"], "--json", runs=runs).stdout.strip().splitlines()[-1])
    assert [t["state"] for t in again["trials"]] == ["complete", "complete"]
    assert [r for t in again["trials"] for r in t["runs"] if r in kept] == kept  # the completed run was not rerun
    assert len({p.name for p in runs.glob("*-cartpole-ppo-torch-*")}) == 3  # two first, one rerun


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGHUP], ids=["ctrl-c", "terminal-closed"])
def test_ctrl_c_stops_every_run_cleanly_and_exits_130(tmp_path, sig):
    runs = tmp_path / "runs"
    path = sweep_file(tmp_path, "stop", SLOW)
    proc = subprocess.Popen([sys.executable, "-m", "lab", "sweep", str(path), "--runs-dir", str(runs), "--json"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait(lambda: len(_running_runs(runs)) == 2)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["state"] == "stopped" and [t["state"] for t in result["trials"]] == ["stopped", "stopped"]
    for t in result["trials"]:
        run = Run.load(runs / t["runs"][0])
        assert run.state == "stopped" and (run.path / "checkpoints" / "last.pt").exists()


@pytest.mark.slow
def test_a_trial_stopped_before_all_its_seeds_started_reads_stopped_not_running(tmp_path):
    """Two seeds, one worker: stopped while the first runs, the trial's second seed never starts."""
    runs = tmp_path / "runs"
    path = sweep_file(tmp_path, "half", SLOW.replace("seeds = [0]", "seeds = [0, 1]").replace("workers = 2", "workers = 1"))
    proc = subprocess.Popen([sys.executable, "-m", "lab", "sweep", str(path), "--runs-dir", str(runs), "--json"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait(lambda: len(_running_runs(runs)) == 1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    [sweep] = list_sweeps(runs)
    record = sweep.read()
    assert record.state == "stopped" and [t.state for t in record.trials] == ["stopped"]  # (the second setting: never asked for)
    assert [j.state for j in record.trials[0].jobs] == ["stopped", "pending"]  # the second seed: still to run
    shown = lab("show", sweep.id, runs=runs).stdout
    assert "running" not in shown, shown


@pytest.mark.slow
def test_lab_stop_stops_a_sweep_started_as_the_dashboard_starts_it_and_every_run_of_it(tmp_path):
    """The core's one spawn and one stop, for sweeps as for runs: `lab stop SWEEP` and `lab.stop`."""
    from lab import stop as api_stop
    from lab.launch import spawn

    runs = tmp_path / "runs"
    path = sweep_file(tmp_path, "stop-me", SLOW)
    proc = spawn(path, runs_dir=runs, nice=0, log_path=tmp_path / "sweep.log", json=False, command="sweep")
    try:
        _wait(lambda: len(_running_runs(runs)) == 2)
        [sweep] = list_sweeps(runs)
        said = lab("stop", sweep.id[:-3], runs=runs).stdout  # an id prefix, as for runs
        assert said.startswith(f"stopping sweep {sweep.id}: each of its runs checkpoints")
        assert proc.wait(timeout=60) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    record = sweep.read()
    assert record.state == "stopped" and [t.state for t in record.trials] == ["stopped", "stopped"]
    for run_id in (t.runs[0] for t in record.trials):
        run = Run.load(runs / run_id)
        assert run.state == "stopped" and (run.path / "checkpoints" / "last.pt").exists()
    with pytest.raises(BadInput, match=f"sweep {sweep.id} is stopped, not running"):
        api_stop(sweep.id, runs_dir=runs)


@pytest.mark.slow
def test_a_sweep_killed_outright_stops_its_runs_with_their_checkpoints(tmp_path):
    """SIGKILL of `lab sweep` itself: its runs (each in a session of its own) are not left going."""
    runs = tmp_path / "runs"
    path = sweep_file(tmp_path, "killed", SLOW)
    proc = subprocess.Popen([sys.executable, "-m", "lab", "sweep", str(path), "--runs-dir", str(runs), "--json"],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = _wait(lambda: (lambda r: r if len(r) == 2 else None)(_running_runs(runs)))
    proc.kill()
    proc.wait(timeout=10)
    ended = _wait(lambda: all(Run.load(r.path).summary.state != "running" for r in started), timeout=30)
    assert ended
    for r in started:
        run = Run.load(r.path)
        assert run.state == "stopped" and run.summary.stop_reason == "SIGTERM", run.state
        assert (run.path / "checkpoints" / "last.pt").exists()


# ------------------------------------------------------------------------------ population backend

@pytest.mark.slow
def test_population_backend_trains_every_setting_and_seed_as_one_run(tmp_path):
    path = sweep_file(tmp_path, "pop", """
[sweep]
experiment = "cartpole-ppo-torch"
seeds = [0, 1]
method = "grid"
backend = "population"
[sweep.params]
"agent.learning_rate" = [0.005, 1e-9]
"agent.total_steps" = [20480]
""")
    result = json.loads(lab("sweep", str(path), "--json", runs=tmp_path / "runs").stdout.strip().splitlines()[-1])
    runs = {r for t in result["trials"] for r in t["runs"]}
    assert len(runs) == 1  # one process, one run folder
    run_id = runs.pop()
    run = Run.load(tmp_path / "runs" / run_id)
    # the members' settings reach the run in a file in the sweep's folder (65,536 members' values
    # are more than a command line carries), the shared total_steps as the run's own setting
    members_file = tmp_path / "runs" / result["sweep"] / f"{run_id}.members.json"
    assert json.loads(members_file.read_text()) == {"agent.learning_rate": [0.005, 0.005, 1e-9, 1e-9]}
    assert "total_steps = 20480" in run.spec_path.read_text()
    assert run.results.population == 4
    members = run.results.members
    assert [m["agent.learning_rate"] for m in members] == [0.005, 0.005, 1e-9, 1e-9]
    assert result["trials"][0]["values"] == [m["final_eval_return_mean"] for m in members[:2]]
    assert result["trials"][0]["value"] > result["trials"][1]["value"]  # a rate that learns beats one that cannot
    assert result["best"]["params"]["agent.learning_rate"] == 0.005
    record = SweepFolder(tmp_path / "runs" / result["sweep"]).read()  # the study was asked in trial order
    assert [t.study_number for t in record.trials] == [0, 1] and (tmp_path / "runs" / result["sweep"] / "study.db").is_file()


# ------------------------------------------------------------------------------ ray backend

def _ray_env(tmp_path: Path) -> dict:
    # loopback only (../shared/RAY.md), no usage reports, the auth token kept out of the home folder
    return {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_AUTH_MODE": "disabled", "RAY_AUTH_TOKEN_PATH": str(tmp_path / "ray-token")}


def _listeners_beyond_loopback(pids: set[int]) -> list[str]:
    """TCP listeners of these processes on any address other than the loopback."""
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
    bad = []
    for line in out.splitlines():
        owners = {int(p) for p in re.findall(r"pid=(\d+)", line)}
        local = line.split()[3]
        if owners & pids and not local.startswith(("127.", "[::1]", "::1", "[::ffff:127.")):
            bad.append(line)
    return bad


def _descendants(pid: int) -> set[int]:
    out = subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True, text=True).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        p, pp = map(int, line.split())
        children.setdefault(pp, []).append(p)
    seen, todo = set(), [pid]
    while todo:
        p = todo.pop()
        for c in children.get(p, []):
            if c not in seen:
                seen.add(c)
                todo.append(c)
    return seen


def _shape(result: dict) -> tuple:
    return (sorted(result), sorted(result["trials"][0]), sorted(result["best"]))


# the Ray tests run TINY's first trial with its first seed on one worker (a Ray with one CPU, one
# worker process): one run to compare with the local sweep's, beside Ray's own start-up
ONE_RUN = ["--seeds", "0", "--set", "sweep.workers=1", "--set", 'sweep.params."agent.learning_rate"=[0.001]']


def _first_seed(result: dict) -> list:
    """The first trial's settings and its first seed's value."""
    return [(t["params"], t["values"][0]) for t in result["trials"][:1]]


def run_on_loopback_ray(args: list[str], tmp_path: Path) -> tuple[int, str, str]:
    """`lab ARGS` as a process that starts a Ray of its own: (exit status, stdout, stderr), its
    listeners checked every second while it runs: nothing of it listens beyond the loopback, and
    Ray's processes were up, and checked, several times."""
    proc = subprocess.Popen([sys.executable, "-m", "lab", *args], cwd=REPO, env=_ray_env(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    checked = 0
    while proc.poll() is None:
        pids = _descendants(proc.pid) | {proc.pid}
        assert not _listeners_beyond_loopback(pids)
        checked += len(pids) > 3
        time.sleep(1.0)
    out, err = proc.communicate()
    assert checked >= 3, err[-3000:]
    return proc.returncode, out, err


@pytest.mark.slow
def test_ray_backend_with_a_ray_lab_starts_listens_on_the_loopback_only(tmp_path, tiny_sweep):
    path = sweep_file(tmp_path, "tiny", TINY)
    code, out, err = run_on_loopback_ray(["sweep", str(path), "--backend", "ray", *ONE_RUN, "--json", "--runs-dir",
                                          str(tmp_path / "runs")], tmp_path)
    assert code == 0, err[-3000:]
    result = json.loads(out.strip().splitlines()[-1])
    assert _shape(result) == _shape(local_result(tiny_sweep))
    assert _first_seed(result) == _first_seed(local_result(tiny_sweep))  # same seed, same runs
    assert (tmp_path / "runs" / result["sweep"] / "tune").is_dir()  # Tune's own record, inside the sweep folder


@pytest.mark.slow
def test_ray_backend_joins_a_cluster_started_with_ray_start(tmp_path, tiny_sweep):
    env = _ray_env(tmp_path)
    ray = str(Path(sys.executable).with_name("ray"))
    temp = Path("/tmp") / f"lab-test-ray-{os.getpid()}"
    port = 20000 + os.getpid() % 20000
    subprocess.run([ray, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2",
                    "--include-dashboard=false", f"--temp-dir={temp}"], env=env, check=True, capture_output=True,
                   timeout=120)
    try:
        path = sweep_file(tmp_path, "tiny", TINY)
        out = subprocess.run([sys.executable, "-m", "lab", "sweep", str(path), "--backend", "ray", "--address",
                              f"127.0.0.1:{port}", *ONE_RUN, "--json", "--runs-dir", str(tmp_path / "runs")],
                             cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
        assert out.returncode == 0, out.stderr[-3000:]
        result = json.loads(out.stdout.strip().splitlines()[-1])
        assert _shape(result) == _shape(local_result(tiny_sweep))
        assert _first_seed(result) == _first_seed(local_result(tiny_sweep))
    finally:  # stop only what this test started (`ray stop` would stop every Ray of the user)
        for pid in _started_by_ray_start(temp, port):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(temp, ignore_errors=True)


def _started_by_ray_start(temp: Path, port: int) -> set[int]:
    """The processes of a `ray start --temp-dir=TEMP --port=PORT`: those naming TEMP or the GCS's
    address in their arguments, and those (the client server's agents, named only `ray::...`)
    holding a file under TEMP open."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            args = (entry / "cmdline").read_bytes().decode(errors="replace")
            if str(temp) in args or f"127.0.0.1:{port}" in args or any(
                    os.readlink(fd).startswith(str(temp)) for fd in (entry / "fd").iterdir()):
                pids.add(int(entry.name))
        except OSError:  # gone, or not ours to read
            continue
    return pids


def test_an_address_for_a_sweep_that_is_not_on_ray_is_one_line_not_ignored(tmp_path):
    """--address joins a Ray cluster; a local sweep used to run here as if it had not been given."""
    out = lab_main("sweep", "cartpole-ppo-lr", "--address", "127.0.0.1:1", runs_dir=tmp_path / "runs")
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert "--address 127.0.0.1:1: only the ray backend joins a cluster" in out.stderr and "'local'" in out.stderr
    assert not (tmp_path / "runs").exists()
