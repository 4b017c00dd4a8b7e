"""A full disk mid-run: the run ends 'failed' with the reason as soon as a write succeeds again,
no temp files stay behind, and `lab runs` shows the reason. Once on a real small tmpfs (where
this machine lets tests mount one), once with the filesystem's ENOSPC raised by the writers'
system calls (everywhere)."""

import errno
import os
import subprocess
import threading

import pytest

import lab
from lab import events, store

from .conftest import lab_cli, lab_main

SPEC = {"agent.total_steps": 200_000, "eval.every": 100_000}


def _check_ended_failed_and_clean(run, root):
    assert run.state == "failed", run.summary
    assert "No space left on device" in run.summary.error and "\n" not in run.summary.error
    assert store.Run.load(run.path).state == "failed"  # what is on disk, not just what was returned
    assert not [p.name for p in run.path.rglob("*") if ".tmp" in p.name]
    listed = lab_cli("runs", runs_dir=root)
    assert listed.returncode == 0
    assert f"{run.id}: failed: {run.summary.error}" in listed.stdout, listed.stdout


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip() or 'not root'}); the ENOSPC test covers it")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_real_full_disk_ends_the_run_failed_once_space_is_back(small_disk):
    root = small_disk / "runs"
    filler = small_disk / "filler"
    freed = threading.Event()

    def fill_then_free_later(e):
        if e["kind"] == "progress" and not filler.exists():
            with open(filler, "wb") as f:  # take every free block
                try:
                    while True:
                        f.write(b"\0" * 65536)
                        f.flush()
                except OSError as err:
                    assert err.errno == errno.ENOSPC
            threading.Timer(1.5, lambda: (filler.unlink(), freed.set())).start()

    run = lab.run(lab.load_experiment("cartpole-reinforce", SPEC), runs_dir=root, on_event=fill_then_free_later)
    assert freed.is_set()
    _check_ended_failed_and_clean(run, root)


def test_enospc_from_the_filesystem_ends_the_run_failed_once_writes_succeed(runs_dir, monkeypatch):
    """The writers' system calls (events: os.write; summaries and checkpoints: fsync) fail with
    ENOSPC for a second and a half after the first progress event, as on a full disk."""
    full = threading.Event()
    real_write, real_fsync = os.write, os.fsync

    def disk(call):
        def guarded(fd, *args):
            if full.is_set():
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return call(fd, *args)
        return guarded

    monkeypatch.setattr(events.os, "write", disk(real_write))
    monkeypatch.setattr(store.os, "fsync", disk(real_fsync))

    def fill_then_free_later(e):
        if e["kind"] == "progress" and not full.is_set() and not hasattr(fill_then_free_later, "done"):
            fill_then_free_later.done = True
            full.set()
            threading.Timer(1.5, full.clear).start()

    run = lab.run(lab.load_experiment("cartpole-reinforce", SPEC), runs_dir=runs_dir, on_event=fill_then_free_later)
    monkeypatch.undo()
    _check_ended_failed_and_clean(run, runs_dir)
    assert run.summary.ended is not None and run.summary.progress.step > 0


def test_a_full_runs_root_refuses_to_start_without_leaving_a_folder(small_disk):
    root = small_disk / "runs"
    root.mkdir()
    with open(small_disk / "filler", "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    proc = lab_main("run", "cartpole-reinforce", runs_dir=root)
    assert proc.returncode == 2 and proc.stderr.startswith(f"lab: cannot start a run in {root}: ")
    assert "No space left on device" in proc.stderr and proc.stderr.count("\n") == 1
    assert list(root.iterdir()) == []
