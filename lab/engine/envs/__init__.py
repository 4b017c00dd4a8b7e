"""Gymnasium's classic-control environments in torch, one module each, on the shared vector API
of `vector.py`. Which ids exist is `lab.engine.ENV_CLASSES`."""
