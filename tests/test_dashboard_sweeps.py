"""Sweeps in the dashboard, on a sweep folder `lab sweep` really made: one row on the home screen
with its runs under it, its own screen (trials, curves of the best, the metric by setting), live
updates from sweep.json, stopping, and launching a sweep file from the experiment list."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

import lab
import lab.spec
from lab.store import _process_start, write_atomic
from lab.sweep.record import SweepFolder, list_sweeps
from lab.sweep.report import value_text
from lab.sweep.spec import load_sweep
from lab.tui.app import LabApp
from lab.tui.widgets.run_table import RunTable

from .conftest import EXPERIMENTS
from .pilot import runs_shown, settled, wait_for

SIZE = (160, 48)
TINY = """name = "tiny"
kind = "sweep"
[sweep]
experiment = "cartpole-ppo"
seeds = [0, 1]
method = "grid"
workers = 2
[sweep.params]
"agent.total_steps" = [{steps}]
"eval.every" = [512]
"agent.learning_rate" = [1e-3, 3e-3]
"""


@pytest.fixture(scope="module")
def swept(tmp_path_factory, tiny_sweep):
    """A runs root holding one finished sweep of 2 settings x 2 seeds (4 runs), made by `lab sweep`
    (a copy of the session's tiny_sweep)."""
    return shutil.copytree(tiny_sweep / "runs", tmp_path_factory.mktemp("swept") / "runs")


def sweep_folder(root) -> SweepFolder:
    [folder] = list_sweeps(root)
    return folder


def row_text(table, key) -> str:
    return " ".join(map(str, table.get_row(key)))


@pytest.mark.slow
async def test_a_sweep_is_one_row_with_its_runs_under_it_and_opens_to_its_trials(swept):
    folder = sweep_folder(swept)
    record = folder.read()
    app = LabApp(swept)
    async with app.run_test(size=SIZE) as pilot:
        table = await runs_shown(pilot, 5)  # the sweep and its 4 runs
        assert list(table.sweeps) == [folder.id] and len(table.runs) == 4
        row = row_text(table, folder.id)
        best = record.best()
        assert "tiny" in row and "sweep" in row and "completed" in row and "2/2" in row and f"{best.value:.4g}" in row
        keys = [key.value for key in table.rows]
        assert keys[0] == folder.id and set(keys[1:]) == set(record.trials[0].runs + record.trials[1].runs)
        assert [str(table.get_cell(k, "mark")) for k in keys[1:]] == ["├", "├", "├", "└"]  # its runs, under it
        table.focus()
        table.select(folder.id)
        await pilot.press("enter")
        screen = app.screen
        assert type(screen).__name__ == "SweepScreen"
        await wait_for(pilot, lambda: screen.ready and len(screen.curves) == 2)
        await pilot.pause()
        trials = screen.query_one("#sweep-trials")
        assert trials.row_count == 2
        columns = [c.key.value for c in trials.columns.values()]
        assert "p:agent.learning_rate" in columns and "p:agent.total_steps" not in columns  # one choice: in the header
        assert "agent.total_steps=2048" in str(screen.query_one("#sweep-header").render())
        for t in record.trials:
            cells = [str(c) for c in trials.get_row(str(t.number))]
            assert value_text(t) in cells and "complete" in cells
            assert ("★" in cells[0]) == (t.number == best.number)
        curves = screen.query_one("#sweep-curves")
        assert len(curves._series) == 6 and curves._bands == {0: 1, 3: 4}  # per trial: low, high (shaded), mean
        assert curves._legend[0][0].startswith(f"#{best.number} ")  # the best first
        scatter = screen.query_one(".sweep-scatter")
        assert "learning_rate" in scatter.title
        marks = [m for g in scatter._groups for m in g.marks]
        assert sorted(y for _, y in marks) == sorted(t.value for t in record.trials)
        assert any("⠀" < ch <= "⣿" for y in range(scatter.size.height) for ch in scatter.render_line(y).text)  # braille
        trials.focus()
        await pilot.press("enter")  # a trial: its seeds' runs, as mean and band
        await pilot.pause()
        assert type(app.screen).__name__ == "CompareScreen"
        await wait_for(pilot, lambda: app.screen.ready)  # its reader's first read
        assert len(app.screen.followers) == 2


def _helper(tmp_path):
    """A process that stands in for a sweep's: it notes a SIGINT in a file. Its command line is a
    `lab sweep`'s (a script named lab), as lab signals no other process."""
    flag = tmp_path / "sigint"
    ready = tmp_path / "ready"
    script = (f"import signal, time, pathlib\n"
              f"signal.signal(signal.SIGINT, lambda *a: pathlib.Path({str(flag)!r}).write_text('stopped'))\n"
              f"pathlib.Path({str(ready)!r}).write_text('')\n"
              f"time.sleep(120)\n")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "lab").write_text(script)
    proc = subprocess.Popen([sys.executable, str(tmp_path / "bin" / "lab"), "sweep", "stand-in"])
    deadline = time.monotonic() + 30
    while not ready.exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return proc, flag


@pytest.mark.slow
async def test_a_sweep_updates_as_its_sweep_json_changes_and_s_stops_it(swept, tmp_path):
    root = tmp_path / "runs"
    folder = SweepFolder(root / sweep_folder(swept).id)
    shutil.copytree(sweep_folder(swept).path, folder.path)
    proc, flag = _helper(tmp_path)
    try:
        raw = json.loads(folder.json_path.read_text())
        done = raw["trials"][1]
        raw.update(state="running", ended=None, pid=proc.pid, pid_start=_process_start(proc.pid), host=socket.gethostname())
        raw["trials"][1] = {**done, "state": "running", "value": None, "std": None,
                            "jobs": [{**j, "state": "running", "value": None, "fraction": 0.5} for j in done["jobs"]]}
        write_atomic(folder.json_path, json.dumps(raw))
        app = LabApp(root)
        async with app.run_test(size=SIZE) as pilot:
            table = await runs_shown(pilot, 1)
            assert "running" in row_text(table, folder.id) and "1/2" in row_text(table, folder.id)
            app.open_sweep(folder.path)
            screen = app.screen
            await wait_for(pilot, lambda: screen.ready)
            trials = screen.query_one("#sweep-trials")
            assert "running" in str(trials.get_cell("1", "state")) and "50%" in str(trials.get_cell("1", "progress"))

            raw["trials"][1] = {**done, "value": 321.5, "std": 1.5, "jobs": [{**j, "value": v} for j, v in zip(done["jobs"], (320, 323))]}
            write_atomic(folder.json_path, json.dumps(raw))  # as `lab sweep` does, about once a second
            await wait_for(pilot, lambda: "321.5" in str(trials.get_cell("1", "value")), timeout=10)
            assert "complete" in str(trials.get_cell("1", "state")) and "★" in str(trials.get_cell("1", "#"))
            await wait_for(pilot, lambda: "321.5" in row_text(table, folder.id) and "2/2" in row_text(table, folder.id),
                           timeout=10)  # the home screen's row too

            await pilot.press("s")
            await pilot.pause()
            assert type(app.screen).__name__ == "ConfirmScreen" and folder.id in str(app.screen.query_one(".question").render())
            await pilot.press("y")
            await wait_for(pilot, lambda: flag.exists(), timeout=10)  # SIGINT to the sweep's process
            assert any(n.message.startswith(f"stopping sweep {folder.id}") for n in app._notifications)

            flag.unlink()
            raw["host"] = "another-host"  # a sweep of another machine: shown running, never signalled from here
            write_atomic(folder.json_path, json.dumps(raw))
            await wait_for(pilot, lambda: screen.record.host == "another-host", timeout=10)
            await pilot.press("s", "y")
            await wait_for(pilot, lambda: any("runs on host another-host" in n.message for n in app._notifications), timeout=5)
            assert not flag.exists()
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.slow
async def test_a_sweep_file_launches_from_the_experiment_list_and_s_stops_every_run(tmp_path, monkeypatch):
    experiments = tmp_path / "experiments"
    experiments.mkdir()
    shutil.copy(EXPERIMENTS / "cartpole-ppo.toml", experiments)
    (experiments / "tiny.toml").write_text(TINY.format(steps=1_000_000))
    monkeypatch.setattr(lab.spec, "EXPERIMENTS_DIR", experiments)
    monkeypatch.setenv("LAB_EXPERIMENTS_DIR", str(experiments))
    root = tmp_path / "runs"
    app = LabApp(root)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("slash", *"tiny", "enter")
            await settled(app)
            home = app.screen
            assert home.current == "tiny" and home.valid
            assert 'sweep.params."agent.learning_rate"' in [str(label.render()) for label in home.query(".setting-key")]
            assert "2 trial(s) x 2 seed(s) = 4 runs" in str(home.query_one("#settings-status").render())
            await pilot.press("ctrl+l")
            table = home.query_one(RunTable)
            assert table.selected_key.startswith("launch-")
            await wait_for(pilot, lambda: table.selected_sweep is not None, timeout=60)  # the row is the sweep's now
            sweep_id = table.selected_sweep.id
            await wait_for(pilot, lambda: sum(r.state == "running" for r in table.runs.values()) == 2, timeout=60)
            await pilot.press("s", "y")
            await wait_for(pilot, lambda: table.sweeps[sweep_id].state == "stopped", timeout=60)
            record = table.sweeps[sweep_id].record
            started = [j.state for t in record.trials for j in t.jobs if j.state != "pending"]
            assert record.state == "stopped" and started == ["stopped", "stopped"]
            await wait_for(pilot, lambda: {r.state for r in table.runs.values()} == {"stopped"}, timeout=10)  # each ended cleanly
            assert all(r.summary.sweep == sweep_id for r in table.runs.values())
    finally:
        for pid in app.launched:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for run in lab.list_runs(root):
            if run.state == "running":
                os.kill(run.summary.pid, signal.SIGKILL)


async def test_a_sweep_json_lab_did_not_write_is_a_corrupt_row_and_its_screen_says_why(tmp_path):
    folder = tmp_path / "20261124-000000-broken-0000"
    folder.mkdir()
    (folder / "sweep.json").write_text(json.dumps({"id": folder.name, "name": "broken", "experiment": "cartpole-ppo",
                                                   "metric": "final_eval_return_mean", "direction": "maximize",
                                                   "method": "grid", "backend": "local", "seeds": [0], "started": 1.0, "total_trials": 1,
                                                   "trials": [{"number": 0, "params": {}, "jobs": [], "value": "high"}]}))
    app = LabApp(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        table = await runs_shown(pilot, 1)
        why = "trials[0].value: 'high' is not a finite number"  # (lab.sweep.record checks sweep.json)
        assert "corrupt" in row_text(table, folder.name)  # (the reason, 58 cells, is more than the row has room for)
        table.focus()
        await pilot.press("enter")
        screen = app.screen
        await wait_for(pilot, lambda: screen.ready)
        assert why in str(screen.query_one("#sweep-header").render())


def _sweep_beside_cartpole_ppo(tmp_path, monkeypatch, body: str) -> None:
    """The experiment list holds cartpole-ppo and the sweep `tiny` over it."""
    experiments = tmp_path / "experiments"
    experiments.mkdir()
    shutil.copy(EXPERIMENTS / "cartpole-ppo.toml", experiments)
    (experiments / "tiny.toml").write_text(body)
    monkeypatch.setattr(lab.spec, "EXPERIMENTS_DIR", experiments)
    monkeypatch.setenv("LAB_EXPERIMENTS_DIR", str(experiments))


def status_text(home) -> str:
    return str(home.query_one("#settings-status").render())


async def _shape_tiny(pilot, app):
    """Pick the sweep `tiny`, and in its form (fields like an experiment's: ctrl+f, up/down, typed
    over, checked as typed) make it one seed, one worker and one learning rate."""
    await pilot.press("slash", *"tiny", "enter")
    await settled(app)
    home = app.screen
    assert home.current == "tiny" and home.valid
    assert list(home.inputs)[:3] == ["sweep.experiment", "sweep.seeds", "sweep.metric"]
    assert 'sweep.params."agent.learning_rate"' in home.inputs
    assert all(inp.has_class("setting") for inp in home.inputs.values())
    assert home.inputs["sweep.seeds"].value == "[0, 1]" and home.inputs["sweep.pruner"].has_class("-default")
    assert "2 trial(s) x 2 seed(s) = 4 runs" in status_text(home)
    await pilot.press("ctrl+f", "down")
    assert home.focused is home.inputs["sweep.seeds"]
    assert "seeds each setting runs with" in str(home.query_one("#setting-help").render())
    await pilot.press(*"[5]")
    await settled(app)
    assert "valid (sweep.seeds=[5]) · 2 trial(s) x 1 seed(s) = 2 runs" in status_text(home)
    keys = list(home.inputs)
    await pilot.press(*["down"] * (keys.index("sweep.workers") - 1))
    assert home.focused is home.inputs["sweep.workers"]
    await pilot.press(*"1")
    lr = 'sweep.params."agent.learning_rate"'
    await pilot.press(*["down"] * (keys.index(lr) - keys.index("sweep.workers")))
    assert home.focused is home.inputs[lr]
    await pilot.press(*"[1e-3, -1]")
    await settled(app)
    assert not home.valid and home.inputs[lr].has_class("-invalid")
    assert 'sweep.params."agent.learning_rate"[1] (set by override): must be greater than 0' in status_text(home)
    await pilot.press("ctrl+l")  # refused: the form does not check out
    await settled(app)
    assert not home.query_one(RunTable).launches
    await pilot.press("end", "ctrl+u", *"[3e-3]")  # the field's text, typed over
    await settled(app)
    assert home.valid and not home.inputs[lr].has_class("-invalid")
    assert "1 trial(s) x 1 seed(s) = 1 runs" in status_text(home)
    await pilot.press("escape")
    assert home.focused.id == "experiment-list"
    return home


async def test_a_sweeps_settings_are_a_form_checked_as_you_type(tmp_path, monkeypatch):
    _sweep_beside_cartpole_ppo(tmp_path, monkeypatch, TINY.format(steps=2048))
    app = LabApp(tmp_path / "runs")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        home = await _shape_tiny(pilot, app)
        trials = home.inputs["sweep.trials"]  # a grid runs its combinations, not a number of trials
        trials.value = "2"
        await settled(app)
        assert "sweep.trials (set by override): a grid runs every combination" in status_text(home)
        assert trials.has_class("-invalid")


@pytest.mark.slow
async def test_a_sweep_shaped_in_the_form_launches_as_shaped_and_r_runs_that_shape_again(tmp_path, monkeypatch):
    _sweep_beside_cartpole_ppo(tmp_path, monkeypatch, TINY.format(steps=2048))
    root = tmp_path / "runs"
    app = LabApp(root)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            home = await _shape_tiny(pilot, app)
            home.inputs["sweep.pruner"].value = "none"  # the same pruner, as typed: a change the launch waits to check
            await pilot.press("ctrl+l")
            table = home.query_one(RunTable)
            await wait_for(pilot, lambda: table.selected_sweep is not None, timeout=60)
            first = table.selected_sweep.id
            await wait_for(pilot, lambda: table.sweeps[first].state == "completed", timeout=120)
            shaped = load_sweep(table.sweeps[first].folder.toml_path).sweep  # what --resume and r read
            assert (shaped.seeds, shaped.workers, shaped.params["agent.learning_rate"]) == ([5], 1, [3e-3])
            await pilot.press("r")  # the sweep under the cursor, again, from its sweep.toml
            await wait_for(pilot, lambda: len(table.sweeps) == 2 and all(s.state == "completed" for s in table.sweeps.values()),
                           timeout=120)
            for sweep in table.sweeps.values():
                record = sweep.record
                assert record.seeds == [5] and record.total_trials == 1
                assert [t.params for t in record.trials] == [{"agent.total_steps": 2048, "eval.every": 512,
                                                               "agent.learning_rate": 3e-3}]
            assert sorted(r.summary.seed for r in table.runs.values()) == [5, 5]
    finally:
        for pid in app.launched:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
