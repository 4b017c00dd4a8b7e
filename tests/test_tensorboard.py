"""TensorBoard files of a run: `lab export RUN --tensorboard DIR` and `tensorboard = true`, read
back with TensorBoard's own reader and compared with the run's events."""

import gc
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import api_pb2, metadata

import lab
from lab.cli import main
from lab.events import read_events, series
from lab.store import process_identity, resolve_run

from .seeded_runs import attribution_run

LIVE_STEPS = 16_384  # about 4 s of training here: the live file (flushed every 2 s) grows once or twice
FINISHED_STEPS = 6144  # three evaluations, a dozen progress points


def read_back(folder: Path) -> EventAccumulator:
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "histograms": 0, "tensors": 0})
    acc.Reload()
    return acc


def points(acc: EventAccumulator, tag: str) -> tuple[list[int], list[float]]:
    events = acc.Scalars(tag)
    return [e.step for e in events], [e.value for e in events]


def hparams(acc: EventAccumulator):
    content = acc.PluginTagToContent("hparams")
    start = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
    end = content.get(metadata.SESSION_END_INFO_TAG)
    return dict(start.hparams), None if end is None else metadata.parse_session_end_info_plugin_data(end)


def cli(*args) -> int:
    """`lab ARGS...` in this process (a subprocess per call would double this file's time); main
    leaves a process about to exit (signals ignored, gc frozen), so this puts those back."""
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return main([*map(str, args)])
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        gc.unfreeze()


def export(*refs, out, runs_dir) -> Path:
    assert cli("export", *refs, "--tensorboard", out, "--runs-dir", runs_dir) == 0
    return out


def assert_same(acc, tag, steps, values):
    got_steps, got = points(acc, tag)
    assert got_steps == [int(s) for s in steps], tag
    assert got == pytest.approx(values, rel=1e-6, abs=1e-6), tag  # TensorBoard keeps float32


@pytest.fixture(scope="module")
def live_run(tmp_path_factory):
    """A real training run with tensorboard = true, started as a subprocess; the size of its live
    event file, polled while it trains."""
    root = tmp_path_factory.mktemp("runs")
    proc = subprocess.Popen([sys.executable, "-m", "lab", "run", "cartpole-ppo", "--set", f"agent.total_steps={LIVE_STEPS}",
                             "--set", "eval.every=4096", "--set", "tensorboard=true", "--runs-dir", str(root), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    sizes = []
    for line in proc.stdout:  # polled between the run's events (progress: every 0.5 s)
        event = json.loads(line)
        files = list(root.glob("*/artifacts/tensorboard/events.out.tfevents.*"))
        if event.get("kind") == "progress" and files:
            sizes.append(files[0].stat().st_size)
    assert proc.wait(timeout=120) == 0
    return resolve_run("cartpole-ppo", root), sizes


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A short real run with tensorboard = true, trained in this process (what the export tests read)."""
    root = tmp_path_factory.mktemp("runs")
    spec = lab.load_experiment("cartpole-ppo", {"agent.total_steps": FINISHED_STEPS, "eval.every": 2048, "tensorboard": True})
    run = lab.run(spec, runs_dir=root)
    assert run.state == "completed", run.summary.error
    return run


@pytest.fixture(scope="module")
def population_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    spec = lab.load_experiment("cartpole-ppo-torch", {"population": 3, "agent.total_steps": 8192, "eval.every": 2048})
    return lab.run(spec, runs_dir=root), root


@pytest.mark.slow  # a real run of 6 s in a process of its own, watched as it trains
def test_live_event_file_grows_while_the_run_trains(live_run):
    run, sizes = live_run
    assert run.state == "completed"
    # polled at each progress event, all before the job's end: written at the start, then growing as it trains
    assert sizes[0] > 0 and sizes == sorted(sizes) and len(set(sizes)) >= 2, sizes
    assert [e["path"] for e in run.events({"artifact"})] == ["artifacts/tensorboard"]


def test_export_holds_the_runs_series_point_for_point(finished_run, tmp_path):
    run = finished_run
    acc = read_back(export(run.id, out=tmp_path / "tb", runs_dir=run.path.parent) / run.id)
    events = list(run.events())
    periodic = [e for e in events if e["kind"] != "eval" or not e.get("final")]
    for tag, (kind, key) in {"episode/return": ("episode", "return"), "episode/rolling_return": ("episode", "rolling_return"),
                             "eval/mean": ("eval", "mean"), "eval/std": ("eval", "std"),
                             "train/value_loss": ("metric", "value_loss"), "train/learning_rate": ("metric", "learning_rate"),
                             "progress/steps_per_second": ("progress", "steps_per_second")}.items():
        steps, values = series(periodic, kind, key)
        assert steps, tag
        assert_same(acc, tag, steps, values)
    final = [e for e in events if e["kind"] == "eval" and e.get("final")]
    assert_same(acc, "final_eval/mean", [final[0]["step"]], [final[0]["mean"]])
    evals = [e for e in events if e["kind"] == "eval" and not e.get("final")]
    assert [round(e.wall_time, 3) for e in acc.Scalars("eval/mean")] == [e["t"] for e in evals]
    assert {t for t in acc.Tags()["scalars"] if t.startswith("train/")} == \
        {f"train/{name}" for e in events if e["kind"] == "metric" for name, v in e["values"].items() if v is not None}


def test_export_carries_the_settings_as_hyperparameters(finished_run, tmp_path):
    run = finished_run
    acc = read_back(export(run.id, out=tmp_path / "tb", runs_dir=run.path.parent) / run.id)
    start, end = hparams(acc)
    assert start["agent.total_steps"].number_value == FINISHED_STEPS
    assert start["env.id"].string_value == "CartPole-v1" and start["agent.learning_rate"].string_value == "lin_0.001"
    assert start["tensorboard"].bool_value is True and "description" not in start
    assert api_pb2.Status.Name(end.status) == "STATUS_SUCCESS"


def test_live_files_hold_what_the_export_holds(finished_run, tmp_path):
    run = finished_run
    exported = read_back(export(run.id, out=tmp_path / "tb", runs_dir=run.path.parent) / run.id)
    live = read_back(run.artifact("tensorboard"))
    assert sorted(live.Tags()["scalars"]) == sorted(exported.Tags()["scalars"])
    for tag in exported.Tags()["scalars"]:
        assert points(live, tag) == points(exported, tag), tag
    assert hparams(live)[0] == hparams(exported)[0]


@pytest.mark.slow
def test_live_files_are_closed_when_the_run_stops_or_fails(tmp_path):
    root = tmp_path / "runs"
    proc = subprocess.Popen([sys.executable, "-m", "lab", "run", "cartpole-ppo", "--set", "tensorboard=true",
                             "--runs-dir", str(root), "--json"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        if json.loads(line).get("kind") == "progress":
            proc.send_signal(signal.SIGINT)
            break
    proc.stdout.read()
    assert proc.wait(timeout=60) == 130
    exploding = lab.load_experiment({"name": "exploding", "tensorboard": True, "env": {"id": "tests.exploding_env:Exploding-v0"},
                                     "agent": {"algo": "ppo", "total_steps": 5000, "n_steps": 64}})
    assert lab.run(exploding, runs_dir=root).state == "failed"
    for name, status in (("cartpole-ppo", "STATUS_UNKNOWN"), ("exploding", "STATUS_FAILURE")):
        run = resolve_run(name, root, states=("stopped", "failed"))  # (a name alone calls a completed run)
        live = read_back(run.artifact("tensorboard"))
        assert api_pb2.Status.Name(hparams(live)[1].status) == status
        assert_same(live, "episode/return", *series(list(run.events()), "episode", "return"))
        assert not [e for e in run.events({"log"}) if e["level"] == "warning" and "TensorBoard" in e["message"]]


def test_population_members_and_aggregated_episodes_are_exported(population_run, tmp_path):
    run, root = population_run
    acc = read_back(export(run.id, out=tmp_path / "tb", runs_dir=root) / run.id)
    events = list(run.events())
    assert any(e["kind"] == "episodes" for e in events)  # a fast interval's episodes, aggregated
    assert_same(acc, "episode/return", *series(events, "episode", "return"))
    evals = [e for e in events if e["kind"] == "eval" and not e.get("final")]
    for m in range(3):
        assert_same(acc, f"eval/member/{m}", [e["step"] for e in evals], [e["members"][m] for e in evals])
    assert_same(acc, "eval/min", [e["step"] for e in evals], [e["min"] for e in evals])
    histograms = acc.Histograms("eval/members")
    assert [h.step for h in histograms] == [e["step"] for e in evals]
    assert [h.histogram_value.num for h in histograms] == [3] * len(evals)


def test_running_and_crashed_runs_export_what_they_wrote(finished_run, tmp_path):
    run = finished_run
    for state, identity in (("running", process_identity()), ("crashed", {"pid": 2**22 + 1})):
        copy = tmp_path / "runs" / f"{run.id[:-4]}{state}"
        copy.mkdir(parents=True)
        lines = run.events_path.read_bytes().splitlines(keepends=True)
        (copy / "events.jsonl").write_bytes(b"".join(lines[: len(lines) // 2]) + b'{"t": 1, "kind": "epis')  # mid-write
        (copy / "spec.toml").write_bytes(run.spec_path.read_bytes())
        summary = {**json.loads(run.summary_path.read_text()), "state": "running", "ended": None, **identity}
        (copy / "summary.json").write_text(json.dumps(summary))
        assert resolve_run(copy.name, copy.parent).state == state
        acc = read_back(export(copy.name, out=tmp_path / "tb", runs_dir=copy.parent) / copy.name)
        kept = list(read_events(copy / "events.jsonl"))
        assert_same(acc, "episode/rolling_return", *series(kept, "episode", "rolling_return"))
        end = hparams(acc)[1]
        assert (end is None) if state == "running" else api_pb2.Status.Name(end.status) == "STATUS_FAILURE"


def test_a_second_export_replaces_the_first(finished_run, tmp_path):
    run = finished_run
    out = tmp_path / "tb"
    export(run.id, out=out, runs_dir=run.path.parent)
    once = len(read_back(out / run.id).Scalars("episode/return"))
    export(run.id, run.id[:-2], out=out, runs_dir=run.path.parent)  # twice on the line: exported once
    assert len(list((out / run.id).iterdir())) == 1 and len(read_back(out / run.id).Scalars("episode/return")) == once
    assert [p.name for p in out.iterdir()] == [run.id]


@pytest.mark.parametrize("case", ["attribution run", "missing run", "DIR is a file", "DIR under a file", "DIR/<id> is not an export"])
def test_bad_input_is_one_line_and_exit_2(finished_run, tmp_path, capsys, case):
    run = finished_run
    root, ref, out = run.path.parent, run.id, tmp_path / "tb"
    if case == "attribution run":
        root = tmp_path / "runs"
        ref = attribution_run(root).name
    elif case == "missing run":
        ref = "no-such-run"
    elif case == "DIR is a file":
        out.write_text("x")
    elif case == "DIR under a file":
        (tmp_path / "file").write_text("x")
        out = tmp_path / "file" / "tb"
    else:
        (out / run.id).mkdir(parents=True)
        (out / run.id / "notes.txt").write_text("mine")
    capsys.readouterr()
    code = cli("export", ref, "--tensorboard", out, "--runs-dir", root)
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("lab: ") and err.count("\n") == 1, err
    expected = {"attribution run": "is an attribution run", "missing run": "no run 'no-such-run'",
                "DIR is a file": "is a file, not a folder", "DIR under a file": "cannot write there",
                "DIR/<id> is not an export": "is not an earlier export"}[case]
    assert expected in err
    if case == "DIR/<id> is not an export":
        assert [p.name for p in (out / run.id).iterdir()] == ["notes.txt"]  # left alone
    elif case in ("attribution run", "missing run"):
        assert not out.exists()  # nothing written


def test_the_command_line_exports_in_a_subprocess(finished_run, tmp_path):
    run = finished_run
    proc = subprocess.run([sys.executable, "-m", "lab", "export", run.id, "--tensorboard", str(tmp_path / "tb"),
                           "--runs-dir", str(run.path.parent)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].startswith(f"{run.id} (completed): ") and "tensorboard --logdir" in proc.stdout


def test_importing_the_module_loads_neither_torch_nor_tensorboard():
    probe = subprocess.run([sys.executable, "-c", "import sys, lab.tensorboard, lab.cli; "
                            "print(sorted(m for m in ('torch', 'tensorboard') if m in sys.modules))"],
                           capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)})
    assert probe.stdout.strip() == "[]", probe.stderr
