import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXPERIMENTS = REPO / "experiments"


def lab_cli(*args, runs_dir=None, timeout=300, **kw) -> subprocess.CompletedProcess:
    """Run the real `lab` command line in a subprocess."""
    cmd = [sys.executable, "-m", "lab", *map(str, args)]
    if runs_dir is not None:
        cmd += ["--runs-dir", str(runs_dir)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def run_until_resume_checkpoint(experiment, sets, runs_dir, timeout=60):
    """Start `lab run EXPERIMENT --set ...`, SIGKILL it once its first resumable checkpoint is
    written: a crashed run, returned (the only run in `runs_dir`)."""
    import lab

    proc = subprocess.Popen([sys.executable, "-m", "lab", "run", str(experiment), *[a for s in sets for a in ("--set", s)],
                             "--json", "--runs-dir", str(runs_dir)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.time() + timeout
    for line in proc.stdout:
        event = json.loads(line)
        if event["kind"] == "checkpoint" and event["label"] == "resume":
            break
        assert time.time() < deadline
    proc.kill()
    proc.wait()
    (run,) = lab.list_runs(runs_dir)
    return run


@pytest.fixture
def runs_dir(tmp_path):
    return tmp_path / "runs"


@pytest.fixture(autouse=True)
def _own_preferences(tmp_path, monkeypatch):
    # the dashboard remembers its theme; tests neither read the user's nor write theirs
    monkeypatch.setenv("LAB_CONFIG_DIR", str(tmp_path / "config"))


@pytest.fixture(autouse=True)
def _one_torch_thread():
    # Tests share two cores; each run sets its own thread count from its spec (1).
    os.environ.setdefault("OMP_NUM_THREADS", "1")
