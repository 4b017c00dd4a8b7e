"""Sweeps: settings x seeds over one experiment, searched (grid, random, Optuna's TPE), pruned,
on a local process pool, as one population run, or as Ray Tune trials.

spec.py reads sweep files; study.py is the Optuna study; runner.py runs a sweep (one driver for
every backend; ray_backend.py for Ray); record.py is the sweep folder and sweep.json; report.py
the tables and the best settings as an experiment file. Nothing heavy is imported here.
"""
