"""The event log and run folders: the contract between processes."""

import json
import math
import time

import pytest

from lab.errors import BadInput
from lab.events import EventTail, EventWriter, read_events
from lab.store import Run, create_run_folder, list_runs, new_run_id, resolve_run, write_json_atomic


def test_events_round_trip_in_order(tmp_path):
    path = tmp_path / "events.jsonl"
    w = EventWriter(path)
    w.emit("status", state="running")
    for i in range(5):
        w.emit("episode", step=i * 10, length=10, rolling_return=float(i), **{"return": float(i)})
    w.emit("metric", step=50, values={"loss": 0.5, "bad": math.nan})
    w.close()
    events = list(read_events(path))
    assert [e["kind"] for e in events] == ["status"] + ["episode"] * 5 + ["metric"]
    assert [e["return"] for e in events if e["kind"] == "episode"] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert events[-1]["values"] == {"loss": 0.5, "bad": None}  # NaN is not JSON; it is written as null
    assert all(isinstance(e["t"], float) for e in events)


def test_truncated_last_event_line_is_skipped(tmp_path):
    path = tmp_path / "events.jsonl"
    w = EventWriter(path)
    w.emit("log", level="info", message="one")
    w.emit("log", level="info", message="two")
    w.close()
    with open(path, "a") as f:
        f.write('{"t": 1, "kind": "log", "mess')  # a writer killed mid-line
    assert [e["message"] for e in read_events(path)] == ["one", "two"]


def test_unknown_kinds_and_garbage_lines_are_skipped_by_filter(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text('{"t":1,"kind":"future_kind","x":1}\nnot json\n[1,2]\n{"t":2,"kind":"log","message":"ok"}\n')
    assert [e["kind"] for e in read_events(path)] == ["future_kind", "log"]
    assert [e["message"] for e in read_events(path, {"log"})] == ["ok"]


def test_low_rate_events_reach_disk_at_once_high_rate_in_batches(tmp_path):
    path = tmp_path / "events.jsonl"
    w = EventWriter(path)
    w.emit("status", state="running")
    assert len(list(read_events(path))) == 1
    w.emit("episode", step=1, length=1, rolling_return=1.0, **{"return": 1.0})
    w.emit("episode", step=2, length=1, rolling_return=1.0, **{"return": 1.0})
    assert len(list(read_events(path))) < 3  # batched
    w.emit("log", level="info", message="flushes the batch")
    assert len(list(read_events(path))) == 4
    w.close()


def test_event_tail_reads_only_new_complete_lines(tmp_path):
    path = tmp_path / "events.jsonl"
    tail = EventTail(path)
    assert tail.read() == []
    path.write_text('{"t":1,"kind":"log","message":"a"}\n{"t":2,"kind":"lo')
    assert [e["message"] for e in tail.read()] == ["a"]
    with open(path, "a") as f:
        f.write('g","message":"b"}\n')
    assert [e["message"] for e in tail.read()] == ["b"]
    assert tail.read() == []


def test_run_ids_sort_by_start_and_are_unique():
    a = new_run_id("exp")
    time.sleep(1.01)
    b = new_run_id("exp")
    assert a < b
    assert len({new_run_id("exp") for _ in range(50)}) == 50


def test_summary_is_written_atomically(tmp_path):
    path = tmp_path / "summary.json"
    write_json_atomic(path, {"state": "running"})
    write_json_atomic(path, {"state": "completed"})
    assert json.loads(path.read_text()) == {"state": "completed"}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]  # no temp files left


def _fake_run(root, experiment, state, started):
    path = create_run_folder(root, experiment)
    (path / "events.jsonl").write_text("")
    write_json_atomic(path / "summary.json", {"id": path.name, "experiment": experiment, "state": state, "started": started})
    return path


def test_resolve_run_by_id_prefix_path_and_experiment_name(tmp_path):
    root = tmp_path / "runs"
    old = _fake_run(root, "cartpole-ppo", "completed", 1.0)
    new = _fake_run(root, "cartpole-ppo", "completed", 2.0)
    other = _fake_run(root, "cartpole-dqn", "failed", 3.0)
    assert [r.path for r in list_runs(root)] == [old, new, other]
    assert resolve_run(old.name, root).path == old
    assert resolve_run(str(other), root).path == other
    assert resolve_run("cartpole-ppo", root).path == new  # the latest run of an experiment
    assert resolve_run(other.name[:-2], root).path == other
    with pytest.raises(BadInput, match="ambiguous"):
        resolve_run(old.name[:8], root)
    with pytest.raises(BadInput, match=r"no run 'cartpole-pp' .*did you mean 'cartpole-ppo'"):
        resolve_run("cartpole-pp", root)


def test_running_run_whose_process_is_gone_is_crashed(tmp_path):
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    path = _fake_run(tmp_path, "x", "running", 1.0)
    write_json_atomic(path / "summary.json", {"state": "running", "pid": proc.pid, "pid_start": "1"})
    assert Run.load(path).state == "crashed"
    from lab.store import process_identity

    write_json_atomic(path / "summary.json", {"state": "running", **process_identity()})
    assert Run.load(path).state == "running"
