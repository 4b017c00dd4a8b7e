"""The sweep screen's trials table and charts at any width, and the one way lab writes a setting's or
a metric's value (lab.display.short_value), in the dashboard and the CLI alike: on a sweep folder
written by hand (sampled learning rates such as 9.24070926447e-05, trials run on seeded run folders),
no training."""

import json
import math
from pathlib import Path

import pytest

from lab.display import short_value
from lab.store import process_identity, write_atomic
from lab.sweep.record import Job, SweepRecord, Trial
from lab.tui.app import LabApp

from .conftest import lab_main
from .pilot import wait_for
from .seeded_runs import rl_run

SWEEP = "20261123-000000-lr-sweep-beef"
# what a TPE sampler gives: full float precision
RATES = [9.24070926447e-05, 0.00044303752452182633, 1.5000000000000002e-05, 0.0007212345678901234, 2.0e-05,
         3.1622776601683795e-04, 0.00012345678901234567, 5.0625000000000004e-05, 1e-05, 0.00099]
EPOCHS = [1384 + 37 * i for i in range(len(RATES))]
SHOWN = {9.24070926447e-05: "9.241e-05", 0.00044303752452182633: "0.000443", 1.5000000000000002e-05: "1.5e-05",
         0.0007212345678901234: "0.0007212", 2.0e-05: "2e-05", 1e-05: "1e-05", 0.00099: "0.00099"}


def hand_sweep(root: Path, trials: int = len(RATES), running: bool = False) -> Path:
    """A sweep folder of `trials` trials of 2 seeds over a log range of learning rates and an int
    range of epochs (gamma one choice), each job's run a seeded run folder with evaluations."""
    path = root / SWEEP
    (path / "logs").mkdir(parents=True, exist_ok=True)
    (path / "sweep.toml").write_text(
        'name = "lr-sweep"\nkind = "sweep"\n[sweep]\nexperiment = "cartpole-ppo"\nseeds = [0, 1]\nmethod = "tpe"\n'
        f'trials = {len(RATES)}\n[sweep.params]\n"agent.learning_rate" = {{low = 1e-5, high = 1e-3, log = true}}\n'
        '"agent.n_epochs" = {low = 1, high = 2000, type = "int"}\n"agent.gamma" = [0.99]\n')
    write_record(path, trials, running)
    for i in range(len(RATES)):
        for seed in (0, 1):
            if not (root / job_run(i, seed)).exists():
                rl_run(root, job_run(i, seed), "cartpole-ppo", seed + 2 * i, speed=0.6 + 0.05 * i)
    return path


def job_run(trial: int, seed: int) -> str:
    return f"20261123-{trial:02d}{seed:02d}00-cartpole-ppo-{trial:02d}{seed:02d}"


SCORES = [412.3456789, 1234.56789, 87.654321, 300.0, 12.5, 250.25, 499.999, 17.0, 66.6666, 150.0]  # trial 1 the best


def value(trial: int, seed: int) -> float:
    return SCORES[trial] + 3.3 * seed


def write_record(path: Path, trials: int, running: bool = False) -> SweepRecord:
    made = []
    for i in range(trials):
        jobs = [Job(seed, job_run(i, seed), "completed", value(i, seed), steps=4096, evals=[50.0, value(i, seed)], fraction=1.0)
                for seed in (0, 1)]
        t = Trial(i, {"agent.learning_rate": RATES[i], "agent.n_epochs": EPOCHS[i], "agent.gamma": 0.99}, jobs, "complete")
        t.close()
        made.append(t)
    alive = process_identity() if running else {"pid": None, "pid_start": None, "host": None}
    record = SweepRecord(id=SWEEP, name="lr-sweep", experiment="cartpole-ppo", metric="final_eval_return_mean",
                         direction="maximize", method="tpe", backend="local", seeds=[0, 1],
                         state="running" if running else "completed", started=1795400000.0,
                         ended=None if running else 1795400100.0, total_trials=len(RATES), trials=made, **alive)
    write_atomic(path / "sweep.json", json.dumps(record.to_dict()))
    return record


def test_a_value_is_written_one_way_short_and_whole():
    assert short_value(9.24070926447e-05) == "9.241e-05"  # its exponent whole
    assert short_value(0.00044303752452182633) == "0.000443"
    assert short_value(3e-4) == "0.0003" and short_value(1e-3) == "0.001"  # what a user typed, as typed
    assert short_value(0.99999) == "0.99999" and short_value(0.99) == "0.99"  # a discount is not rounded to 1
    assert short_value(1384) == "1384" and short_value(1384.0) == "1384" and short_value(-12345.678) == "-1.235e+04"
    assert short_value(123.45) == f"{123.45:.4g}" == "123.5"  # a mean, as the CLI has always written it
    assert short_value(None) == "-" and short_value(True) == "true" and short_value("relu") == '"relu"'
    assert short_value([64, 64]) == "[64, 64]" and short_value({"lr": 0.00044303752452182633}) == "{lr = 0.000443}"
    assert short_value(math.nan) == "nan" and short_value(-math.inf) == "-inf"
    for v in RATES + [1e-300, 1.2345678e300, -2.5e-7, 123456.789]:
        text = short_value(v)
        assert len(text) <= 12 and math.isclose(float(text), v, rel_tol=1e-3), (v, text)


def test_lab_show_prints_a_sweeps_settings_as_the_dashboard_does(tmp_path):
    root = tmp_path / "runs"
    hand_sweep(root)
    out = lab_main("show", SWEEP, runs_dir=root)
    assert out.returncode == 0, out.stderr
    for rate, text in SHOWN.items():
        assert text in out.stdout
        assert repr(rate) not in out.stdout or repr(rate) == text
    best = 1
    assert f"best: trial {best}," in out.stdout
    [line] = [line for line in out.stdout.splitlines() if line.startswith("best: trial")]
    assert f"learning_rate={short_value(RATES[best])}" in line and f"n_epochs={EPOCHS[best]}" in line, line


def table_lines(table) -> list[str]:
    return [table.render_line(y).text for y in range(table.size.height)]


def screen_lines(app) -> list[str]:
    return [strip.text for strip in app.screen._compositor.render_strips()]


def check_table(screen, trials: int) -> None:
    """Every column of the trials table is on screen, the header's and every row's alike, and
    every value in it whole: the table fits its width."""
    from lab.sweep.report import value_text

    table = screen.query_one("#sweep-trials")
    width = table.size.width
    assert table.virtual_size.width <= width, (table.virtual_size, table.size)  # nothing off the right edge
    lines = table_lines(table)
    header, rows = lines[0], [line for line in lines[1:] if line.strip()]
    assert len(rows) == min(trials, table.size.height - 1), lines
    iqm = {row["trial"]: row["aggregates"]["iqm"] for row in screen.statistics}  # the column is there once they are
    labels = ["#", "learning_rate", "n_epochs", "final eval return mean", *(["IQM [95% CI]"] if iqm else []), "state", "seeds",
              "progress"]
    starts = []
    for label in labels:  # each label, or its start cut with '…' where the column is narrower
        at = header.find(label)
        if at < 0:
            cut = next((label[:n] + "…" for n in range(len(label) - 1, 2, -1) if label[:n] + "…" in header), None)
            assert cut is not None, (label, header)
            at = header.find(cut)
        starts.append(at)
    assert starts == sorted(starts), header
    record = screen.record
    by_number = {t.number: t for t in record.trials}
    ends = starts[1:] + [width]
    for line in rows:
        t = by_number[int(line.split()[0])]
        cells = [line[a:b].strip() for a, b in zip(starts, ends)]
        numbers = [short_value(t.params["agent.learning_rate"]), str(t.params["agent.n_epochs"]), value_text(t)]
        assert cells[1:4] == numbers, (numbers, line, header)  # numbers whole, always
        texts, words = ["complete", " ".join(short_value(v) for v in t.values), "2/2 completed"], [False, True, False]
        if iqm:  # the IQM whole, its interval whole or cut with '…'
            from lab.stats import interval

            texts, words = [interval(iqm[t.number]) if t.number in iqm else "-", *texts], [True, *words]
        for cell, text, words in zip(cells[4:], texts, words):  # texts whole, or cut with '…' (between values)
            if cell != text:
                assert cell.endswith("…") and text.startswith(cell[:-1]), (cell, text, line)
                assert not words or text[len(cell) - 1] == " ", (cell, text)
        assert repr(t.params["agent.learning_rate"]) not in line or repr(t.params["agent.learning_rate"]) == numbers[0]


def check_charts(app, screen) -> None:
    """No chart's text runs into its neighbour: the column just left of the scatters is blank on
    every line, and the legends show settings as the table does."""
    curves = screen.query_one("#sweep-curves")
    scatters = screen.query_one("#sweep-scatters")
    lines = screen_lines(app)
    x = scatters.region.x
    for y in range(curves.region.y, curves.region.bottom):
        assert lines[y][x - 1] == " ", (lines[y][:x], lines[y][x:])
    shown = "\n".join(lines)
    assert "learning_rate=" in shown and not any(repr(r) in shown and repr(r) != short_value(r) for r in RATES)
    text = [curves.render_line(y).text.rstrip() for y in range(curves.size.height)]
    for label, *_ in curves._legend:  # whole, or its start and '…' at the end of a line
        assert any(label in line for line in text) or any(
            line.endswith("…") and label.startswith(line.rsplit("━━ ", 1)[-1][:-1]) for line in text), (label, text)


SIZES = [(80, 60), (160, 60), (100, 60), (80, 60), (120, 60)]


async def test_the_trials_table_fits_its_width_after_every_resize_header_and_rows_alike(tmp_path):
    root = tmp_path / "runs"
    path = hand_sweep(root)
    app = LabApp(root)
    async with app.run_test(size=(120, 60)) as pilot:
        await pilot.pause()
        app.open_sweep(path)
        screen = app.screen
        await wait_for(pilot, lambda: screen.ready and len(screen.curves) == 3)
        for size in SIZES:
            await pilot.resize_terminal(*size)
            await pilot.pause()
            await pilot.pause()
            check_table(screen, len(RATES))
            check_charts(app, screen)
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        screen.query_one("#sweep-trials").focus()
        await pilot.press("f10")  # the table fills the screen: every row fits that width too
        await pilot.pause()
        await pilot.pause()
        assert screen.maximized is screen.query_one("#sweep-trials")
        check_table(screen, len(RATES))


async def test_trials_arriving_in_a_live_sweep_are_as_wide_as_the_rows_before_them(tmp_path):
    root = tmp_path / "runs"
    path = hand_sweep(root, trials=2, running=True)
    app = LabApp(root)
    async with app.run_test(size=(80, 60)) as pilot:
        await pilot.pause()
        app.open_sweep(path)
        screen = app.screen
        await wait_for(pilot, lambda: screen.ready)
        for trials, size in zip(range(3, len(RATES) + 1), [(80, 60), (100, 60), (80, 60)] * 4):
            before = screen.sweep
            write_record(path, trials, running=True)
            screen.look_now()
            await wait_for(pilot, lambda: screen.sweep is not before and screen.query_one("#sweep-trials").row_count == trials,
                           step=0.02)
            check_table(screen, trials)  # as soon as the rows are there, before anything else happens
            if trials % 3 == 0:
                await pilot.resize_terminal(*size)
                await pilot.pause()
                check_table(screen, trials)


async def test_an_ended_sweep_ranks_its_trials_by_iqm_over_seeds_with_rliables_intervals(tmp_path):
    """Two seeds a trial: the screen's IQM column and its header's best-against-runner-up line are
    lab.stats's numbers (rliable's own: tests/test_stats.py pins them) of the right trials' seeds."""
    import numpy as np

    from lab import stats

    root = tmp_path / "runs"
    path = hand_sweep(root)
    finals = {i: np.array([value(i, 0), value(i, 1)]).reshape(-1, 1) for i in range(len(RATES))}
    order = sorted(finals, key=lambda i: -finals[i].mean())  # with two seeds the IQM is their mean
    best, second = order[0], order[1]
    app = LabApp(root)
    async with app.run_test(size=(200, 60)) as pilot:
        await pilot.pause()
        app.open_sweep(path)
        screen = app.screen
        await wait_for(pilot, lambda: screen.ready and len(screen.statistics) > 1, timeout=30)
        assert [row["trial"] for row in screen.statistics] == order[:len(screen.statistics)]
        iqm = {i: stats.aggregates(finals[i])["iqm"] for i in (best, second)}
        improvement = stats.probability_of_improvement(finals[best], finals[second])
        for row in screen.statistics[:2]:
            np.testing.assert_allclose(row["aggregates"]["iqm"], iqm[row["trial"]], atol=1e-3)
        np.testing.assert_allclose(screen.statistics[1]["vs_best"], improvement, atol=1e-3)
        header = str(screen.query_one("#sweep-header").render())
        assert (f"over seeds: trial {best} IQM {stats.interval(screen.statistics[0]['aggregates']['iqm'])} vs trial {second}"
                in header), header
        assert f"P({best} > {second}) = {stats.interval(improvement, '.2f')}" in header, header
        apart = iqm[best][1] > iqm[second][2]
        assert ("not distinguishable" not in header) == apart and apart, header  # 1,235-1,238 against 500-503
        lines = table_lines(screen.query_one("#sweep-trials"))
        assert "IQM [95% CI]" in lines[0]
        row = next(line for line in lines[1:] if line.split() and line.split()[0] == str(best))
        assert stats.interval(screen.statistics[0]["aggregates"]["iqm"]) in row, row
        await pilot.press("p")  # the chart: the best trials' performance profiles over their seeds
        plot = screen.query_one("#sweep-curves")
        assert plot.title.startswith("performance profiles") and plot._legend[0][0] == f"#{best}"
        taus, share = plot._series[2]
        np.testing.assert_allclose(share, [np.mean(finals[best] > t) for t in taus], atol=1e-4)
