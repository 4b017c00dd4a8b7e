import json
import os
from collections import Counter
import subprocess
import sys
import time
from pathlib import Path

import pytest

# Before torch is imported, here and in every `lab` subprocess a test starts (they inherit it).
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parent.parent
EXPERIMENTS = REPO / "experiments"


def lab_cli(*args, runs_dir=None, timeout=300, **kw) -> subprocess.CompletedProcess:
    """Run the real `lab` command line in a subprocess."""
    cmd = [sys.executable, "-m", "lab", *map(str, args)]
    if runs_dir is not None:
        cmd += ["--runs-dir", str(runs_dir)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def lab_main(*args, runs_dir=None) -> subprocess.CompletedProcess:
    """`lab ARGS` through lab's command line (`lab.cli.main`, what `lab` runs) in this process, for
    tests of what a command does rather than of the process: no interpreter to start, no torch to
    import again. As from a process: the exit status (1 and the traceback for an exception that
    escapes, argparse's status for a usage error), stdout and stderr. The signal handlers main()
    leaves for its own exit are put back; keep `lab_cli` where the process itself is the point."""
    import contextlib
    import gc
    import io
    import signal
    import traceback

    from lab import plugins
    from lab.cli import main

    allowed = set(plugins._allowed)  # what --allow-module grants is for the rest of a process: this call's only
    argv = [*map(str, args), *(["--runs-dir", str(runs_dir)] if runs_dir is not None else [])]
    out, err = io.StringIO(), io.StringIO()
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main(argv)
            except SystemExit as e:
                rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            except Exception:
                rc = 1
                traceback.print_exc()
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        gc.unfreeze()  # main() freezes what it made for a fast exit; this process goes on
        plugins._allowed.clear()
        plugins._allowed.update(allowed)
    return subprocess.CompletedProcess(["lab", *argv], rc, out.getvalue(), err.getvalue())


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


# ------------------------------------------------------------------ xdist: workers, groups and order

def pytest_xdist_auto_num_workers(config):
    """`-n auto` (pyproject's addopts): one worker more than this process may use cores. The
    dashboard's tests wait on the app's own timers and many tests wait on a `lab` process, which
    leaves a core idle a third of the time with one worker per core (2 cores: 3 workers)."""
    return len(os.sched_getaffinity(0)) + 1

@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups (its hook is registered later)
def pytest_collection_modifyitems(config, items):
    """Tests that share a module-scoped fixture (a trained model, a sweep made once) form one
    xdist_group, so that `--dist loadgroup` runs them on one worker and the fixture is made once;
    the module's other tests spread over the workers one by one. Under xdist the slow tests that
    share nothing go first, so that none of them is the last thing a worker does, and the other
    tests take turns by module (the first of each module, then the second...), so that the two
    workers seldom both drive the dashboard (which waits on itself) at once."""
    parent: dict[str, str] = {}

    def find(key: str) -> str:
        while parent.setdefault(key, key) != key:
            key = parent[key]
        return key

    shared: dict[pytest.Item, list[str]] = {}
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        names = [f"{item.nodeid.split('::')[0]}::{name}" for name, defs in (info.name2fixturedefs.items() if info else ())
                 if defs[-1].scope == "module"]
        if names:
            shared[item] = names
            for name in names[1:]:
                parent[find(name)] = find(names[0])
    for item, names in shared.items():
        item.add_marker(pytest.mark.xdist_group(find(names[0])))
    if config.getoption("dist", "no") != "no" or os.environ.get("PYTEST_XDIST_WORKER"):
        turn, seen = {}, Counter()
        for item in items:
            module = item.nodeid.split("::")[0]
            turn[item], seen[module] = seen[module], seen[module] + 1
        items.sort(key=lambda item: (0, 0) if item in shared or item.get_closest_marker("slow") else (1, turn[item]))


# ------------------------------------------------------------------ runs trained once per session

def made_once(tmp_path_factory, name: str, make) -> Path:
    """What `make(root)` makes in the folder `root` (not there yet) and returns (the run folder it
    trains there, or `root` itself), made once per test session however many xdist workers ask:
    the first makes it under a lock in the folder the workers' temporary folders share, the others
    wait for it and reuse it. Never write into it: copy it (`copy_run`) into a folder of the test's
    own."""
    import shutil

    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "made-once"
    shared.mkdir(exist_ok=True)
    root, made = shared / name, shared / f"{name}.made"
    with FileLock(str(shared / f"{name}.lock")):
        if not made.exists():  # (a worker whose make failed left no mark: the next one tries again)
            shutil.rmtree(root, ignore_errors=True)
            made.write_text(str(Path(make(root)).relative_to(shared)))
        return shared / made.read_text()


def copy_run(folder: Path, root: Path):
    """A copy of a run folder (one made once, say) in `root`, as a `Run`."""
    import shutil

    from lab.store import Run

    return Run.load(shutil.copytree(folder, Path(root) / folder.name))


# cartpole-ppo, short: its policy barely learned (short episodes: cheap to play and record), with a
# best checkpoint from its evaluation at step 1,024 (3 episodes) and its final one (20) at 2,048
CARTPOLE_PPO = {"agent.total_steps": 2048, "eval.every": 1024, "eval.episodes": 3}


@pytest.fixture(scope="session")
def cartpole_ppo_folder(tmp_path_factory) -> Path:
    """A finished cartpole-ppo run (CARTPOLE_PPO), trained once per session for every module that
    needs one (the CLI's, playing, the dashboard's play pane, policy attributions, training)."""
    def make(root):
        import lab

        run = lab.run(lab.load_experiment("cartpole-ppo", CARTPOLE_PPO), runs_dir=root)
        assert run.state == "completed", run.summary.error
        return run.path

    return made_once(tmp_path_factory, "cartpole-ppo", make)


# 2 learning rates x 2 seeds of a short cartpole-ppo, two runs at a time (after `name` and `kind`)
TINY_SWEEP = """
[sweep]
experiment = "cartpole-ppo"
seeds = [0, 1]
method = "grid"
workers = 2
[sweep.params]
"agent.learning_rate" = [1e-3, 3e-3]
"agent.total_steps" = [2048]
"eval.every" = [512]
"""


@pytest.fixture(scope="session")
def tiny_sweep(tmp_path_factory) -> Path:
    """A finished `lab sweep` of TINY_SWEEP, made once per session for test_sweeps and
    test_dashboard_sweeps: a folder holding tiny.toml, the runs root `runs` (the sweep's folder and
    its four runs) and `result.json` (what `lab sweep --json` printed last)."""
    def make(root):
        root.mkdir()
        (root / "tiny.toml").write_text('name = "tiny"\nkind = "sweep"\n' + TINY_SWEEP)
        proc = lab_cli("sweep", root / "tiny.toml", "--json", runs_dir=root / "runs", timeout=240, cwd=REPO)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        (root / "result.json").write_text(proc.stdout.strip().splitlines()[-1])
        return root

    return made_once(tmp_path_factory, "tiny-sweep", make)


@pytest.fixture
def runs_dir(tmp_path):
    return tmp_path / "runs"


@pytest.fixture(autouse=True)
def _own_preferences(tmp_path, monkeypatch):
    # the dashboard remembers its theme; tests neither read the user's nor write theirs
    monkeypatch.setenv("LAB_CONFIG_DIR", str(tmp_path / "config"))


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """One torch thread per test process (xdist runs one per core: two threads each would fight
    over the cores); each run sets its own thread count from its spec (1)."""
    import torch

    torch.set_num_threads(1)
