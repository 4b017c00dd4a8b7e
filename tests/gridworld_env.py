"""The grid world of docs/custom-environment.md for the tests, as `tests.gridworld_env:GridWorld`
(docs/gridworld.py is its one copy: the page quotes it, the tests train it)."""

from docs.gridworld import GridWorld

__all__ = ["GridWorld"]
