"""Small line charts in the terminal, drawn with braille dots (2x4 dots per character)."""

from __future__ import annotations

import math

_DOT = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))  # [row][col] bit of a braille cell


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e9 or abs(v) < 1e-2:
        return f"{v:.2g}"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def line_chart(series: list[tuple[list[float], list[float]]], width: int = 60, height: int = 10,
               labels: list[str] | None = None) -> str:
    """One or more (xs, ys) series on shared axes; returns the chart as text lines."""
    points = [(x, y) for xs, ys in series for x, y in zip(xs, ys) if y is not None and math.isfinite(y)]
    if not points:
        return "(no data yet)"
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    y0, y1 = min(p[1] for p in points), max(p[1] for p in points)
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
            cy = round((y1 - y) / (y1 - y0) * (rows - 1))
            for px, py in _segment(prev, (cx, cy)):
                grid[py // 4][px // 2] |= _DOT[py % 4][px % 2]
            prev = (cx, cy)
        grids.append(grid)
    ylab = [_fmt(y1), _fmt((y0 + y1) / 2), _fmt(y0)]
    pad = max(map(len, ylab))
    lines = []
    for r in range(height):
        label = ylab[0] if r == 0 else ylab[1] if r == height // 2 else ylab[2] if r == height - 1 else ""
        cells = []
        for c in range(width):
            bits = 0
            for g in grids:
                bits |= g[r][c]
            cells.append(chr(0x2800 + bits) if bits else " ")
        lines.append(f"{label:>{pad}} ┤{''.join(cells)}")
    lines.append(" " * pad + " └" + "─" * width)
    xl, xr = _fmt(x0), _fmt(x1)
    lines.append(" " * (pad + 2) + xl + " " * max(width - len(xl) - len(xr), 1) + xr)
    if labels:
        lines.append(" " * (pad + 2) + "   ".join(labels))
    return "\n".join(lines)


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
