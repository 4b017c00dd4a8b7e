import os
import subprocess
import sys
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
