"""lab: a reinforcement-learning and explainability lab for the terminal.

The Python API (the CLI and the dashboard use the same functions and the same run folders):

    import lab
    spec = lab.load_experiment("cartpole-ppo", {"agent.total_steps": 20_000, "seed": 3})
    run = lab.run(spec, runs_dir="runs", on_event=print)    # a lab.Run, like open_run and list_runs give
    run.state, run.results.final_eval_return_mean, run.summary.seed
    steps, returns = run.series("episode", "return")
    lab.list_runs("runs"); lab.open_run("cartpole-ppo")   # its latest completed run (not a sweep's trial)
    lab.stop(lab.open_run("cartpole-ppo"))                 # a running run: it checkpoints, ends 'stopped'
    lab.stop("SWEEP_ID", runs_dir="runs")                  # a running sweep: its runs stop, then it ends 'stopped'

Calling lab changes nothing process-wide: `lab.run` puts back signal handlers, torch's thread
count, the global RNG states and warnings filters; figures never touch matplotlib's backend.

Names are imported lazily so that `import lab` (and `lab --help`) stays fast.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["load_experiment", "run", "open_run", "list_runs", "stop", "explain", "Run", "Summary", "BadInput"]


def load_experiment(name_or_path, overrides=None):
    """A validated experiment spec from a built-in name, a .toml path, a run folder or a dict.

    overrides: {"agent.total_steps": 2000, "seed": 3}. Raises lab.BadInput with a one-line
    message (file, key, what is allowed) for anything wrong.
    """
    import warnings

    from lab.spec import load_experiment as load

    with warnings.catch_warnings():  # the libraries validation imports (gymnasium) add filters of their own
        return load(name_or_path, overrides)


def run(spec, runs_dir=None, on_event=None):
    """Run a spec (or an experiment name/path) in this process; returns the finished lab.Run.

    on_event(event: dict) is called for every event as it is emitted. Signal handlers, torch
    threads, the global RNG states and warnings filters are as they were when it returns.
    """
    from lab.launch import run as run_spec

    if not hasattr(spec, "kind"):
        spec = load_experiment(spec)
    return run_spec(spec, runs_dir=runs_dir, on_event=on_event)


def open_run(ref, runs_dir=None):
    """A run folder by id, unique id prefix, id tail or path (whatever its state, a sweep's trial
    too), or by experiment name: the latest completed run of that experiment that is not a sweep's
    trial. Raises lab.BadInput, saying what the experiment's runs are doing, when it has none."""
    from lab.store import resolve_run

    return resolve_run(ref, runs_dir)


def list_runs(runs_dir=None):
    """Every run under the runs root (./runs, or LAB_RUNS_DIR), oldest first."""
    from lab.store import list_runs as _list

    return _list(runs_dir)


def stop(target, runs_dir=None):
    """Ask a running run or sweep to stop: a lab.Run, a sweep's folder, or a reference (a run's or
    a sweep's id, unique id prefix, path, or a sweep's name: its latest; an experiment's name: its
    latest running run that is not a sweep's trial). A run checkpoints and ends 'stopped'; a sweep
    stops each of its runs so, then ends 'stopped'.
    Returns what it did, in a line. Raises BadInput, saying why, for one lab may not signal (not
    running, or not a process of this machine that lab can identify)."""
    from lab.launch import stop as stop_process
    from lab.store import Run, resolve_run
    from lab.summary import RunState
    from lab.sweep.record import SweepFolder, find_sweep

    if not isinstance(target, (Run, SweepFolder)):
        target = find_sweep(str(target), runs_dir) or resolve_run(target, runs_dir, states=(RunState.RUNNING,))
    return stop_process(target.read() if isinstance(target, SweepFolder) else target)  # a sweep: its sweep.json now


def explain(model, inputs, targets=None, methods=None, background=None, feature_names=None, output="logit",
            device="auto", seed=0, **options):
    """Explain any torch classifier with Captum, SHAP and LIME methods; returns an Explanation with
    .attributions (method -> array shaped like inputs), .seconds_per_sample and .compare().
    See lab.xai.explain.explain for the options (baseline, params, batch_size, train_data)."""
    import warnings

    from lab.xai.explain import explain as _explain

    with warnings.catch_warnings():
        return _explain(model, inputs, targets, methods, background, feature_names, output, device, seed, **options)


def __getattr__(name):
    if name in ("Run", "RunResult"):  # RunResult: the name lab 0.1 gave a finished run
        from lab.store import Run

        return Run
    if name == "Summary":
        from lab.summary import Summary

        return Summary
    if name == "BadInput":
        from lab.errors import BadInput

        return BadInput
    raise AttributeError(f"module 'lab' has no attribute {name!r}")
