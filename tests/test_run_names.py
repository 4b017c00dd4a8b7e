"""The run called NAME: wherever a command, the API, a built-in experiment or the dashboard takes an
experiment's name for a run, it means the latest run of that experiment in the state the command
works on (completed, for everything that reads what a run delivered), never a sweep's trial
unless the trial is named by its id; a name with no such run is one line saying what there is
instead, and exit 2. In the dashboard, `v` opens the run just launched, and compare labels tell
every run apart."""

import json
import shutil

import pytest

import lab
from lab.errors import BadInput
from lab.store import create_run_folder, process_identity, resolve_run, write_atomic

from .conftest import copy_run, lab_main


def write_json_atomic(path, data):
    write_atomic(path, json.dumps(data))


def fake_run(root, experiment, state, started, sweep=None, alive=False, **extra):
    """A run folder with only a summary (and an empty event log): enough to be found by name."""
    path = create_run_folder(root, experiment)
    (path / "events.jsonl").write_text("")
    summary = {"id": path.name, "experiment": experiment, "state": state, "started": started, "seed": 0,
               "sweep": sweep, **(process_identity() if alive else {}), **extra}
    write_json_atomic(path / "summary.json", summary)
    return path


def one_line(proc) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    return proc.stderr


# ------------------------------------------------------------------------------ the rule, in store

def test_a_name_is_the_latest_completed_run_of_its_own_not_a_newer_trial_or_a_running_run(tmp_path):
    root = tmp_path / "runs"
    old = fake_run(root, "cartpole-ppo", "completed", 1.0)
    mine = fake_run(root, "cartpole-ppo", "completed", 2.0)
    fake_run(root, "cartpole-ppo", "failed", 3.0)
    trial = fake_run(root, "cartpole-ppo", "completed", 4.0, sweep="20261207-000000-tiny-0001")
    fake_run(root, "cartpole-ppo", "stopped", 5.0, sweep="20261207-000000-tiny-0001", stop_reason="pruned")
    running = fake_run(root, "cartpole-ppo", "running", 6.0, alive=True)
    notes = []
    assert resolve_run("cartpole-ppo", root, note=notes.append).path == mine
    assert len(notes) == 1 and running.name in notes[0] and "running" in notes[0]  # the newer run passed over is named
    assert lab.open_run("cartpole-ppo", root).path == mine  # the API says the same
    # a trial, or any run, by its id, a unique prefix, its path or its id's tail (as sweep tables show it)
    assert resolve_run(trial.name, root).path == trial
    assert resolve_run(trial.name[:-1], root).path == trial
    assert resolve_run(str(old), root).path == old
    assert resolve_run(trial.name.rsplit("-", 1)[1], root).path == trial
    # what works on another state names another run: stop the running one, resume a stopped or crashed one
    assert resolve_run("cartpole-ppo", root, states=("running",)).path == running


def test_a_name_whose_runs_are_all_sweep_trials_is_refused_naming_one_to_give(tmp_path):
    root = tmp_path / "runs"
    fake_run(root, "cartpole-ppo", "completed", 1.0, sweep="20261207-000000-tiny-0001")
    latest = fake_run(root, "cartpole-ppo", "completed", 2.0, sweep="20261207-000000-tiny-0001")
    fake_run(root, "cartpole-ppo", "stopped", 3.0, sweep="20261207-000000-tiny-0001", stop_reason="pruned")
    with pytest.raises(BadInput) as e:
        resolve_run("cartpole-ppo", root, use="lab eval")
    message = str(e.value)
    assert "no completed cartpole-ppo run of its own" in message and "belong to sweep 20261207-000000-tiny-0001" in message
    assert f"lab eval {latest.name}" in message  # the latest completed trial, by its id: the command to use
    out = lab_main("eval", "cartpole-ppo", runs_dir=root)
    assert f"lab eval {latest.name}" in one_line(out)


def test_a_name_whose_only_run_is_still_running_is_refused_saying_so(tmp_path):
    root = tmp_path / "runs"
    running = fake_run(root, "cartpole-ppo", "running", 1.0, alive=True)
    fake_run(root, "cartpole-ppo", "failed", 0.5)
    for command in ("show", "eval", "record", "explain", "export"):
        args = ("--out", str(tmp_path / "x.gif")) if command == "record" else \
            ("--tensorboard", str(tmp_path / "tb")) if command == "export" else ()
        err = one_line(lab_main(command, "cartpole-ppo", *args, runs_dir=root))
        assert "no completed cartpole-ppo run" in err and running.name in err and "still running" in err, err
        assert f"lab {command} {running.name}" in err  # the command to use it anyway, by its id
    assert not (tmp_path / "x.gif").exists() and not (tmp_path / "tb").exists()


def test_stop_and_resume_by_name_take_the_run_in_their_state_and_say_when_there_is_none(tmp_path):
    root = tmp_path / "runs"
    done = fake_run(root, "cartpole-ppo", "completed", 1.0)
    err = one_line(lab_main("stop", "cartpole-ppo", runs_dir=root))
    assert "no running cartpole-ppo run" in err and done.name in err and "completed" in err
    err = one_line(lab_main("resume", "cartpole-ppo", runs_dir=root))
    assert "no stopped or crashed cartpole-ppo run" in err and done.name in err


def test_lab_eval_of_a_name_evaluates_the_completed_run_not_a_newer_pruned_trial(cartpole_ppo_folder, tmp_path):
    root = tmp_path / "runs"
    mine = copy_run(cartpole_ppo_folder, root)
    trial_path = shutil.copytree(mine.path, root / (mine.id[:-4] + "beef"))
    summary = json.loads((trial_path / "summary.json").read_text())
    summary.update(id=trial_path.name, state="stopped", stop_reason="pruned", sweep="20261207-000000-tiny-0001",
                   started=summary["started"] + 60, ended=summary["ended"] + 60)
    write_json_atomic(trial_path / "summary.json", summary)
    out = lab_main("eval", "cartpole-ppo", "--episodes", "1", "--json", runs_dir=root)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["run"] == mine.id
    out = lab_main("eval", "beef", "--episodes", "1", "--json", runs_dir=root)  # a trial, asked for by its id's tail
    assert out.returncode == 0 and json.loads(out.stdout)["run"] == trial_path.name


def test_a_policy_built_in_explains_the_latest_completed_run_not_a_sweep_trial(tmp_path):
    from lab.xai.job import find_source_run

    root = tmp_path / "runs"
    mine = fake_run(root, "cartpole-ppo", "completed", 1.0)
    fake_run(root, "cartpole-ppo", "completed", 2.0, sweep="20261207-000000-tiny-0001")
    fake_run(root, "cartpole-ppo", "running", 3.0, alive=True)
    spec = lab.load_experiment("cartpole-policy-attributions")
    assert find_source_run(spec, root).path == mine
    robustness = lab.load_experiment("cartpole-policy-robustness")
    assert find_source_run(robustness, root).path == mine


def test_a_policy_built_in_with_only_trials_trains_its_own_run_first(tmp_path):
    from lab.xai.job import find_source_run

    root = tmp_path / "runs"
    fake_run(root, "cartpole-ppo", "completed", 2.0, sweep="20261207-000000-tiny-0001")
    assert find_source_run(lab.load_experiment("cartpole-policy-attributions"), root) is None  # None: train cartpole-ppo


# ------------------------------------------------------------------------------ the dashboard

@pytest.mark.slow
async def test_v_right_after_a_launch_opens_the_run_just_launched_not_an_older_one(tmp_path):
    import os
    import signal

    from lab.tui.app import LabApp

    from .pilot import runs_shown, settled, wait_for
    from .seeded_runs import rl_run

    older = rl_run(tmp_path, "20261123-000100-cartpole-ppo-0001", "cartpole-ppo", 0)
    app = LabApp(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await runs_shown(pilot, 1)
        await pilot.press("slash", *"cartpole-ppo", "enter")
        await settled(app)
        app.screen.query_one("#set-agent--total_steps").value = "1000000"
        await settled(app)
        await pilot.press("ctrl+l", "v")  # at once: the launch has no run folder yet
        (pid,) = app.launched
        try:
            await pilot.pause()
            assert type(app.screen).__name__ == "HomeScreen"  # not the older run's view
            assert any("starting" in n.message for n in app._notifications)
            # once the launch has its folder, its view opens: the run just launched
            await wait_for(pilot, lambda: type(app.screen).__name__ == "RunScreen", timeout=90)
            assert app.screen.path.name != older.name
            await wait_for(pilot, lambda: app.screen.ready)
            assert app.screen.follower.run.summary.pid == pid
            await pilot.press("escape")
            await pilot.press("v")  # now it has a folder: v opens it at once
            await pilot.pause()
            assert type(app.screen).__name__ == "RunScreen" and app.screen.follower.run.summary.pid == pid
        finally:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.mark.slow  # the session's real tiny sweep (as every test of it)
async def test_compare_labels_tell_every_run_apart_sweep_trials_by_their_trial(tiny_sweep, tmp_path):
    from lab.sweep.record import list_sweeps
    from lab.tui.app import LabApp
    from lab.tui.widgets.run_table import RunTable

    from .pilot import runs_shown, wait_for
    from .seeded_runs import rl_run

    root = shutil.copytree(tiny_sweep / "runs", tmp_path / "runs")
    (folder,) = list_sweeps(root)
    record = folder.read()
    # two runs of the same experiment and seed, of no sweep
    rl_run(root, "20261123-000100-cartpole-ppo-0001", "cartpole-ppo", 0)
    rl_run(root, "20261123-000200-cartpole-ppo-0002", "cartpole-ppo", 0)
    seed0 = [t.jobs[0].run for t in record.trials]  # each trial's seed-0 run: same experiment, same seed
    marked = [*seed0, "20261123-000100-cartpole-ppo-0001", "20261123-000200-cartpole-ppo-0002"]
    app = LabApp(root)
    async with app.run_test(size=(160, 48)) as pilot:
        table = await runs_shown(pilot, 7)
        table.focus()
        for key in marked:
            table.select(key)
            await pilot.press("space")
        await pilot.press("c")
        screen = app.screen
        assert type(screen).__name__ == "CompareScreen"
        await wait_for(pilot, lambda: screen.ready)
        await pilot.pause(0.3)
        legend = [label for label, _ in screen.query_one("#compare-plot")._legend]
        assert len(legend) == len(marked) and len(set(legend)) == len(marked), legend  # no two read the same
        for t in record.trials:  # a trial by its sweep and number
            assert any(f"#{t.number}" in label and record.name in label for label in legend), legend
        assert any("0001" in label for label in legend) and any("0002" in label for label in legend)  # others: the id's tail
