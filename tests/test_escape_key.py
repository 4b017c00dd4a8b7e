"""The Escape key reaches the dashboard in tens of milliseconds: Textual's own driver waits for a
lone ESC at least 100 ms (its select() wakes every 100 ms), lab's waits 25 ms; sequences starting
with ESC (an arrow) still read as themselves. The drivers' real input threads read a real pipe."""

import os
import selectors
import sys
import threading
import time

import pytest
from textual import constants, events
from textual.drivers import linux_driver
from textual.drivers.linux_driver import LinuxDriver

from lab.tui.escape_key import QuickEscapeDriver

pytestmark = pytest.mark.skipif(os.name != "posix", reason="Textual's Linux driver (Linux and macOS)")


def keys_read(driver_class, data: str, count: int = 1) -> tuple[list[str], float]:
    """The keys (`count` of them) a driver's input thread reads from `data` written at once to its
    input, and the seconds until the first of them was posted."""
    read_fd, write_fd = os.pipe()
    keys, first = [], threading.Event()

    class Probe(driver_class):
        def process_message(self, message):
            if isinstance(message, events.Key):
                keys.append(message.key)
                first.set()

    driver = Probe(app=None)
    driver.fileno = read_fd
    thread = threading.Thread(target=driver.run_input_thread, daemon=True)
    thread.start()
    time.sleep(0.05)  # the thread is in its select() loop
    t0 = time.perf_counter()
    os.write(write_fd, data.encode())
    assert first.wait(5), "no key was read"
    seconds = time.perf_counter() - t0
    deadline = time.monotonic() + 2
    while len(keys) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)  # (a key too many would show here)
    driver.exit_event.set()
    thread.join(5)
    os.close(write_fd)
    os.close(read_fd)
    return keys, seconds


@pytest.fixture
def textual_as_installed(monkeypatch):
    """The ESCDELAY and selectors module Textual starts with, put back after the test (lab's driver
    sets them for the process it runs in)."""
    monkeypatch.delenv("ESCDELAY", raising=False)
    monkeypatch.setattr(constants, "ESCAPE_DELAY", 0.1)
    monkeypatch.setattr(linux_driver, "selectors", selectors)
    monkeypatch.setattr(sys, "__stdin__", open(os.devnull))  # (the drivers read its fileno; a pipe replaces it)


async def test_a_lone_escape_is_read_in_tens_of_milliseconds_where_textual_takes_a_tenth_of_a_second(textual_as_installed):
    stock = [keys_read(LinuxDriver, "\x1b") for _ in range(2)]
    assert all(keys == ["escape"] and seconds >= 0.099 for keys, seconds in stock), stock
    quick = [keys_read(QuickEscapeDriver, "\x1b") for _ in range(5)]
    assert all(keys == ["escape"] for keys, _ in quick), quick
    assert sorted(seconds for _, seconds in quick)[2] < 0.07, quick  # the median: 25 ms and a 10 ms tick


async def test_sequences_that_start_with_escape_still_read_as_one_key(textual_as_installed):
    assert keys_read(QuickEscapeDriver, "\x1b[A")[0] == ["up"]
    assert keys_read(QuickEscapeDriver, "\x1b[1;5B")[0] == ["ctrl+down"]
    assert keys_read(QuickEscapeDriver, "\x1b\x1b", count=2)[0] == ["escape", "escape"]


async def test_the_users_own_escdelay_wins(textual_as_installed, monkeypatch):
    monkeypatch.setenv("ESCDELAY", "300")
    monkeypatch.setattr(constants, "ESCAPE_DELAY", 0.3)  # as Textual read it at import
    keys, seconds = keys_read(QuickEscapeDriver, "\x1b")
    assert keys == ["escape"] and 0.29 < seconds < 1.0
