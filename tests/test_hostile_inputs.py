"""Input a hostile user would try, one class at a time: sizes that multiply past memory, a YAML
alias bomb, a huge events line, deep and non-finite JSON, escape sequences and floods of text from
folders, non-finite command-line numbers, and a runs root of folders that are not runs. Each is
one line (or a row marked corrupt), exit 2 where it is refused, no traceback, bounded time and
memory, nothing written and nothing lost."""

import hashlib
import json
import os
import re
import subprocess
import sys
import time

import pytest

from lab.store import Run, list_runs

from .conftest import REPO
from .seeded_runs import rl_run

ESC_ID = "20261124-000000-x\x1b]0;pwned\x07\x1b[2J"  # sets a terminal's title, clears its screen
ESC_ERROR = "boom \x1b]0;owned\x07\x1b[2J\x1b[31m [bold]not markup[/bold]"


def _lab(*args, runs_dir=None, measure=False, timeout=120, cwd=REPO):
    """`python -m lab ARGS` as a user runs it. `measure`: through a small parent that reports
    the command's peak RSS (RUSAGE_CHILDREN of a process with no other child): (proc, bytes)."""
    cmd = [sys.executable, "-m", "lab", *map(str, args)] + (["--runs-dir", str(runs_dir)] if runs_dir is not None else [])
    if not measure:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    probe = ("import json, resource, subprocess, sys\n"
             "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
             "print(json.dumps([p.returncode, p.stdout, p.stderr, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]))")
    out = subprocess.run([sys.executable, "-c", probe, *cmd], capture_output=True, text=True, timeout=timeout, cwd=cwd)
    rc, stdout, stderr, kib = json.loads(out.stdout)
    return subprocess.CompletedProcess(cmd, rc, stdout, stderr), kib * 1024


def _one_line_refusal(proc, *expected):
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    for part in expected:
        assert part in proc.stderr, proc.stderr


def _fingerprint(root) -> dict:
    """Every file under `root` and its content's hash: a reader must leave it as it was."""
    out = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            if os.path.isfile(path):
                with open(path, "rb") as f:
                    out[path] = hashlib.sha256(f.read()).hexdigest()
    return out


def _summary_run(root, name, **fields):
    """A finished run folder whose summary.json says `fields` (as JSON text where a value is bytes)."""
    path = root / name
    path.mkdir(parents=True)
    summary = {"id": name, "experiment": "x", "kind": "rl", "state": "completed", "started": 1795400000.0,
               "ended": 1795400010.0, "duration_seconds": 10.0}
    raw = {k: v for k, v in fields.items() if isinstance(v, bytes)}
    summary.update({k: v for k, v in fields.items() if not isinstance(v, bytes)})
    text = json.dumps(summary)
    for key, value in raw.items():  # JSON json.dumps would not write: NaN, 1e999, deep nesting
        text = text[:-1] + f', "{key}": ' + value.decode() + "}"
    (path / "summary.json").write_text(text)
    (path / "events.jsonl").write_text('{"t": 1, "kind": "status", "state": "completed"}\n')
    return path


# ---------------------------------------------------------------------------------- sizes

@pytest.mark.parametrize("sets,expected", [
    (["population=65536", "env.n_envs=256"], "population: the rollout (65,536 members x 256 envs x 32 steps) would take about"),
    (["population=4096", "env.n_envs=1", "agent.n_steps=1", "agent.batch_size=2", "eval.final_episodes=10000"],
     "eval.final_episodes: the final evaluation's environments (4,096 members x 10,000 episodes)"),
], ids=["population-x-envs", "population-x-final-episodes"])
@pytest.mark.slow  # lab processes started to see what a whole process does (each imports torch: 1.5 s of CPU)
def test_a_population_too_large_for_memory_is_refused_before_it_allocates(runs_dir, sets, expected):
    start = time.monotonic()
    proc, peak = _lab("run", "cartpole-ppo-torch", *(a for s in sets for a in ("--set", s)), "--set", 'device="cpu"',
                      runs_dir=runs_dir, measure=True)
    _one_line_refusal(proc, expected, "of memory free; lower ")
    assert time.monotonic() - start < 30 and peak < 1 << 30, peak  # refused, not grown until the OOM killer came
    assert not runs_dir.exists()


def test_env_arguments_too_large_to_build_from_are_refused_before_the_env_is_built(tmp_path, runs_dir):
    """A FrozenLake map of 1500 x 1500 cells (2 MiB of env.kwargs) makes gymnasium build a 4.5 GB
    transition table over two minutes before any count of states could refuse it."""
    n = 1500
    desc = ["S" + "F" * (n - 1)] + ["F" * n] * (n - 2) + ["F" * (n - 1) + "G"]
    text = (REPO / "experiments" / "frozenlake-qlearning.toml").read_text()
    (tmp_path / "huge.toml").write_text(text.replace("kwargs = { is_slippery = true }",
                                                     "kwargs = { is_slippery = true, desc = " + json.dumps(desc) + " }"))
    start = time.monotonic()
    proc, peak = _lab("run", tmp_path / "huge.toml", runs_dir=runs_dir, measure=True)
    _one_line_refusal(proc, "huge.toml: env.kwargs: 2,203 KiB of arguments; lab passes at most 16 KiB")
    assert time.monotonic() - start < 20 and peak < 500 << 20, peak
    assert not runs_dir.exists()


@pytest.mark.slow  # lab processes started to see what a whole process does (each imports torch: 1.5 s of CPU)
def test_a_population_sweep_too_large_for_memory_is_refused_before_its_folder_exists(tmp_path, runs_dir):
    rates = ", ".join(f"{0.001 + i / 1e6:.6f}" for i in range(1999))
    (tmp_path / "big.toml").write_text(f'kind = "sweep"\nname = "big"\n[sweep]\nexperiment = "cartpole-ppo-torch"\n'
                                       f'method = "grid"\nbackend = "population"\nseeds = {list(range(30))}\n'
                                       f'[sweep.params]\n"agent.learning_rate" = [{rates}]\n"env.n_envs" = [256]\n')
    start = time.monotonic()
    proc = _lab("sweep", tmp_path / "big.toml", runs_dir=runs_dir)
    _one_line_refusal(proc, "big.toml: sweep: its population run of 59,970 members (1,999 settings x 30 seeds) does not fit")
    assert time.monotonic() - start < 30 and not runs_dir.exists()


def _billion_laughs() -> str:
    """Nine levels of nine aliases of the level below: 9**9 (387 million) strings in 700 bytes."""
    levels = ['"lol"'] + [f"*{name}" for name in "abcdefgh"]
    lines = [f"{name}: &{name} [{', '.join([item] * 9)}]" for name, item in zip("abcdefghi", levels)]
    return "\n".join(lines) + "\nCartPole-v1:\n  n_timesteps: 1000\n  policy: MlpPolicy\n  x: *i\n"


@pytest.mark.parametrize("yaml,expected", [
    (_billion_laughs(), "its aliases expand to more than 100,000 values"),
    ("a: &a [*a]\nCartPole-v1: {n_timesteps: 1000, policy: MlpPolicy, x: *a}\n", "its aliases expand to more than"),
    ("[" * 100_000 + "]" * 100_000 + "\n", "nested too deeply"),
    ("CartPole-v1:\n  policy: MlpPolicy\n" + "  # padding\n" * 120_000, "larger than 1 MiB"),
], ids=["billion-laughs", "self-referring-alias", "deep", "oversized"])
def test_a_yaml_bomb_in_an_rl_zoo_file_is_refused_fast_in_bounded_memory(tmp_path, yaml, expected):
    (tmp_path / "ppo.yml").write_text(yaml)
    start = time.monotonic()
    proc, peak = _lab("import", "rl-zoo", tmp_path / "ppo.yml", "CartPole-v1", "--out", tmp_path / "out.toml", measure=True)
    _one_line_refusal(proc, expected)
    assert time.monotonic() - start < 20 and peak < 300 << 20, peak
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ppo.yml"]


# ---------------------------------------------------------------------------------- readers

def test_a_huge_events_line_is_skipped_in_bounded_memory(tmp_path, monkeypatch):
    import lab.events

    monkeypatch.setattr(lab.events, "MAX_EVENTS", 256 << 20)  # read_events reads the 128 MiB file whole (32 MiB by default)
    root = tmp_path / "runs"
    path = _summary_run(root, "20261124-000000-huge-line")
    size = 128 << 20
    with open(path / "events.jsonl", "wb") as f:  # written in pieces: this process stays small when it forks
        f.write(b'{"t":1,"kind":"episode","step":10,"return":1.0,"rolling_return":1.0}\n')
        f.write(b'{"t":2,"kind":"log","message":"')
        for _ in range(size >> 20):
            f.write(b"x" * (1 << 20))
        f.write(b'"}\n{"t":3,"kind":"episode","step":20,"return":2.0,"rolling_return":2.0}\n')
    before = _fingerprint(root)
    proc, peak = _lab("show", path.name, runs_dir=root, measure=True)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "return: rolling mean" in proc.stdout  # the episodes on both sides of the line are read
    assert peak < size // 2, peak  # 1.06 GB for a 256 MiB line before: the line was held, parsed and copied
    assert [e["step"] for e in Run.load(path).events({"episode"})] == [10, 20]
    assert _fingerprint(root) == before


def _events_over_the_limit(path, evals: int = 60_000) -> int:
    """A run's events.jsonl of more than 4 MiB (a large file for `scan`): episodes, then `evals`
    tiny eval lines numbered by step, then an episode; its size."""
    with open(path / "events.jsonl", "wb") as f:
        f.write(b"".join(b'{"t":1,"kind":"episode","step":%d,"return":1.0,"length":1,"rolling_return":1.0}\n' % i
                         for i in range(20_000)))
        f.write(b"".join(b'{"t":1,"kind":"eval","step":%d,"mean":2.0,"std":0,"episodes":1}\n' % i for i in range(evals)))
        f.write(b'{"t":1,"kind":"episode","step":99999999,"return":3.0,"length":1,"rolling_return":3.0}\n')
    return (path / "events.jsonl").stat().st_size


def test_lab_show_of_events_past_the_limit_reads_the_latest_and_says_what_it_left_out(tmp_path):
    root = tmp_path / "runs"
    path = _summary_run(root, "20261124-000000-many-evals")
    size = _events_over_the_limit(path)
    assert size > 5 << 20
    env = {**os.environ, "LAB_MAX_EVENTS_MB": "1"}
    proc = subprocess.run([sys.executable, "-m", "lab", "show", path.name, "--runs-dir", str(root)], capture_output=True,
                          text=True, timeout=120, cwd=REPO, env=env)
    assert proc.returncode == 0 and not proc.stderr, proc.stderr
    note = [line for line in proc.stdout.splitlines() if "more than lab reads" in line]
    assert len(note) == 1, proc.stdout
    assert re.fullmatch(r"  events.jsonl is 5\.\d MiB, more than lab reads \(1\.0 MiB of events; LAB_MAX_EVENTS_MB raises it\): "
                        r"lab read the events of its last 1\.\d MiB and sampled the episodes of all of it", note[0]), note[0]
    assert "return: rolling mean" in proc.stdout  # the episodes at the start of the file are still drawn


def test_scan_parses_at_most_the_limit_and_keeps_the_latest_events(tmp_path, monkeypatch):
    import lab.events
    from lab.events import scan

    path = tmp_path / "run"
    path.mkdir()
    size = _events_over_the_limit(path)
    whole = scan(path / "events.jsonl")
    assert [e["step"] for e in whole.events if e["kind"] == "eval"] == list(range(60_000)) and not whole.note()
    monkeypatch.setattr(lab.events, "MAX_EVENTS", 1 << 20)
    s = scan(path / "events.jsonl")
    steps = [e["step"] for e in s.events if e["kind"] == "eval"]
    assert steps == list(range(steps[0], 60_000)) and 14_000 < len(steps) < 20_000  # the latest 1 MiB of 60-67-byte lines
    assert s.offset == size and s.events_from > 0 and s.episodes_from == 0 and s.episodes == 20_001
    assert [e["step"] for e in s.events if e["kind"] == "episode"][-1] == 99999999  # the latest episode, sampled
    assert "lab read the events of its last 1.0 MiB" in s.note()
    monkeypatch.setattr(lab.events, "SCAN_READ", 2)  # episodes in the last 2 MiB only: none but the last
    s = scan(path / "events.jsonl")
    assert s.episodes == 1 and s.episodes_from == size - (2 << 20) and "sampled the episodes of its last 2.0 MiB" in s.note()


def test_a_burst_of_events_past_the_limit_is_skipped_to_its_latest(tmp_path, monkeypatch):
    import lab.events
    from lab.events import EventTail

    monkeypatch.setattr(lab.events, "MAX_EVENTS", 100_000)
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"t":1,"kind":"log","message":"first"}\n')
    tail = EventTail(path)
    assert [e["message"] for e in tail.read()] == ["first"] and tail.skipped == 0
    with open(path, "ab") as f:
        f.write(b"".join(b'{"t":1,"kind":"eval","step":%d,"mean":1}\n' % i for i in range(10_000)))
    steps = [e["step"] for e in tail.read()]
    assert steps == list(range(steps[0], 10_000)) and 2_000 < len(steps) < 3_000 and tail.skipped > 200_000
    assert tail.read() == [] and tail.offset == path.stat().st_size  # and on from the end


def test_reading_every_event_of_a_file_past_the_limit_is_refused_in_one_line(tmp_path, monkeypatch):
    import lab.events
    from lab.events import EventsTooLarge

    root = tmp_path / "runs"
    path = _summary_run(root, "20261124-000000-big")
    path.joinpath("events.jsonl").write_bytes(b'{"t":1,"kind":"eval","step":1,"mean":1}\n' * 1000)
    assert len(Run.load(path).series("eval", "mean")[0]) == 1000
    monkeypatch.setattr(lab.events, "MAX_EVENTS", 10_000)
    with pytest.raises(EventsTooLarge, match=r"events.jsonl is 39 KiB of events, more than lab reads whole "
                                              r"\(limit 10 KiB; LAB_MAX_EVENTS_MB raises it\)"):
        Run.load(path).series("eval", "mean")


@pytest.mark.parametrize("lines,expected", [
    (2_000, "events.jsonl is 123 KiB of events, more than lab reads whole (limit 102 KiB; LAB_MAX_EVENTS_MB raises it)"),
    (900, "events.jsonl holds more than 819 events, more than lab exports in a minute (limit 102 KiB / 128 bytes; "
          "LAB_MAX_EVENTS_MB raises it)"),
], ids=["bytes", "lines"])
def test_lab_export_of_events_past_the_limit_is_refused_before_anything_is_written(tmp_path, lines, expected):
    root = tmp_path / "runs"
    path = rl_run(root, "20261124-000000-cartpole-ppo-aaaa", "cartpole-ppo", 0)
    path.joinpath("events.jsonl").write_bytes(b'{"kind":"eval","step":1,"mean":1.0,"x":"yyyyyyyyyyyyyyyyyyyy"}\n' * lines)
    env = {**os.environ, "LAB_MAX_EVENTS_MB": "0.1"}
    before = _fingerprint(root)
    proc = subprocess.run([sys.executable, "-m", "lab", "export", path.name, "--tensorboard", str(tmp_path / "tb"),
                           "--runs-dir", str(root)], capture_output=True, text=True, timeout=120, cwd=REPO, env=env)
    _one_line_refusal(proc, f"lab: {path.name}: cannot be exported: {expected}")
    assert not (tmp_path / "tb").exists() or not any((tmp_path / "tb").iterdir())
    assert _fingerprint(root) == before


def test_lab_show_of_a_sweep_of_thousands_of_trials_prints_the_best_hundred(tmp_path):
    from lab.sweep.record import Job, SweepRecord, Trial

    root = tmp_path / "runs"
    path = root / "20260101-000000-hand-beef"
    (path / "logs").mkdir(parents=True)
    (path / "sweep.toml").write_text('name = "hand"\nkind = "sweep"\n[sweep]\nexperiment = "cartpole-ppo"\nseeds = [0]\n'
                                     '[sweep.params]\n"agent.learning_rate" = [0.001, 0.003]\n')
    trials = [Trial(i, {"agent.learning_rate": 0.001}, [Job(0, f"20260101-000001-cartpole-ppo-{i:04x}", "completed", float(i))],
                    "complete", float(i), 0.0) for i in range(3000)]
    record = SweepRecord(id=path.name, name="hand", experiment="cartpole-ppo", metric="final_eval_return_mean",
                         direction="maximize", method="grid", backend="local", seeds=[0], state="completed", started=1.0,
                         ended=2.0, total_trials=3000, trials=trials)
    (path / "sweep.json").write_text(json.dumps(record.to_dict()))
    proc = _lab("show", path.name, runs_dir=root)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    rows = [line.split()[0] for line in proc.stdout.splitlines() if line.split() and line.split()[0].isdigit()]
    assert rows == [str(i) for i in range(2999, 2899, -1)]  # the best hundred, best first
    assert f"... and 2,900 more trials, ranked lower; every trial is in {path / 'sweep.json'}" in proc.stdout
    assert len(proc.stdout) < 30_000 and "best: trial 2999" in proc.stdout


def test_a_deeply_nested_summary_or_event_is_corrupt_not_a_traceback(tmp_path):
    root = tmp_path / "runs"
    deep = _summary_run(root, "20261124-000000-deep", results=b"[" * 100_000 + b"]" * 100_000)
    good = _summary_run(root, "20261124-000001-good")
    with open(good / "events.jsonl", "a") as f:
        f.write('{"t": 2, "kind": "log", "message": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
        f.write('{"t": 3, "kind": "log", "message": "after"}\n')
    before = _fingerprint(root)
    runs = _lab("runs", runs_dir=root)
    assert runs.returncode == 0 and "Traceback" not in runs.stderr, runs.stderr
    assert f"{deep.name}: corrupt: summary.json: not JSON (nested deeper than 64 levels)" in runs.stdout
    assert "completed" in next(line for line in runs.stdout.splitlines() if line.startswith(good.name))
    shown = _lab("show", deep.name, runs_dir=root)
    assert shown.returncode == 0 and "state corrupt: summary.json: not JSON (nested deeper" in shown.stdout, shown.stderr
    assert [e.get("message") for e in Run.load(good).events({"log"})] == ["after"]  # the deep line skipped, the next read
    assert _fingerprint(root) == before


def test_a_deeply_nested_spec_toml_is_one_line_for_every_command_that_reads_it(tmp_path):
    root = tmp_path / "runs"
    path = _summary_run(root, "20261124-000000-deep-spec")
    (path / "spec.toml").write_text('name = "x"\na = ' + "[" * 100_000 + "]" * 100_000 + "\n")
    before = _fingerprint(root)
    for args in (("eval", path.name), ("explain", path.name), ("play", path.name), ("record", path.name, "--out", tmp_path / "x.gif")):
        _one_line_refusal(_lab(*args, runs_dir=root), "nested too deeply")
    assert _fingerprint(root) == before and not (tmp_path / "x.gif").exists()


@pytest.mark.parametrize("fields,problem", [
    ({"started": b"NaN"}, "summary.json: not JSON (NaN is not a JSON number)"),
    ({"started": b"1e999"}, "summary.json: not JSON (1e999 is not a finite number)"),
    ({"started": "nan"}, "summary.json: started: not a finite number (nan)"),
    ({"results": {"final_eval_return_mean": "-inf"}}, "summary.json: results.final_eval_return_mean: not a finite number"),
    ({"started": 1e300}, "summary.json: started: 1e+300 is not a value a run writes"),
    ({"duration_seconds": -5.0}, "summary.json: duration_seconds: -5.0 is not a value a run writes"),
    ({"progress": {"step": 10**18, "total": 100}}, "summary.json: progress.step: 1000000000000000000 is not a value"),
    ({"progress": {"step": 10**20, "total": 100}}, "summary.json: not JSON (10000000000000000000... (21 digits) is beyond a 64-bit integer)"),
    ({"progress": {"step": 1, "fraction": 1e12}}, "summary.json: progress.fraction: 1000000000000.0 is not"),
    ({"ended": 1795300000.0}, "summary.json: ended: 1795300000.0 is before started"),
], ids=["nan-literal", "overflow", "nan-text", "inf-result", "absurd-start", "negative-duration", "absurd-steps",
        "steps-beyond-64-bits",
        "absurd-fraction", "ends-before-it-starts"])
def test_a_non_finite_or_absurd_number_in_a_summary_makes_it_corrupt(tmp_path, fields, problem):
    root = tmp_path / "runs"
    path = _summary_run(root, "20261124-000000-doctored", **fields)
    run = Run.load(path)
    assert run.state == "corrupt" and run.problem.startswith(problem), run.problem
    assert [r.id for r in list_runs(root)] == [path.name]  # still listed, as corrupt: nothing hidden


def test_a_non_finite_start_shows_as_corrupt_in_lab_runs_and_show(tmp_path):
    root = tmp_path / "runs"
    path = _summary_run(root, "20261124-000000-nan-start", started="nan")
    good = rl_run(root, "20261124-000001-cartpole-ppo-good", "cartpole-ppo", 0)
    before = _fingerprint(root)
    runs = _lab("runs", runs_dir=root)
    assert runs.returncode == 0 and "Traceback" not in runs.stderr, runs.stderr
    assert f"{path.name}: corrupt: summary.json: started: not a finite number (nan)" in runs.stdout
    assert "500.00" in next(line for line in runs.stdout.splitlines() if line.startswith(good.name))
    shown = _lab("show", path.name, runs_dir=root)
    assert shown.returncode == 0 and "state corrupt: summary.json: started: not a finite number" in shown.stdout
    assert _fingerprint(root) == before


def test_escape_sequences_in_ids_and_errors_are_printed_escaped(tmp_path):
    root = tmp_path / "runs"
    path = _summary_run(root, ESC_ID, state="failed", error=ESC_ERROR, experiment="exp\x1b[2Jname")
    before = _fingerprint(root)
    for args in (("runs",), ("show", path.name)):
        proc = _lab(*args, runs_dir=root)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
        assert "\x1b" not in proc.stdout and "\x07" not in proc.stdout, repr(proc.stdout)
        assert "x\\x1b]0;pwned\\x07\\x1b[2J" in proc.stdout and "exp\\x1b[2Jname" in proc.stdout
        assert "boom \\x1b]0;owned\\x07\\x1b[2J\\x1b[31m [bold]not markup[/bold]" in proc.stdout
    missing = _lab("show", "nothing\x1b]0;x\x07", runs_dir=root)  # a refusal quoting what the user typed
    _one_line_refusal(missing, "no run 'nothing\\x1b]0;x\\x07'")
    assert "\x1b" not in missing.stderr
    assert _fingerprint(root) == before


def test_a_ten_megabyte_error_is_cut_when_printed(tmp_path):
    root = tmp_path / "runs"
    path = _summary_run(root, "20261124-000000-flood", state="failed", error="E" * (10 << 20))
    before = _fingerprint(root)
    for args in (("runs",), ("show", path.name)):
        proc = _lab(*args, runs_dir=root)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
        assert len(proc.stdout) < 20_000 and f"[... {(10 << 20) - 2000:,} more characters]" in proc.stdout
    assert _fingerprint(root) == before


def _screen_text(app) -> str:
    """What the dashboard shows now, as text (its SVG screenshot's, entities resolved)."""
    import html

    return html.unescape(app.export_screenshot()).replace("\xa0", " ")


async def test_the_dashboard_shows_escape_sequences_and_markup_from_a_folder_as_text(tmp_path):
    from lab.tui.app import LabApp

    from .pilot import runs_shown, wait_for

    root = tmp_path / "runs"
    _summary_run(root, ESC_ID, state="failed", error=ESC_ERROR, experiment="exp[bold]\x1b[2J")
    app = LabApp(root)
    async with app.run_test(size=(160, 40)) as pilot:
        table = await runs_shown(pilot, 1)
        screen = _screen_text(app)
        assert "\x1b" not in screen and "\x07" not in screen
        assert "exp[bold]\\x1b[2J" in screen  # literally: neither markup nor a sequence
        table.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "RunScreen", timeout=10, step=0.05)
        await wait_for(pilot, lambda: app.screen.ready, timeout=10, step=0.05)
        screen = _screen_text(app)
        assert "\x1b" not in screen and "\x07" not in screen
        assert "[bold]not markup[/bold]" in screen and "\\x1b]0;owned\\x07" in screen
        app.notify("deleted x\x1b]0;t\x07 [b]y[/b]")  # notifications (they quote ids): plain text too
        await pilot.pause(0.1)
        (note,) = list(app._notifications)  # (a headless test draws no toasts)
        assert note.message == "deleted x\\x1b]0;t\\x07 [b]y[/b]" and not note.markup


# ---------------------------------------------------------------------------------- the command line

@pytest.mark.parametrize("args,expected", [
    (("play", "RUN", "--fps", "nan"), "lab play: --fps: must be a finite number from 0.1 to 100 (got nan)"),
    (("record", "RUN", "--out", "x.gif", "--fps", "1e308"), "lab record: --fps: must be a finite number from 0.1 to 100"),
    (("run", "cartpole-ppo", "--seed", "-1"), "lab run: --seed: must be a whole number from 0 to 2,147,483,647 (got -1)"),
    (("eval", "RUN", "--seed", str(2**64)), "lab eval: --seed: must be a whole number from 0 to 2,147,483,647"),
    (("eval", "RUN", "--episodes", "0"), "lab eval: --episodes: must be a whole number from 1 to 10,000 (got 0)"),
    (("eval", "RUN", "--episodes", "9" * 5000), "lab eval: --episodes: must be a whole number"),
    (("eval", "RUN", "--attack", "noise", "--epsilon", "inf"), "lab eval: --epsilon: must be a finite number from 0 to 1,000,000"),
    (("explain", "RUN", "--samples", "1e3"), "lab explain: --samples: must be a whole number from 1 to 10,000 (got '1e3')"),
    (("sweep", "x", "--workers", "0"), "lab sweep: --workers: must be a whole number from 1 to 256 (got 0)"),
], ids=["fps-nan", "fps-huge", "seed-negative", "seed-huge", "episodes-zero", "episodes-5000-digits", "epsilon-inf",
        "samples-not-whole", "workers-zero"])
def test_command_line_numbers_are_checked_like_file_values(tmp_path, runs_dir, args, expected):
    proc = _lab(*args, runs_dir=runs_dir, cwd=tmp_path)
    _one_line_refusal(proc, expected)
    assert len(proc.stderr) < 300 and not runs_dir.exists() and not any(tmp_path.iterdir())


# ---------------------------------------------------------------------------------- idle cost

def test_the_runs_watcher_skips_folders_that_are_not_runs_until_they_change(tmp_path, monkeypatch):
    import lab.watch
    from lab.watch import IDLE_SLICE, RunsWatch

    def stats_per_poll(n_empty: int):
        root = tmp_path / f"root-{n_empty}"
        rl_run(root, "20261124-000000-cartpole-ppo-a", "cartpole-ppo", 0)
        old = time.time() - 3600  # made an hour ago: not young
        for i in range(n_empty):
            os.mkdir(root / f"empty-{i:05d}")
            os.utime(root / f"empty-{i:05d}", (old, old))
        os.utime(root, (old, old))
        watch = RunsWatch(root)
        watch.poll()
        calls, stamp = [], lab.watch.file_stamp
        monkeypatch.setattr(lab.watch, "file_stamp", lambda p: calls.append(p) or stamp(p))
        for _ in range(3):
            watch.poll()
        monkeypatch.setattr(lab.watch, "file_stamp", stamp)
        return len(calls) // 3, watch, root

    small, _, _ = stats_per_poll(100)
    large, watch, root = stats_per_poll(IDLE_SLICE * 4)
    assert large <= small + IDLE_SLICE  # not 3 stats per folder per poll, as before: bounded whatever the count
    assert watch.runs.keys() == {"20261124-000000-cartpole-ppo-a"}

    # a skipped folder that becomes a run is found within a round of slices; a new folder at once
    rl_run(root / "empty-00007", "inner", "x", 0)  # (a run folder one level down does not count)
    (root / "empty-00009" / "summary.json").write_text(json.dumps({"state": "completed", "experiment": "late"}))
    polls = 0
    while "empty-00009" not in watch.runs:
        watch.poll()
        polls += 1
        assert polls <= 4 + 2, "a skipped folder that changed was never looked at again"  # 4 slices, and a new round
    rl_run(root, "20261124-000001-cartpole-ppo-b", "cartpole-ppo", 1)
    changes = watch.poll()
    assert "20261124-000001-cartpole-ppo-b" in changes.changed and "empty-00007" not in watch.runs


def test_an_integer_beyond_64_bits_in_an_event_or_artifact_is_corrupt_not_a_traceback(tmp_path):
    from lab.files import json_data

    root = tmp_path / "runs"
    path = _summary_run(root, "20261124-000000-huge-int")
    with open(path / "events.jsonl", "a") as f:
        f.write('{"t": 2, "kind": "eval", "step": ' + "9" * 400 + ', "mean": 1, "std": 0, "episodes": 1}\n')
        f.write('{"t": 3, "kind": "eval", "step": 30, "mean": ' + "9" * 400 + ', "std": 0, "episodes": 1}\n')
        f.write('{"t": 4, "kind": "log", "message": "after"}\n')
    assert not list(Run.load(path).events({"eval"}))  # both lines skipped as corrupt
    assert [e.get("message") for e in Run.load(path).events({"log"})] == ["after"]
    with pytest.raises(ValueError, match="beyond a 64-bit integer"):
        json_data('{"epsilons": [' + "9" * 400 + "]}")
    assert json_data(str(2**63 - 1)) == 2**63 - 1
    shown = _lab("show", path.name, runs_dir=root)
    assert shown.returncode == 0 and "Traceback" not in shown.stderr, shown.stderr


def test_deep_dotted_keys_and_deep_sweep_settings_are_refused_before_they_are_built(tmp_path):
    import tomllib

    from lab.files import toml_data
    from lab.sweep.record import SweepCorrupt, _parse_trial

    start = time.monotonic()
    with pytest.raises(tomllib.TOMLDecodeError, match="line 2: a dotted key of more than 64 parts"):
        toml_data('name = "x"\n' + ".".join(["a"] * 50_000) + " = 1\n")
    assert time.monotonic() - start < 5  # 6 GB and minutes in tomllib before
    deep = ".".join(["a"] * 40_000)
    for text in (f'"=".{deep} = 1', f"'='.{deep} = 1", f"x = {{{deep} = 1}}"):  # a quoted '=' in the key; an inline table's
        with pytest.raises(tomllib.TOMLDecodeError, match="line 1: a dotted key of more than 64 parts"):
            toml_data(text)
    assert time.monotonic() - start < 5
    assert toml_data("v = [" + ", ".join(["0.1"] * 5000) + "]")["v"][-1] == 0.1  # many dots, no deep key
    assert toml_data('a.b.c = "x.y.z"\n[env.kwargs]\nis_slippery = false\n')["a"]["b"]["c"] == "x.y.z"
    trial = {"number": 0, "params": {"agent.net_arch": [64, 64], "env.kwargs": {"is_slippery": False}}, "jobs": []}
    assert _parse_trial(trial, 0, 1).params["agent.net_arch"] == [64, 64]
    with pytest.raises(SweepCorrupt, match=r"trials\[0\]\.params: .* 4 deep"):
        _parse_trial({**trial, "params": {"agent.learning_rate": json.loads("[" * 900 + "]" * 900)}}, 0, 1)


def test_an_artifact_json_over_the_size_limit_is_unreadable_without_being_parsed(tmp_path):
    from lab.files import read_json

    path = tmp_path / "comparison.json"
    path.write_text('{"methods": [' + ", ".join(["{}"] * 2000) + "]}")
    assert len(read_json(path)["methods"]) == 2000
    with pytest.raises(ValueError, match="larger than the 0 MiB lab reads"):
        read_json(path, limit=1000)


def test_a_ref_too_long_for_a_path_is_one_escaped_line(tmp_path):
    proc = _lab("show", "\x1b]0;pwned\x07" + "a" * 100_000, runs_dir=tmp_path / "runs")
    _one_line_refusal(proc, "no run '\\x1b]0;pwned\\x07aaa")
    assert len(proc.stderr) < 1000


def test_a_schedule_with_a_non_finite_start_is_refused_like_a_non_finite_rate():
    from lab.rl.params import _rate

    assert _rate("lin_0.001") == "lin_0.001"
    with pytest.raises(ValueError, match="a schedule's start must be a finite number"):
        _rate("lin_1e999")  # the run started and diverged at step 0 with exit 1 before


# ---------------------------------------------------------------------------------- paths to write

def _runs_and_sweep(root):
    """Two finished RL runs and a sweep folder in a runs root."""
    a = rl_run(root, "20261124-000000-cartpole-ppo-aaaa", "cartpole-ppo", 0)
    b = rl_run(root, "20261124-000001-cartpole-ppo-bbbb", "cartpole-ppo", 1)
    sweep = root / "20261124-000002-tiny-sweep-cccc"
    sweep.mkdir()
    (sweep / "sweep.toml").write_text('kind = "sweep"\n')
    (sweep / "sweep.json").write_text("{}")
    return a, b, sweep


@pytest.mark.parametrize("where,expected", [
    (("record", "--out", "B/x.gif"), "is inside the run folder"),
    (("record", "--out", "B/artifacts/episode.gif"), "is inside the run folder"),
    (("record", "--out", "A/spec.toml.gif"), "is inside the run folder"),  # its own run's folder too
    (("record", "--out", "SWEEP/x.gif"), "is inside the sweep folder"),
    (("record", "--out", "LINK/artifacts/x.gif"), "is inside the run folder"),  # a link of the user's into a run
    (("export", "--tensorboard", "B"), "is the run folder"),
    (("export", "--tensorboard", "B/artifacts/tb"), "is inside the run folder"),
    (("export", "--tensorboard", "SWEEP/tb"), "is inside the sweep folder"),
    (("export", "--tensorboard", "RUNS"), "is the runs root"),
    (("import", "--out", "B/artifacts/x.toml"), "is inside the run folder"),
], ids=["record-other-run", "record-other-run-artifacts", "record-own-run", "record-sweep", "record-through-a-link",
        "export-run-folder", "export-run-artifacts", "export-sweep", "export-runs-root", "import-run-artifacts"])
def test_a_path_to_write_in_a_run_or_sweep_folder_is_refused_before_any_work(tmp_path, runs_dir, where, expected):
    a, b, sweep = _runs_and_sweep(runs_dir)
    (tmp_path / "LINK").symlink_to(b)
    command, option, path = where
    for name, folder in (("A", a), ("B", b), ("SWEEP", sweep), ("RUNS", runs_dir), ("LINK", tmp_path / "LINK")):
        path = path.replace(name, str(folder), 1) if path.startswith(name) else path
    before = _fingerprint(runs_dir)
    args = ("import", "rl-zoo", "ppo.yml", "CartPole-v1") if command == "import" else (command, a.name)
    proc = _lab(*args, option, path, runs_dir=None if command == "import" else runs_dir, cwd=tmp_path)
    _one_line_refusal(proc, f"lab: {option} {path}: {expected}", "whose folders are runs and sweeps" if path == str(runs_dir)
                      else "which only lab itself writes", "e.g.")
    assert _fingerprint(runs_dir) == before and sorted(os.listdir(b)) == ["artifacts", "checkpoints", "events.jsonl", "spec.toml", "summary.json"]


@pytest.mark.parametrize("command,path,expected", [
    ("record", "/dev/full", "--out /dev/full: is a character device, not a regular file; give a file name, e.g. --out episode.gif"),
    ("record", "full.gif", "full.gif: is a character device (/dev/full, through a link), not a regular file"),
    ("record", "pipe.gif", "pipe.gif: is a named pipe, not a regular file"),
    ("record", "folder.gif", "folder.gif: is a folder; give a file name in it, e.g. --out folder.gif/episode.gif"),
    ("record", "/proc/x.gif", "--out /proc/x.gif: is in /proc, the kernel's devices and settings, not a place for lab's files"),
    ("record", "none/x.gif", "--out none/x.gif: folder none does not exist"),
    ("export", "/dev/null", "--tensorboard /dev/null: is a character device, not a folder; choose a folder, e.g. --tensorboard tb"),
    ("export", "/proc/tb", "--tensorboard /proc/tb: is in /proc"),
    ("import", "/dev/full", "--out /dev/full: is a character device, not a regular file"),
    ("import", "full.gif", "full.gif: is a character device (/dev/full, through a link)"),
], ids=["record-dev-full", "record-link-to-dev-full", "record-fifo", "record-folder", "record-proc", "record-no-folder",
        "export-dev-null", "export-proc", "import-dev-full", "import-link-to-dev-full"])
def test_a_path_to_write_that_is_not_a_place_for_a_file_is_refused(tmp_path, runs_dir, command, path, expected):
    (run, *_) = _runs_and_sweep(runs_dir)
    (tmp_path / "full.gif").symlink_to("/dev/full")
    os.mkfifo(tmp_path / "pipe.gif")
    (tmp_path / "folder.gif").mkdir()
    option = "--tensorboard" if command == "export" else "--out"
    args = ("import", "rl-zoo", "ppo.yml", "CartPole-v1") if command == "import" else (command, run.name)
    proc = _lab(*args, option, path, runs_dir=None if command == "import" else runs_dir, cwd=tmp_path)
    _one_line_refusal(proc, expected)
    assert os.readlink(tmp_path / "full.gif") == "/dev/full" and not list((tmp_path / "folder.gif").iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.gif", "full.gif", "pipe.gif", "runs"]


@pytest.fixture(scope="module")
def played_run(tmp_path_factory):
    """A real FrozenLake Q-learning run (500 steps, a few seconds): a policy `lab record` plays."""
    import lab

    root = tmp_path_factory.mktemp("runs")
    return lab.run(lab.load_experiment("frozenlake-qlearning", {"agent.total_steps": 500}), runs_dir=root)


def _without_file_writes():
    """RLIMIT_FSIZE 0 in the child: every write to a regular file fails (EFBIG), as on a full disk.
    (Python ignores SIGXFSZ, so the write raises instead of killing the process.)"""
    import resource

    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))


@pytest.mark.parametrize("command", ["record", "export", "import"])
def test_a_write_that_fails_is_one_line_exit_2_and_leaves_nothing(tmp_path, played_run, command):
    out = tmp_path / "mine"
    out.mkdir()
    target = {"record": out / "episode.gif", "export": out / "tb", "import": out / "x.toml"}[command]
    option = "--tensorboard" if command == "export" else "--out"
    args = (["import", "rl-zoo", "ppo.yml", "CartPole-v1"] if command == "import"
            else [command, played_run.id, "--runs-dir", str(played_run.path.parent)])
    proc = subprocess.run([sys.executable, "-m", "lab", *args, option, str(target)], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path, preexec_fn=_without_file_writes)
    _one_line_refusal(proc, f"lab: {option} {target}: ", "File too large")
    assert ("event files (File too large); free some space" if command == "export" else "nothing was written") in proc.stderr
    left = [str(p.relative_to(out)) for p in out.rglob("*")]
    assert left == (["tb"] if command == "export" else []), left  # (export makes DIR, then nothing in it)
