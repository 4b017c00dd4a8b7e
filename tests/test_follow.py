"""RunFollower: what a live view reads from a run folder as it grows."""

import json

from lab.events import EventWriter
from lab.follow import RunFollower
from lab.store import create_run_folder, write_atomic
from lab.summary import Summary


def _folder(tmp_path, **summary):
    path = create_run_folder(tmp_path, "exp")
    write_atomic(path / "summary.json", Summary(experiment="exp", state="completed", **summary).to_json())
    return path


def test_first_poll_reads_the_whole_run_then_only_what_is_new(tmp_path):
    path = _folder(tmp_path, algo="ppo")
    w = EventWriter(path / "events.jsonl")
    w.emit("status", state="running")
    for i in range(5):
        w.emit("episode", step=10 * (i + 1), length=10, rolling_return=float(i), **{"return": float(i)})
    w.emit("eval", step=50, mean=7.0, std=1.0, episodes=10, best=True)
    w.emit("metric", step=50, values={"value_loss": 0.5, "entropy": 0.6})
    w.emit("progress", step=50, total=100, fraction=0.5, steps_per_second=10.0, eta_seconds=5.0, elapsed=5.0)
    w.flush()
    f = RunFollower(path)
    assert f.poll() is True
    assert f.returns.values == [0.0, 1.0, 2.0, 3.0, 4.0] and f.returns.steps == [10, 20, 30, 40, 50]
    assert f.evals.values == [7.0] and f.metrics["value_loss"].values == [0.5] and f.progress["step"] == 50
    assert f.status == "running" and not f.sampled
    assert f.poll() is False  # nothing new
    w.emit("eval", step=100, mean=9.0, std=0.0, episodes=20, final=True)
    w.emit("log", level="warning", message="two\nlines")
    w.close()
    assert f.poll() is True
    assert f.final_eval["mean"] == 9.0 and f.evals.values == [7.0]  # the final evaluation is kept apart
    # the log shows the evaluations and checkpoints beside the run's own lines
    assert f.take_new_logs() == ["step 50: evaluation 7.00 +/- 1.00 over 10 episodes",
                                 "step 100: final evaluation 9.00 +/- 0.00 over 20 episodes",
                                 "[warning] two", "[warning] lines"] and f.take_new_logs() == []


def test_aggregated_episodes_stand_in_the_return_curves(tmp_path):
    path = _folder(tmp_path)
    lines = [{"t": 1, "kind": "episodes", "step": 1000, "first_step": 10, "count": 100, "mean": 20.0, "min": 8.0,
              "max": 60.0, "std": 5.0, "length_mean": 10.0, "rolling_return": 19.5},
             {"t": 2, "kind": "episode", "step": 1010, "return": 30.0, "length": 10, "rolling_return": 20.0}]
    (path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines))
    f = RunFollower(path)
    f.poll()
    assert f.returns.steps == [1000, 1010] and f.returns.values == [20.0, 30.0]
    assert f.rolling.values == [19.5, 20.0]


def test_a_partial_line_waits_for_its_end(tmp_path):
    path = _folder(tmp_path)
    events = path / "events.jsonl"
    events.write_text('{"t":1,"kind":"log","message":"a"}\n{"t":2,"kind":"log","mes')
    f = RunFollower(path)
    f.poll()
    assert list(f.logs) == ["a"]
    with open(events, "a") as out:
        out.write('sage":"b"}\n')
    f.poll()
    assert list(f.logs) == ["a", "b"]


def test_a_huge_per_episode_file_opens_from_a_sample_and_goes_on_live(tmp_path):
    path = _folder(tmp_path)
    events = path / "events.jsonl"
    lines = [json.dumps({"t": i, "kind": "episode", "step": i + 1, "length": 1, "rolling_return": float(i), "return": float(i)},
                        separators=(",", ":")) + "\n" for i in range(100_000)]
    events.write_text("".join(lines) + '{"t":1,"kind":"eval","step":100000,"mean":5.0,"std":0.0}\n')
    f = RunFollower(path)
    f.poll()
    assert f.sampled and 3000 < len(f.returns.values) <= 4001
    assert f.returns.steps[-1] == 100_000 and f.evals.values == [5.0]
    with open(events, "a") as out:
        out.write('{"t":2,"kind":"episode","step":100001,"length":1,"rolling_return":1.0,"return":1.0}\n')
    f.poll()
    assert f.returns.steps[-1] == 100_001


def test_the_follower_sees_the_state_change_of_its_run(tmp_path):
    path = _folder(tmp_path)
    f = RunFollower(path)
    assert f.state == "completed"
    write_atomic(path / "summary.json", Summary(state="failed").to_json())
    (path / "events.jsonl").write_text('{"t":1,"kind":"status","state":"failed"}\n')
    f.poll()  # a status event makes it read the summary again
    assert f.state == "failed" and f.status == "failed"


def test_a_populations_evaluations_give_each_member_the_band_and_the_best(tmp_path):
    path = create_run_folder(tmp_path, "exp")
    write_atomic(path / "summary.json", Summary(experiment="exp", state="running").to_json())
    w = EventWriter(path / "events.jsonl")
    w.emit("eval", step=100, mean=20.0, std=8.2, min=10.0, max=30.0, episodes=10, best=True, members=[10.0, 30.0, 20.0])
    w.emit("eval", step=200, mean=40.0, std=8.2, min=30.0, max=50.0, episodes=10, best=True, members=[50.0, 40.0, 30.0])
    w.emit("eval", step=300, mean=1.0, episodes=10, members=["x", None])  # not a list of numbers: only its mean
    w.flush()
    f = RunFollower(path)
    f.poll()
    assert [s.values for s in f.member_evals] == [[10.0, 50.0], [30.0, 40.0], [20.0, 30.0]]
    assert f.eval_low.values == [10.0, 30.0] and f.eval_high.values == [30.0, 50.0] and f.evals.values == [20.0, 40.0, 1.0]
    assert f.best_member == 0  # the best latest evaluation while it runs
    assert "step 200: evaluation, mean of 3 members 40.00 (lowest 30.00, highest 50.00) over 10 episodes each" in f.take_new_logs()
    write_atomic(path / "summary.json", Summary(experiment="exp", state="completed", results={"best_member": 2}).to_json())
    w.emit("status", state="completed")
    w.close()
    f.poll()
    assert f.best_member == 2  # once delivered: the run's own choice
