"""Terminal charts and the curve helpers behind them, without a terminal."""

import math

import numpy as np
import pytest

from lab.termplot import downsample, line_chart, mean_band


def test_downsample_keeps_short_series_as_they_are():
    xs, ys = [1, 2, 3], [4.0, 5.0, 6.0]
    assert downsample(xs, ys, 10) == (xs, ys)


def test_downsample_bounds_the_points_and_keeps_every_spike():
    n = 100_000
    xs = np.arange(n, dtype=float)
    ys = np.sin(xs / 1000)
    ys[12_345] = 50.0  # one spike
    ys[77_777] = -50.0
    dx, dy = downsample(xs, ys, 200)
    assert len(dx) <= 220 and len(dx) == len(dy)
    assert max(dy) == 50.0 and min(dy) == -50.0
    assert list(dx) == sorted(dx) and dx[0] == 0 and dx[-1] == n - 1


def test_line_chart_has_its_size_axis_labels_and_range():
    text = line_chart([([0, 50, 100], [10.0, 500.0, 250.0])], width=40, height=8)
    lines = text.splitlines()
    assert len(lines) == 8 + 2  # the plot rows, then the axis and its labels
    assert lines[0].strip().startswith("500") and lines[7].strip().startswith("10")
    assert lines[-1].split() == ["0", "50", "100"]  # both ends and the middle
    braille = "".join(lines[:8])
    assert any(0x2800 < ord(c) <= 0x28FF for c in braille)


def test_x_starts_at_zero_constants_get_a_band_and_the_axis_has_its_title():
    from lab.termplot import layout

    rows, axis = layout([([5_000, 60_000, 90_000], [0.001, 0.001, 0.001])], 60, 10, None, "environment steps")
    labels = [label.strip(" ┤") for label, _ in rows if label.strip(" ┤")]
    assert len(labels) == 5 and all(0.0008 < float(x) < 0.0012 for x in labels)  # not -0.999 ... 1.001
    assert axis[1].split()[0] == "0" and "environment steps" in axis[1] and axis[1].rstrip().endswith("90,000")


def test_evaluations_are_markers_on_top_of_the_line_at_their_points():
    from lab.termplot import layout

    line = ([0, 100], [0.0, 100.0])
    evals = ([0, 50, 100], [100.0, 0.0, 50.0])
    rows, _ = layout([line, evals], 21, 11, None, markers={1: "◆"})
    cells = {(r, c): (ch, owner) for r, (_, runs) in enumerate(rows)
             for c, (ch, owner) in enumerate((ch, o) for text, o, _ in runs for ch in text)}
    marks = sorted(rc for rc, (ch, owner) in cells.items() if ch == "◆")
    assert marks == [(0, 0), (5, 20), (10, 10)]  # (0, 100) top left, (100, 50) middle right, (50, 0) bottom middle
    assert all(cells[rc][1] == 1 for rc in marks)
    assert not any(0x2800 < ord(ch) <= 0x28FF and owner == 1 for ch, owner in cells.values())  # no eval line
    assert sum(0x2800 < ord(ch) <= 0x28FF for ch, _ in cells.values()) >= 15  # the line is still drawn


def test_a_band_shades_every_cell_between_its_two_curves_and_nothing_else():
    from lab.termplot import layout

    xs = [0, 10, 20, 30]
    low, high, mean = [0.0, 10.0, 10.0, 0.0], [30.0, 40.0, 40.0, 30.0], [15.0, 25.0, 25.0, 15.0]
    height, width = 12, 30
    rows, _ = layout([(xs, low), (xs, high), (xs, mean)], width, height, (0.0, 40.0), bands={0: 1})
    for r, (_, runs) in enumerate(rows):
        row_y = 40 - 40 * (r + 0.5) / height  # the value at the middle of this row
        cells = [(ch, owner, band) for text, owner, band in runs for ch in text]
        for c, (ch, owner, band) in enumerate(cells):
            x = 30 * (c + 0.5) / width
            lo, hi = np.interp(x, xs, low), np.interp(x, xs, high)
            if lo + 2 < row_y < hi - 2:  # well inside the band
                assert band == 0
            if row_y > hi + 2 or row_y < lo - 2:  # well outside it
                assert band == -1
            assert owner in (-1, 2)  # the band's edges are not drawn as lines; the mean is


def test_line_chart_of_nothing_says_so_and_skips_missing_values():
    assert line_chart([([], [])]) == "(no data yet)"
    assert line_chart([([1, 2], [None, math.nan])]) == "(no data yet)"
    text = line_chart([([1, 2, 3], [1.0, None, 3.0])], width=20, height=4)
    assert "nan" not in text.lower()


def test_a_constant_series_gets_a_range_around_its_value():
    lines = line_chart([([0, 1, 2], [0.001, 0.001, 0.001])], width=20, height=5).splitlines()
    top, bottom = float(lines[0].split("┤")[0].replace(",", "")), float(lines[4].split("┤")[0].replace(",", ""))
    assert bottom < 0.001 < top


def test_mean_band_spans_min_to_max_on_the_shared_range():
    a = ([0, 10, 20, 30], [0.0, 10.0, 20.0, 30.0])
    b = ([5, 15, 25, 40], [50.0, 50.0, 50.0, 50.0])
    xs, mean, low, high = mean_band([a, b], points=11)
    assert xs[0] == 5 and xs[-1] == 30 and len(xs) == 11  # where both curves have data
    for x, m, lo, hi in zip(xs, mean, low, high):
        ya = np.interp(x, *a)
        assert lo == pytest.approx(min(ya, 50.0)) and hi == pytest.approx(max(ya, 50.0))
        assert m == pytest.approx((ya + 50.0) / 2) and lo <= m <= hi


def test_mean_band_of_identical_curves_collapses_to_the_curve():
    c = ([0, 1, 2], [3.0, 4.0, 5.0])
    xs, mean, low, high = mean_band([c, c, c], points=5)
    assert mean == low == high == pytest.approx(list(np.interp(xs, *c)))


def test_mean_band_without_a_shared_range_is_empty():
    assert mean_band([([0, 1], [1.0, 1.0]), ([2, 3], [1.0, 1.0])]) == ([], [], [], [])
    assert mean_band([([0], [1.0])]) == ([], [], [], [])  # one point is no curve
