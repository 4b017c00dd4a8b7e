"""The attribution screen: one table of bars under the methods' full names with every zero line
in one column, the model's predicted probability, and a key to the misclassified inputs; on the
seeded run folder and on a real run."""

import json

import numpy as np
import pytest

import lab
from lab.tui.app import LabApp
from lab.tui.screens.attribution import NON_METHODS, Attributions, AttributionScreen
from lab.tui.widgets.attribution_view import AttributionBars, bar_columns, elide_middle

from .pilot import wait_for
from .seeded_runs import seeded_root

ATTRIBUTION = "20261123-000300-breast-cancer-attributions-0003"


@pytest.fixture
def seeded_run(tmp_path):
    return seeded_root(tmp_path / "runs") / ATTRIBUTION


def npz(run):
    with np.load(run / "artifacts" / "attributions.npz", allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def rewrite_npz(run, **changes):
    """The run's attributions.npz with arrays replaced (None: removed), as an older or other run wrote it."""
    arrays = {k: v for k, v in {**npz(run), **changes}.items() if v is not None}
    np.savez(run / "artifacts" / "attributions.npz", **arrays)


async def open_attributions(pilot, run):
    pilot.app.push_screen(AttributionScreen(Attributions.read(run)))
    await pilot.pause()
    await pilot.pause()
    return pilot.app.screen


def heading(screen) -> str:
    return str(screen.query_one("#attr-title").render())


def bar_lines(screen) -> tuple[str, list[str]]:
    """The bar table as drawn: its header line and one line per feature row."""
    table = screen.query_one(AttributionBars)
    return table.render_line(0).text, [table.render_line(y).text for y in range(1, table.row_count + 1)]


def test_elide_middle_keeps_both_ends():
    assert elide_middle("mean concave points", 30) == "mean concave points"
    assert elide_middle("mean concave points", 11) == "mean …oints"
    assert elide_middle("worst concave points", 11) == "worst…oints"
    assert len(elide_middle("worst fractal dimension", 12)) == 12
    assert elide_middle("abc", 1) == "…" and elide_middle("abc", 0) == ""


def test_bar_columns_cut_names_only_as_far_as_keeps_them_apart():
    names = ["concavity error", "concave points error", "mean radius"]
    methods = ["integrated_gradients", "lime"]
    wide = bar_columns(names, methods, value_width=6, available=200)
    assert wide.name == len("concave points error") and wide.value == 6 and wide.half == 10
    assert wide.methods == (21, 21)  # a bar of 2 * 10 + 1 cells is wider than either name
    narrow = bar_columns(names, methods, value_width=6, available=40)
    assert narrow.value == 0 and narrow.methods == (20, 11)  # the full name decides the method's width
    assert len({elide_middle(n, narrow.name) for n in names}) == 3  # at 12 both would read 'concav…error'


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_bar_table_header_has_full_method_names_and_one_zero_line_per_method(seeded_run, size):
    data = npz(seeded_run)
    methods = [k for k in data if k not in NON_METHODS and not k.endswith(".se")]  # .se: a method's standard errors
    names = list(data["feature_names"])
    app = LabApp(seeded_run.parent)
    async with app.run_test(size=size) as pilot:
        screen = await open_attributions(pilot, seeded_run)
        for _ in range(2):  # the same columns for every input
            header, rows = bar_lines(screen)
            assert header.split()[1:] in (methods, ["value", *methods])  # 'feature', 'value' where it fits, full names
            assert len(rows) == len(names)
            zero_lines = {tuple(k for k, ch in enumerate(row) if ch == "│") for row in rows}
            assert len(zero_lines) == 1 and len(next(iter(zero_lines))) == len(methods)
            await pilot.press("right")
        shown = [row[:screen.query_one(AttributionBars).fit.name + 2].strip() for row in rows]
        assert len(set(shown)) == len(names)
        for label in shown:  # each shown name is one feature's, its middle cut at most
            head, _, tail = label.partition("…")
            assert sum(n.startswith(head) and n.endswith(tail) for n in names) == 1, label
        if size == (80, 24):
            assert "mean co… points" in shown and "worst c… points" in shown
        else:
            assert set(shown) == set(names)


async def test_a_narrower_terminal_stacks_the_tables_and_drops_the_values_before_cutting_names(seeded_run):
    app = LabApp(seeded_run.parent)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_attributions(pilot, seeded_run)
        bars, tables = screen.query_one(AttributionBars), screen.query_one("#attr-tables")
        assert bars.fit.value and not tables.has_class("stacked")
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        await pilot.pause()
        assert not bars.fit.value and bars.fit.name < max(map(len, bars.feature_names))
        assert tables.has_class("stacked")
        assert bars.max_scroll_x == 0  # four methods fit in 80 columns: nothing to scroll sideways


async def test_heading_shows_the_predicted_class_and_its_probability_from_the_run(seeded_run):
    data = npz(seeded_run)
    classes, p = list(data["class_names"]), data["probabilities"]
    app = LabApp(seeded_run.parent)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_attributions(pilot, seeded_run)
        for i in range(len(p)):
            predicted = int(p[i].argmax())
            assert f"input {i + 1} of {len(p)}" in heading(screen)
            assert f"predicted '{classes[predicted]}' {p[i, predicted]:.2f}" in heading(screen)
            assert f"true '{classes[data['labels'][i]]}'" in heading(screen)
            await pilot.press("right")


async def test_w_steps_through_the_misclassified_inputs_and_shift_w_back(seeded_run):
    data = npz(seeded_run)
    wrong = np.flatnonzero(data["probabilities"].argmax(axis=1) != data["labels"])
    assert len(wrong) >= 2 and wrong[0] > 0  # the seeded run has some, the first input is not one
    app = LabApp(seeded_run.parent)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_attributions(pilot, seeded_run)
        assert "correct" in heading(screen) and f"({len(wrong)} misclassified)" in heading(screen)
        for k in [*range(len(wrong)), 0]:  # on to each in turn, then round to the first
            await pilot.press("w")
            assert screen.index == wrong[k]
            assert f"misclassified {k + 1} of {len(wrong)}" in heading(screen)
        await pilot.press("W")
        assert screen.index == wrong[-1]


async def test_no_misclassified_inputs_is_said_and_no_labels_hides_the_key(seeded_run):
    data = npz(seeded_run)
    rewrite_npz(seeded_run, labels=data["probabilities"].argmax(axis=1))
    app = LabApp(seeded_run.parent)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_attributions(pilot, seeded_run)
        await pilot.press("w")
        assert screen.index == 0
        assert any(n.message == "no misclassified inputs" for n in app._notifications)
        await pilot.press("escape")
        rewrite_npz(seeded_run, labels=None)  # a policy's states have no true labels
        screen = await open_attributions(pilot, seeded_run)
        assert screen.check_action("misclassified", (1,)) is False
        await pilot.press("w")
        assert screen.index == 0 and "true" not in heading(screen)


async def test_a_run_from_before_probabilities_were_stored_still_opens(seeded_run):
    data = npz(seeded_run)
    targets = data["targets"].copy()
    targets[0] = 1 - targets[0]  # one input explained for the class it was not given
    rewrite_npz(seeded_run, probabilities=None, targets=targets)
    classes = list(data["class_names"])
    app = LabApp(seeded_run.parent)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_attributions(pilot, seeded_run)
        assert f"explaining '{classes[targets[0]]}'" in heading(screen) and "predicted" not in heading(screen)
        wrong = np.flatnonzero(targets != data["labels"])  # without probabilities, the targets stand for the predictions
        assert wrong[0] == 0 and f"misclassified 1 of {len(wrong)}" in heading(screen)
        await pilot.press("w")
        assert screen.index == wrong[1]


async def test_explaining_another_class_than_the_predicted_one_shows_both(seeded_run):
    data = npz(seeded_run)
    p, classes = data["probabilities"], list(data["class_names"])
    targets = 1 - p.argmax(axis=1)  # explain.target = "true" on a misclassified input does this
    rewrite_npz(seeded_run, targets=targets)
    app = LabApp(seeded_run.parent)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_attributions(pilot, seeded_run)
        assert f"predicted '{classes[1 - targets[0]]}' {p[0, 1 - targets[0]]:.2f}" in heading(screen)
        assert f"explaining '{classes[targets[0]]}' {p[0, targets[0]]:.2f}" in heading(screen)
        assert f"red: for '{classes[targets[0]]}'" in heading(screen)


async def test_image_panels_are_labelled_with_full_method_names(seeded_run):
    rng = np.random.default_rng(0)
    methods = ["integrated_gradients", "captum_kernel_shap", "occlusion"]
    x = rng.random((2, 1, 8, 8)).astype(np.float32)
    arrays = {"inputs": x, "targets": np.array([3, 5]), "labels": np.array([3, 5]),
              "probabilities": np.full((2, 10), 0.1, np.float32), "class_names": np.array([str(d) for d in range(10)]),
              "feature_names": np.array([f"pixel {i}" for i in range(64)]), "baseline": np.zeros((1, 8, 8), np.float32)}
    np.savez(seeded_run / "artifacts" / "attributions.npz", **arrays, **{m: rng.normal(size=x.shape).astype(np.float32) for m in methods})
    comparison = json.loads((seeded_run / "artifacts" / "comparison.json").read_text())
    entry = comparison["methods"]["lime"]
    comparison["methods"] = {m: entry for m in methods}
    comparison["pairs"]["spearman"] = {a: {b: 0.5 for b in methods} for a in methods}
    (seeded_run / "artifacts" / "comparison.json").write_text(json.dumps(comparison))
    app = LabApp(seeded_run.parent)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_attributions(pilot, seeded_run)
        for m in methods:
            assert str(screen.query_one(f"#panel-{m}").render()).splitlines()[0] == m
        matrix = screen.query_one("#attr-agreement")
        assert [str(matrix.get_row_at(k)[0]) for k in range(3)] == [f"{k} {m}" for k, m in enumerate(methods, 1)]


@pytest.fixture(scope="module")
def cancer_run(tmp_path_factory):
    """A real breast-cancer MLP run, explained with the cheapest method."""
    spec = lab.load_experiment("breast-cancer-attributions", {
        "model.epochs": 10, "explain.samples": 8, "explain.sensitivity_samples": 0, "explain.figure_samples": 0,
        "explain.methods": ["saliency", "integrated_gradients"]})
    return lab.run(spec, runs_dir=tmp_path_factory.mktemp("runs"))


def test_an_attribution_run_stores_the_predicted_probabilities(cancer_run):
    assert cancer_run.state == "completed", cancer_run.summary.error
    data = npz(cancer_run.path)
    p = data["probabilities"]
    assert p.shape == (8, 2) and p.dtype == np.float32 and (p >= 0).all()
    assert np.allclose(p.sum(axis=1), 1, atol=1e-5)
    assert (p.argmax(axis=1) == data["targets"]).all()  # the default targets are the predicted classes
    described = [e["description"] for e in cancer_run.events() if e["kind"] == "artifact" and e["path"].endswith(".npz")]
    assert described and "predicted probabilities" in described[0]


async def test_open_a_real_run_from_its_live_view(cancer_run):
    data = npz(cancer_run.path)
    classes, p = list(data["class_names"]), data["probabilities"]
    app = LabApp(cancer_run.path.parent)
    async with app.run_test(size=(160, 48)) as pilot:
        app.open_run(cancer_run.path)
        await wait_for(pilot, lambda: getattr(app.screen, "ready", False))
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, AttributionScreen))  # read in a worker
        await pilot.pause()
        screen = app.screen
        header, rows = bar_lines(screen)
        assert header.split()[:4] == ["feature", "value", "saliency", "integrated_gradients"]
        assert len({row[:screen.query_one(AttributionBars).fit.name + 2].strip() for row in rows}) == len(rows) == 30
        predicted = int(p[0].argmax())
        assert f"predicted '{classes[predicted]}' {p[0, predicted]:.2f}" in heading(screen)
        await pilot.press("left")
        assert "input 8 of 8" in heading(screen)
        assert screen.query_one("#attr-metrics").row_count == 3  # 2 methods and the random order


def test_a_bar_draws_its_95_percent_interval_only_where_it_shows_at_the_bars_resolution():
    from lab.tui.widgets.attribution_view import bar_cell

    plain = bar_cell(0.5, 1.0, 10, 21)
    assert bar_cell(0.5, 1.0, 10, 21, error=0.001).plain == plain.plain  # a twentieth of a cell: no interval
    wide = bar_cell(0.5, 1.0, 10, 21, error=0.1).plain  # 0.5 +- 0.196: cells 3 to 7 of the right half
    right = wide[wide.index("│") + 1:]
    assert right.startswith("███▒▒") and right.rstrip().endswith("╌╌") and len(wide) == 21
    left = bar_cell(-0.5, 1.0, 10, 21, error=0.1).plain  # against the class: the same, mirrored
    assert left[:left.index("│")].lstrip().startswith("╌╌") and left[:left.index("│")].endswith("▒▒███")
