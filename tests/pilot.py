"""Waiting on the dashboard in Pilot tests: its runs watcher and its checks run in workers."""

import asyncio
import time


async def wait_for(pilot, condition, timeout=60.0, step=0.2):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the dashboard"
        await pilot.pause(step)


READERS = {"watch", "run-reader", "compare-reader", "sweep-reader", "play"}  # workers that follow a folder or a pipe until cancelled


async def settled(app, timeout=60.0):
    """Wait for the dashboard's short workers and for the home screen's form to have its check's
    answer (a worker's answer is a message, handled after the worker ends); the readers never end."""
    await asyncio.sleep(0.05)  # let the change reach the screen and start its check
    deadline = time.monotonic() + timeout
    home = getattr(app, "home", None)
    while (any(w.group not in READERS and not w.is_finished for w in app.workers)  # (a newer check cancels an older one)
           or home is not None and (home.checking or home.form_pending)):
        assert time.monotonic() < deadline, "timed out waiting for the dashboard's workers"
        await asyncio.sleep(0.05)


async def runs_shown(pilot, rows: int):
    """The home screen's runs table once the watcher has put `rows` runs in it."""
    from lab.tui.widgets.run_table import RunTable

    table = pilot.app.home.query_one(RunTable)
    await wait_for(pilot, lambda: table.row_count >= rows)
    return table
