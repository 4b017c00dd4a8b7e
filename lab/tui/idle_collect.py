"""Python's cyclic garbage collector, run while the dashboard is idle instead of inside key presses.

A full collection walked the ~300,000 objects the dashboard's start-up leaves (modules, the runs,
the form) in 180-190 ms; each screen opened and closed leaves thousands of objects in cycles
(widgets point at their parents) that only a full collection frees, in 15-45 ms. Either landed in
whichever key press came next: in tmux at 1,000 runs every key above 100 ms was a collection (help
opened: p95 126 ms with the collector as Python runs it, 69 ms with it off).

So while the dashboard runs: no collection during start-up (five full ones took 440 ms of the first
paint), then start-up's objects frozen (never walked again), then a collection once no key or mouse
input came for IDLE_SECONDS, or at once when BACKLOG objects wait. When the dashboard ends the
collector is as it was (tests and scripts run the dashboard in their own process).
"""

from __future__ import annotations

import gc
import time

IDLE_SECONDS = 0.3  # no input for this long: the user is reading, not pressing
CHECK_SECONDS = 0.2  # (often enough that what one screen left is collected in one go: 15-25 ms)
MIN_WAITING = 1_000  # fewer new objects than this: nothing worth a collection
BACKLOG = 200_000  # this many: collected even while keys keep coming (a held key)


class IdleCollector:
    def __init__(self) -> None:
        self.last_input = time.monotonic()
        self._was_enabled: bool | None = None
        self._frozen = False

    def begin(self) -> None:
        """The app starts: no collections until `started_up` (`lab`'s dashboard command turns them
        off before its first import)."""
        if self._was_enabled is None:
            self._was_enabled = gc.isenabled()
        gc.disable()

    def started_up(self, app) -> None:
        """Start-up is over: what exists now lives as long as the app."""
        if self._frozen or self._was_enabled is None:  # (frozen already, or not begun)
            return
        gc.freeze()
        self._frozen = True
        app.set_interval(CHECK_SECONDS, self.check, name="collect when idle")

    def input_seen(self) -> None:
        self.last_input = time.monotonic()

    def check(self) -> None:
        waiting = gc.get_count()[0]  # objects made (less those freed) since the last collection
        idle = time.monotonic() - self.last_input > IDLE_SECONDS
        if waiting > BACKLOG or (idle and waiting > MIN_WAITING):
            gc.collect()

    def end(self) -> None:
        """The app ends: the collector as it was, start-up's objects collectable again."""
        if self._frozen:
            gc.unfreeze()
            self._frozen = False
        if self._was_enabled:
            gc.enable()
        self._was_enabled = None
