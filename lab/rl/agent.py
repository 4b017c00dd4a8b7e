"""The agent protocol: what the RL job (lab.rl.train) asks of every agent, SB3's or lab's own.

The algorithm table names classes that follow it (`Algo.agent`, `Algo.torch_agent`), and so may
an experiment (`agent_class = "module:Class"`). What only some agents can do is a protocol of its
own, asked with isinstance (of an agent) or issubclass (of its class), never by probing names:
`Resumable` (`lab resume`), `EvaluatesItself` (lab's torch engine evaluates every member at once,
on the device).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from torch import nn

    from lab.rl.train import Tracker


class Agent(Protocol):
    suffix: ClassVar[str]  # its checkpoints' file suffix (.zip, .pt, .npy)

    def __init__(self, spec, device: str) -> None:
        """A fresh agent for this spec."""

    def learn(self, tracker: Tracker) -> None:
        """Train, calling tracker.episode, tracker.metrics and tracker.step (which says whether to
        go on); an agent that can resume calls tracker.boundary(step) where nothing is half-done."""

    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """Actions for a batch of observations."""

    def save(self, path: Path) -> None:
        """A checkpoint at `path` (suffix `suffix`), written with lab.store.atomic_target."""

    @classmethod
    def load(cls, path: Path, spec, device: str) -> Agent:
        """The agent a checkpoint holds."""

    def scores_module(self) -> nn.Module:
        """A torch module, observations -> one score per action (what attribution explains);
        BadInput when the agent has none."""

    def export_artifacts(self, ctx, policy: Path) -> None:
        """Anything beside the delivered checkpoint the run folder should hold (`ctx`: the run's
        lab.launch.RunContext)."""


@runtime_checkable
class Resumable(Protocol):
    """An agent `lab resume` continues. SB3's agents and lab's REINFORCE on Gymnasium restart
    their environments from a reset seeded with `reseed`; lab's torch engine (at its rollout or
    block boundaries) and Q-learning (after any step) save their environments whole, so a run
    resumed there steps exactly as the uninterrupted one would (on the CPU:
    tests/test_resume_engine.py pins it)."""

    def save_resumable(self, path_for: Callable[[str], Path], stem: str) -> tuple[dict, dict]:
        """(files, state): everything needed to go on, the files named by path_for(stem + suffix)."""

    def load_resumable(self, files: dict, state: dict, reseed: int) -> None:
        """What save_resumable wrote, brought back into a fresh agent."""


@runtime_checkable
class EvaluatesItself(Protocol):
    """An agent that runs its own evaluation episodes (lab's torch engine: every member at once,
    on the device, in environments that are Gymnasium's step for step)."""

    def evaluate(self, episodes: int, seed: int, deterministic: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Returns and lengths, (members, episodes)."""
