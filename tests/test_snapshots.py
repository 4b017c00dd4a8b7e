"""Snapshots of every screen and dialog at 80x24, 100x30 and 160x48, on seeded run folders
(pytest --snapshot-update to accept changes, after looking at them)."""

import pytest

from lab.tui.app import LabApp

from .pilot import runs_shown, settled, wait_for
from .seeded_runs import seeded_root

SIZES = [(80, 24), (100, 30), (160, 48)]
PPO = "20261123-000100-cartpole-ppo-0001"
ATTRIBUTION = "20261123-000300-breast-cancer-attributions-0003"


@pytest.fixture
def seeded(tmp_path, monkeypatch):
    # the runs table shows when each run started in local time: the same picture in every zone
    import time

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield seeded_root(tmp_path / "runs")
    monkeypatch.undo()
    time.tzset()


async def runs_listed(pilot):
    """All four seeded runs in the table, and the form's check of the highlighted experiment done."""
    await runs_shown(pilot, 4)
    await settled(pilot.app)
    await pilot.pause()


async def open_run(pilot, path):
    await runs_listed(pilot)
    pilot.app.open_run(path)
    await pilot.pause()
    for _ in range(200):
        if getattr(pilot.app.screen, "ready", False):
            break
        await pilot.pause(0.05)
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_home_screen(snap_compare, seeded, size):
    assert snap_compare(LabApp(seeded), terminal_size=size, run_before=runs_listed)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_rl_run_view(snap_compare, seeded, size):
    async def before(pilot):
        await open_run(pilot, seeded / PPO)

    assert snap_compare(LabApp(seeded), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_attribution_run_view(snap_compare, seeded, size):
    async def before(pilot):
        await open_run(pilot, seeded / ATTRIBUTION)

    assert snap_compare(LabApp(seeded), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_compare_screen_mean_and_band(snap_compare, seeded, size):
    async def compare(pilot):
        from lab.tui.screens.compare import CompareScreen

        await runs_listed(pilot)
        screen = CompareScreen([seeded / n for n in (PPO, "20261123-000200-cartpole-ppo-0002", "20261123-000150-cartpole-dqn-0004")])
        pilot.app.push_screen(screen)
        await wait_for(pilot, lambda: screen.ready)  # its reader's first read
        await wait_for(pilot, lambda: screen.statistics, timeout=30)  # the two ppo runs over seeds, bootstrapped
        await pilot.press("g")

    assert snap_compare(LabApp(seeded), terminal_size=size, run_before=compare)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_attribution_screen(snap_compare, seeded, size):
    async def attributions(pilot):
        from lab.tui.screens.attribution import Attributions, AttributionScreen

        await runs_listed(pilot)
        pilot.app.push_screen(AttributionScreen(Attributions.read(seeded / ATTRIBUTION)))
        await pilot.pause()
        await pilot.press("right")

    assert snap_compare(LabApp(seeded), terminal_size=size, run_before=attributions)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("keys", [("question_mark",), ("ctrl+r", "d")], ids=["help", "delete_confirmation"])
def test_home_screen_after_keys(snap_compare, seeded, size, keys):
    """The help screen ('?'), and the confirmation that names the run 'd' would delete."""
    async def press(pilot):
        await runs_listed(pilot)
        await pilot.press(*keys)
        await pilot.pause()

    assert snap_compare(LabApp(seeded), terminal_size=size, run_before=press)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_quit_with_runs_going(snap_compare, seeded, size):
    async def quit_dialog(pilot):
        from lab.tui.screens.dialogs import QuitScreen

        await runs_listed(pilot)
        pilot.app.push_screen(QuitScreen(2))
        await pilot.pause()

    assert snap_compare(LabApp(seeded), terminal_size=size, run_before=quit_dialog)
