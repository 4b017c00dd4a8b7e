"""What the command line prints into a pipe or a file (what a subprocess gives it): whole lines,
never wrapped at a guessed terminal width, and a population sweep's one run listed once, its
members as members."""

import json
import re

import pytest

from .conftest import REPO, lab_cli, lab_main

POPULATION = """name = "pop"
kind = "sweep"
[sweep]
experiment = "cartpole-ppo-torch"
seeds = [0, 1]
metric = "final_eval_return_mean"
direction = "maximize"
method = "grid"
backend = "population"
[sweep.params]
"agent.learning_rate" = [0.002, 0.005, 0.01]
"agent.total_steps" = [2048]
"""


@pytest.fixture(scope="module")
def population(tmp_path_factory):
    """A finished population sweep (3 settings x 2 seeds: one run of 6 members): (runs root, what
    `lab sweep` printed into a pipe, its record as `lab sweep --json` would give it)."""
    root = tmp_path_factory.mktemp("pop")
    (root / "pop.toml").write_text(POPULATION)
    proc = lab_cli("sweep", root / "pop.toml", runs_dir=root / "runs", timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (sweep,) = [p for p in (root / "runs").iterdir() if (p / "sweep.json").is_file()]
    return root / "runs", proc.stdout, json.loads((sweep / "sweep.json").read_text())


def lines_with(text: str, phrase: str) -> list[str]:
    return [line for line in text.splitlines() if phrase in line]


@pytest.mark.slow  # a real population sweep
def test_a_sweeps_table_in_a_pipe_is_whole_lines(population):
    root, printed, record = population
    shown = lab_cli("show", record["id"], runs_dir=root)
    assert shown.returncode == 0, shown.stderr
    for out in (printed, shown.stdout):
        # the title is one line, however long
        (title,) = lines_with(out, "pop: cartpole-ppo-torch")
        assert title.rstrip().endswith("final_eval_return_mean (maximize)"), out
        for trial in record["trials"]:  # each trial one row: its number, settings, value and state on one line
            value = f"{trial['value']:.4g}"
            rows = [line for line in lines_with(out, value) if re.match(rf"\s*{trial['number']}\s", line)]
            assert len(rows) == 1 and "complete" in rows[0], out
        assert all(line == line.rstrip() for line in out.splitlines())  # no padding to a guessed width


@pytest.mark.slow  # a real population sweep
def test_a_population_sweep_lists_its_one_run_once_and_its_members_as_members(population):
    root, printed, record = population
    (run_id,) = {run for trial in record["trials"] for run in trial["runs"]}
    shown = lab_cli("show", record["id"], runs_dir=root).stdout
    table = printed[printed.index("pop: cartpole-ppo-torch"):]  # (what came before: the log of the sweep as it went)
    for out in (table, shown):
        tail = run_id.rsplit("-", 1)[1]
        assert out.count(tail) == 1, out  # the run, once (by its whole id)
        assert run_id in out
        header = next(line for line in out.splitlines() if line.lstrip().startswith("#"))
        assert "members" in header and "runs" not in header
        for trial in record["trials"]:  # each trial's members, by number (trial i, seed j: member 2i + j)
            row = next(line for line in out.splitlines() if re.match(rf"\s*{trial['number']}\s", line))
            assert row.rstrip().endswith(f"{2 * trial['number']}, {2 * trial['number'] + 1}"), row
    listed = lab_cli("runs", runs_dir=root).stdout
    assert listed.count(run_id) == 1 and listed.count(record["id"]) == 1, listed
    (row,) = lines_with(listed, run_id)
    assert "pop" in row and "6 members" in row, row  # the run says it is the sweep's, with its members


def test_lab_list_in_a_pipe_gives_each_experiment_one_whole_line(tmp_path):
    import tomllib

    from lab.spec import builtin_experiments

    out = lab_cli("list").stdout
    for name, path in builtin_experiments().items():
        description = " ".join(tomllib.loads(path.read_text()).get("description", "").split())
        rows = [line for line in out.splitlines() if line.split()[:1] == [name]]
        assert len(rows) == 1 and description in " ".join(rows[0].split()), (name, rows)
    settings = lab_cli("list", "--params", "cartpole-ppo").stdout
    (title,) = lines_with(settings, "cartpole-ppo: every setting")
    assert title.rstrip().endswith("--set KEY=VALUE changes one)")
    (row,) = [line for line in settings.splitlines() if line.split()[:1] == ["agent.learning_rate"]]
    assert len(row) > 100  # its description too, on the one line


def test_help_in_a_pipe_is_not_wrapped():
    out = lab_cli("eval", "--help").stdout
    assert lines_with(out, "run id, unique id prefix or tail, path, or experiment name (its latest completed run, not a sweep's trial)")
    out = lab_cli("--help").stdout
    assert lines_with(out, "stop a running run (it checkpoints, then ends 'stopped') or sweep (each of its runs does, then "
                           "the sweep ends 'stopped')")


def _rliable(fn, scores) -> list[float]:
    """[point, low, high] of fn by rliable itself: 2,000 stratified-bootstrap resamples drawn from
    numpy's global generator seeded 0 (as lab.stats seeds it)."""
    import numpy as np
    from rliable import library

    np.random.seed(0)
    points, intervals = library.get_interval_estimates({"x": scores}, lambda *a: np.array([fn(*a)]), reps=2000)
    return [float(points["x"][0]), float(intervals["x"][0][0]), float(intervals["x"][1][0])]


def _intervals(line: str) -> list[list[float]]:
    """Every 'point [low, high]' in a line, as numbers."""
    return [[float(a), float(b), float(c)] for a, b, c in re.findall(r"(-?[\d.e+-]+) \[(-?[\d.e+-]+), (-?[\d.e+-]+)\]", line)]


@pytest.mark.slow  # a real population sweep
def test_statistics_over_seeds_are_rliables_own(population):
    """`lab show` of a population sweep ranks its trials by IQM over seeds with rliable's 95% intervals
    and the probability that the best trial's seed beats each other's; `lab show` of its population
    run gives each setting's IQM over its members. Both equal rliable's numbers, computed here."""
    import numpy as np
    from rliable import metrics

    root, _, record = population
    finals = {t["number"]: np.array(t["values"], dtype=float) for t in record["trials"]}
    shown = lab_main("show", record["id"], runs_dir=root).stdout  # (in this process: torch is imported once)
    table = shown[shown.index("over seeds (IQM"):].splitlines()[2:2 + len(finals)]
    order = [int(line.split()[1]) for line in table]
    iqm = {n: _rliable(metrics.aggregate_iqm, v.reshape(-1, 1)) for n, v in finals.items()}
    assert order == sorted(finals, key=lambda n: -iqm[n][0]), shown  # ranked by IQM, best first
    best = order[0]
    for n, line in zip(order, table):
        printed = _intervals(line)
        np.testing.assert_allclose(printed[0], iqm[n], rtol=2e-3, err_msg=line)
        if n != best:  # P(a seed of the best beats a seed of this one): lab.stats's, pinned to rliable's in test_stats
            from lab.stats import probability_of_improvement

            np.testing.assert_allclose(printed[2], probability_of_improvement(finals[best], finals[n]), atol=0.006, err_msg=line)
    assert f"their performance profiles as a picture: lab show {record['id']} --png PATH" in shown
    profile = root / "profiles.png"
    drawn = lab_main("show", record["id"], "--png", profile, runs_dir=root)
    assert profile.read_bytes()[:4] == b"\x89PNG" and f"performance profiles of the best trials over seeds: {profile}" in drawn.stdout
    verdict = next(line for line in shown.splitlines() if line.startswith("the best by IQM"))
    apart = iqm[best][1] > iqm[order[1]][2]
    assert ("is distinguishable from" if apart else "is not distinguishable from") in verdict, verdict

    (run_id,) = {run for t in record["trials"] for run in t["runs"]}
    members = lab_main("show", run_id, runs_dir=root).stdout
    for t in record["trials"]:  # one line per setting, over its two members (its two seeds)
        line = next(line for line in members.splitlines() if f"learning_rate={t['params']['agent.learning_rate']:g}  2 members" in line)
        np.testing.assert_allclose(_intervals(line)[0], iqm[t["number"]], rtol=2e-3, err_msg=line)
