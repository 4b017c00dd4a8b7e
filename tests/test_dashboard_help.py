"""Help ('?') and the command palette (ctrl+p) on every screen: help names things as the screen shows
them (never a widget's class), lists the screen's own keys and its own paragraph; the palette offers
each action once, spelt one way."""

import asyncio
import inspect
import re
import time

import lab.tui.screens.attribution
import lab.tui.screens.compare
import lab.tui.screens.home
import lab.tui.screens.run
import lab.tui.screens.sweep
import lab.tui.widgets.attribution_view
import lab.tui.widgets.fitted_table
import lab.tui.widgets.line_plot
import lab.tui.widgets.play_pane
import lab.tui.widgets.run_table
import lab.tui.widgets.scatter_plot
from lab.tui.app import LabApp
from lab.tui.screens.home import HomeScreen

from .pilot import runs_shown, settled, wait_for
from .seeded_runs import seeded_root
from .test_dashboard_sweep_view import hand_sweep

SIZE = (160, 48)
PPO = "20261123-000100-cartpole-ppo-0001"
PPO2 = "20261123-000200-cartpole-ppo-0002"
ATTRIBUTION = "20261123-000300-breast-cancer-attributions-0003"
MODULES = [lab.tui.screens.attribution, lab.tui.screens.compare, lab.tui.screens.home, lab.tui.screens.run,
           lab.tui.screens.sweep, lab.tui.widgets.attribution_view, lab.tui.widgets.fitted_table, lab.tui.widgets.line_plot,
           lab.tui.widgets.play_pane, lab.tui.widgets.run_table, lab.tui.widgets.scatter_plot]
# lab's widget and screen classes, and the Textual ones they are built of
CLASS_NAMES = {name for m in MODULES for name, obj in vars(m).items() if inspect.isclass(obj)
               and hasattr(obj, "BINDINGS") and name[0].isupper()} | {"DataTable", "VerticalScroll", "OptionList", "Screen"}


def help_text(app) -> tuple[list[tuple[str, str, str]], str]:
    """(key, what it does, where) of each row of the help screen, and all its text."""
    table = app.screen.query_one("#help-keys")
    rows = [tuple(str(c) for c in table.get_row_at(i)) for i in range(table.row_count)]
    texts = [str(w.render()) for w in app.screen.query("Static")]
    return rows, "\n".join(texts + [" ".join(r) for r in rows])


async def open_help(pilot):
    await pilot.press("question_mark")
    await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "HelpScreen")
    await pilot.pause()
    return help_text(pilot.app)


async def check_help(pilot, screen, must=()):
    """Help on `screen`: no class name, the screen's own enabled keys, its title and paragraph."""
    rows, text = await open_help(pilot)
    assert not {n for n in CLASS_NAMES if re.search(rf"\b{n}\b", text)}, text
    described = {what for _, what, _ in rows}
    own = {b.description for b in type(screen).BINDINGS
           if b.description and screen.check_action(b.action.split("(")[0], ()) is not False}
    assert own <= described, own - described
    assert set(must) <= described, set(must) - described
    assert f"Keys on the {screen.TITLE} screen" in text and screen.HELP and screen.HELP in text
    if not isinstance(screen, HomeScreen):
        assert HomeScreen.HELP not in text and "Experiments (left)" not in text  # the home screen's paragraph, only there
    wheres = {where for _, _, where in rows}
    assert {"this screen", "everywhere"} <= wheres
    assert len([r for r in rows if r[1] == "Quit"]) == 1  # one row per action, with all its keys
    await pilot.press("escape")
    await wait_for(pilot, lambda: pilot.app.screen is screen)
    return rows


async def test_help_on_every_screen_names_things_as_the_screen_does_with_its_own_keys_and_paragraph(tmp_path):
    root = seeded_root(tmp_path / "runs")
    sweep = hand_sweep(root)
    app = LabApp(root)
    async with app.run_test(size=SIZE) as pilot:
        await runs_shown(pilot, 5)
        await settled(app)
        home = app.screen
        rows = await check_help(pilot, home, must={"Launch", "Filter"})
        assert ("Down" in {w for _, w, _ in rows}) and any(where == "Experiments (list)" for _, _, where in rows)
        await pilot.press("ctrl+r")
        rows = await check_help(pilot, home, must={"Mark", "Compare marked", "Delete"})
        assert {where for _, what, where in rows if what == "Mark"} == {"Runs (table)"}
        for run in (PPO, ATTRIBUTION):
            app.open_run(root / run)
            await wait_for(pilot, lambda: getattr(app.screen, "ready", False))
            view = app.screen
            await check_help(pilot, view, must={"Back", "Maximise"})
            if run == ATTRIBUTION:
                await pilot.press("a")
                await wait_for(pilot, lambda: type(app.screen).__name__ == "AttributionScreen")
                await pilot.pause()
                await check_help(pilot, app.screen, must={"Previous input", "Next input"})
                await pilot.press("escape")
                await wait_for(pilot, lambda: app.screen is view)
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is home)
        from lab.tui.screens.compare import CompareScreen

        compare = CompareScreen([root / PPO, root / PPO2])
        app.push_screen(compare)
        await wait_for(pilot, lambda: compare.ready)
        await check_help(pilot, compare, must={"Steps/time", "Smoothing"})
        await pilot.press("escape")
        app.open_sweep(sweep)
        await wait_for(pilot, lambda: getattr(app.screen, "ready", False))
        rows = await check_help(pilot, app.screen, must={"Order", "Back"})
        assert "Stop sweep" not in {what for _, what, _ in rows}  # a finished sweep: nothing to stop


async def palette(pilot, query: str = "") -> list[str]:
    """The titles the command palette lists for `query` (before anything is typed: what it offers)."""
    from textual.command import CommandList, CommandPalette

    app = pilot.app
    await pilot.press("ctrl+p")
    await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
    if query:
        await pilot.press(*query)
    listed = app.screen.query_one(CommandList)
    seen, since = None, time.monotonic()
    while time.monotonic() - since < 0.6:  # until the list has stood still a while (the palette gathers in batches)
        options = [listed.get_option_at_index(i) for i in range(listed.option_count)]
        now = [str(o.hit.text) for o in options if hasattr(o, "hit")]  # (not 'No matches found')
        if now != seen:
            seen, since = now, time.monotonic()
        await asyncio.sleep(0.05)
    await pilot.press("escape")
    await wait_for(pilot, lambda: not isinstance(app.screen, CommandPalette))
    return seen


GLOBAL = {"Maximise the focused pane", "Toggle dark/light theme", "Help", "Quit", "Screenshot"}
HOME = {"Launch the highlighted experiment", "Open the selected run", "View the newest run", "Compare marked runs",
        "Stop the selected run", "Run the selected run again", "Delete the selected run", "Filter experiments",
        "Hide or show the experiments pane"}


async def test_the_palette_offers_each_action_once_spelt_one_way_on_the_screen_it_is_opened_on(tmp_path):
    root = seeded_root(tmp_path / "runs")
    sweep = hand_sweep(root)
    app = LabApp(root)
    async with app.run_test(size=SIZE) as pilot:
        await runs_shown(pilot, 5)
        await settled(app)
        offered = await palette(pilot)
        assert len(offered) == len(set(offered)) and set(offered) == HOME | GLOBAL, offered
        for query, only in [("maxim", ["Maximise the focused pane"]), ("theme", ["Toggle dark/light theme"]),
                            ("keys", []), ("help", ["Help"]), ("quit", ["Quit"]), ("minimi", [])]:
            found = await palette(pilot, query)  # (fuzzy: 'theme' finds 'Launch the highlighted experiment' too)
            assert [title for title in found if query in title.lower()] == only, (query, found)
        app.open_sweep(sweep)
        await wait_for(pilot, lambda: getattr(app.screen, "ready", False))
        screen = app.screen
        offered = await palette(pilot)
        assert set(offered) == {"Back", "Order", "Profiles"} | GLOBAL, offered  # its own keys, not the home screen's
        assert len(offered) == len(set(offered))
        await pilot.press("ctrl+p", *"order")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.by_value)  # the palette's command is the screen's
        assert [t for t in await palette(pilot, "maxim") if "maxim" in t.lower()] == ["Maximise the focused pane"]
        await pilot.press("ctrl+p", *"maximise")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.maximized is not None)  # this screen's panes, not the home screen's
