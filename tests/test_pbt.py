"""Population-based training ([pbt]): Tune's rules of exploit and explore, done on the engine's
batched tensors (a copied member is its parent's weights and optimizer rows), recorded as rounds
(lineage, schedules, the family tree) that `lab show` and the dashboard draw, and carried by a
resumable checkpoint. On Ray (one member a Tune trial) the same table ends in the same record."""

import json
import math
import shutil

import numpy as np
import pytest
import torch

import lab
from lab import stats
from lab.errors import BadInput
from lab.rl import pbt
from lab.store import Run

from .conftest import made_once

PBT = {"interval": 2048, "fraction": 0.25,
       "explore": {"learning_rate": {"range": [1e-4, 1e-2], "log": True}, "clip_range": {"values": [0.1, 0.2, 0.3]}}}
# 8 members of cartpole-ppo-torch, 1,024 steps a rollout each: PBT's rounds at 2,048, 4,096 and 6,144
RUN = {"population": 8, "agent.total_steps": 7168, "pbt": PBT, "eval.every": 4096, "eval.episodes": 3,
       "eval.checkpoint_every": 2048, "compile": "off"}


def cli_sets(overrides: dict) -> list[str]:
    """--set values of overrides, tables as dotted keys (a --set value is TOML: no JSON objects)."""
    out = []
    for key, value in overrides.items():
        if isinstance(value, dict):
            out += cli_sets({f"{key}.{k}": v for k, v in value.items()})
        else:
            out.append(f"{key}={json.dumps(value)}")
    return out


def spec(**over):
    return lab.load_experiment("cartpole-ppo-torch", {**RUN, **over})


@pytest.fixture(scope="module")
def pbt_run(tmp_path_factory):
    """A finished PBT run of RUN (about 10 s), made once per session."""
    def make(root):
        run = lab.run(spec(), runs_dir=root)
        assert run.state == "completed", run.summary.error
        return run.path

    return Run.load(made_once(tmp_path_factory, "pbt-cartpole", make))


def test_first_values_are_drawn_in_range_seeded_and_given_lists_win():
    a, b = pbt.first_values(spec()), pbt.first_values(spec())
    assert a == b and len(a["learning_rate"]) == 8
    assert all(1e-4 <= v <= 1e-2 for v in a["learning_rate"]) and set(a["clip_range"]) <= {0.1, 0.2, 0.3}
    assert len(set(a["learning_rate"])) == 8  # log-uniform draws: all different
    assert pbt.first_values(spec(seed=1)) != a
    given = [0.1, 0.2, 0.3, 0.1, 0.2, 0.3, 0.1, 0.2]
    c = pbt.first_values(spec(**{"members.agent.clip_range": given}))
    assert c["clip_range"] == given and c["learning_rate"] == a["learning_rate"]  # one stream, whatever is given


@pytest.mark.parametrize("members, fraction, expected", [(8, 0.25, 2), (16, 0.25, 4), (4, 0.25, 1), (5, 0.5, 2), (2, 0.1, 1)])
def test_the_bottom_and_top_are_tunes_quantile(members, fraction, expected):
    assert pbt.quantile(members, fraction) == expected


def test_a_round_copies_the_bottom_from_the_top_and_explores_within_the_table():
    evolution = pbt.Evolution(spec(**{"pbt.resample_probability": 0.0}))
    fitness = np.array([10.0, 50, 20, 80, np.nan, 30, 70, 5])  # member 4 finished no episode: it sits out
    before = {k: v.copy() for k, v in evolution.values.items()}
    record = evolution.round(2048, fitness)
    copies = record["copies"]
    assert sorted(c["member"] for c in copies) == [0, 7]  # the two lowest of the 7 ranked
    assert all(c["parent"] in (3, 6) for c in copies)  # each from the two highest
    for c in copies:
        parent_lr, lr = before["learning_rate"][c["parent"]], c["hyperparameters"]["learning_rate"]
        assert any(lr == pytest.approx(float(np.clip(parent_lr * f, 1e-4, 1e-2))) for f in (0.8, 1.2))
        assert evolution.values["learning_rate"][c["member"]] == lr
        parent_clip, clip = before["clip_range"][c["parent"]], c["hyperparameters"]["clip_range"]
        assert clip in (0.1, 0.2, 0.3) and (abs(clip - parent_clip) == pytest.approx(0.1) or clip == parent_clip)
    untouched = [m for m in range(8) if m not in (0, 7)]
    assert all(evolution.values["learning_rate"][m] == before["learning_rate"][m] for m in untouched)
    assert record["fitness"][4] is None and evolution.due(4096) and not evolution.due(4095)


def test_explore_perturbs_by_the_factors_or_resamples_and_stays_in_range():
    evolution = pbt.Evolution(spec(**{"pbt.resample_probability": 0.0}))
    how = evolution.table.explore["learning_rate"]
    got = sorted({evolution.explore(how, 1e-3) for _ in range(200)})
    assert got == pytest.approx([8e-4, 1.2e-3])
    assert sorted({evolution.explore(how, 1e-2) for _ in range(100)}) == pytest.approx([8e-3, 1e-2])  # 1.2e-2 kept inside the range
    values = evolution.table.explore["clip_range"]
    assert {evolution.explore(values, 0.2) for _ in range(100)} == {0.1, 0.3}  # a neighbour
    assert {evolution.explore(values, 0.1) for _ in range(100)} == {0.1, 0.2}
    resampling = pbt.Evolution(spec(**{"pbt.resample_probability": 1.0}))
    drawn = [resampling.explore(how, 1e-3) for _ in range(200)]
    assert all(1e-4 <= v <= 1e-2 for v in drawn) and len(set(drawn)) == 200
    assert np.mean(np.log10(drawn)) == pytest.approx(-3, abs=0.15)  # log-uniform over [1e-4, 1e-2]


def test_the_fixed_twin_records_rounds_and_copies_nothing():
    twin = pbt.Evolution(spec(**{"pbt.evolve": False}))
    first = {k: v.copy() for k, v in twin.values.items()}
    record = twin.round(2048, np.arange(8.0))
    assert record["copies"] == [] and all(np.array_equal(twin.values[k], first[k]) for k in first)


def test_lineage_schedules_and_the_family_tree_follow_the_copies():
    rounds = [{"step": 0, "members": 3, "copies": [], "fitness": [None] * 3,
               "hyperparameters": {"lr": [1.0, 2.0, 3.0]}},
              {"step": 10, "members": 3, "copies": [{"member": 0, "parent": 2}], "fitness": [1, 2, 3],
               "hyperparameters": {"lr": [3.6, 2.0, 3.0]}},
              {"step": 20, "members": 3, "copies": [{"member": 1, "parent": 0}], "fitness": [9, 1, 5],
               "hyperparameters": {"lr": [3.6, 4.32, 3.0]}}]
    assert pbt.lineage(rounds, 1) == [(20, 0), (10, 2)]
    assert pbt.ancestor(rounds, 1, 0) == 2 and pbt.ancestor(rounds, 1, 10) == 0 and pbt.ancestor(rounds, 1, 20) == 1
    assert pbt.schedule(rounds, 1, "lr") == ([0, 10, 20], [3.0, 3.6, 4.32])
    rows = pbt.family(rounds)
    assert [r["founder"] for r in rows] == [2, 2, 2]
    assert rows[1]["line"] == [(20, 0), (10, 2)] and rows[1]["hyperparameters"] == {"lr": 4.32}
    assert pbt.line_text(rows[1]["line"]) == "<-0 at 20 <-2 at 10" and pbt.line_text([]) == "its own"


def test_rounds_read_back_from_events_leave_out_what_does_not_fit():
    good = {"kind": "pbt", "step": 2048, "fitness": [1.0, None], "copies": [{"member": 1, "parent": 0}],
            "hyperparameters": {"lr": [0.1, 0.2]}}
    events = [good, {**good, "step": "x"}, {"kind": "pbt", "step": 4096, "hyperparameters": "no"},
              {**good, "step": 6144, "copies": [{"member": 7, "parent": 0}, {"member": True, "parent": 0}, "x"]},
              {**good, "step": 8192, "hyperparameters": {"lr": [0.1, 0.2, 0.3]}},  # another population: left out
              {**good, "step": 2048, "fitness": [3.0, 4.0]}]  # a resumed run's round again: the latest counts
    rounds = pbt.read_rounds(events)
    assert [r["step"] for r in rounds] == [2048, 6144]
    assert rounds[0]["fitness"] == [3.0, 4.0] and rounds[1]["copies"] == []


def test_an_exploit_copies_weights_and_optimizer_rows_and_the_member_trains_with_its_new_values():
    from lab.engine.ppo import TorchPPOAgent

    torch.manual_seed(0)
    agent = TorchPPOAgent(spec(), "cpu")
    optimizer = agent.make_optimizer()
    optimizer.exp_avg.normal_()
    optimizer.exp_avg_sq.uniform_()
    optimizer.steps.copy_(torch.arange(8.0)[:, None])
    fitness = torch.tensor([[10.0, 50, 20, 80, 40, 30, 70, 5], [1, 1, 1, 1, 1, 1, 1, 1]])
    before = {k: v.clone() for k, v in agent.net.state_dict().items()}
    adam = {k: getattr(optimizer, k).clone() for k in ("steps", "exp_avg", "exp_avg_sq")}
    events = []

    class Tracker:
        def evolved(self, record):
            events.append(record)

    agent.evolve(2048, optimizer, fitness, Tracker())
    (record,) = events
    copied = {c["member"]: c["parent"] for c in record["copies"]}
    assert sorted(copied) == [0, 7] and set(copied.values()) <= {3, 6}
    for k, v in agent.net.state_dict().items():
        for m in range(8):
            assert torch.equal(v[m], before[k][copied.get(m, m)]), (k, m)
    for name, saved in adam.items():
        for m in range(8):
            assert torch.equal(getattr(optimizer, name)[m], saved[copied.get(m, m)]), (name, m)
    assert torch.all(fitness == 0)  # the next round's fitness starts afresh
    lr = agent.hyper("learning_rate")
    assert [float(x) for x in lr] == pytest.approx(record["hyperparameters"]["learning_rate"])
    assert [float(x) for x in agent.hyper("clip_range")] == pytest.approx(record["hyperparameters"]["clip_range"])


def test_a_pbt_run_records_its_rounds_and_every_members_line(pbt_run):
    rounds = pbt.read_rounds(pbt_run.events({"pbt"}))
    assert [r["step"] for r in rounds] == [0, 2048, 4096, 6144]
    assert all(len(r["copies"]) == 2 for r in rounds[1:]) and rounds[0]["copies"] == []
    first = pbt.first_values(spec())
    assert rounds[0]["hyperparameters"] == pytest.approx(first)
    members = pbt_run.results.members
    assert pbt_run.results.pbt == {"backend": "engine", "evolve": True, "rounds": 3, "copies": 6}
    for row, member in zip(pbt.family(rounds), members):
        assert member["founder"] == row["founder"] and member["copies"] == len(row["line"])
        assert member["hyperparameters"] == pytest.approx(row["hyperparameters"])
        assert not any(k.startswith("agent.") for k in member)  # one group in the statistics, not 8
    assert list(stats.final_scores([pbt_run])) == ["cartpole-ppo-torch"]
    logs = [e["message"] for e in pbt_run.events({"log"}) if e["message"].startswith("pbt at step")]
    assert len(logs) == 3 and "2 members copied a better one" in logs[0]


def test_lab_show_prints_the_schedules_and_the_family_tree(pbt_run, capsys):
    from lab.cli import main

    assert main(["show", str(pbt_run.path)]) == 0
    out = capsys.readouterr().out
    assert "population-based training: 3 rounds to step 6,144, 6 copies" in out
    best = pbt_run.results.best_member
    assert f"schedules of member {best}'s line" in out
    rounds = pbt.read_rounds(pbt_run.events({"pbt"}))
    steps, values = pbt.schedule(rounds, best, "clip_range")
    assert f"clip_range       {values[0]:g} at 0" in out
    tree = out[out.index("family tree"):].splitlines()
    assert "learning_rate" in tree[1] and "clip_range" in tree[1] and len(tree) >= 10
    founders = {int(line.split()[0]): int(line.split()[1]) for line in tree[2:10]}
    assert founders == {m["member"]: m["founder"] for m in pbt_run.results.members}


@pytest.mark.parametrize("over, message", [
    ({"population": 1}, "pbt: population-based training needs a population"),
    ({"pbt.explore": {}}, "pbt.explore: names no setting"),
    ({"pbt": {"intervall": 2048, "explore": PBT["explore"]}}, "pbt.intervall: unknown key in pbt; did you mean 'interval'?"),
    ({"pbt.explore": {"n_steps": {"values": [32, 64]}}}, "pbt.explore.n_steps: cannot differ per member"),
    ({"pbt.explore": {"learning_rte": {"range": [1e-4, 1e-3]}}}, "pbt.explore.learning_rte: unknown setting; did you mean 'learning_rate'"),
    ({"pbt.explore": {"learning_rate": {"range": [1e-3, 1e-4]}}}, "pbt.explore.learning_rate.range: [0.001, 0.0001] must be [low, high]"),
    ({"pbt.explore": {"ent_coef": {"range": [0.0, 0.1], "log": True}}}, "pbt.explore.ent_coef.range: a log range starts above 0"),
    ({"pbt.explore": {"gamma": {"range": [0.9, 1.5]}}}, "pbt.explore.gamma.range[1]:"),
    ({"pbt.explore": {"gamma": {"range": [0.9, 0.99], "values": [0.9, 0.99]}}}, "give exactly one of range"),
    ({"pbt.explore": {"gamma": {}}}, "give exactly one of range"),
    ({"pbt.factors": [1.2, 0.8]}, "pbt.factors: [1.2, 0.8] must be two positive factors, the lower first"),
    ({"pbt.interval": 7168}, "pbt.interval: 7,168 steps reaches no round"),
    ({"pbt.fraction": 0.75}, "pbt.fraction:"),
    ({"members.agent.learning_rate": [0.5] * 8}, "members.agent.learning_rate[0]: 0.5 is outside pbt.explore.learning_rate.range"),
    ({"pbt.evolve": False, "pbt.backend": "ray"}, "pbt.evolve: false runs on the engine"),
])
def test_a_wrong_pbt_table_is_one_line_naming_the_key(over, message):
    with pytest.raises(BadInput) as e:
        spec(**over)
    line = str(e.value).replace(" (set by override)", "")
    assert message in line and "\n" not in line and line.startswith("experiments/cartpole-ppo-torch.toml: ")


def test_the_builtin_and_its_twin_differ_only_in_evolve():
    a, b = lab.load_experiment("pendulum-ppo-torch-pbt"), lab.load_experiment("pendulum-ppo-torch-pbt-fixed")
    assert a.pbt.evolve and not b.pbt.evolve
    dump = lambda s: {k: v for k, v in s.model_dump().items() if k not in ("name", "description", "pbt")}  # noqa: E731
    assert dump(a) == dump(b) and a.pbt.model_dump(exclude={"evolve"}) == b.pbt.model_dump(exclude={"evolve"})
    assert pbt.first_values(a) == pbt.first_values(b)


@pytest.mark.slow
def test_a_killed_pbt_run_resumes_to_the_uninterrupted_runs_rounds_and_weights(tmp_path):
    from .conftest import run_until_resume_checkpoint

    killed = run_until_resume_checkpoint("cartpole-ppo-torch", cli_sets(RUN), tmp_path / "b")
    saved = json.loads(killed.checkpoint("resume.json").read_text())
    assert saved["step"] == 2048 and saved["agent"]["pbt"]["next_round"] == 4096
    assert len(saved["agent"]["pbt"]["rounds"]) == 1
    from lab import launch

    for i, damage in enumerate(({"rounds": [{"step": 2048, "copies": [{"member": 99, "parent": 0}]}]},
                   {"values": {"learning_rate": [5.0] * 8, "clip_range": [0.1] * 8}}, {"rng": "x"})):
        broken = tmp_path / "broken" / str(i) / killed.id
        shutil.copytree(killed.path, broken)
        state = json.loads((broken / "checkpoints" / "resume.json").read_text())
        state["agent"]["pbt"].update(damage)
        (broken / "checkpoints" / "resume.json").write_text(json.dumps(state))
        with pytest.raises(BadInput, match="resumable checkpoint .* cannot be loaded: .*the run is left as it was"):
            launch.resume(Run.load(broken))
        assert json.loads((broken / "checkpoints" / "resume.json").read_text()) == state

    resumed = launch.resume(killed)
    whole = lab.run(spec(), runs_dir=tmp_path / "a")
    assert resumed.state == whole.state == "completed"
    ours, theirs = (pbt.read_rounds(r.events({"pbt"})) for r in (resumed, whole))
    assert ours == theirs and len(ours) == 4
    assert resumed.results.members == whole.results.members
    a, b = (torch.load(r.checkpoint("last.pt"), weights_only=True) for r in (resumed, whole))
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_the_same_table_on_ray_ends_with_the_same_record_shape(pbt_run, tmp_path):
    """One member a Tune trial on a local Ray bound to the loopback, through Tune's PBT."""
    small = {**RUN, "population": 4, "agent.total_steps": 3072, "pbt.interval": 1024, "pbt.backend": "ray",
             "pbt.cpus": 2, "env.n_envs": 4, "agent.n_steps": 256, "agent.batch_size": 256, "agent.n_epochs": 2,
             "eval.every": 100_000}
    from .test_sweeps import run_on_loopback_ray

    code, out, err = run_on_loopback_ray(["run", "cartpole-ppo-torch", *(x for s in cli_sets(small) for x in ("--set", s)),
                                          "--runs-dir", str(tmp_path)], tmp_path)
    assert code == 0, out[-3000:] + err[-3000:]
    assert "Traceback" not in err and "Warning" not in err
    (run,) = lab.list_runs(tmp_path)
    assert run.state == "completed" and (run.path / "tune").is_dir()
    r, e = run.results, pbt_run.results
    assert set(r.model_dump(exclude_none=True)) == set(e.model_dump(exclude_none=True))
    assert [sorted(m) for m in r.members] == [sorted(m) for m in e.members[:4]]
    assert r.pbt == {"backend": "ray", "evolve": True, "rounds": 2, "copies": 2}
    rounds = pbt.read_rounds(run.events({"pbt"}))
    assert [x["step"] for x in rounds] == [1024, 2048] and all(len(x["copies"]) == 1 for x in rounds)
    for member, row in zip(r.members, pbt.family(rounds)):
        assert member["founder"] == row["founder"] and member["copies"] == len(row["line"])
        assert 1e-4 <= member["hyperparameters"]["learning_rate"] <= 1e-2
    copy = rounds[0]["copies"][0]
    assert copy["fitness"] < copy["parent_fitness"]
    assert math.isfinite(r.final_eval_return_mean) and len(list(run.events({"episode", "episodes"}))) > 0
    from lab.rl.train import resume_state

    with pytest.raises(BadInput, match="a run with pbt.backend = 'ray' cannot be resumed"):  # (were it stopped)
        resume_state(run, lab.load_experiment(run.path))


async def test_the_live_views_t_shows_the_schedules_and_the_family_tree(pbt_run, tmp_path):
    from lab.tui.app import LabApp
    from lab.tui.widgets.fitted_table import FittedTable
    from lab.tui.widgets.line_plot import LinePlot

    from .conftest import copy_run
    from .pilot import runs_shown, wait_for

    copy_run(pbt_run.path, tmp_path)
    app = LabApp(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await runs_shown(pilot, 1)
        await pilot.press("ctrl+r", "enter")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "RunScreen" and app.screen.ready)
        screen = app.screen
        await wait_for(pilot, lambda: "t" in {k for k, b in app.active_bindings.items() if b.enabled})
        await pilot.press("t")
        await pilot.pause()
        assert screen.query_one("#pbt-pane").display and not screen.query_one("#metric-grid-scroll").display
        plots = list(screen.query_one("#pbt-pane").query(LinePlot))
        assert [p.title for p in plots] == ["log10 learning_rate", "clip_range"]
        best = pbt_run.results.best_member
        rounds = pbt.read_rounds(pbt_run.events({"pbt"}))
        steps, values = pbt.schedule(rounds, best, "clip_range")
        assert plots[1]._series[2] == (steps, values)  # the delivered member's line
        table = screen.query_one("#pbt-tree", FittedTable)
        assert table.row_count == 8
        cells = {key: {c: str(v) for c, v in row.items()} for key, row in table._cells.items()}
        for m in pbt_run.results.members:
            row = cells[str(m["member"])]
            assert row["founder"] == str(m["founder"]) and row["member"] == ("*" if m["member"] == best else "") + str(m["member"])
        await pilot.press("t")
        await pilot.pause()
        assert not screen.query_one("#pbt-pane").display and screen.query_one("#metric-grid-scroll").display


def test_lab_list_params_shows_the_pbt_table_and_brackets_in_descriptions_as_written():
    from .conftest import lab_main

    out = lab_main("list", "--params", "pendulum-ppo-torch-pbt").stdout
    line = next(x for x in out.splitlines() if x.startswith("pbt "))
    assert "interval = 10000" in line and "learning_rate = {range = [1e-05, 0.01], log = true}" in line
    assert "population-based training of the population ([pbt])" in out
    assert "[members.agent] learning_rate = [1e-3, 3e-4]" in out  # not taken for markup
