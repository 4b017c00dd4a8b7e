"""The Escape key, read in tens of milliseconds instead of a tenth of a second.

A terminal sends the Escape key as the byte ESC, which also starts every escape sequence (arrows,
F-keys, mouse reports), so a reader waits a moment after a lone ESC before it calls it the Escape
key: ESCDELAY milliseconds (ncurses' name for it; 100 in Textual, as vim's `ttimeoutlen`). Textual's
input thread looks at that clock only when its `select()` returns, which with no more input is every
100 ms, so whatever ESCDELAY says, each screen closed with Escape waited 100-130 ms before anything
moved: help closed with `?` in 36 ms at p95 and with Escape in 131 ms (1,000 runs, tmux 160x48).

Here the wait is ESCAPE_DELAY_MS, and for a moment after input arrives the input thread's `select()`
returns every SELECT_TICK_S, so Escape acts within about 35 ms (and an idle dashboard wakes no more
often than Textual's own). A terminal writes a whole sequence at once; over a slow link where its
bytes can arrive further apart, the user's own ESCDELAY wins, as in ncurses.
"""

from __future__ import annotations

import os
import selectors
import time
import types

from textual import constants
from textual.drivers import linux_driver

ESCAPE_DELAY_MS = 25
SELECT_TICK_S = 0.01


class _SelectSelector(selectors.SelectSelector):
    """select() that returns every SELECT_TICK_S for a while after input arrived: the time the
    parser may be waiting to tell a lone ESC from a sequence's start."""

    _input_at = -1.0

    def select(self, timeout=None):
        if time.monotonic() - self._input_at < 2 * constants.ESCAPE_DELAY:
            timeout = SELECT_TICK_S if timeout is None else min(timeout, SELECT_TICK_S)
        ready = super().select(timeout)
        if ready:
            self._input_at = time.monotonic()
        return ready


# the `selectors` module as Textual's input thread finds it, its SelectSelector returning within a tick
_SELECTORS = types.ModuleType("selectors")
vars(_SELECTORS).update(vars(selectors), SelectSelector=_SelectSelector)


class QuickEscapeDriver(linux_driver.LinuxDriver):
    """Textual's Linux driver, reading a lone ESC as the Escape key after ESCAPE_DELAY_MS (or the
    user's ESCDELAY). If a later Textual builds its input loop otherwise, this driver is Textual's."""

    def run_input_thread(self) -> None:
        if "ESCDELAY" not in os.environ:
            constants.ESCAPE_DELAY = ESCAPE_DELAY_MS / 1000  # read by Textual's key parser at each ESC
        if getattr(linux_driver, "selectors", None) is selectors:
            linux_driver.selectors = _SELECTORS
        super().run_input_thread()
