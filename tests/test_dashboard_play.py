"""The live view's play pane: the run's best policy playing in its environment, drawn in truecolor
half blocks by a helper process that lives exactly as long as the pane. Real (short) runs."""

import time
from pathlib import Path

import pytest
from rich.color import ColorType

import lab
from lab.tui.app import LabApp
from lab.tui.widgets.play_pane import PlayPane

from .conftest import copy_run
from .pilot import wait_for
from .seeded_runs import seeded_root


@pytest.fixture(scope="module")
def runs(tmp_path_factory, cartpole_ppo_folder):
    """A finished cartpole-ppo run with best checkpoints, and a run of an env that cannot draw itself."""
    root = tmp_path_factory.mktemp("runs")
    cartpole = copy_run(cartpole_ppo_folder, root)
    exploding = lab.run(lab.load_experiment({"name": "exploding", "env": {"id": "tests.exploding_env:Exploding-v0"},
                                             "agent": {"algo": "ppo", "total_steps": 64, "n_steps": 64}}), runs_dir=root)
    return root, cartpole.path, exploding.path


async def open_pane(pilot, path) -> PlayPane:
    pilot.app.open_run(path)
    await wait_for(pilot, lambda: getattr(pilot.app.screen, "ready", False))
    await pilot.press("p")
    return pilot.app.screen.query_one(PlayPane)


def gone(proc) -> bool:
    return proc.poll() is not None and not Path(f"/proc/{proc.pid}").exists()


def ends_soon(proc, timeout=30.0) -> bool:
    """Killed, the helper is reaped by the pane's reader thread, not on the event loop: a nice-19
    process on a busy machine takes a moment to die."""
    deadline = time.monotonic() + timeout
    while not gone(proc) and time.monotonic() < deadline:
        time.sleep(0.1)
    return gone(proc)


def drawn(pane):
    """The pane's lines as the screen gets them: its segments."""
    return [seg for y in range(pane.size.height) for seg in pane.render_line(y)]


def picture_width(pane) -> int:
    return max(sum(seg.cell_length for seg in pane.render_line(y) if seg.text.startswith("▀")) for y in range(pane.size.height))


@pytest.mark.parametrize("size", [(160, 48), (80, 24)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_pane_plays_the_best_policy_in_half_blocks_and_p_again_kills_its_player(runs, size):
    root, cartpole, _ = runs
    app = LabApp(root)
    async with app.run_test(size=size) as pilot:
        pane = await open_pane(pilot, cartpole)
        await wait_for(pilot, lambda: pane.frames >= 3, timeout=30)
        cells = [seg for seg in drawn(pane) if seg.text.startswith("▀")]
        assert cells and {c for seg in cells for c in seg.text} == {"▀"}
        assert all(seg.style.color.type == ColorType.TRUECOLOR and seg.style.bgcolor.type == ColorType.TRUECOLOR
                   for seg in cells)
        assert len({(seg.style.color, seg.style.bgcolor) for seg in cells}) >= 3  # a picture: background, cart, pole
        assert "return" in "".join(seg.text for seg in drawn(pane))  # its caption: episode, step, return, fps
        kept = drawn(pane)  # most lines kept from earlier frames (their pixels did not change)
        pane._lines.clear()
        pane._cache_key = None
        assert drawn(pane) == kept  # the same as drawing this frame's pixels afresh
        # beside the curves, the metrics and above the log, all of them still there
        screen = app.screen
        for name in ("#return-plot", "#metrics-pane", "#play-pane", "#run-log"):
            region = screen.query_one(name).region
            assert region.width >= 16 and region.height >= 4 and region.right <= size[0], name
        beside = picture_width(pane)
        await pilot.press("f10", "f10", "f10")  # curves, metrics, then the play pane fills the screen
        await pilot.pause()
        assert screen.maximized is pane and pane.region.width == size[0]
        assert picture_width(pane) > beside  # the same frames, drawn larger
        proc = pane.proc
        await pilot.press("p")
        await pilot.pause()
        assert not screen.query(PlayPane)
        await wait_for(pilot, lambda: gone(proc), timeout=30)


async def test_closing_the_live_view_or_quitting_kills_the_player(runs):
    root, cartpole, _ = runs
    app = LabApp(root)
    async with app.run_test(size=(160, 48)) as pilot:
        pane = await open_pane(pilot, cartpole)
        await wait_for(pilot, lambda: pane.proc is not None)
        first = pane.proc
        await pilot.press("escape")
        await wait_for(pilot, lambda: gone(first), timeout=30)
        pane = await open_pane(pilot, cartpole)
        await wait_for(pilot, lambda: pane.proc is not None)
        second = pane.proc
        app.exit()
    assert ends_soon(second)


async def test_an_env_that_cannot_be_drawn_shows_why_in_one_line(runs):
    root, _, exploding = runs
    app = LabApp(root)
    async with app.run_test(size=(160, 48)) as pilot:
        pane = await open_pane(pilot, exploding)
        await wait_for(pilot, lambda: "draw" in pane.note, timeout=30)
        assert pane.note == "Exploding-v0 cannot be drawn (it takes no render_mode)" and pane.frames == 0
        assert [seg.text.strip() for seg in drawn(pane) if seg.text.strip()] == [pane.note]  # one line, nothing else
        await wait_for(pilot, lambda: gone(pane.proc))  # nothing to do: the player has ended


async def test_an_attribution_run_has_no_agent_to_play(tmp_path):
    root = seeded_root(tmp_path / "runs")
    app = LabApp(root)
    async with app.run_test(size=(160, 48)) as pilot:
        pane = await open_pane(pilot, root / "20261123-000300-breast-cancer-attributions-0003")
        await pilot.pause()
        assert pane.proc is None and "attribution run: there is no agent to play" in pane.note
        assert "no agent to play" in "".join(seg.text for seg in drawn(pane))
