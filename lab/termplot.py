"""Small line charts in the terminal, drawn with braille dots (2x4 dots per character).

`line_chart` gives plain text (for `lab show`); `layout` gives rows of runs, each with the
series (and band) it belongs to, which the dashboard's LinePlot colours.
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


def _fill(low, high, x0, x1, y0, y1, cols, rows):
    """Dots between two curves (a band), column by column over the x range both cover."""
    import numpy as np

    (xl, yl), (xh, yh) = [(x[np.isfinite(y)], y[np.isfinite(y)]) for x, y in (low, high)]
    if len(xl) < 2 or len(xh) < 2:
        return np.zeros(0, int), np.zeros(0, int)
    xs = x0 + np.arange(cols) / max(cols - 1, 1) * (x1 - x0)
    lo, hi = np.interp(xs, xl, yl), np.interp(xs, xh, yh)
    top = np.rint((y1 - np.clip(np.maximum(lo, hi), y0, y1)) / (y1 - y0) * (rows - 1))
    bottom = np.rint((y1 - np.clip(np.minimum(lo, hi), y0, y1)) / (y1 - y0) * (rows - 1))
    inside = (xs >= max(xl[0], xh[0])) & (xs <= min(xl[-1], xh[-1]))
    r = np.arange(rows)[:, None]
    py, px = np.nonzero((r >= top) & (r <= bottom) & inside)
    return px, py


def _cells(series, width, height, y_range=None, markers=None, bands=None):
    """Per-series braille bit grids, marker cells and band cells, and the x and y ranges; None
    without data. markers: {series: glyph} drawn as a glyph per point; bands: {low: high}, the
    area between two series (neither drawn as a line)."""
    import numpy as np

    markers, bands = markers or {}, bands or {}
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
    consumed = set(bands) | set(bands.values())
    grids, marks, filled = [], {}, {}
    for i, (x, y) in enumerate(arrays):
        dots = np.zeros((height * width, 8), dtype=bool)
        if i in markers:
            keep = np.isfinite(y)
            cx = np.rint((x[keep] - x0) / (x1 - x0) * (cols - 1)).astype(int) // 2
            cy = np.rint((y1 - np.clip(y[keep], y0, y1)) / (y1 - y0) * (rows - 1)).astype(int) // 4
            marks[i] = (cy, cx)
        elif i in bands:
            px, py = _fill(arrays[i], arrays[bands[i]], x0, x1, y0, y1, cols, rows)
            cell = np.zeros((height, width), dtype=bool)
            cell[py // 4, px // 2] = True
            filled[i] = cell
        elif len(x) and i not in consumed:
            px, py = _raster(x, y, x0, x1, y0, y1, cols, rows)
            dots[(py // 4) * width + px // 2, bit_index[py % 4, px % 2]] = True
        grids.append((dots @ weights).reshape(height, width))
    return grids, marks, filled, (x0, x1), (y0, y1)


def layout(series, width, height, y_range=None, x_title: str = "", markers=None, bands=None):
    """Rows of (label, [(text, series index or -1, band index or -1), ...] runs) plus the
    x-axis lines. A run's text takes its series' colour, on its band's colour."""
    import numpy as np

    cells = _cells(series, width, height, y_range, markers, bands)
    if cells is None:
        return None
    grids, marks, filled, (x0, x1), (y0, y1) = cells
    combined = np.zeros((height, width), dtype=np.int64)
    owner = np.full((height, width), -1)
    band = np.full((height, width), -1)
    for i, cell in filled.items():
        band[cell] = i
    for i, g in enumerate(grids):
        combined |= g
        owner[g != 0] = i  # later series draw on top
    chars = np.where(combined != 0, combined + 0x2800, 0x20)
    for i, (cy, cx) in marks.items():  # markers on top of every line
        chars[cy, cx] = ord(markers[i])
        owner[cy, cx] = i
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
        key = owner[r] * (len(series) + 1) + band[r]
        cuts = np.flatnonzero(np.diff(key)) + 1
        bounds = [0, *cuts.tolist(), width]
        runs = [(text[a:b], int(owner[r, a]), int(band[r, a])) for a, b in zip(bounds, bounds[1:])]
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
               labels: list[str] | None = None, markers: dict[int, str] | None = None) -> str:
    """One or more (xs, ys) series on shared axes, as plain text."""
    chart = layout(series, width, height, markers=markers)
    if chart is None:
        return "(no data yet)"
    rows, axis = chart
    lines = [label + "".join(text for text, _, _ in runs) for label, runs in rows] + axis
    if labels:
        lines.append(" " * 4 + "   ".join(labels))
    return "\n".join(lines)


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
