"""Folders are data (issue 24): nothing a run or sweep folder holds runs code, leads lab outside
the folder, or makes lab signal a process that is not its own. Each hostile folder here is made
by hand from one real tiny run; each case asserts the exit code, one line, no traceback, nothing
written outside the folder and nothing lost in it."""

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import lab
from lab.store import _process_start

from .conftest import made_once

MODULE = "hostile_mod"  # leaves a mark when imported


def cli(*args, cwd, env=None, timeout=120) -> subprocess.CompletedProcess:
    """`lab ARGS` as a user runs it, in `cwd`, where the hostile module is importable (it is also
    on PYTHONPATH): a refusal is the rule's, not luck's."""
    full = {**os.environ, "PYTHONPATH": str(cwd), **(env or {})}
    return subprocess.run([sys.executable, "-m", "lab", *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env=full, timeout=timeout)


def one_line(out: subprocess.CompletedProcess) -> str:
    """The refusal: exit 2, one line on stderr starting 'lab: ', nothing else, no traceback."""
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.startswith("lab: ") and out.stderr.count("\n") == 1, out.stderr
    assert "Traceback" not in out.stderr and out.stdout == ""
    return out.stderr.strip()


def snapshot(folder: Path) -> dict:
    """Every entry under `folder` (links not followed): its kind and content, to show nothing changed."""
    out = {}
    for top, dirs, files in os.walk(folder, followlinks=False):
        for name in dirs + files:
            path = Path(top, name)
            if path.is_symlink():
                out[str(path)] = ("link", os.readlink(path))
            elif path.is_file() and path.stat().st_size > 64 << 20:  # a sparse bomb: not read whole
                out[str(path)] = ("file", path.stat().st_size, path.stat().st_mtime_ns)
            elif path.is_file():
                out[str(path)] = ("file", hashlib.sha256(path.read_bytes()).hexdigest())
            else:
                out[str(path)] = ("dir",)
    return out


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A completed Taxi Q-learning run (a couple of seconds), with a resume point and a policy; made
    once per session (every test copies it)."""
    spec = lab.load_experiment("taxi-qlearning", {"agent.total_steps": 2000, "eval.every": 1000,
                                                  "eval.checkpoint_every": 1000})
    return made_once(tmp_path_factory, "taxi-qlearning-tiny", lambda root: lab.run(spec, runs_dir=root).path)


class Hostile:
    """A copy of the tiny run under tmp/runs, in a tmp folder that holds hostile_mod.py."""

    def __init__(self, tiny_run: Path, tmp: Path):
        self.tmp, self.root = tmp, tmp / "runs"
        self.run = self.root / tiny_run.name
        shutil.copytree(tiny_run, self.run)
        self.mark = tmp / "MARK"
        (tmp / f"{MODULE}.py").write_text(f"import pathlib\npathlib.Path({str(self.mark)!r}).write_text('ran')\n")

    def edit_spec(self, old: str, new: str) -> None:
        path = self.run / "spec.toml"
        text = path.read_text()
        assert old in text
        path.write_text(text.replace(old, new, 1))

    def edit_summary(self, **fields) -> None:
        path = self.run / "summary.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **fields}))

    def lab(self, *args, **kw):
        return cli(*args, "--runs-dir", self.root, cwd=self.tmp, **kw)


@pytest.fixture
def hostile(tiny_run, tmp_path) -> Hostile:
    h = Hostile(tiny_run, tmp_path)
    h.edit_spec('id = "Taxi-v4"', f'id = "{MODULE}:Taxi-v4"')  # a Gymnasium id 'module:Id': the module is imported first
    return h


# ------------------------------------------------------------------------------ code a folder names

COMMANDS = {
    "eval": lambda h: ["eval", h.run.name],
    "play": lambda h: ["play", h.run.name],
    "record": lambda h: ["record", h.run.name, "--out", h.tmp / "episode.gif"],
    "resume": lambda h: ["resume", h.run.name],
    "explain": lambda h: ["explain", h.run.name],
    "run the folder again": lambda h: ["run", h.run],
}


@pytest.mark.slow  # lab processes started to see what a whole process does (each imports torch: 1.5 s of CPU)
@pytest.mark.parametrize("command", COMMANDS)
def test_a_module_a_run_folder_names_is_not_imported_and_the_refusal_says_how_to_allow_it(hostile, command):
    if command == "resume":
        hostile.edit_summary(state="stopped")  # resumable, so that the resume gets as far as the spec
    before = snapshot(hostile.tmp)
    line = one_line(hostile.lab(*COMMANDS[command](hostile)))
    assert f"{hostile.run.name}/spec.toml: env.id: '{MODULE}:Taxi-v4' names module '{MODULE}'" in line
    assert f"--allow-module {MODULE}" in line and f"LAB_ALLOW_MODULES={MODULE}" in line and "settings.json" in line
    assert not hostile.mark.exists()  # nothing of it ran
    assert snapshot(hostile.tmp) == before  # nothing written, in the folder or beside it


def test_lab_show_and_lab_runs_read_a_run_folder_without_importing_what_it_names(hostile):
    for args in (["show", hostile.run.name], ["runs"]):
        out = hostile.lab(*args)
        assert out.returncode == 0 and hostile.run.name in out.stdout, out.stderr
    assert not hostile.mark.exists()


@pytest.mark.slow  # lab processes started to see what a whole process does (each imports torch: 1.5 s of CPU)
@pytest.mark.parametrize("how", ["--allow-module", "LAB_ALLOW_MODULES", "settings file", "a package above it"])
def test_a_module_the_user_allows_is_imported(hostile, how):
    args, env = ["eval", hostile.run.name, "--episodes", "2"], {}
    if how == "--allow-module":
        args += ["--allow-module", MODULE]
    elif how == "LAB_ALLOW_MODULES":
        env[how] = f"something_else, {MODULE}"
    elif how == "settings file":
        config = hostile.tmp / "config"
        config.mkdir(exist_ok=True)
        (config / "settings.json").write_text(json.dumps({"allow_modules": [MODULE]}))
        env["LAB_CONFIG_DIR"] = str(config)
    else:
        pkg = hostile.tmp / "pkg"
        pkg.mkdir()
        (pkg / "__init__.py").write_text("")
        shutil.move(hostile.tmp / f"{MODULE}.py", pkg / f"{MODULE}.py")
        hostile.edit_spec(f'"{MODULE}:Taxi-v4"', f'"pkg.{MODULE}:Taxi-v4"')
        args += ["--allow-module", "pkg"]
    out = hostile.lab(*args, env=env)
    assert out.returncode == 0, out.stderr
    assert "return -200.00" in out.stdout and hostile.mark.read_text() == "ran"


def test_an_allow_module_that_is_not_a_module_name_is_one_line(hostile):
    line = one_line(hostile.lab("eval", hostile.run.name, "--allow-module", "../evil"))
    assert line == "lab: --allow-module '../evil': not a module name (e.g. gridworld or my_pkg.envs)"


def test_an_agent_class_a_run_folder_names_is_not_imported(hostile):
    hostile.edit_spec(f'id = "{MODULE}:Taxi-v4"', 'id = "CartPole-v1"')
    hostile.edit_spec('engine = "gymnasium"', f'engine = "torch"\nagent_class = "{MODULE}:Agent"')
    line = one_line(hostile.lab("eval", hostile.run.name))
    assert f"agent_class: '{MODULE}:Agent' names module '{MODULE}'" in line and not hostile.mark.exists()


async def test_the_dashboard_opens_such_a_run_and_its_play_pane_says_why_it_plays_nothing(hostile, monkeypatch):
    """The live view reads the folder; the play pane's player (a helper process) reads it as data
    too, and says in one line why it stops."""
    from lab.tui.app import LabApp
    from lab.tui.widgets.play_pane import PlayPane

    from .pilot import wait_for

    monkeypatch.chdir(hostile.tmp)
    monkeypatch.setenv("PYTHONPATH", str(hostile.tmp))
    app = LabApp(hostile.root)
    async with app.run_test(size=(160, 48)) as pilot:
        app.open_run(hostile.run)
        await wait_for(pilot, lambda: getattr(pilot.app.screen, "ready", False))
        await pilot.press("p")
        pane = app.screen.query_one(PlayPane)
        await wait_for(pilot, lambda: "allow" in pane.note, timeout=60)
        assert f"names module '{MODULE}'" in pane.note and f"--allow-module {MODULE}" in pane.note
        assert pane.frames == 0
    assert not hostile.mark.exists() and MODULE not in sys.modules


@pytest.mark.slow  # lab processes started to see what a whole process does (each imports torch: 1.5 s of CPU)
def test_a_users_own_experiment_file_still_imports_its_module_in_the_run_it_starts(hostile):
    """`lab run FILE` (their file) imports what it names, in the run's own process too; the run's
    folder, read back later, needs the allowance."""
    mine = hostile.tmp / "mine.toml"
    mine.write_text((hostile.run / "spec.toml").read_text().replace('name = "taxi-qlearning"', 'name = "mine"'))
    out = hostile.lab("run", mine, "--set", "agent.total_steps=1000", "--set", "eval.every=1000")
    assert out.returncode == 0, out.stderr + out.stdout
    assert hostile.mark.read_text() == "ran"
    hostile.mark.unlink()
    run = lab.open_run("mine", hostile.root)
    assert run.state == "completed"
    one_line(hostile.lab("eval", run.id))
    assert not hostile.mark.exists()


# ------------------------------------------------------------------------------ lab's own processes

SHADOWS = ("lab", "numpy", "gymnasium", "json", "torch")  # a same-named file in the current directory


@pytest.mark.slow  # lab processes started to see what a whole process does (each imports torch: 1.5 s of CPU)
def test_the_processes_lab_starts_import_nothing_from_the_current_directory(tiny_run, tmp_path, monkeypatch):
    """The dashboard's and a sweep's `lab run` children start with python -P: a lab.py or numpy.py
    where lab was started shadows nothing."""
    from lab.launch import spawn

    cwd = tmp_path / "cwd"
    cwd.mkdir()
    mark = tmp_path / "MARK"
    for name in SHADOWS:
        (cwd / f"{name}.py").write_text(f"import pathlib\npathlib.Path({str(mark)!r}).write_text({name!r})\nraise SystemExit(7)\n")
    monkeypatch.chdir(cwd)
    root = tmp_path / "runs"
    proc = spawn("taxi-qlearning", ["--set", "agent.total_steps=1000", "--set", "eval.every=1000"], root, nice=0,
                 log_path=tmp_path / "run.log")
    assert proc.wait(timeout=120) == 0, (tmp_path / "run.log").read_text()
    assert not mark.exists()
    assert [r.state for r in lab.list_runs(root)] == ["completed"]
    assert proc.args[1] == "-P"


# ------------------------------------------------------------------------------ paths a folder names

def test_a_checkpoints_folder_linking_to_another_runs_is_not_resumed_and_that_run_loses_nothing(tiny_run, tmp_path):
    victim = Hostile(tiny_run, tmp_path)  # a run with a resume point
    attacker = tmp_path / "runs" / "20260101-000000-taxi-qlearning-beef"
    shutil.copytree(victim.run, attacker, ignore=shutil.ignore_patterns("checkpoints"))
    (attacker / "checkpoints").symlink_to(victim.run / "checkpoints")
    summary = json.loads((attacker / "summary.json").read_text())
    (attacker / "summary.json").write_text(json.dumps({**summary, "id": attacker.name, "state": "stopped"}))
    before = snapshot(tmp_path)
    line = one_line(victim.lab("resume", attacker.name))
    assert line == (f"lab: cannot resume {attacker.name}: checkpoints is a symbolic link, and lab never writes through a link "
                    "in a run or sweep folder (it makes none); remove it, or put a copy of what it points to in its place")
    assert snapshot(tmp_path) == before


@pytest.mark.slow  # lab processes started to see what a whole process does (each imports torch: 1.5 s of CPU)
@pytest.mark.parametrize("policy", ["/etc/passwd", "../../outside.npy", "checkpoints/../../../outside.npy", "checkpoints/out.npy"])
def test_a_summarys_policy_outside_the_run_folder_is_refused_not_followed(hostile, policy):
    hostile.edit_spec(f'id = "{MODULE}:Taxi-v4"', 'id = "Taxi-v4"')
    outside = hostile.tmp / "outside.npy"
    shutil.copy(hostile.run / "checkpoints" / "best.npy", outside)  # a policy it would load, were it followed
    (hostile.run / "checkpoints" / "out.npy").symlink_to(outside)
    hostile.edit_summary(results={**json.loads((hostile.run / "summary.json").read_text())["results"], "policy": policy})
    before = snapshot(hostile.tmp)
    line = one_line(hostile.lab("eval", hostile.run.name))
    assert line.startswith(f"lab: {hostile.run.name}: summary.json: results.policy {policy!r} ")
    assert ("leads out of the folder" if policy.endswith("out.npy") else "is not a path inside the folder") in line
    assert snapshot(hostile.tmp) == before


@pytest.mark.parametrize("file", ["/etc/hostname", "../../summary.json"])
def test_a_resume_states_file_outside_the_checkpoints_is_refused_and_the_run_stays_as_it_was(hostile, file):
    hostile.edit_spec(f'id = "{MODULE}:Taxi-v4"', 'id = "Taxi-v4"')
    hostile.edit_summary(state="stopped")
    path = hostile.run / "checkpoints" / "resume.json"
    state = json.loads(path.read_text())
    path.write_text(json.dumps({**state, "files": {**state["files"], "table": file}}))
    before = snapshot(hostile.tmp)
    line = one_line(hostile.lab("resume", hostile.run.name))
    assert hostile.run.name in line and repr(file) in line
    assert snapshot(hostile.tmp) == before and lab.open_run(hostile.run).state == "stopped"


# ------------------------------------------------------------------------------ signals

def _forge_running(h: Hostile, pid: int) -> None:
    """The run's summary says it runs as `pid` (with that process's real start time, on this host)."""
    h.edit_summary(state="running", ended=None, pid=pid, pid_start=_process_start(pid), host=socket.gethostname())


def test_lab_stop_does_not_signal_a_live_stranger_a_forged_summary_names(hostile):
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        _forge_running(hostile, stranger.pid)
        assert lab.open_run(hostile.run).state == "running"  # the forgery is good: pid and start time match
        line = one_line(hostile.lab("stop", hostile.run.name))
        assert line.startswith(f"lab: not stopping {hostile.run.name}: process {stranger.pid} is not a lab run")
        assert "'sleep 60'" in line and "lab signals only its own processes" in line
        time.sleep(0.2)
        assert stranger.poll() is None  # alive, unsignalled
        with pytest.raises(lab.BadInput, match="not a lab run"):
            lab.stop(lab.open_run(hostile.run))
        from lab.launch import stop
        from lab.sweep.record import SweepRecord

        record = SweepRecord(id="s", name="s", experiment="e", metric="m", direction="maximize", method="grid",
                             backend="local", seeds=[0], pid=stranger.pid, pid_start=_process_start(stranger.pid),
                             host=socket.gethostname())
        with pytest.raises(lab.BadInput, match="is not a lab sweep"):  # the dashboard's stop of a sweep
            stop(record)
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def test_lab_stop_does_not_signal_another_lab_run_a_forged_summary_names(hostile):
    """A live `lab run`'s pid in another folder's summary: a lab process, but not that run's."""
    other = subprocess.Popen([sys.executable, "-m", "lab", "run", "taxi-qlearning", "--set", "agent.total_steps=100000000",
                              "--runs-dir", hostile.tmp / "other"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             cwd=hostile.tmp)
    try:
        deadline = time.monotonic() + 60
        while not lab.list_runs(hostile.tmp / "other"):
            assert time.monotonic() < deadline and other.poll() is None
            time.sleep(0.1)
        _forge_running(hostile, other.pid)
        line = one_line(hostile.lab("stop", hostile.run.name))
        assert line == (f"lab: not stopping {hostile.run.name}: process {other.pid} does not write events.jsonl of this "
                        "folder: it is not this run's")
        # nor with this folder's events.jsonl a hard or symbolic link to the file that run writes
        (theirs,) = lab.list_runs(hostile.tmp / "other")
        for link in (os.link, os.symlink):
            (hostile.run / "events.jsonl").unlink()
            link(theirs.path / "events.jsonl", hostile.run / "events.jsonl")
            assert one_line(hostile.lab("stop", hostile.run.name)) == line
        (real,) = lab.list_runs(hostile.tmp / "other")
        assert other.poll() is None and real.state == "running"
        out = hostile.lab("stop", real.path)  # its own folder: stopped, as ever
        assert out.returncode == 0 and other.wait(timeout=60) == 130
    finally:
        if other.poll() is None:
            other.send_signal(signal.SIGKILL)
            other.wait()


# ------------------------------------------------------------------------------ sweep folders

def _hostile_sweep(h: Hostile) -> Path:
    """A stopped sweep folder (trial 0 complete, trial 1 stopped; no training) whose sweep.toml
    names an experiment file, inside the folder, whose env.id names the hostile module."""
    from lab.sweep.record import Job, SweepRecord, Trial

    sweep_id = "20260101-000000-hand-beef"
    path = h.root / sweep_id
    (path / "logs").mkdir(parents=True)
    experiment = path / "experiment.toml"
    experiment.write_text((h.run / "spec.toml").read_text())
    (path / "sweep.toml").write_text(f'name = "hand"\nkind = "sweep"\n[sweep]\nexperiment = "{experiment}"\nseeds = [0]\n'
                                     '[sweep.params]\n"agent.learning_rate" = [0.1, 0.2]\n')
    trials = [Trial(0, {"agent.learning_rate": 0.1}, [Job(0, "20260101-000001-taxi-qlearning-aaaa", "completed", -200.0)],
                    "complete", -200.0, 0.0),
              Trial(1, {"agent.learning_rate": 0.2}, [Job(0, "20260101-000002-taxi-qlearning-bbbb", "stopped")], "stopped")]
    record = SweepRecord(id=sweep_id, name="hand", experiment="taxi-qlearning", metric="final_eval_return_mean",
                         direction="maximize", method="grid", backend="local", seeds=[0], state="stopped", started=1.0,
                         ended=2.0, total_trials=2, trials=trials)
    (path / "sweep.json").write_text(json.dumps(record.to_dict()))
    return path


@pytest.mark.parametrize("where", ["sweep.log", "logs/x.log"])
def test_a_named_pipe_in_a_sweep_folder_is_refused_by_its_resume_not_waited_on(hostile, where):
    hostile.edit_spec(f'id = "{MODULE}:Taxi-v4"', 'id = "Taxi-v4"')
    sweep = _hostile_sweep(hostile)
    os.mkfifo(sweep / where)
    before = snapshot(hostile.tmp)
    line = one_line(hostile.lab("sweep", "--resume", sweep.name, timeout=60))
    assert f"{where} is a named pipe, not a file lab wrote" in line
    assert snapshot(hostile.tmp) == before


def test_a_module_a_sweep_folder_names_is_not_imported_by_its_resume_or_lab_show(hostile):
    sweep = _hostile_sweep(hostile)
    before = snapshot(hostile.tmp)
    line = one_line(hostile.lab("sweep", "--resume", sweep.name))
    assert "sweep.toml: sweep.experiment: " in line and f"env.id: '{MODULE}:Taxi-v4' names module '{MODULE}'" in line
    assert f"--allow-module {MODULE}" in line
    shown = hostile.lab("show", sweep.name)  # the sweep's table all the same; its best.toml is not written
    assert shown.returncode == 0 and "Traceback" not in shown.stderr and f"--allow-module {MODULE}" in shown.stderr
    assert not hostile.mark.exists() and snapshot(hostile.tmp) == before


@pytest.mark.slow  # lab processes started to see what a whole process does (each imports torch: 1.5 s of CPU)
def test_a_sweep_of_the_users_own_file_passes_its_module_to_its_runs(hostile):
    """`lab sweep FILE`'s trials get the sweep's settings as data (--spec-is-data) and the modules
    the user's own file names as their allowance: they run, and import it."""
    experiment = hostile.tmp / "mine.toml"
    experiment.write_text((hostile.run / "spec.toml").read_text().replace('name = "taxi-qlearning"', 'name = "mine"'))
    sweep = hostile.tmp / "mine-sweep.toml"
    sweep.write_text(f'name = "mine-sweep"\nkind = "sweep"\n[sweep]\nexperiment = "{experiment}"\nseeds = [0]\n'
                     '[sweep.params]\n"agent.total_steps" = [1000]\n"eval.every" = [1000]\n')
    out = hostile.lab("sweep", sweep)
    assert out.returncode == 0, out.stdout + out.stderr
    (run,) = [r for r in lab.list_runs(hostile.root) if r.experiment == "mine"]
    assert run.state == "completed" and hostile.mark.read_text() == "ran"


def test_a_sweep_folder_whose_study_links_to_another_sweeps_is_not_resumed(hostile):
    """Its study.db a link to another sweep's: the resume would tell that study its trials failed."""
    sweep = _hostile_sweep(hostile)
    hostile.edit_spec(f'id = "{MODULE}:Taxi-v4"', 'id = "Taxi-v4"')
    (sweep / "experiment.toml").write_text((hostile.run / "spec.toml").read_text())
    other = hostile.tmp / "other-sweep"
    other.mkdir()
    (other / "study.db").write_bytes(b"another sweep's study")
    (sweep / "study.db").symlink_to(other / "study.db")
    before = snapshot(hostile.tmp)
    line = one_line(hostile.lab("sweep", "--resume", sweep.name))
    assert line == (f"lab: cannot resume sweep {sweep.name}: study.db is a symbolic link, and lab never writes through a "
                    "link in a run or sweep folder (it makes none); remove it, or put a copy of what it points to in its place")
    assert snapshot(hostile.tmp) == before


@pytest.mark.parametrize("ref", ["../hostile_mod:Taxi-v4", "/tmp/hostile_mod:Taxi-v4", ".hostile_mod:Taxi-v4"])
def test_an_env_id_whose_module_is_a_path_or_relative_is_refused_in_one_line(hostile, ref):
    hostile.edit_spec(f'"{MODULE}:Taxi-v4"', f'"{ref}"')
    line = one_line(hostile.lab("eval", hostile.run.name))
    assert line.endswith(f"env.id: {ref!r} names no module lab could import (expected 'module:Name', e.g. 'my_envs:GridWorld')")
    assert not hostile.mark.exists()


def _zip_bomb_from(src: Path, dst: Path, member_suffix: str, claim: int = 2 << 30) -> None:
    """`src` with its member ending `member_suffix` replaced by `claim` zero bytes, deflated to a
    few MB: a file that makes torch or numpy allocate `claim` if trusted. (Deflated at level 1:
    9 MB for 2 GB, in a third of the default level's 5 s.)"""
    import zipfile

    with zipfile.ZipFile(src) as z, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as out:
        for info in z.infolist():
            if info.filename.endswith(member_suffix):
                with out.open(info.filename, "w", force_zip64=True) as w:
                    chunk = bytes(16 << 20)
                    for _ in range(claim // len(chunk)):
                        w.write(chunk)
            else:
                out.writestr(info.filename, z.read(info))


def test_a_weights_file_declaring_gigabytes_is_refused_before_torch_allocates_them(tmp_path):
    import torch

    from lab.store import read_torch, tensor_bytes, write_torch

    net = torch.nn.Linear(4, 2)
    write_torch(tmp_path / "real.pt", net.state_dict())
    _zip_bomb_from(tmp_path / "real.pt", tmp_path / "bomb.pt", "/data/0")
    assert read_torch(tmp_path / "real.pt", "cpu", 2 * tensor_bytes(net) + 4096)["weight"].shape == (2, 4)
    with pytest.raises(ValueError, match="unpack to"):
        read_torch(tmp_path / "bomb.pt", "cpu", 2 * tensor_bytes(net) + 4096)


def test_a_pickled_weights_file_is_refused_with_no_warning_on_stderr(tmp_path):
    import pickle
    import warnings

    from lab.store import read_torch

    (tmp_path / "p.pt").write_bytes(pickle.dumps({"weight": [1.0]}, protocol=4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="not a checkpoint of weights"):
            read_torch(tmp_path / "p.pt", "cpu", 1 << 20)


def test_a_q_table_of_the_wrong_shape_is_refused_when_loaded(tmp_path):
    import numpy as np

    from lab.rl.qlearning import QLearningAgent

    spec = lab.load_experiment("frozenlake-qlearning")
    np.save(tmp_path / "best.npy", np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"does not fit this environment's \(16, 4\)"):
        QLearningAgent.load(tmp_path / "best.npy", spec)


def _sparse_npy(path: Path, elements: int = 750_000_000) -> None:
    """An .npy header declaring 6 GB of float64 over a sparse file of that size (no disk used)."""
    import struct

    header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (%d,), }" % elements
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header)
        f.truncate(f.tell() + elements * 8)


def test_a_q_table_declaring_gigabytes_is_refused_from_its_header_before_its_data_is_read(tmp_path):
    import resource

    from lab.rl.qlearning import QLearningAgent

    spec = lab.load_experiment("frozenlake-qlearning")
    _sparse_npy(tmp_path / "best.npy")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.monotonic()
    with pytest.raises(ValueError, match=r"an array of float64 \(750000000,\) where \(16, 4\) numbers belong"):
        QLearningAgent.load(tmp_path / "best.npy", spec)
    assert time.monotonic() - start < 5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 << 10  # KiB: nothing like 6 GB read


@pytest.mark.slow  # lab processes started to see what a whole process does (each imports torch: 1.5 s of CPU)
def test_a_resume_whose_best_policy_does_not_fit_is_refused_and_the_run_stays_as_it_was(hostile):
    hostile.edit_spec(f'id = "{MODULE}:Taxi-v4"', 'id = "Taxi-v4"')
    hostile.edit_summary(state="stopped")
    state = json.loads((hostile.run / "checkpoints" / "resume.json").read_text())
    assert "best" in state["files"]
    _sparse_npy(hostile.run / state["files"]["best"])
    before = snapshot(hostile.tmp)
    line = one_line(hostile.lab("resume", hostile.run.name))
    assert "cannot be loaded" in line and "(500, 6)" in line and "the run is left as it was" in line
    assert snapshot(hostile.tmp) == before and lab.open_run(hostile.run).state == "stopped"


@pytest.mark.slow  # lab processes started to see what a whole process does (each imports torch: 1.5 s of CPU)
def test_a_resume_reads_events_jsonl_from_its_end_only_and_refuses_a_tail_that_is_not_the_runs(hostile):
    """200 GB of zeros after the events (a sparse file) took a resume past any time limit, read
    line by line; it now reads back at most launch.RESUME_SCAN bytes to the checkpoint's events."""
    hostile.edit_spec(f'id = "{MODULE}:Taxi-v4"', 'id = "Taxi-v4"')
    hostile.edit_summary(state="stopped")
    with open(hostile.run / "events.jsonl", "r+b") as f:
        f.truncate(f.seek(0, 2) + (200 << 30))
    before = snapshot(hostile.tmp)
    start = time.monotonic()
    line = one_line(hostile.lab("resume", hostile.run.name))
    assert time.monotonic() - start < 30
    assert "events.jsonl: its last 64 MiB hold no event at or before step" in line and "left as it was" in line
    assert snapshot(hostile.tmp) == before and lab.open_run(hostile.run).state == "stopped"


def test_explain_of_a_summary_forged_as_attribution_over_a_policy_spec_is_one_line(tiny_run, tmp_path):
    h = Hostile(tiny_run, tmp_path)
    h.edit_summary(kind="attribution")
    out = h.lab("explain", h.run.name)
    assert out.returncode == 2, out.stderr
    assert "has no [model] table" in one_line(out)


def test_a_runs_dir_that_is_not_a_directory_is_one_line(tmp_path):
    out = cli("runs", "--runs-dir", "/dev/null", cwd=tmp_path)
    assert out.returncode == 2 and "not a directory" in one_line(out)


@pytest.mark.parametrize("data_path", ["../outside/secret.csv", "/OUTSIDE/secret.csv", "link/secret.csv"])
def test_a_run_folders_data_path_outside_it_is_refused_and_nothing_of_that_file_is_printed(tmp_path, data_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_text("a,b,target\nSECRET-LEAKED,1,0\n2,3,1\n")
    folder = tmp_path / "runs" / "20260101-000000-csv-attributions-abcd"
    folder.mkdir(parents=True)
    (folder / "link").symlink_to(outside)
    path = data_path.replace("/OUTSIDE", str(outside))
    (folder / "spec.toml").write_text(f'kind = "attribution"\nname = "csv-attributions"\n[data]\ndataset = "csv"\n'
                                      f'path = "{path}"\ntarget = "target"\n[model]\narch = "logistic"\n')
    before = snapshot(tmp_path)
    line = one_line(cli("run", folder, "--runs-dir", tmp_path / "runs", cwd=tmp_path))
    assert "data.path" in line and "outside this folder" in line and "SECRET" not in line
    assert snapshot(tmp_path) == before


def test_a_run_folders_data_path_inside_it_is_read(tmp_path):
    folder = tmp_path / "runs" / "20260101-000000-csv-attributions-abcd"
    folder.mkdir(parents=True)
    (folder / "data.csv").write_text("a,b,target\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(40)))
    (folder / "spec.toml").write_text('kind = "attribution"\nname = "csv-attributions"\n[data]\ndataset = "csv"\n'
                                      'path = "data.csv"\ntarget = "target"\n[model]\narch = "logistic"\n')
    spec = lab.load_experiment(folder / "spec.toml")
    assert spec.data.path == "data.csv"
