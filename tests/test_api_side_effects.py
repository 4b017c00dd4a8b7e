"""Calling lab from Python leaves the caller's process as it was (a notebook keeps its plots,
its warnings, its Ctrl-C and its threads)."""

import random
import signal
import warnings

import matplotlib
import numpy as np
import pytest
import torch

import lab


def _caller_state():
    return {"backend": matplotlib.get_backend(), "filters": list(warnings.filters),
            "sigint": signal.getsignal(signal.SIGINT), "sigterm": signal.getsignal(signal.SIGTERM),
            "threads": torch.get_num_threads(), "torch_rng": torch.get_rng_state().clone(),
            "np_rng": np.random.get_state()[1].copy(), "py_rng": random.getstate()}


@pytest.mark.parametrize("name, overrides", [
    ("cartpole-reinforce", {"agent.total_steps": 3000, "eval.every": 1500, "threads": 1}),
    ("wine-linear-attributions", {"explain.methods": ["integrated_gradients", "lime"], "explain.samples": 3,
                                  "explain.figure_samples": 1, "threads": 1}),
], ids=["rl", "attribution"])
def test_lab_run_leaves_backend_warnings_signals_threads_and_rngs_as_they_were(tmp_path, name, overrides):
    matplotlib.use("svg")  # as a notebook has its own backend
    warnings.simplefilter("default", ResourceWarning)
    handler = lambda signum, frame: None  # noqa: E731
    previous = signal.signal(signal.SIGINT, handler)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        torch.manual_seed(123)
        np.random.seed(123)
        random.seed(123)
        before = _caller_state()
        run = lab.run(lab.load_experiment(name, overrides), runs_dir=tmp_path)
        assert run.state == "completed", run.summary.error
        after = _caller_state()
        for key in ("backend", "filters", "sigint", "sigterm", "threads", "py_rng"):
            assert after[key] == before[key], key
        assert torch.equal(after["torch_rng"], before["torch_rng"]) and np.array_equal(after["np_rng"], before["np_rng"])
        assert after["backend"] == "svg" and after["threads"] == 2 and after["sigint"] is handler
    finally:
        signal.signal(signal.SIGINT, previous)
        torch.set_num_threads(threads)


def test_importing_lab_changes_no_warnings_filter_and_no_backend():
    import subprocess
    import sys

    # torch and numpy add filters of their own when imported; lab must add none
    code = ("import warnings, sys, numpy, torch; before = list(warnings.filters)\n"
            "import lab, lab.cli, lab.store, lab.launch, lab.xai.methods, lab.xai.figures, lab.xai.explain\n"
            "print(list(warnings.filters) == before, 'matplotlib.pyplot' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "False"]


def test_an_attribution_run_lets_no_library_warning_through(tmp_path):
    """Captum warns on each gradient call unless lab silences it; lab does, inside its own calls."""
    spec = lab.load_experiment("wine-linear-attributions", {"explain.methods": ["saliency", "integrated_gradients"],
                                                            "explain.samples": 3, "explain.figure_samples": 0})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = lab.run(spec, runs_dir=tmp_path)
    assert run.state == "completed", run.summary.error
    assert not [str(w.message) for w in caught if "require gradients" in str(w.message)]
