"""The dashboard in a real terminal: tmux at 160x48 runs `lab`, launches cartpole-ppo, watches, quits."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from .conftest import REPO

pytestmark = [pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed: the real-terminal test needs it"),
              pytest.mark.slow]


def screen(session: str) -> str:
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout


def wait_for_screen(session: str, predicate, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = screen(session)
        if predicate(text):
            return text
        assert time.monotonic() < deadline, f"timed out; the screen was:\n{text}"
        time.sleep(0.3)


def keys(session: str, *k: str) -> None:
    subprocess.run(["tmux", "send-keys", "-t", session, *k], check=True)


def step_on_screen(text: str) -> int:
    match = re.search(r"step ([\d,]+) /", text)
    return int(match.group(1).replace(",", "")) if match else -1


def test_launch_watch_and_quit_in_tmux(tmp_path):
    session = f"lab-test-{os.getpid()}"
    runs = tmp_path / "runs"
    # COLUMNS/LINES from the test runner would pin the app to 80x24 whatever the pane size
    cmd = f"cd {REPO} && env -u COLUMNS -u LINES COLORTERM=truecolor {sys.executable} -m lab --runs-dir {runs}"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "48", cmd], check=True)
    # a tmux server that is already running may size new windows its own way
    subprocess.run(["tmux", "resize-window", "-t", session, "-x", "160", "-y", "48"], capture_output=True)
    try:
        wait_for_screen(session, lambda s: "valid (defaults)" in s)
        time.sleep(1.0)  # keys sent before the app reads its input would be lost
        keys(session, "/")
        time.sleep(0.3)
        keys(session, "-l", "cartpole-ppo")
        time.sleep(0.3)
        keys(session, "Enter")
        wait_for_screen(session, lambda s: "cartpole-ppo  rl" in s and "100000" in s, timeout=10)
        keys(session, "C-l")
        wait_for_screen(session, lambda s: "launched cartpole-ppo" in s)
        deadline = time.monotonic() + 60
        while not list(runs.glob("*/events.jsonl")):
            assert time.monotonic() < deadline
            time.sleep(0.3)
        wait_for_screen(session, lambda s: "running" in s)  # the watcher has it in the table
        keys(session, "v")
        first = step_on_screen(wait_for_screen(session, lambda s: step_on_screen(s) > 0))
        wait_for_screen(session, lambda s: step_on_screen(s) > first)  # the step count advances on screen
        keys(session, "s")
        wait_for_screen(session, lambda s: "Stop run" in s)  # it asks first
        keys(session, "y")
        wait_for_screen(session, lambda s: "cartpole-ppo  stopped" in s)  # the header (the confirmation says 'stopped' too)
        time.sleep(0.5)
        keys(session, "q")  # not Escape first: tmux would read Escape + q as Alt+q
        deadline = time.monotonic() + 15
        while subprocess.run(["tmux", "has-session", "-t", session], capture_output=True).returncode == 0:
            assert time.monotonic() < deadline, f"the dashboard did not quit:\n{screen(session)}"
            time.sleep(0.3)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        for summary in runs.glob("*/summary.json"):
            pid = json.loads(summary.read_text()).get("pid")
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, TypeError):
                pass
