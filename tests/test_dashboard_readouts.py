"""What the screens say about a run agrees with itself (progress, elapsed, a completed run's
progress, a stop racing the run's end), and nothing is cut without saying so (the runs table at
every width, the log pane, the experiment's description, the attribution view's tables)."""

import json
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
from rich.text import Text

import lab
from lab.errors import BadInput
from lab.store import Run, _process_start, process_identity
from lab.tui.app import LabApp
from lab.tui.widgets.run_table import RunTable
from lab.watch import SeenRun

from .conftest import lab_cli, lab_main
from .pilot import runs_shown, settled, wait_for
from .seeded_runs import attribution_run, rl_run, seeded_root

SIZES = [(80, 24), (100, 30), (160, 48)]
ATTRIBUTION = "20261123-000300-breast-cancer-attributions-0003"


def edit_summary(path, **fields):
    summary = json.loads((path / "summary.json").read_text())
    for key, value in fields.items():
        if isinstance(value, dict) and isinstance(summary.get(key), dict):
            summary[key] = {**summary[key], **value}
        else:
            summary[key] = value
    (path / "summary.json").write_text(json.dumps(summary))


def drop_events(path, kind):
    lines = (path / "events.jsonl").read_text().splitlines()
    (path / "events.jsonl").write_text("".join(line + "\n" for line in lines if json.loads(line)["kind"] != kind))


def add_event(path, **event):
    with open(path / "events.jsonl", "a") as f:
        f.write(json.dumps({"t": time.time(), **event}) + "\n")


def running_attribution(root):
    """A breast-cancer run comparing its methods (3 of 4 done), alive in this very process."""
    path = attribution_run(root)
    drop_events(path, "status")
    add_event(path, kind="status", state="running")
    progress = {"phase": "compare", "method": "shap_kernel", "step": 3, "total": 4, "fraction": 0.75}
    add_event(path, kind="progress", **progress)
    edit_summary(path, state="running", ended=None, duration_seconds=None, started=time.time() - 20, progress=progress,
                 **process_identity())
    return path


def running_rl(root, seconds=55.5):
    """A PPO run started `seconds` ago (its process this very one), whose progress events count
    their own clock from when training began, 15 seconds or more after the run started."""
    path = rl_run(root, "20261123-000700-cartpole-ppo-0007", "cartpole-ppo", 0, state="running", process=process_identity())
    drop_events(path, "status")
    edit_summary(path, started=time.time() - seconds, ended=None, duration_seconds=None, results={"final_eval_return_mean": None})
    return path


def early_run(root):
    """A PPO run that completed at a quarter of its steps: its target return stopped it."""
    path = rl_run(root, "20261123-000800-cartpole-ppo-0008", "cartpole-ppo", 0)
    events = [json.loads(line) for line in (path / "events.jsonl").read_text().splitlines()]
    events = [e for e in events if e.get("step", 0) <= 25000 and e["kind"] != "status"]
    t = events[-1]["t"]
    events += [{"t": t, "kind": "progress", "step": 25000, "total": 100000, "fraction": 0.25, "steps_per_second": 2500.0},
               {"t": t, "kind": "status", "state": "completed"}]
    (path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    edit_summary(path, progress={"step": 25000, "total": 100000, "fraction": 0.25})
    return path


async def open_view(pilot, path):
    pilot.app.open_run(path)
    await wait_for(pilot, lambda: getattr(pilot.app.screen, "ready", False))
    await pilot.pause()
    return pilot.app.screen


def header(screen) -> str:
    return str(screen.query_one("#run-header").render())


def seconds_of(text: str) -> int:
    m, s = text.split(":")
    return int(m) * 60 + int(s)


# ------------------------------------------------------------------------------ progress

def test_a_phased_jobs_progress_is_in_its_summary_when_each_phase_begins(tmp_path):
    """The runs table and `lab runs` read the summary; the live view reads the events: the
    summary holds each phase the events announce as it begins (not 0% until the end)."""
    seen = []

    def on_event(e):
        if e["kind"] == "progress" and (not seen or seen[-1][0] != (e.get("phase"), e.get("method"))):
            p = Run.load(run_dir()).summary.progress
            seen.append(((e.get("phase"), e.get("method")), (getattr(p, "phase", None), getattr(p, "method", None), p.fraction), e.get("fraction")))

    def run_dir():
        (path,) = [p for p in tmp_path.iterdir() if p.is_dir()]
        return path

    spec = lab.load_experiment("breast-cancer-attributions", {
        "model.epochs": 3, "explain.samples": 4, "explain.sensitivity_samples": 0, "explain.figure_samples": 0,
        "explain.methods": ["saliency", "integrated_gradients"]})
    run = lab.run(spec, runs_dir=tmp_path, on_event=on_event)
    assert run.state == "completed", run.summary.error
    assert [phase for (phase, _), _, _ in seen] == ["train", "explain", "explain", "compare", "compare"]
    for (phase, method), recorded, fraction in seen:
        assert recorded == (phase, method, fraction)


async def test_an_attribution_runs_progress_reads_the_same_in_the_table_the_live_view_and_the_cli(tmp_path):
    path = running_attribution(tmp_path)
    app = LabApp(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        table = await runs_shown(pilot, 1)
        await pilot.pause()
        cell = str(table.get_cell(path.name, "progress"))
        assert "75%" in cell and "compare" in cell
        text = header(await open_view(pilot, path))
        assert "compare shap_kernel" in text and "75%" in text
    runs = lab_main("runs", runs_dir=tmp_path).stdout
    assert re.search(r"running\s+75% compare", runs)
    assert "progress compare shap_kernel 75%" in lab_main("show", path.name, runs_dir=tmp_path).stdout
    progress = lab.open_run(path.name, tmp_path).progress  # the API: the same rule
    assert (progress.fraction, progress.phase, progress.method) == (0.75, "compare", "shap_kernel")


async def test_a_run_that_completed_before_its_total_reads_complete_everywhere(tmp_path):
    path = early_run(tmp_path)
    app = LabApp(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        table = await runs_shown(pilot, 1)
        await pilot.pause()
        cell = str(table.get_cell(path.name, "progress"))
        assert "100%" in cell and "25%" not in cell
        text = header(await open_view(pilot, path))
        assert "step 25,000 / 100,000 (ended early: target return reached)" in text
    runs = lab_main("runs", runs_dir=tmp_path).stdout
    assert re.search(r"completed\s+100%", runs) and "25%" not in runs
    shown = lab_main("show", path.name, runs_dir=tmp_path).stdout
    assert "progress 25,000 / 100,000 steps (ended early: target return reached)" in shown
    progress = lab.open_run(path.name, tmp_path).progress
    assert progress.fraction == 1.0 and progress.early == "ended early: target return reached"


# ------------------------------------------------------------------------------ elapsed

async def test_elapsed_is_the_runs_own_from_its_start_in_the_table_the_live_view_and_lab_show(tmp_path):
    path = running_rl(tmp_path)
    app = LabApp(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        table = await runs_shown(pilot, 1)
        await pilot.pause()
        in_table = seconds_of(str(table.get_cell(path.name, "elapsed")))
        text = header(await open_view(pilot, path))
        in_view = seconds_of(re.search(r"elapsed (\d+:\d\d)", text).group(1))
    shown = lab_main("show", path.name, runs_dir=tmp_path).stdout
    in_show = seconds_of(re.search(r"duration (\d+:\d\d)", shown).group(1))
    assert 55 <= in_table <= in_view <= in_show <= in_table + 5


def test_a_resumed_runs_elapsed_leaves_out_the_time_it_was_stopped(tmp_path):
    """One definition: the time the run ran, which for a resumed run is its segments' (the
    summary's duration_seconds when it ends), not the days between its first start and its end."""
    path = rl_run(tmp_path, "20261123-000900-cartpole-ppo-0009", "cartpole-ppo", 0)
    t0 = 1795400000.0
    edit_summary(path, started=t0, ended=t0 + 86400 + 30, duration_seconds=40.0,
                 segments=[{"started": t0, "ended": t0 + 10, "from_step": 0, "to_step": 1000, "state": "stopped"},
                           {"started": t0 + 86400, "ended": t0 + 86400 + 30, "from_step": 1000, "to_step": 2000, "state": "completed"}])
    assert Run.load(path).seconds == pytest.approx(40.0)
    assert "duration 0:40" in lab_main("show", path.name, runs_dir=tmp_path).stdout


# ------------------------------------------------------------------------------ a stop racing the run's end

def test_a_run_that_ends_while_it_is_being_read_reads_as_it_ended_not_crashed(tmp_path):
    """Its summary read while it ran, then the run writes its end and its process exits, then
    the reader checks the process: the run ended as it recorded, it did not crash; a stop asked
    of the stale run says so."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        path = rl_run(tmp_path, "20261123-001000-cartpole-ppo-0010", "cartpole-ppo", 0, state="running",
                      process={"pid": proc.pid, "pid_start": _process_start(proc.pid), "host": socket.gethostname()})
        run, seen = Run.load(path), SeenRun.of(Run.load(path))
        assert seen.state == "running"
        edit_summary(path, state="completed")
    finally:
        proc.kill()
        proc.wait()
    assert run.state == "completed" and SeenRun.of(run).state == "completed"
    with pytest.raises(BadInput, match="is completed, not running"):
        lab.stop(seen)  # the dashboard's copy, read while the run went: the stop is asked after it ended


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["final eval", "delivered", "completed"])
def test_a_stop_in_a_runs_last_moments_ends_it_completed_or_stopped(tmp_path, moment):
    """SIGTERM (what the dashboard's stop and a closing terminal send) at the final evaluation,
    once the policy is delivered, and once the end is written: the run ends completed or stopped,
    and never reads crashed."""
    proc = subprocess.Popen([sys.executable, "-m", "lab", "run", "cartpole-ppo", "--set", "agent.total_steps=1024",
                             "--set", "eval.every=512", "--json", "--runs-dir", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        for line in proc.stdout:
            e = json.loads(line)
            if (moment == "final eval" and e["kind"] == "eval" and e.get("final")
                    or moment == "delivered" and e["kind"] == "log" and e["message"].startswith("delivered")
                    or moment == "completed" and e["kind"] == "status" and e["state"] == "completed"):
                proc.send_signal(signal.SIGTERM)
                break
        states = set()
        while proc.poll() is None:
            states.add(lab.list_runs(tmp_path)[0].state)
        states.add(lab.list_runs(tmp_path)[0].state)
    finally:
        proc.kill()
        proc.wait()
    (run,) = lab.list_runs(tmp_path)
    assert run.state in ("completed", "stopped") and "crashed" not in states, states


# ------------------------------------------------------------------------------ the runs table

@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_runs_table_keeps_what_identifies_a_run_at_every_width_and_marks_what_it_cuts(tmp_path, size):
    from lab.tui.widgets.run_table import COLUMNS, LaunchRow

    root = seeded_root(tmp_path)
    app = LabApp(root)
    async with app.run_test(size=size) as pilot:
        table = await runs_shown(pilot, 4)
        table.set_launches({"launch-1": LaunchRow("launch-1", "breast-cancer-attributions", 0, started=time.time())})
        await settled(app)
        await pilot.pause()
        shown = [c.key.value for c in table.columns.values()]
        assert {"experiment", "started", "state"} <= set(shown)
        kept = {key: rank for key, _, _, rank in COLUMNS}
        for key, rank in kept.items():  # a column is dropped only after every less useful one
            if key not in shown:
                assert not any(k in shown for k, r in kept.items() if r is not None and r < rank), (key, shown)
        assert sum(c.get_render_width(table) for c in table.columns.values()) <= table.size.width
        for row in table.rows:
            for key in shown:
                cell = table.get_cell(row, key)
                text = cell.plain if isinstance(cell, Text) else str(cell)
                assert Text(text).cell_len <= table.columns[key].width, (key, text)
        experiments = [str(table.get_cell(row, "experiment")) for row in table.rows]
        assert all(e.strip() and e != "-" for e in experiments)
        launch = str(table.get_cell("launch-1", "experiment"))
        assert "breast-cancer-attributions".startswith(launch.rstrip("…")) and len(launch) >= 8
        if len(launch) < len("breast-cancer-attributions"):
            assert launch.endswith("…")
        assert str(table.get_cell("20261123-000100-cartpole-ppo-0001", "started")) == time.strftime(
            "%Y-%m-%d %H:%M", time.localtime(1795400000.0))
        hint = app.home.query_one("#runs-hint")
        rendered = "".join(s.text for s in hint.render_lines(hint.region.reset_offset)[0:1])
        assert rendered.rstrip().endswith("…") or "final evaluation" in rendered


async def test_o_orders_the_runs_oldest_first_and_the_order_holds_as_runs_arrive(tmp_path):
    root = seeded_root(tmp_path)
    app = LabApp(root)
    async with app.run_test(size=(160, 48)) as pilot:
        table = await runs_shown(pilot, 4)
        table.focus()
        await pilot.pause()
        newest_first = [k.value for k in table.rows]
        assert any(b.key == "o" and b.show for b in table.BINDINGS)  # in the footer and the help
        assert "↓" in str(table.columns["started"].label)
        table.select(newest_first[1])
        await pilot.press("o")
        await pilot.pause()
        assert [k.value for k in table.rows] == newest_first[::-1]
        assert "↑" in str(table.columns["started"].label) and table.selected_key == newest_first[1]
        rl_run(root, "20261123-235900-cartpole-ppo-9999", "cartpole-ppo", 9)
        edit_summary(root / "20261123-235900-cartpole-ppo-9999", started=1795400000.0 + 86400, ended=1795400000.0 + 86460)
        app.look_now()
        await wait_for(pilot, lambda: "20261123-235900-cartpole-ppo-9999" in table.runs)
        await pilot.pause()
        assert [k.value for k in table.rows] == [*newest_first[::-1], "20261123-235900-cartpole-ppo-9999"]
        assert table.selected_key == newest_first[1]
        await pilot.press("o")
        await pilot.pause()
        assert [k.value for k in table.rows][0] == "20261123-235900-cartpole-ppo-9999"


# ------------------------------------------------------------------------------ cut content elsewhere

async def test_a_log_line_longer_than_the_pane_ends_in_an_ellipsis(tmp_path):
    path = rl_run(tmp_path, "20261123-000100-cartpole-ppo-0001", "cartpole-ppo", 0)
    add_event(path, kind="log", level="info", message="a long line " + "x" * 300 + " END")
    app = LabApp(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_view(pilot, path)
        log = screen.query_one("#run-log")
        await wait_for(pilot, lambda: any("END" in line for line in log.lines))
        log.scroll_end(animate=False)
        await pilot.pause()
        rendered = [log.render_line(y).text for y in range(log.size.height)]
        long = [line for line in rendered if "a long line" in line]
        assert long and long[0].rstrip().endswith("…") and len(long[0]) <= log.size.width


@pytest.mark.parametrize("size", [(80, 24), (100, 30)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_an_experiments_description_cut_to_its_lines_ends_in_an_ellipsis(tmp_path, size):
    app = LabApp(tmp_path)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        await pilot.press("slash", *"acrobot-ppo", "enter")
        await pilot.pause()
        detail = app.screen.query_one("#experiment-detail")
        lines = [strip.text.rstrip() for strip in detail.render_lines(detail.region.reset_offset)]
        lines = [line for line in lines if line]
        assert lines[-1].endswith("…") and "1.5 min" not in " ".join(lines)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_agreement_matrix_is_hinted_when_below_the_fold_and_f10_shows_it(tmp_path, size):
    from lab.tui.screens.attribution import Attributions, AttributionScreen

    root = seeded_root(tmp_path)
    app = LabApp(root)
    async with app.run_test(size=size) as pilot:
        await runs_shown(pilot, 4)
        screen = AttributionScreen(Attributions.read(root / ATTRIBUTION))
        app.push_screen(screen)
        await pilot.pause()
        await pilot.pause()
        tables, matrix = screen.query_one("#attr-tables"), screen.query_one("#attr-agreement")

        def matrix_shown() -> bool:
            visible = tables.region
            return matrix.region.y >= visible.y and matrix.region.bottom <= visible.bottom and matrix.region.height > 4

        hint = str(tables.border_title or "")
        if not matrix_shown():
            assert "↓" in hint and "f10" in hint
            for _ in range(5):  # the keys the hint names reach it: tab to the pane, then down
                if screen.focused is tables:
                    break
                await pilot.press("tab")
            assert screen.focused is tables
            await pilot.press("pagedown")
            await pilot.pause()
            assert tables.scroll_y > 0
            tables.scroll_home(animate=False)
            await pilot.pause()
        await pilot.press("f10")
        await pilot.pause()
        assert screen.maximized is not None
        while screen.maximized is not tables:
            await pilot.press("f10")
            await pilot.pause()
        assert matrix_shown() or size[1] < 30
        if not matrix_shown():  # (at 24 lines the tables need a scroll even maximised: the hint says so)
            assert "↓" in str(tables.border_title)
            tables.scroll_end(animate=False)
            await pilot.pause()
            assert matrix.region.bottom <= tables.region.bottom
