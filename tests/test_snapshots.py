"""Snapshots of the main screens on seeded run folders (pytest --snapshot-update to accept changes)."""

from pathlib import Path

import pytest

from lab.tui.app import LabApp

from .seeded_runs import seeded_root


@pytest.fixture
def seeded(tmp_path):
    return seeded_root(tmp_path / "runs")


async def runs_listed(pilot):
    """The runs watcher reads the folders in a worker: wait until the table holds all of them."""
    from lab.tui.widgets.run_table import RunTable

    for _ in range(100):
        if pilot.app.home.query_one(RunTable).row_count == 4:
            break
        await pilot.pause(0.05)
    checks = [w for w in pilot.app.workers if w.group == "validate"]
    if checks:  # the form's check of the highlighted experiment
        await pilot.app.workers.wait_for_complete(checks)
    await pilot.pause()


def test_home_screen(snap_compare, seeded):
    assert snap_compare(LabApp(seeded), terminal_size=(160, 48), run_before=runs_listed)


def test_run_view_at_80x24(snap_compare, seeded):
    async def open_run(pilot):
        pilot.app.open_run(seeded / "20261123-000100-cartpole-ppo-0001")
        await pilot.pause()

    assert snap_compare(LabApp(seeded), terminal_size=(80, 24), run_before=open_run)


def test_run_view_at_200x60(snap_compare, seeded):
    async def open_run(pilot):
        pilot.app.open_run(seeded / "20261123-000100-cartpole-ppo-0001")
        await pilot.pause()

    assert snap_compare(LabApp(seeded), terminal_size=(200, 60), run_before=open_run)


def test_compare_screen_mean_and_band(snap_compare, seeded):
    async def compare(pilot):
        from lab.tui.screens.compare import CompareScreen

        pilot.app.push_screen(CompareScreen([seeded / n for n in ("20261123-000100-cartpole-ppo-0001",
                                                                   "20261123-000200-cartpole-ppo-0002",
                                                                   "20261123-000150-cartpole-dqn-0004")]))
        await pilot.pause()
        await pilot.press("g")

    assert snap_compare(LabApp(seeded), terminal_size=(160, 48), run_before=compare)


def test_attribution_screen(snap_compare, seeded):
    async def attributions(pilot):
        from lab.tui.screens.attribution import AttributionScreen

        pilot.app.push_screen(AttributionScreen(seeded / "20261123-000300-breast-cancer-attributions-0003"))
        await pilot.pause()
        await pilot.press("right")

    assert snap_compare(LabApp(seeded), terminal_size=(160, 48), run_before=attributions)


def test_home_screen_at_80x24(snap_compare, seeded):
    assert snap_compare(LabApp(seeded), terminal_size=(80, 24), run_before=runs_listed)
