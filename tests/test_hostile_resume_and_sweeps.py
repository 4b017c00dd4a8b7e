"""Hostile inputs to `lab resume` and to sweeps (issue 24, items 2, 3, 7 and grid sizes): a refused
command is one line, exit 2, no traceback, and leaves every folder byte for byte as it was; a run
whose resume was refused stays resumable; one writer per run or sweep folder; a broken sweep is
shown 'corrupt' with its reason and hides nothing else; an address that does not answer is told
in seconds. Runs here are tiny (cartpole-ppo-torch, 8 envs, a resume point at step 512) and the
sweep folders are written by hand, so the file takes seconds, not minutes."""

import contextlib
import importlib.util
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from lab.errors import BadInput
from lab.store import Run, writer_lock
from lab.summary import Summary
from lab.sweep.record import SweepRecord, Trial, Job

from .conftest import lab_cli, made_once, run_until_resume_checkpoint

TINY_RUN = ["agent.total_steps=8192", "env.n_envs=8", "eval.checkpoint_every=512", "eval.every=4096", "eval.episodes=2"]


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file (and link) under `root`, by relative path: what 'nothing changed' compares."""
    out = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if path.is_symlink():
            out[key] = b"-> " + os.readlink(path).encode()
        elif path.is_file():
            out[key] = path.read_bytes()
        else:
            out[key] = b"<dir>"
    return out


def assert_refused(proc: subprocess.CompletedProcess, says: str = "") -> None:
    """Exit 2, one line on stderr (lab: ...), nothing on stdout, no traceback."""
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr + proc.stdout
    assert len(lines) == 1 and lines[0].startswith("lab: "), proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert says in proc.stderr, proc.stderr


_BATCH = r"""
import contextlib, io, json, sys, traceback
from lab.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(argv)
        except BaseException:
            rc = None
            traceback.print_exc()
    results.append([rc, out.getvalue(), err.getvalue()])
print(json.dumps(results))
"""


def lab_batch(commands: list[list]) -> list[subprocess.CompletedProcess]:
    """Several `lab` commands through lab's command line (`lab.cli.main`, what `lab` runs), in one
    process: the refusals below would otherwise pay torch's import once each."""
    argvs = [[str(a) for a in argv] for argv in commands]
    proc = subprocess.run([sys.executable, "-c", _BATCH, json.dumps(argvs)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    return [subprocess.CompletedProcess(argv, rc, out, err) for argv, (rc, out, err) in zip(argvs, results)]


# ------------------------------------------------------------------------------ resume

@pytest.fixture(scope="session")
def crashed_template(tmp_path_factory) -> Path:
    """A crashed run (SIGKILLed after its first resume point, step 512), made once per session and
    copied per test."""
    def make(runs):
        run = run_until_resume_checkpoint("cartpole-ppo-torch", TINY_RUN, runs)
        assert run.state == "crashed" and json.loads(run.checkpoint("resume.json").read_text())["step"] == 512
        return run.path

    return made_once(tmp_path_factory, "crashed-cartpole-ppo-torch", make)


@pytest.fixture
def crashed(crashed_template, tmp_path) -> Run:
    path = tmp_path / "runs" / crashed_template.name
    shutil.copytree(crashed_template, path)
    return Run.load(path)


def _edit_spec(run: Run, old: str, new: str) -> None:
    text = run.spec_path.read_text()
    assert old in text
    run.spec_path.write_text(text.replace(old, new, 1))


SPEC_EDITS = {
    "more-envs": ("n_envs = 8", "n_envs = 16", "does not fit"),  # the environments saved whole are 8
    "other-network": ("[agent]\n", "[agent]\nnet_arch = [32]\n", "cannot be loaded"),
    "other-env": ('id = "CartPole-v1"', 'id = "Acrobot-v1"', "cannot be loaded"),
    "other-algo": ('algo = "ppo"', 'algo = "a2c"', "spec.toml"),  # PPO's settings are not A2C's
    "fewer-steps-than-done": ("total_steps = 8192", "total_steps = 256", "is not within 0 .. 256"),
    "not-toml": ("[agent]", "[agent", "spec.toml"),
}


def _edited(edit):
    old, new, _ = SPEC_EDITS[edit]
    return lambda run: _edit_spec(run, old, new)


@pytest.fixture(scope="module")
def refused_resumes(crashed_template, tmp_path_factory) -> dict:
    """Every case below (an edited spec.toml, a damaged resume point) in a copy of the crashed run of
    its own, `lab resume` of each (in one process), and each case's folder before and after."""
    cases = {**{f"spec-{k}": _edited(k) for k in SPEC_EDITS}, **{k: do for k, (do, _) in DAMAGE.items()}}
    prepared = {}
    for name, damage in cases.items():
        root = tmp_path_factory.mktemp(name)
        run = Run.load(shutil.copytree(crashed_template, root / "runs" / crashed_template.name))
        damage(run)
        prepared[name] = (root, run, snapshot(root))
    outs = lab_batch([["resume", run.id, "--runs-dir", run.path.parent] for _, run, _ in prepared.values()])
    return {name: (out, before, snapshot(root), run) for (name, (root, run, before)), out in zip(prepared.items(), outs)}


@pytest.mark.parametrize("edit", SPEC_EDITS, ids=list(SPEC_EDITS))
def test_an_edited_spec_toml_is_refused_before_anything_is_written(refused_resumes, edit):
    out, before, after, run = refused_resumes[f"spec-{edit}"]
    assert_refused(out, SPEC_EDITS[edit][2])
    assert after == before  # the run folder (and everything beside it) as it was
    assert Run.load(run.path).state == "crashed"


def _agent_file(run: Run) -> Path:
    return run.path / json.loads(run.checkpoint("resume.json").read_text())["files"]["agent"]


def _truncate(run):
    f = _agent_file(run)
    f.write_bytes(f.read_bytes()[:1000])


def _garbage(run):
    _agent_file(run).write_bytes(os.urandom(5000))


def _other_network(run):
    """The resume file of another spec's network: one of its weights a different shape."""
    import torch

    f = _agent_file(run)
    state = torch.load(f, weights_only=True)
    key = next(k for k in state["net"] if k.endswith("weights.0"))
    state["net"][key] = torch.zeros(*state["net"][key].shape[:-1], state["net"][key].shape[-1] + 3)
    torch.save(state, f)


def _other_environments(run):
    """The resume file of a run with 4 environments, not 8."""
    import torch

    f = _agent_file(run)
    state = torch.load(f, weights_only=True)
    state["obs"] = state["obs"][:, :4]
    torch.save(state, f)


def _resume_json(change):
    def damage(run):
        path = run.checkpoint("resume.json")
        state = json.loads(path.read_text())
        path.write_text(change(state) if callable(change) else change)
    return damage


def _set(state, *keys_value):
    *keys, value = keys_value
    target = state
    for k in keys[:-1]:
        target = target[k]
    target[keys[-1]] = value
    return json.dumps(state)


def _drop(state, key):
    del state[key]
    return json.dumps(state)


def _forged_segments(run):
    summary = json.loads(run.summary_path.read_text())
    run.summary_path.write_text(json.dumps({**summary, "segments": [{"started": "yesterday"}]}))


DAMAGE = {
    "truncated-pt": (_truncate, "resume.json is unreadable"),
    "garbage-pt": (_garbage, "resume.json is unreadable"),
    "pt-of-another-network": (_other_network, "cannot be loaded"),
    "pt-of-other-environments": (_other_environments, "does not fit"),
    "resume-json-not-json": (_resume_json("{not json"), "resume.json is unreadable"),
    "resume-json-deeply-nested": (_resume_json("[" * 100_000 + "]" * 100_000), "resume.json is unreadable"),
    "step-out-of-range": (_resume_json(lambda s: _set(s, "step", 10**12)), "is not within 0 .. 8,192"),
    "step-not-a-number": (_resume_json(lambda s: _set(s, "step", "512")), "is not within"),
    "tracker-missing": (_resume_json(lambda s: _drop(s, "tracker")), "resume.json is unreadable"),
    "tracker-time-not-finite": (_resume_json(lambda s: _set(s, "tracker", "train_seconds", 1e400)), "not a finite number"),
    "rng-damaged": (_resume_json(lambda s: _set(s, "rng", "torch", [1, 2, 3])), "cannot be loaded"),
    "file-outside-the-run": (_resume_json(lambda s: _set(s, "files", "agent", "../../elsewhere.pt")),
                             "is not a path inside the folder"),
    "file-missing": (_resume_json(lambda s: _set(s, "files", "agent", "checkpoints/resume-9.pt")), "is missing"),
    "summary-segments-forged": (_forged_segments, "segments[0] is not a stretch of training"),
}


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_a_damaged_resume_point_is_refused_and_the_run_left_as_it_was(refused_resumes, damage):
    out, before, after, run = refused_resumes[damage]
    assert_refused(out, DAMAGE[damage][1])
    assert after == before
    assert Run.load(run.path).state == "crashed"


@pytest.mark.slow
def test_a_run_refused_for_a_damaged_file_resumes_once_the_file_is_restored(crashed, tmp_path):
    agent, spec = _agent_file(crashed), crashed.spec_path.read_text()
    good = agent.read_bytes()
    _truncate(crashed)
    _edit_spec(crashed, "n_envs = 8", "n_envs = 16")
    assert_refused(lab_cli("resume", crashed.id, runs_dir=crashed.path.parent))
    agent.write_bytes(good)
    crashed.spec_path.write_text(spec)
    out = lab_cli("resume", crashed.id, runs_dir=crashed.path.parent)
    assert out.returncode == 0, out.stderr
    run = Run.load(crashed.path)
    assert run.state == "completed" and run.results.total_steps == 8192
    assert [s["state"] for s in run.summary.segments] == ["crashed", "completed"]


def test_a_resume_while_another_process_writes_the_run_is_refused(crashed, tmp_path):
    before = snapshot(tmp_path)
    with writer_lock(crashed.path, crashed.id):  # this test process is the run's writer now
        assert_refused(lab_cli("resume", crashed.id, runs_dir=crashed.path.parent), "being written by another lab process")
    assert snapshot(tmp_path) == before


@pytest.mark.slow
def test_two_resumes_of_one_run_at_once_exactly_one_proceeds(crashed):
    with crashed.events_path.open("ab") as f:  # and events the resume must read past, not hold or trust
        f.write(b'{"t": 1, "kind": "log", "step": Infinity}\n{"t": 1, "kind": "progress", "step": 99999999999}\n')
        f.write(b'{"t": 1, "kind": "log", "message": "' + b"x" * (3 << 20) + b'"}\n')
    cmd = [sys.executable, "-m", "lab", "resume", crashed.id, "--runs-dir", str(crashed.path.parent)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    assert sorted(rc for rc, _, _ in outs) == [0, 2], outs
    (refused,) = [err for rc, _, err in outs if rc == 2]
    assert len(refused.strip().splitlines()) == 1 and "Traceback" not in refused
    run = Run.load(crashed.path)
    assert run.state == "completed" and [s["state"] for s in run.summary.segments] == ["crashed", "completed"]
    assert all(s["to_step"] <= 8192 for s in run.summary.segments)
    steps = [e["step"] for e in run.events({"progress"})]
    assert steps == sorted(steps)  # one writer: one step axis, nothing written twice
    assert max(map(len, crashed.events_path.read_bytes().splitlines())) < 1 << 20  # the 3 MiB line is gone


def test_lab_run_holds_its_folders_lock_while_it_runs(tmp_path):
    import lab

    spec = lab.load_experiment("cartpole-ppo-torch", {"agent.total_steps": 2048, "env.n_envs": 8})
    tried = []

    def on_event(event):  # from inside the run: another writer of its folder is refused
        if event["kind"] == "progress" and not tried:
            (path,) = (tmp_path / "runs").iterdir()
            try:
                with writer_lock(path, path.name):
                    tried.append("taken")
            except BadInput as e:
                tried.append(str(e))
    run = lab.run(spec, tmp_path / "runs", on_event=on_event)
    assert run.state == "completed"
    assert len(tried) == 1 and "being written by another lab process" in tried[0]
    with writer_lock(run.path, run.id):  # released when the run ended
        pass


def test_where_directories_take_no_flock_the_lock_is_a_file_and_still_one_writer(tmp_path, monkeypatch):
    import fcntl
    import stat

    real = fcntl.flock

    def nfs_like(fd, op):  # NFS emulates flock with POSIX locks: none on a directory opened read-only
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(9, "Bad file descriptor")
        return real(fd, op)
    monkeypatch.setattr(fcntl, "flock", nfs_like)
    with writer_lock(tmp_path, "run x"):
        with pytest.raises(BadInput, match="run x is being written by another lab process"):
            with writer_lock(tmp_path, "run x"):
                pass
    with writer_lock(tmp_path, "run x"):
        pass
    assert [p.name for p in tmp_path.iterdir()] == [".lock"]


# ------------------------------------------------------------------------------ sweep folders

SWEEP_TOML = """name = "hand"
kind = "sweep"
[sweep]
experiment = "cartpole-ppo"
seeds = [0]
[sweep.params]
"agent.learning_rate" = [0.001, 0.003]
"""


def make_sweep(root: Path, suffix: str, change=None) -> Path:
    """A stopped sweep folder as lab leaves one (trial 0 complete, trial 1 stopped), no training;
    `change(record_dict)` damages sweep.json's content."""
    sweep_id = f"20260101-000000-hand-{suffix}"
    path = root / sweep_id
    (path / "logs").mkdir(parents=True)
    (path / "sweep.toml").write_text(SWEEP_TOML)
    trials = [Trial(0, {"agent.learning_rate": 0.001}, [Job(0, "20260101-000001-cartpole-ppo-aaaa", "completed", 120.0)],
                    "complete", 120.0, 0.0),
              Trial(1, {"agent.learning_rate": 0.003}, [Job(0, "20260101-000002-cartpole-ppo-bbbb", "stopped")], "stopped")]
    record = SweepRecord(id=sweep_id, name="hand", experiment="cartpole-ppo", metric="final_eval_return_mean",
                         direction="maximize", method="grid", backend="local", seeds=[0], state="stopped", started=1.0,
                         ended=2.0, total_trials=2, trials=trials).to_dict()
    if change is not None:
        changed = change(record)
        record = record if changed is None else changed
    (path / "sweep.json").write_text(record if isinstance(record, str) else json.dumps(record))
    return path


def make_run(root: Path) -> Path:
    path = root / "20260101-000003-cartpole-ppo-cccc"
    (path / "checkpoints").mkdir(parents=True)
    (path / "summary.json").write_text(Summary(id=path.name, experiment="cartpole-ppo", state="completed", started=1.0,
                                               ended=2.0).to_json())
    (path / "events.jsonl").write_text("")
    return path


def _trial_value(r):
    r["trials"][0]["value"] = "a lot"


def _huge_total(r):
    r["total_trials"] = 10**18


def _too_many_runs(r):
    """3,000 trials x 1,000 seeds, each count within its own limit: 3 million runs to parse."""
    r["seeds"], r["total_trials"] = list(range(1000)), 3000


def _id_path(r):
    r["id"] = "../../outside"


def _run_id_path(r):
    r["trials"][1]["jobs"][0]["run"] = "../../../victim"


def _experiment_path(r):
    r["experiment"] = "../escape"


def _study_numbers(r):
    for n, t in enumerate(r["trials"]):
        t["study_number"] = n


def _study(content):
    """sweep.json naming Optuna trials 0 and 1; study.db as `content` writes it."""
    def change(r):
        _study_numbers(r)
        return r
    change.study = content
    return change


def _foreign_sqlite(path: Path):
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE accounts (name TEXT, balance REAL)")
    db.commit()
    db.close()


def _another_study(path: Path):
    db = sqlite3.connect(path)
    db.executescript("CREATE TABLE studies (study_id INTEGER, study_name TEXT); CREATE TABLE version_info (v TEXT);"
                     "CREATE TABLE trials (trial_id INTEGER, number INTEGER, study_id INTEGER);"
                     "INSERT INTO studies VALUES (1, 'someone-elses'); INSERT INTO trials VALUES (1, 0, 1), (2, 1, 1);")
    db.close()


def _optuna_study(trials: int):
    """study.db as Optuna lays one out (the tables lab reads), its study 'sweep' holding `trials`
    trials numbered 0.., written with SQL inserts: 50,000 take a fraction of a second."""
    def write(path: Path):
        db = sqlite3.connect(path)
        db.executescript("CREATE TABLE studies (study_id INTEGER PRIMARY KEY, study_name TEXT);"
                         "CREATE TABLE version_info (version_info_id INTEGER, schema_version INTEGER);"
                         "CREATE TABLE trials (trial_id INTEGER PRIMARY KEY, number INTEGER, study_id INTEGER, state TEXT);"
                         "INSERT INTO studies VALUES (1, 'sweep');")
        db.executemany("INSERT INTO trials VALUES (?, ?, 1, 'COMPLETE')", ((n + 1, n) for n in range(trials)))
        db.commit()
        db.close()
    return write


BROKEN_SWEEPS = {
    "value-not-a-number": (_trial_value, "trials[0].value: 'a lot' is not a finite number"),
    "absurd-trial-count": (_huge_total, "total_trials"),
    "trials-x-seeds-past-the-runs-limit": (_too_many_runs, "total_trials x seeds: 3,000 x 1,000 runs, more than the 100,000"),
    "id-with-dotdot": (_id_path, "id: '../../outside' is not a plain id"),
    "run-id-with-dotdot": (_run_id_path, "trials[1].jobs[0].run"),
    "experiment-with-dotdot": (_experiment_path, "experiment: '../escape' is not a plain id"),
    "not-json": (lambda r: "{trials: [", "sweep.json: not JSON"),
    "a-list": (lambda r: "[1, 2]", "a JSON list, not an object"),
    "deeply-nested": (lambda r: "[" * 100_000 + "]" * 100_000, "sweep.json"),
    "study-missing": (_study(None), "study.db: missing"),
    "study-empty": (_study(lambda p: p.write_bytes(b"")), "study.db: empty"),
    "study-garbage": (_study(lambda p: p.write_bytes(os.urandom(4096))), "study.db: not an SQLite database"),
    "study-foreign-sqlite": (_study(_foreign_sqlite), "not an Optuna study"),
    "study-of-another-sweep": (_study(_another_study), "holds studies other than this sweep's"),
    # Optuna loads every trial of a study it opens: 600,000 took minutes and GBs in `lab show`
    "study-with-50k-trials": (_study(_optuna_study(50_000)),
                              "study.db: holds 50,000 trials, more than sweep.json accounts for (at most 4: the 2 it asked"),
}


def _broken_sweep(root: Path, name: str, suffix: str) -> Path:
    change, _ = BROKEN_SWEEPS[name]
    path = make_sweep(root, suffix, change)
    study = getattr(change, "study", None)
    if study is not None:
        study(path / "study.db")
    return path


@pytest.fixture
def broken_sweeps(tmp_path):
    """A runs root with a good sweep, a good run, and every broken sweep above."""
    root = tmp_path / "runs"
    make_sweep(root, "good")
    make_run(root)
    return root, {name: _broken_sweep(root, name, f"b{n:03d}") for n, name in enumerate(BROKEN_SWEEPS)}


def test_lab_runs_shows_every_broken_sweep_corrupt_with_its_reason_and_hides_nothing(broken_sweeps, tmp_path):
    root, folders = broken_sweeps
    before = snapshot(tmp_path)
    out = lab_cli("runs", runs_dir=root)
    assert out.returncode == 0 and out.stderr == "", out.stderr
    lines = out.stdout.splitlines()
    assert any("20260101-000000-hand-good" in line and "stopped" in line for line in lines)
    assert any("20260101-000003-cartpole-ppo-cccc" in line and "completed" in line for line in lines)
    for name, path in folders.items():
        row = [line for line in lines if line.startswith(path.name)]
        assert len(row) == 2, (name, out.stdout)  # its row in the table, and why under it
        assert "corrupt" in row[0] and row[1].startswith(f"{path.name}: corrupt: ")
        assert BROKEN_SWEEPS[name][1] in row[1], (name, row[1])
    assert snapshot(tmp_path) == before


def test_the_dashboard_shows_every_broken_sweep_corrupt_with_its_reason(broken_sweeps):
    from lab.watch import Sweep

    root, folders = broken_sweeps
    assert Sweep.load(root / "20260101-000000-hand-good").state == "stopped"
    for name, path in folders.items():
        sweep = Sweep.load(path)
        assert sweep.state == "corrupt" and BROKEN_SWEEPS[name][1] in sweep.problem, (name, sweep.problem)


def _params(params):
    def change(r):
        r["trials"][1]["params"] = params
    return change


FOREIGN_SETTINGS = {"not-a-choice": {"agent.learning_rate": 0.5},
                    "an-extra-setting": {"agent.learning_rate": 0.001, "env.id": "evil:Env"},
                    "another-setting": {"env.id": "evil:Env"}}
SHOWN = ["value-not-a-number", "id-with-dotdot", "study-garbage", "study-with-50k-trials"]


@pytest.fixture(scope="module")
def sweep_commands(tmp_path_factory) -> dict:
    """In a runs root of its own each: `lab sweep --resume` of every broken sweep, of sweeps whose
    sweep.json names settings sweep.toml does not have, and of a sweep another process writes;
    `lab show` of some broken sweeps. One process runs them all; each root before and after."""
    cases, commands = {}, []
    for n, name in enumerate([*BROKEN_SWEEPS, *FOREIGN_SETTINGS, "busy", *(f"show-{s}" for s in SHOWN)]):
        root = tmp_path_factory.mktemp(f"sweep{n}")
        if name in BROKEN_SWEEPS or name.startswith("show-"):
            path = _broken_sweep(root / "runs", name.removeprefix("show-"), "x")
        else:
            path = make_sweep(root / "runs", "x", _params(FOREIGN_SETTINGS[name]) if name in FOREIGN_SETTINGS else None)
        cases[name] = (root, path, snapshot(root))
        commands.append(["show", path.name, "--runs-dir", path.parent] if name.startswith("show-") else
                        ["sweep", "--resume", path.name, "--runs-dir", path.parent])
    busy = cases["busy"][1]
    with writer_lock(busy, f"sweep {busy.name}"):  # as a `lab sweep --resume` of it going on would
        outs = lab_batch(commands)
    return {name: (out, before, snapshot(root)) for (name, (root, _, before)), out in zip(cases.items(), outs)}


@pytest.mark.parametrize("name", list(BROKEN_SWEEPS))
def test_resuming_a_broken_sweep_is_refused_in_one_line_and_changes_nothing(sweep_commands, name):
    out, before, after = sweep_commands[name]
    assert_refused(out, BROKEN_SWEEPS[name][1])
    assert after == before


@pytest.mark.parametrize("name", list(FOREIGN_SETTINGS))
def test_a_sweep_json_whose_settings_are_not_sweep_tomls_is_refused_on_resume(sweep_commands, name):
    out, before, after = sweep_commands[name]
    assert_refused(out, "sweep.toml")
    assert after == before  # no run started, nothing written


def test_a_second_writer_of_a_sweep_is_refused(sweep_commands):
    out, before, after = sweep_commands["busy"]
    assert_refused(out, "being written by another lab process")
    assert after == before


@pytest.mark.parametrize("name", SHOWN)
def test_lab_show_of_a_broken_sweep_says_corrupt_and_why(sweep_commands, name):
    out, before, after = sweep_commands[f"show-{name}"]
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    assert "state corrupt: " in out.stdout and BROKEN_SWEEPS[name][1] in out.stdout
    assert after == before


def _asked(n: int):
    """sweep.json recording `n` Optuna trials asked (trials 0 and 1 named 0 and n - 1: reruns between)."""
    def change(r):
        r["trials"][0]["study_number"], r["trials"][1]["study_number"] = 0, n - 1
        r["study_trials"] = n
    return change


@pytest.mark.parametrize("asked, held, ok", [(2, 2, True), (2, 4, True), (2, 5, False), (40, 42, True), (40, 43, False)])
def test_a_study_may_hold_the_trials_sweep_json_asked_for_and_as_many_again_as_it_has_trials(tmp_path, asked, held, ok):
    from lab.sweep.record import SweepCorrupt, SweepFolder

    path = make_sweep(tmp_path / "runs", "x", _asked(asked))
    _optuna_study(held)(path / "study.db")
    if ok:
        assert SweepFolder(path).read().study_limit() == asked + 2
    else:
        with pytest.raises(SweepCorrupt, match=f"study.db: holds {held} trials, more than sweep.json accounts for"):
            SweepFolder(path).read()


def test_a_resume_forgetting_its_trials_numbers_keeps_the_count_of_trials_asked(tmp_path):
    from lab.sweep.record import SweepFolder

    path = make_sweep(tmp_path / "runs", "x", _asked(6))
    _optuna_study(6)(path / "study.db")
    record = SweepFolder(path).read()
    for trial in record.trials:  # what `lab sweep --resume` does to the trials it runs again
        trial.study_number = None
    assert record.to_dict()["study_trials"] == 6


def test_a_resume_that_would_grow_the_study_past_its_limit_is_refused_and_changes_nothing(tmp_path):
    from lab.sweep.record import MAX_STUDY_TRIALS

    def at_the_limit(r):  # its stopped trial 1 would be asked for again
        r["trials"][0]["study_number"], r["study_trials"] = 0, MAX_STUDY_TRIALS

    path = make_sweep(tmp_path / "runs", "x", at_the_limit)
    _optuna_study(2)(path / "study.db")
    before = snapshot(tmp_path)
    out = lab_cli("sweep", "--resume", path.name, runs_dir=path.parent)
    assert_refused(out, f"Optuna trials in its study, more than the {MAX_STUDY_TRIALS:,} lab keeps")
    assert snapshot(tmp_path) == before


def test_importance_is_left_out_for_a_study_too_large_to_weigh_in_seconds(tmp_path, monkeypatch):
    import lab.sweep.study
    from lab.sweep.record import SweepFolder
    from lab.sweep.report import IMPORTANCE_WORK, importance

    opened = []
    monkeypatch.setattr(lab.sweep.study, "open_study", lambda spec, folder: opened.append(folder) or
                        type("Study", (), {"importance": lambda self: {"agent.learning_rate": 1.0}})())
    path = make_sweep(tmp_path / "runs", "x")
    _optuna_study(IMPORTANCE_WORK)(path / "study.db")  # one setting: trials x settings at the limit
    assert importance(SweepFolder(path)) == {"agent.learning_rate": 1.0} and len(opened) == 1
    with contextlib.closing(sqlite3.connect(path / "study.db")) as db, db:  # one more: Optuna is not asked to load them
        db.execute("INSERT INTO trials (number, study_id, state) VALUES (?, 1, 'COMPLETE')", (IMPORTANCE_WORK,))
    assert importance(SweepFolder(path)) == {} and len(opened) == 1


# ------------------------------------------------------------------------------ sizes and time limits

def test_an_absurd_grid_is_refused_before_any_combination_is_built(tmp_path):
    params = "\n".join(f'"agent.{k}" = [{", ".join(str(0.5 + i / 100) for i in range(10))}]'
                       for k in ("gamma", "gae_lambda", "ent_coef", "vf_coef", "max_grad_norm", "clip_range"))
    path = tmp_path / "huge.toml"
    path.write_text(f'name = "huge"\nkind = "sweep"\n[sweep]\nexperiment = "cartpole-ppo"\n[sweep.params]\n{params}\n')
    started = time.monotonic()
    out = lab_cli("sweep", path, runs_dir=tmp_path / "runs")
    assert_refused(out, "1,000,000 settings (10 x 10 x 10 x 10 x 10 x 10 choices)")
    assert time.monotonic() - started < 10 and not (tmp_path / "runs").exists()


@contextlib.contextmanager
def loopback_listener(kind: str):
    """A TCP listener on 127.0.0.1 that accepts and then says nothing ("silent"), answers bytes
    that are not HTTP/2 ("garbage"), or is a gRPC server with no service at all ("grpc"): its
    host:port."""
    if kind == "grpc":
        from concurrent import futures

        import grpc

        server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        try:
            yield f"127.0.0.1:{port}"
        finally:
            server.stop(None)
        return
    srv = socket.create_server(("127.0.0.1", 0), backlog=16)
    accepted = []

    def serve() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:  # closed: the test is over
                return
            accepted.append(conn)  # held open, so that a silent listener stays silent, not closed
            if kind == "garbage":
                conn.sendall(b"HTTP/1.1 200 OK\r\n\r\n\x1b]0;PWNED\x07" + bytes(range(256)))

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"127.0.0.1:{srv.getsockname()[1]}"
    finally:
        srv.close()
        for conn in accepted:
            conn.close()


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="the ray extra is not installed")
@pytest.mark.parametrize("kind, says", [("silent", "something accepts connections there but sent nothing within 3 s"),
                                        ("garbage", "what answers there is not a Ray cluster (it does not speak gRPC)"),
                                        ("grpc", "a gRPC server answers there, but not Ray's GCS")])
def test_ray_at_an_address_that_is_not_a_ray_cluster_fails_in_seconds_in_one_line(tmp_path, kind, says):
    # Ray's client retries such an address for minutes, printing a warning line every few seconds:
    # lab's one line must be all of stderr
    path = tmp_path / "tiny.toml"
    path.write_text('name = "tiny"\nkind = "sweep"\n[sweep]\nexperiment = "cartpole-ppo"\nbackend = "ray"\n'
                    '[sweep.params]\n"agent.total_steps" = [512]\n')
    runs = tmp_path / "runs"
    with loopback_listener(kind) as address:
        started = time.monotonic()
        out = lab_cli("sweep", path, "--address", address, runs_dir=runs, timeout=60,
                      env={**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_AUTH_TOKEN_PATH": str(tmp_path / "ray-token")})
        took = time.monotonic() - started
    assert_refused(out, f"cannot join Ray at {address}: {says}")
    assert took < 10, took
    assert not runs.exists() or not any(runs.iterdir())


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="the ray extra is not installed")
def test_ray_at_a_closed_address_fails_in_seconds_naming_it(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text('name = "tiny"\nkind = "sweep"\n[sweep]\nexperiment = "cartpole-ppo"\nbackend = "ray"\n'
                    '[sweep.params]\n"agent.total_steps" = [512]\n')
    runs = tmp_path / "runs"
    started = time.monotonic()
    out = lab_cli("sweep", path, "--address", "127.0.0.1:1", runs_dir=runs, timeout=60,
                  env={**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_AUTH_TOKEN_PATH": str(tmp_path / "ray-token")})
    took = time.monotonic() - started
    assert_refused(out, "cannot join Ray at 127.0.0.1:1")
    assert took < 10, took
    assert not any(runs.iterdir())  # the sweep that never started left no folder
