"""lab.stats: rliable's estimates over seeds, seeded, and what lab builds on them (rankings, profiles)."""

import numpy as np
import pytest

from lab import stats


@pytest.mark.parametrize("runs, other", [(2, 5), (7, 3), (64, 64)])
def test_every_estimate_is_rliables_own_draw_for_draw(runs, other):
    """lab.stats reproduces rliable's stratified bootstrap in numpy: with numpy's generator seeded
    alike, rliable's get_interval_estimates and create_performance_profile give the same numbers."""
    from rliable import library, metrics

    rng = np.random.default_rng(runs)
    x, y = np.round(rng.random(runs) * 500, 1).reshape(-1, 1), np.round(rng.random(other) * 500, 1).reshape(-1, 1)
    reps = 500

    def theirs(scores, fn):
        np.random.seed(0)
        points, intervals = library.get_interval_estimates({"k": scores}, fn, reps=reps)
        return np.stack([points["k"], intervals["k"][0], intervals["k"][1]], axis=1)

    ours = stats.aggregates(x, gamma=400, reps=reps)
    expected = theirs(x, lambda s: np.array([metrics.aggregate_iqm(s), metrics.aggregate_mean(s), np.median(s),
                                             metrics.aggregate_optimality_gap(s, 400)]))
    np.testing.assert_allclose([ours[k] for k in ("iqm", "mean", "median", "optimality_gap")], expected, atol=1.5e-4)
    improvement = theirs([x, y], lambda a, b: np.array([metrics.probability_of_improvement(a, b)]))[0]
    np.testing.assert_allclose(stats.probability_of_improvement(x, y, reps=reps), improvement, atol=1e-4)
    taus = np.linspace(0, 500, 11)
    np.random.seed(0)
    share, bands = library.create_performance_profile({"k": x}, taus, reps=reps)
    profile = stats.performance_profile(x, taus, reps=reps)
    np.testing.assert_allclose([profile["share"], profile["low"], profile["high"]], [share["k"], *bands["k"]], atol=1e-4)


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


def test_lab_compare_gives_each_experiments_statistics_over_seeds_as_rliable_computes_them(tmp_path):
    import re

    from rliable import library, metrics

    from .conftest import lab_main
    from .seeded_runs import rl_run

    finals = {"cartpole-ppo": [480.0, 350.0, 500.0, 495.0], "cartpole-a2c": [300.0, 420.0, 360.0, 310.0]}
    for i, (name, values) in enumerate(finals.items()):
        for seed, final in enumerate(values):
            run = rl_run(tmp_path, f"20261123-0{i}{seed}000-{name}-{i}{seed}00", name, seed, final=final)
            (run / "spec.toml").write_text('[env]\nid = "CartPole-v1"\n')  # the target: CartPole-v1's reward threshold
    alone = rl_run(tmp_path, "20261123-090000-cartpole-dqn-9000", "cartpole-dqn", 0, final=10.0)  # one run: no interval
    (alone / "spec.toml").write_text('[env]\nid = "CartPole-v1"\n')
    other = rl_run(tmp_path, "20261123-091000-acrobot-dqn-9100", "acrobot-dqn", 0, final=-90.0)
    (other / "spec.toml").write_text('[env]\nid = "Acrobot-v1"\n')  # another target (-100): no one gap for both

    def by_rliable(fn, scores):
        np.random.seed(0)
        points, intervals = library.get_interval_estimates({"x": scores}, lambda *a: np.array([fn(*a)]), reps=2000)
        return [float(points["x"][0]), float(intervals["x"][0][0]), float(intervals["x"][1][0])]

    png = tmp_path / "profiles.png"
    out = lab_main("compare", "cartpole-ppo", "cartpole-a2c", "cartpole-dqn", "--png", png, runs_dir=tmp_path)
    gapless = lab_main("compare", "cartpole-ppo", "acrobot-dqn", runs_dir=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    ppo, a2c = (np.array(finals[k]).reshape(-1, 1) for k in finals)
    for name, scores, line in (("cartpole-ppo", ppo, lines[1]), ("cartpole-a2c", a2c, lines[2])):  # best first
        assert line.startswith(f"  {name}  4 runs  IQM"), line
        got = [[float(v) for v in m] for m in re.findall(r"(-?[\d.]+) \[(-?[\d.]+), (-?[\d.]+)\]", line)]
        np.testing.assert_allclose(got[0], by_rliable(metrics.aggregate_iqm, scores), rtol=2e-3)
        np.testing.assert_allclose(got[1], by_rliable(metrics.aggregate_mean, scores), rtol=2e-3)
        np.testing.assert_allclose(got[3], by_rliable(lambda x: metrics.aggregate_optimality_gap(x, 475), scores), rtol=2e-3,
                                   atol=0.01)  # CartPole-v1's reward threshold, the target
    improvement = by_rliable(metrics.probability_of_improvement, [ppo, a2c])
    assert f"P(cartpole-ppo > cartpole-a2c) = {improvement[0]:.2f} [{improvement[1]:.2f}, {improvement[2]:.2f}]" in out.stdout
    assert "left out (fewer than 2 completed runs with a final evaluation): cartpole-dqn" in out.stdout
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert gapless.returncode == 0 and "optimality gap" not in gapless.stdout and "gap " not in gapless.stdout.splitlines()[1]
    not_population = lab_main("show", "cartpole-dqn", "--png", tmp_path / "no.png", runs_dir=tmp_path)
    assert not_population.returncode == 2 and not not_population.stdout and not (tmp_path / "no.png").exists()
    assert "--png: not a completed population" in not_population.stderr and len(not_population.stderr.splitlines()) == 1
    one = lab_main("compare", "cartpole-dqn", runs_dir=tmp_path)
    assert one.returncode == 2 and "no experiment 2 or more completed runs" in one.stderr and not one.stdout
    assert "Traceback" not in one.stderr
