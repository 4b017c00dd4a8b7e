"""Small line charts in the terminal, drawn with braille dots (2x4 dots per character).

`line_chart` gives plain text (for `lab show`); `line_chart_text` gives a Rich Text with one
colour per series (for the dashboard). Both share one renderer.
"""

from __future__ import annotations

import math



def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e9 or abs(v) < 1e-2:
        return f"{v:.3g}"
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


_BITS = [[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]]


def _raster(x, y, x0, x1, y0, y1, cols, rows):
    """Dot coordinates of the polyline through (x, y): each segment sampled at one dot per step."""
    import numpy as np

    keep = np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) == 0:
        return np.zeros(0, int), np.zeros(0, int)
    cx = np.rint((x - x0) / (x1 - x0) * (cols - 1)).astype(int)
    cy = np.rint((y1 - np.clip(y, y0, y1)) / (y1 - y0) * (rows - 1)).astype(int)
    if len(cx) == 1:
        return cx, cy
    steps = np.maximum(np.abs(np.diff(cx)), np.abs(np.diff(cy))) + 1  # dots per segment, ends included
    seg = np.repeat(np.arange(len(steps)), steps)
    offset = np.arange(len(seg)) - np.repeat(np.cumsum(steps) - steps, steps)
    frac = offset / np.maximum(np.repeat(steps - 1, steps), 1)
    px = np.rint(cx[seg] + (cx[seg + 1] - cx[seg]) * frac).astype(int)
    py = np.rint(cy[seg] + (cy[seg + 1] - cy[seg]) * frac).astype(int)
    return px, py


def _cells(series, width, height, y_range=None):
    """(per-series braille bit grids as arrays, x range, y range), or None without data."""
    import numpy as np

    arrays = [(np.asarray(xs, dtype=float), np.asarray([np.nan if v is None else v for v in ys], dtype=float))
              for xs, ys in series]
    finite = [(x[np.isfinite(y)], y[np.isfinite(y)]) for x, y in arrays if len(x)]
    finite = [(x, y) for x, y in finite if len(x)]
    if not finite:
        return None
    x0 = min(float(x.min()) for x, _ in finite)
    x1 = max(float(x.max()) for x, _ in finite)
    y0, y1 = y_range or (min(float(y.min()) for _, y in finite), max(float(y.max()) for _, y in finite))
    if x0 > 0:
        x0 = 0.0  # steps, epochs and seconds start at 0: a curve that starts late shows it
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:  # a constant (a fixed learning rate): a band around it, not -0.999 ... 1
        pad = abs(y0) * 0.1 or 1.0
        y0, y1 = y0 - pad, y1 + pad
    cols, rows = width * 2, height * 4
    bit_index = np.log2(np.asarray(_BITS)).astype(int)  # which of a cell's 8 dots
    weights = 1 << np.arange(8)
    grids = []
    for x, y in arrays:
        dots = np.zeros((height * width, 8), dtype=bool)
        if len(x):
            px, py = _raster(x, y, x0, x1, y0, y1, cols, rows)
            dots[(py // 4) * width + px // 2, bit_index[py % 4, px % 2]] = True
        grids.append((dots @ weights).reshape(height, width))
    return grids, (x0, x1), (y0, y1)


def _layout(series, width, height, y_range=None, x_title: str = ""):
    """Rows of (label, [(text, series index or -1), ...] runs) plus the x-axis lines."""
    import numpy as np

    cells = _cells(series, width, height, y_range)
    if cells is None:
        return None
    grids, (x0, x1), (y0, y1) = cells
    combined = np.zeros((height, width), dtype=np.int64)
    owner = np.full((height, width), -1)
    for i, g in enumerate(grids):
        combined |= g
        owner[g != 0] = i  # later series draw on top
    chars = np.where(combined != 0, combined + 0x2800, 0x20)
    ticks = {0: y1, height - 1: y0}  # five y ticks where there is room, three otherwise
    if height >= 9:
        ticks.update({round((height - 1) * k / 4): y1 - (y1 - y0) * k / 4 for k in (1, 2, 3)})
    elif height >= 5:
        ticks[height // 2] = (y0 + y1) / 2
    ylab = {r: _fmt(v) for r, v in ticks.items()}
    pad = max(map(len, ylab.values()))
    rows = []
    for r in range(height):
        label = ylab.get(r, "")
        text = "".join(map(chr, chars[r]))
        cuts = np.flatnonzero(np.diff(owner[r])) + 1
        bounds = [0, *cuts.tolist(), width]
        runs = [(text[a:b], int(owner[r, a])) for a, b in zip(bounds, bounds[1:])]
        rows.append((f"{label:>{pad}} ┤", runs))
    xl, xm, xr = _fmt(x0), _fmt((x0 + x1) / 2), _fmt(x1)
    line = list(xl.ljust(width))
    gap = (len(xl), width - len(xr))  # where the axis title may go
    if width >= len(xl) + len(xm) + len(xr) + 4:  # a middle tick
        start = width // 2 - len(xm) // 2
        line[start:start + len(xm)] = xm
        gap = (start + len(xm), width - len(xr))
    line[width - len(xr):] = xr
    labels = "".join(line)
    if x_title and gap[1] - gap[0] >= len(x_title) + 2:  # the axis title between two ticks
        start = gap[0] + (gap[1] - gap[0] - len(x_title)) // 2
        labels = labels[:start] + x_title + labels[start + len(x_title):]
    axis = [" " * pad + " └" + "─" * width, " " * (pad + 2) + labels]
    return rows, axis


def line_chart(series: list[tuple[list[float], list[float]]], width: int = 60, height: int = 10,
               labels: list[str] | None = None) -> str:
    """One or more (xs, ys) series on shared axes, as plain text."""
    layout = _layout(series, width, height)
    if layout is None:
        return "(no data yet)"
    rows, axis = layout
    lines = [label + "".join(text for text, _ in runs) for label, runs in rows] + axis
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
    for label, runs in rows:
        text.append(label, style="dim")
        for chunk, owner in runs:
            text.append(chunk, style=styles[owner] if owner >= 0 else "")
        text.append("\n")
    text.append("\n".join(axis), style="dim")
    return text


def mean_band(curves: list[tuple[list[float], list[float]]], points: int = 200):
    """Curves on a common x grid over the x range they share: (xs, mean, low, high), where
    low and high are the smallest and largest curve at each grid point (a min-max band)."""
    import numpy as np

    curves = [(np.asarray(x, float), np.asarray(y, float)) for x, y in curves if len(x) > 1]
    if not curves:
        return [], [], [], []
    lo, hi = max(c[0][0] for c in curves), min(c[0][-1] for c in curves)
    if hi <= lo:
        return [], [], [], []
    grid = np.linspace(lo, hi, points)
    ys = np.stack([np.interp(grid, x, y) for x, y in curves])
    return grid.tolist(), ys.mean(0).tolist(), ys.min(0).tolist(), ys.max(0).tolist()
