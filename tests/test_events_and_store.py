"""The event log and run folders: the contract between processes."""

import json
import math
import time

import pytest

from lab.errors import BadInput
from lab.events import EventTail, EventWriter, read_events
from lab.store import Run, create_run_folder, list_runs, new_run_id, resolve_run, write_atomic


def write_json_atomic(path, data):
    write_atomic(path, json.dumps(data))


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


def test_run_ids_sort_by_start_and_are_unique(tmp_path):
    from lab.store import create_run_folder

    a = new_run_id("exp")
    time.sleep(1.01)
    b = new_run_id("exp")
    assert a < b
    # ids of one second differ in 4 random hex digits, which can repeat (about 2% for 50 ids);
    # run folders never do: a taken name is drawn again
    folders = {create_run_folder(tmp_path, "exp").name for _ in range(200)}
    assert len(folders) == 200 == len(list(tmp_path.iterdir()))


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
    assert resolve_run("cartpole-ppo", root).path == new  # the latest completed run of an experiment
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


# ------------------------------------------------------------------------------ high rates


class FakeClock:
    """Simulated unix time: a test writes a long run's worth of events in a moment."""

    def __init__(self, t=1_800_000_000.0):
        self.t = t

    def __call__(self):
        return self.t


def _episode(w, step, ret):
    w.emit("episode", step=step, length=10, rolling_return=ret, **{"return": ret})


def test_episodes_above_the_rate_threshold_are_aggregated_per_interval(tmp_path):
    from lab.events import EPISODES_PER_FLUSH, FLUSH_SECONDS

    path = tmp_path / "events.jsonl"
    clock = FakeClock()
    w = EventWriter(path, clock=clock)
    n = 4 * EPISODES_PER_FLUSH
    for i in range(n):  # all in one flush interval: far above the threshold
        _episode(w, i + 1, float(i))
    clock.t += FLUSH_SECONDS
    _episode(w, n + 1, 1000.0)  # the interval is over: it is written as one line
    w.close()
    events = list(read_events(path))
    assert [e["kind"] for e in events] == ["episodes", "episode"]
    agg = events[0]
    assert agg["count"] == n and agg["first_step"] == 1 and agg["step"] == n
    assert agg["min"] == 0.0 and agg["max"] == float(n - 1) and agg["mean"] == pytest.approx((n - 1) / 2)
    assert agg["rolling_return"] == float(n - 1)


def test_episodes_below_the_rate_threshold_keep_one_line_each(tmp_path):
    from lab.events import EPISODES_PER_FLUSH, FLUSH_SECONDS

    path = tmp_path / "events.jsonl"
    clock = FakeClock()
    w = EventWriter(path, clock=clock)
    for i in range(3 * EPISODES_PER_FLUSH):
        _episode(w, i, float(i))
        clock.t += FLUSH_SECONDS / (EPISODES_PER_FLUSH - 2)  # just below the threshold rate
    w.close()
    assert [e["kind"] for e in read_events(path)] == ["episode"] * (3 * EPISODES_PER_FLUSH)


def test_a_long_fast_run_keeps_its_event_file_small(tmp_path):
    """100,000 episodes at 2,000 a second: a few hundred lines, every episode counted."""
    from lab.events import series

    path = tmp_path / "events.jsonl"
    clock = FakeClock()
    w = EventWriter(path, clock=clock)
    for i in range(100_000):
        _episode(w, i + 1, float(i % 500))
        clock.t += 1 / 2000
    w.close()
    events = list(read_events(path))
    assert len(events) <= 50 * 4 + 2 and path.stat().st_size < 100_000
    assert sum(e.get("count", 1) for e in events) == 100_000
    steps, means = series(events, "episode", "return")  # aggregated intervals stand in the episode series
    assert len(steps) == len(events) and steps[-1] == 100_000 and 0 <= min(means) and max(means) < 500


def _per_episode_file(path, n, every=1000):
    """An events file in lab 0.1's format: one line per episode, evaluations and logs between."""
    lines = ['{"t":1.0,"kind":"status","state":"running"}\n']
    for i in range(n):
        lines.append(json.dumps({"t": 1.0 + i, "kind": "episode", "step": 10 * (i + 1), "length": 10,
                                 "rolling_return": float(i), "return": float(i)}, separators=(",", ":")) + "\n")
        if i % every == every - 1:
            lines.append(json.dumps({"t": 1.0 + i, "kind": "eval", "step": 10 * (i + 1), "mean": float(i), "std": 0.0}) + "\n")
            lines.append(json.dumps({"t": 1.0 + i, "kind": "log", "level": "info", "message": f"at {i}"}) + "\n")
    path.write_text("".join(lines))


def test_scan_of_a_small_file_reads_every_event(tmp_path):
    from lab.events import scan

    path = tmp_path / "events.jsonl"
    _per_episode_file(path, 500, every=100)
    with open(path, "a") as f:
        f.write('{"t": 9, "kind": "log", "mess')  # partial last line
    s = scan(path)
    assert not s.sampled and s.episodes == 500
    assert [e for e in s.events] == list(read_events(path))
    assert s.offset == path.read_bytes().rfind(b"\n") + 1


def test_scan_of_a_large_per_episode_file_samples_episodes_and_keeps_every_other_event(tmp_path):
    from lab.events import SAMPLE_EPISODES, SMALL_FILE, scan

    path = tmp_path / "events.jsonl"
    _per_episode_file(path, 60_000)
    assert path.stat().st_size > SMALL_FILE
    s = scan(path)
    assert s.sampled and s.episodes == 60_000 and s.offset == path.stat().st_size
    episodes = [e for e in s.events if e["kind"] == "episode"]
    assert SAMPLE_EPISODES * 0.9 <= len(episodes) <= SAMPLE_EPISODES + 1
    steps = [e["step"] for e in episodes]
    assert steps == sorted(steps) and steps[-1] == 600_000  # spread through the file, the last one included
    assert max(b - a for a, b in zip(steps, steps[1:])) < 3 * 600_000 / SAMPLE_EPISODES  # evenly
    assert len([e for e in s.events if e["kind"] == "eval"]) == 60  # every low-rate event
    assert [e["message"] for e in s.events if e["kind"] == "log"][-1] == "at 59999"
    tail = EventTail(path, s.offset)
    with open(path, "a") as f:
        f.write('{"t":2,"kind":"log","message":"later"}\n')
    assert [e["message"] for e in tail.read()] == ["later"]  # a live view goes on from the scan


# ------------------------------------------------------------------------------ the summary schema


def test_summary_written_by_a_run_context_reads_back_typed(tmp_path):
    from lab.launch import RunContext
    from lab.plan import Plan

    path = create_run_folder(tmp_path, "exp")
    ctx = RunContext(path, None, Plan("cpu", "requested"), experiment="exp", state="running", seed=3,
                     progress={"step": 0, "total": 100})
    ctx.update_summary(results={"best_eval_return_mean": 10.0}, progress={"step": 50})
    ctx.update_summary(results={"final_eval_return_mean": 12.5, "test_roc_auc": math.nan})  # merged, NaN kept writable
    ctx.events.close()
    run = Run.load(path)
    assert run.problem is None and run.summary.seed == 3 and run.summary.progress.step == 50
    assert run.summary.progress.total == 100
    assert run.results.best_eval_return_mean == 10.0 and run.results.final_eval_return_mean == 12.5
    assert run.results.test_roc_auc is None
    assert json.loads((path / "summary.json").read_text())["results"]["test_roc_auc"] is None
    assert run.results["final_eval_return_mean"] == 12.5  # lab 0.1 scripts indexed results like a dict


def test_summary_writers_may_only_use_keys_the_schema_names(tmp_path):
    from lab.launch import RunContext
    from lab.plan import Plan

    ctx = RunContext(create_run_folder(tmp_path, "exp"), None, Plan("cpu", "requested"))
    with pytest.raises(KeyError, match="results.final_eval_retrun_mean"):
        ctx.update_summary(results={"final_eval_retrun_mean": 1.0})
    with pytest.raises(KeyError, match="statte"):
        ctx.update_summary(statte="completed")
    ctx.events.close()


def test_old_run_folders_stay_readable_and_unknown_keys_are_kept(tmp_path):
    path = _fake_run(tmp_path, "cartpole-ppo", "completed", 5.0)
    old = {"id": path.name, "experiment": "cartpole-ppo", "state": "completed", "started": 5.0, "ended": 65.0,
           "future_field": {"a": 1}, "results": {"final_eval_return_mean": 500.0, "some_new_metric": 3}}
    write_json_atomic(path / "summary.json", old)
    run = Run.load(path)
    assert run.state == "completed" and run.seconds == 60.0 and run.summary.kind == "rl"
    assert run.results.final_eval_return_mean == 500.0 and run.results.some_new_metric == 3
    assert run.summary.future_field == {"a": 1}


@pytest.mark.parametrize("content, problem", [
    ("[1, 2]", "a JSON list, not an object"),
    ('{"state": "completed", "started": ', "not JSON"),
    ('{"state": "completed", "started": "yesterday"}', "started"),
    ('{"state": "completed", "results": "great"}', "results"),
])
def test_a_summary_that_does_not_parse_makes_its_run_corrupt_not_the_listing(tmp_path, content, problem):
    good = _fake_run(tmp_path, "good", "completed", 1.0)
    bad = _fake_run(tmp_path, "bad", "completed", 2.0)
    (bad / "summary.json").write_text(content)
    runs = {r.path: r for r in list_runs(tmp_path)}
    assert runs[good].state == "completed"
    assert runs[bad].state == "corrupt" and problem in runs[bad].problem
    assert runs[bad].problem.startswith("summary.json: ")


# ------------------------------------------------------------------------------ writes and stops


def test_atomic_target_leaves_the_old_file_when_the_writer_fails(tmp_path):
    from lab.store import atomic_target

    path = tmp_path / "best.zip"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_target(path) as tmp:
        assert tmp.suffix == ".zip" and tmp.parent == tmp_path
        tmp.write_bytes(b"half of the ne")
        raise RuntimeError("killed mid-save")
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["best.zip"]
    with atomic_target(path) as tmp:
        tmp.write_bytes(b"new")
    assert path.read_bytes() == b"new" and [p.name for p in tmp_path.iterdir()] == ["best.zip"]


def _running(tmp_path, **identity):
    path = _fake_run(tmp_path, "x", "running", 1.0)
    write_json_atomic(path / "summary.json", {"state": "running", "started": 1.0, **identity})
    return Run.load(path)


@pytest.mark.slow
def test_stop_signals_a_run_of_this_machine_whose_identity_matches(tmp_path):
    """A real lab run: its pid, start time and host match, its command line is `lab run` and it
    writes that run's events.jsonl, so stop signals it, and it ends stopped."""
    import subprocess
    import sys
    import time

    from lab.launch import stop
    from lab.store import list_runs

    child = subprocess.Popen([sys.executable, "-m", "lab", "run", "cartpole-reinforce", "--runs-dir", str(tmp_path),
                              "--set", "agent.total_steps=100000000"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        # training, not starting: a signal in the moment between its first summary and its stop
        # handlers ends it crashed (a window noted in the closing note of issue 26, not fixed yet)
        while not [r for r in list_runs(tmp_path) if r.state == "running" and r.summary.pid == child.pid
                   and any(True for _ in r.events({"progress", "episode", "episodes"}))]:
            assert child.poll() is None and time.monotonic() < deadline, child.stderr.read().decode()[-2000:] if child.poll() else ""
            time.sleep(0.2)
        (run,) = list_runs(tmp_path)
        assert "stopping" in stop(run)
        assert child.wait(timeout=30) == 130  # it got SIGINT, checkpointed and ended as lab run does on Ctrl-C
        (run,) = list_runs(tmp_path)
        assert run.state == "stopped"
    finally:
        if child.poll() is None:
            child.kill()


def test_stop_refuses_what_it_cannot_identify(tmp_path):
    import socket

    from lab.launch import stop
    from lab.store import process_identity

    me = process_identity()
    for identity, why in [({**me, "host": "elsewhere"}, "runs on host elsewhere"),
                          ({"pid": me["pid"], "host": me["host"]}, "is crashed, not running"),
                          ({**me, "pid_start": "1"}, None)]:
        run = _running(tmp_path, **identity)
        with pytest.raises(BadInput) as e:
            stop(run)
        assert why is None or why in str(e.value)
    assert socket.gethostname() == me["host"]
    done = _fake_run(tmp_path, "done", "completed", 1.0)
    with pytest.raises(BadInput, match="is completed, not running"):
        stop(Run.load(done))


def test_stop_signals_first_stops_second_soon_is_absorbed_third_stops_at_once(tmp_path):
    import signal

    from lab.launch import GRACE_SECONDS, RunContext, _StopSignals
    from lab.plan import Plan

    ctx = RunContext(create_run_folder(tmp_path, "exp"), None, Plan("cpu", "requested"))
    signals = _StopSignals(ctx)
    signals._handle(signal.SIGINT, None)
    assert ctx.stop_requested and ctx.stop_reason == "SIGINT"
    signals._handle(signal.SIGINT, None)  # within the grace period: the run is already stopping
    with pytest.raises(KeyboardInterrupt):
        signals._handle(signal.SIGTERM, None)
    signals.finishing = True
    signals._handle(signal.SIGINT, None)  # writing its end: absorbed
    late = _StopSignals(ctx)
    late._handle(signal.SIGTERM, None)
    late.first -= GRACE_SECONDS  # a second signal after the grace period stops at once
    with pytest.raises(KeyboardInterrupt):
        late._handle(signal.SIGTERM, None)
    ctx.events.close()
    messages = [e["message"] for e in read_events(ctx.run.events_path)]
    assert any("already stopping" in m for m in messages) and any("stopping now" in m for m in messages)


def test_a_live_pid_without_its_recorded_start_time_is_not_taken_for_the_run(tmp_path):
    """A summary naming a live process (here: this test's) without the start time lab records,
    or with another one, is not a live lab run: it shows as crashed and is never signalled."""
    from lab.launch import stop
    from lab.store import process_identity

    me = process_identity()
    assert _running(tmp_path, **me).state == "running"
    for identity in ({"pid": me["pid"], "host": me["host"]}, {**me, "pid_start": "12"}):
        run = _running(tmp_path, **identity)
        assert run.state == "crashed"
        with pytest.raises(BadInput):
            stop(run)
    elsewhere = _running(tmp_path, **{**me, "host": "gpu-box-7"})
    assert elsewhere.state == "running"  # cannot be checked from here...
    with pytest.raises(BadInput, match="runs on host gpu-box-7"):
        stop(elsewhere)  # ...and is never signalled
