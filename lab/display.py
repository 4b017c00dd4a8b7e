"""How a run is shown, for the CLI and the dashboard alike: durations, state colours, results."""

from __future__ import annotations

# Rich styles; the CLI and the dashboard use the same ones.
STATE_STYLE = {"completed": "green", "running": "bold cyan", "starting": "cyan", "failed": "bold red",
               "crashed": "bold red", "corrupt": "bold magenta", "stopped": "yellow"}


def duration(seconds: float | None) -> str:
    """0:42, 12:05, 3h07; '-' when unknown."""
    if seconds is None:
        return "-"
    s = int(seconds)
    return f"{s // 60}:{s % 60:02d}" if s < 3600 else f"{s // 3600}h{s % 3600 // 60:02d}"


def result_text(summary) -> str:
    """A run's headline result: test accuracy or most faithful method for attribution runs; the
    final evaluation for RL runs, else (marked *) the best evaluation or the rolling return so far."""
    r = summary.results
    if summary.kind == "attribution":
        if r.test_accuracy is not None:
            return f"acc {r.test_accuracy:.3f}"
        return r.most_faithful_method or "-"
    for key in ("final_eval_return_mean", "best_eval_return_mean", "rolling_return"):
        value = getattr(r, key)
        if value is not None:
            return f"{value:.1f}" + ("" if key == "final_eval_return_mean" else "*")
    return "-"


def number(value, fmt: str = ".2f") -> str:
    return "-" if value is None else format(value, fmt)
