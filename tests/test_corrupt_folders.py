"""A runs root holding one good run beside every kind of broken folder: lab lists and opens the
good run as it is, marks the broken ones, and neither the CLI nor the dashboard falls over."""

import json
import os
import shutil

import pytest

import lab
from lab.follow import RunFollower
from lab.store import list_runs
from lab.tui.app import LabApp
from lab.tui.widgets.run_table import RunTable

from .conftest import lab_cli, lab_main
from .pilot import wait_for

GOOD_EVENT = '{"t":1.0,"kind":"status","state":"running"}\n'

# folder suffix -> (summary.json text or None for none, events.jsonl text / "DIR", expected problem or None)
BROKEN = {
    "summary-list": ("[1, 2]", GOOD_EVENT, "summary.json: a JSON list, not an object"),
    "summary-truncated": ('{"state": "completed", "star', GOOD_EVENT, "summary.json: not JSON"),
    "summary-started-text": ('{"state": "completed", "started": "yesterday"}', GOOD_EVENT, "summary.json: started"),
    "summary-results-text": ('{"state": "completed", "results": "great"}', GOOD_EVENT, "summary.json: results"),
    "summary-missing": (None, GOOD_EVENT, "summary.json: missing"),
    "summary-fifo": ("FIFO", GOOD_EVENT, "summary.json: a named pipe, not a regular file"),  # would block a reader
    "summary-directory": ("DIR", GOOD_EVENT, "summary.json: a directory, not a regular file"),
    "events-binary": (None, b"\x00\xff\xfe\x89PNG\r\n\x1a\n" * 50, None),
    "events-empty": (None, "", None),
    "events-directory": (None, "DIR", "events.jsonl: a directory, not a file"),
    "events-fifo": (None, "FIFO", "events.jsonl: a named pipe, not a regular file"),
    "events-wrong-types": (None, "".join(json.dumps(e) + "\n" for e in [
        {"t": "noon", "kind": "episode", "step": "ten", "return": "high", "rolling_return": [1]},
        {"t": 2, "kind": "progress", "step": {"a": 1}, "steps_per_second": "fast", "eta_seconds": "soon"},
        {"t": 3, "kind": "metric", "step": 5, "values": ["loss", 1]},
        {"t": 4, "kind": "eval", "step": None, "mean": "500"},
        {"t": 5, "kind": "log", "level": 3, "message": {"text": "hi"}},
        {"t": 6, "kind": "method", "name": ["x"], "seconds_per_sample": "1"},
        {"t": 7, "kind": "comparison", "methods": {"saliency": {"deletion_auc": "low", "library": "captum"}}},
        {"t": 8, "kind": 7}, [1, 2], "text"]), None),
}


@pytest.fixture(scope="module")
def mixed_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    good = lab.run(lab.load_experiment("cartpole-reinforce", {"agent.total_steps": 3000, "eval.every": 1500}), runs_dir=root)
    assert good.state == "completed"
    for suffix, (summary, events, _) in BROKEN.items():
        path = root / f"20261124-000000-broken-{suffix}"
        shutil.copytree(good.path, path)
        if summary is not None or suffix.startswith("summary"):
            (path / "summary.json").unlink()
        if summary in ("FIFO", "DIR"):
            (os.mkfifo if summary == "FIFO" else os.mkdir)(path / "summary.json")
        elif summary is not None:
            (path / "summary.json").write_text(summary)
        events_path = path / "events.jsonl"
        events_path.unlink()
        if events in ("FIFO", "DIR"):
            (os.mkfifo if events == "FIFO" else os.mkdir)(events_path)
        elif isinstance(events, bytes):
            events_path.write_bytes(events)
        else:
            events_path.write_text(events)
    return root, good


def test_lab_runs_lists_the_good_run_and_marks_each_broken_one(mixed_root):
    root, good = mixed_root
    proc = lab_cli("runs", runs_dir=root)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr
    lines = proc.stdout.splitlines()
    good_line = next(line for line in lines if line.startswith(good.id))
    assert "completed" in good_line and f"{good.results.final_eval_return_mean:.2f}" in good_line
    for suffix, (_, _, problem) in BROKEN.items():
        name = f"20261124-000000-broken-{suffix}"
        row = next(line for line in lines if line.startswith(name))
        if problem:
            assert "corrupt" in row
            assert any(line.startswith(f"{name}: corrupt: {problem}") for line in lines), proc.stdout
    runs = {r.id: r for r in list_runs(root)}
    assert runs[good.id].state == "completed" and len(runs) == 1 + len(BROKEN)


def test_show_eval_and_explain_of_the_good_run_work_beside_broken_ones(mixed_root):
    root, good = mixed_root
    shown = lab_cli("show", good.id, runs_dir=root)
    assert shown.returncode == 0 and "state completed" in shown.stdout
    evaluated = lab_main("eval", good.id, "--episodes", 3, runs_dir=root)
    assert evaluated.returncode == 0, evaluated.stderr
    explained = lab_main("explain", good.id, "--methods", "saliency", "--samples", 2, runs_dir=root)
    assert explained.returncode == 0, explained.stderr


@pytest.mark.parametrize("suffix", list(BROKEN))
def test_show_of_a_broken_run_says_what_it_can_without_a_traceback(mixed_root, suffix):
    root, _ = mixed_root
    proc = lab_main("show", f"20261124-000000-broken-{suffix}", runs_dir=root)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    problem = BROKEN[suffix][2]
    assert problem is None or problem in proc.stdout


def test_wrong_typed_event_fields_are_dropped_not_trusted(mixed_root):
    root, _ = mixed_root
    f = RunFollower(root / "20261124-000000-broken-events-wrong-types")
    f.poll()
    assert f.returns.values == [] and f.evals.values == [] and f.metrics == {}
    assert f.progress.get("steps_per_second") is None and "step" not in f.progress
    assert list(f.logs) == [""] and f.methods["saliency"] == {"library": "captum"}


async def test_the_dashboard_lists_every_folder_and_stays_up_opening_each(mixed_root):
    root, good = mixed_root
    app = LabApp(root)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(RunTable)
        assert len(table.runs) == len(list_runs(root)) >= 1 + len(BROKEN)
        table.focus()
        for row in range(table.row_count):
            table.move_cursor(row=row)
            await pilot.press("enter")
            await wait_for(pilot, lambda: type(app.screen).__name__ == "RunScreen", timeout=10, step=0.05)
            await pilot.press("m", "s", "a")  # next metric, stop (refused), attributions (refused or shown)
            await pilot.pause(0.1)
            for _ in range(3):  # back from the attribution view, then the live view
                if app.screen is app.home:
                    break
                await pilot.press("escape")
                await pilot.pause(0.05)
            assert app.screen is app.home
        assert app.is_running


@pytest.mark.parametrize("damage", ["garbage", "truncated", "missing"])
def test_eval_and_explain_of_a_run_with_a_broken_checkpoint_exit_2_and_leave_no_folder(mixed_root, tmp_path, damage):
    _, good = mixed_root
    root = tmp_path / "runs"
    copy = root / good.id
    shutil.copytree(good.path, copy)
    for checkpoint in (copy / "checkpoints").iterdir():
        if damage == "garbage":
            checkpoint.write_bytes(b"not a checkpoint\n" * 10)
        elif damage == "truncated":
            checkpoint.write_bytes(checkpoint.read_bytes()[:300])
        else:
            checkpoint.unlink()
    expected = "no policy checkpoint" if damage == "missing" else "cannot be loaded (not a checkpoint of weights"
    for command in (("eval", good.id, "--episodes", 2), ("explain", good.id, "--methods", "saliency", "--samples", 2)):
        proc = lab_main(*command, runs_dir=root)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
        assert expected in proc.stderr and "weights_only" not in proc.stderr, proc.stderr
        assert [p.name for p in root.iterdir()] == [good.id]  # no attribution run folder was made
