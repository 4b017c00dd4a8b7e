"""Attribution panels: signed bars per feature (tabular), truecolor heatmaps (images)."""

from __future__ import annotations

import numpy as np
from rich.color import Color
from rich.style import Style
from rich.text import Text

POS, NEG = (215, 48, 39), (69, 117, 180)  # red: for the target class, blue: against


def diverging(v: float) -> Color:
    """-1 blue .. 0 white .. +1 red."""
    a = min(abs(v), 1.0)
    end = POS if v >= 0 else NEG
    return Color.from_rgb(*(round(255 + (c - 255) * a) for c in end))


def grey(v: float) -> Color:
    level = round(255 * (1 - min(max(v, 0.0), 1.0)))  # ink dark on white paper
    return Color.from_rgb(level, level, level)


def heatmap(grid: np.ndarray, colour, scale: int = 2) -> Text:
    """A 2-D array as half-block cells: each character shows two pixels, one above the other."""
    grid = np.repeat(np.repeat(grid, scale, axis=0), scale, axis=1)
    if grid.shape[0] % 2:
        grid = np.vstack([grid, np.full((1, grid.shape[1]), np.nan)])
    text = Text()
    for r in range(0, grid.shape[0], 2):
        for c in range(grid.shape[1]):
            top, bottom = grid[r, c], grid[r + 1, c]
            text.append("▀", Style(color=colour(top), bgcolor=None if np.isnan(bottom) else colour(bottom)))
        text.append("\n")
    return text


def consensus_order(attrs: dict[str, np.ndarray], limit: int) -> np.ndarray:
    """Features by mean |attribution| across methods, each method scaled to its largest |value|."""
    scaled = [np.abs(a) / (np.abs(a).max() or 1.0) for a in attrs.values()]
    return np.argsort(-np.mean(scaled, axis=0), kind="stable")[:limit]


def bars(values: np.ndarray, order: np.ndarray, names: list[str], width: int = 8, name_width: int = 0) -> Text:
    """Signed bars, one line per feature in `order`, scaled to the largest |value| shown."""
    shown = values[order]
    top = np.abs(shown).max() or 1.0
    text = Text()
    for i, v in zip(order, shown):
        n = int(round(abs(v) / top * width))
        if name_width:
            label = names[i][:name_width]
            text.append(f"{label:>{name_width}} ", style="dim")
        left = " " * (width - n) + ("█" * n if v < 0 else "")
        right = ("█" * n if v >= 0 else "") + " " * (width - (n if v >= 0 else 0))
        text.append(left[-width:], style=Style(color=Color.from_rgb(*NEG)))
        text.append("│", style="dim")
        text.append(right[:width], style=Style(color=Color.from_rgb(*POS)))
        text.append("\n")
    return text
