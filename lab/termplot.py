"""Small line charts in the terminal, drawn with braille dots (2x4 dots per character).

`line_chart` gives plain text (for `lab show`); `line_chart_text` gives a Rich Text with one
colour per series (for the dashboard). Both share one renderer.
"""

from __future__ import annotations

import math

_DOT = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))  # [row][col] bit of a braille cell


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e9 or abs(v) < 1e-2:
        return f"{v:.2g}"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def downsample(xs, ys, limit: int):
    """At most about `limit` points: each bucket of consecutive points becomes its min and max
    (so spikes survive), placed at the bucket's first and last x."""
    import numpy as np

    n = len(xs)
    if n <= limit:
        return xs, ys
    x = np.asarray(xs, dtype=float)
    y = np.asarray(ys, dtype=float)
    buckets = max(limit // 2, 1)
    starts = np.linspace(0, n, buckets + 1).astype(int)[:-1]
    ends = np.append(starts[1:], n) - 1
    lo, hi = np.minimum.reduceat(y, starts), np.maximum.reduceat(y, starts)
    # draw min then max, or max then min, in the order they occur in the bucket
    first_is_min = y[starts] <= y[ends]
    out_x = np.column_stack([x[starts], x[ends]]).ravel()
    out_y = np.column_stack([np.where(first_is_min, lo, hi), np.where(first_is_min, hi, lo)]).ravel()
    return out_x.tolist(), out_y.tolist()


def _cells(series, width, height, y_range=None):
    """(per-series braille bit grids, x range, y range)."""
    points = [(x, y) for xs, ys in series for x, y in zip(xs, ys) if y is not None and math.isfinite(y)]
    if not points:
        return None
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    y0, y1 = y_range or (min(p[1] for p in points), max(p[1] for p in points))
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y0, y1 = y0 - 1, y1 + 1
    cols, rows = width * 2, height * 4
    grids = []
    for xs, ys in series:
        grid = [[0] * width for _ in range(height)]
        prev = None
        for x, y in zip(xs, ys):
            if y is None or not math.isfinite(y):
                continue
            cx = round((x - x0) / (x1 - x0) * (cols - 1))
            cy = round((y1 - min(max(y, y0), y1)) / (y1 - y0) * (rows - 1))
            for px, py in _segment(prev, (cx, cy)):
                grid[py // 4][px // 2] |= _DOT[py % 4][px % 2]
            prev = (cx, cy)
        grids.append(grid)
    return grids, (x0, x1), (y0, y1)


def _layout(series, width, height, y_range=None):
    """Rows of (label, [(char, series index or -1)]) plus the x-axis lines."""
    cells = _cells(series, width, height, y_range)
    if cells is None:
        return None
    grids, (x0, x1), (y0, y1) = cells
    ylab = [_fmt(y1), _fmt((y0 + y1) / 2), _fmt(y0)]
    pad = max(map(len, ylab))
    rows = []
    for r in range(height):
        label = ylab[0] if r == 0 else ylab[1] if r == height // 2 else ylab[2] if r == height - 1 else ""
        row = []
        for c in range(width):
            bits, owner = 0, -1
            for i, g in enumerate(grids):
                if g[r][c]:
                    bits |= g[r][c]
                    owner = i  # later series draw on top
            row.append((chr(0x2800 + bits) if bits else " ", owner))
        rows.append((f"{label:>{pad}} ┤", row))
    xl, xr = _fmt(x0), _fmt(x1)
    axis = [" " * pad + " └" + "─" * width, " " * (pad + 2) + xl + " " * max(width - len(xl) - len(xr), 1) + xr]
    return rows, axis


def line_chart(series: list[tuple[list[float], list[float]]], width: int = 60, height: int = 10,
               labels: list[str] | None = None) -> str:
    """One or more (xs, ys) series on shared axes, as plain text."""
    layout = _layout(series, width, height)
    if layout is None:
        return "(no data yet)"
    rows, axis = layout
    lines = [label + "".join(ch for ch, _ in row) for label, row in rows] + axis
    if labels:
        lines.append(" " * 4 + "   ".join(labels))
    return "\n".join(lines)


def line_chart_text(series: list[tuple[list[float], list[float]]], styles: list[str], width: int, height: int,
                    y_range: tuple[float, float] | None = None):
    """The same chart as a Rich Text, series i drawn in styles[i]."""
    from rich.text import Text

    width, height = max(width, 8), max(height, 2)
    layout = _layout(series, width, height, y_range)
    if layout is None:
        return Text("(no data yet)", style="dim")
    rows, axis = layout
    text = Text()
    for label, row in rows:
        text.append(label, style="dim")
        run_style, run = None, []
        for ch, owner in row:
            style = styles[owner] if owner >= 0 else ""
            if style != run_style and run:
                text.append("".join(run), style=run_style or "")
                run = []
            run_style = style
            run.append(ch)
        if run:
            text.append("".join(run), style=run_style or "")
        text.append("\n")
    text.append("\n".join(axis), style="dim")
    return text


def _segment(a, b):
    """Dots from a to b (Bresenham); just b when there is no a."""
    if a is None:
        yield b
        return
    (x0, y0), (x1, y1) = a, b
    dx, dy = abs(x1 - x0), -abs(y1 - y0)
    sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
    err = dx + dy
    while True:
        yield x0, y0
        if (x0, y0) == (x1, y1):
            return
        e2 = 2 * err
        if e2 >= dy:
            err += dy
            x0 += sx
        if e2 <= dx:
            err += dx
            y0 += sy
