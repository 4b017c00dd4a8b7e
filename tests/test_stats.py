"""lab.stats: rliable's estimates over seeds, seeded, and what lab builds on them (rankings, profiles)."""

import numpy as np

from lab import stats


def test_aggregates_are_seeded_and_leave_the_callers_generator_alone():
    scores = [12.0, 480.0, 500.0, 455.0, 310.0, 499.0, 20.0, 470.0]
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    a, b = stats.aggregates(scores, gamma=475), stats.aggregates(scores, gamma=475)
    assert a == b and np.array_equal(np.random.get_state()[1], before)
    ordered = np.sort(scores)
    assert a["iqm"][0] == round(float(ordered[2:6].mean()), 4)  # the middle half of 8 runs
    assert a["median"][0] == round(float(np.median(scores)), 4)  # the runs' median, not the mean again
    assert a["optimality_gap"][0] == round(float(np.mean(475 - np.minimum(scores, 475))), 4)
    for key in ("iqm", "mean", "median", "optimality_gap"):
        point, low, high = a[key]
        assert low <= point <= high and low < high
    assert stats.aggregates(scores, seed=1)["iqm"][1:] != a["iqm"][1:]  # another seed, other resamples


def test_compare_ranks_by_iqm_either_way_and_says_when_groups_are_told_apart():
    groups = {"low": [10.0, 11.0, 12.0, 13.0], "high": [50.0, 51.0, 52.0, 53.0], "alone": [99.0]}
    up = stats.compare(groups)
    assert [r["name"] for r in up] == ["high", "low"]  # one run has no interval: left out
    assert up[0]["vs_best"] is None and up[1]["vs_best"] == [1.0, 1.0, 1.0] and up[1]["distinguishable"]
    down = stats.compare(groups, maximize=False)  # a loss: lower is better
    assert [r["name"] for r in down] == ["low", "high"] and down[1]["vs_best"] == [1.0, 1.0, 1.0]
    close = stats.compare({"a": [10.0, 20.0, 30.0], "b": [12.0, 19.0, 31.0]})
    assert not close[1]["distinguishable"] and close[1]["vs_best"][1] < 0.5 < close[1]["vs_best"][2]


def test_a_performance_profile_is_the_share_of_runs_above_each_threshold(tmp_path):
    runs = {"a": [100.0, 200.0, 300.0, 400.0], "b": [150.0, 160.0, 170.0]}
    prof = stats.profiles(runs, points=11)
    taus = np.array(prof["tau"])
    assert taus[0] == 100.0 and taus[-1] == 400.0
    for name, scores in runs.items():
        g = prof["groups"][name]
        np.testing.assert_allclose(g["share"], [np.mean(np.array(scores) > t) for t in taus], atol=1e-4)
        assert all(lo <= s <= hi for lo, s, hi in zip(g["low"], g["share"], g["high"]))
    stats.write_profiles(tmp_path / "p.png", prof, "two groups")
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
