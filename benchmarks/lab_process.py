"""Whole `lab run` processes for the benchmarks: this checkout's lab, or another checkout's (the
code before a change, for before/after tables in one sitting).

    git worktree add /tmp/lab-before <commit>     # a checkout of lab as it was
    lab_run("cartpole-ppo-torch", root, ["population=64"], code=Path("/tmp/lab-before"))
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def lab_run(experiment: str, root: Path, sets: list[str] = (), code: Path = REPO, device: str | None = None) -> dict:
    """Run `lab run EXPERIMENT --set ...` with `code`'s lab (this venv's Python and packages);
    the wall time of the whole process and the run's summary.json. Exits on a failed run."""
    cmd = [sys.executable, "-m", "lab", "run", experiment, "--runs-dir", str(root)]
    cmd += [x for s in sets for x in ("--set", s)] + (["--device", device] if device else [])
    env = {**os.environ, "PYTHONPATH": str(code)}
    before = set(root.glob("*"))
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=code, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd[2:])} ({code}) failed:\n{out.stderr[-2000:]}")
    (run,) = set(root.glob("*")) - before
    return {"wall": wall, "summary": json.loads((run / "summary.json").read_text())}
