"""Watching the agent: a run's delivered policy played in its environment, drawn as half blocks,
written as a GIF. A real (short) run, the real environment's frames."""

import numpy as np
import pytest

import lab
from lab.rl.evaluate import evaluate
from lab.rl.play import UPPER_HALF, fit, half_blocks, play, write_gif
from lab.rl.train import load_delivered_policy

from .conftest import CARTPOLE_PPO, copy_run, lab_main


@pytest.fixture(scope="module")
def run(tmp_path_factory, cartpole_ppo_folder):
    return copy_run(cartpole_ppo_folder, tmp_path_factory.mktemp("runs")), lab.load_experiment("cartpole-ppo", CARTPOLE_PPO)


def test_play_is_one_episode_of_the_delivered_policy(run):
    r, spec = run
    frames = list(play(r, spec, seed=7))
    assert frames[0].step == 0 and frames[-1].done and not any(f.done for f in frames[:-1])
    assert [f.step for f in frames] == list(range(len(frames)))
    assert frames[0].image.shape == (400, 600, 3) and frames[0].image.dtype == np.uint8
    policy, _ = load_delivered_policy(r, spec, "cpu")
    returns, lengths = evaluate(policy.act, spec, 1, seed=7)  # the same episode, without drawing it
    assert frames[-1].reward == pytest.approx(returns[0]) and len(frames) - 1 == lengths[0]


def test_half_blocks_keep_the_picture_within_the_cells_and_its_colours(run):
    r, spec = run
    image = next(play(r, spec, seed=0)).image
    text = half_blocks(image, columns=60, rows=20)
    lines = text.plain.split("\n")
    assert len(lines) <= 20 and max(len(line) for line in lines) <= 60 and set(text.plain) <= {UPPER_HALF, "\n"}
    pixels = fit(image, 60, 20)
    assert pixels.shape[1] == len(lines[0]) and pixels.shape[0] == 2 * len(lines)
    first = text.spans[0].style  # the top-left cell: its two pixels, upper as colour, lower as background
    assert first.color.triplet == tuple(pixels[0, 0]) and first.bgcolor.triplet == tuple(pixels[1, 0])


def test_write_gif_holds_the_episode(run, tmp_path):
    from PIL import Image

    r, spec = run
    frames = [f.image for f in play(r, spec, seed=3, max_steps=40)]
    path = write_gif(frames, tmp_path / "episode.gif", fps=25)
    with Image.open(path) as gif:
        assert gif.size == (600, 400) and gif.n_frames >= 2
        total = 0
        for i in range(gif.n_frames):  # Pillow merges repeated frames, adding their durations
            gif.seek(i)
            total += gif.info["duration"]
    assert total == 40 * len(frames)
    assert not list(tmp_path.glob(".*tmp*"))  # written atomically: no temp file stays


def gif_timing(path) -> tuple[int, list[int]]:
    """(frames, each frame's delay in ms) of a GIF, read back with Pillow."""
    from PIL import Image, ImageSequence

    with Image.open(path) as gif:
        delays = [frame.info["duration"] for frame in ImageSequence.Iterator(gif)]
    return len(delays), delays


@pytest.mark.parametrize("fps, every", [(30.0, 7), (24.0, 7), (7.0, 7), (0.5, 3), (100.0, 1), (60.0, 1), (30.0, 1)])
def test_a_gif_plays_as_long_as_its_frames_at_their_rate(tmp_path, fps, every):
    """GIF delays are whole hundredths of a second and viewers hold a delay under 0.02 s for 0.1 s:
    the delays add up to frames / fps however they are rounded, identical frames merged or not."""
    frames, image = [], None
    for i in range(501):  # runs of `every` identical frames (a still cart), or a new picture each frame
        if i % every == 0:  # (a plain colour, each unlike the last: cheap to encode, unlike noise)
            image = np.full((40, 60, 3), (i * 37 % 256, i * 91 % 256, 255 - i % 256), dtype=np.uint8)
        frames.append(image)
    path = write_gif(frames, tmp_path / "episode.gif", fps=fps)
    count, delays = gif_timing(path)
    assert abs(sum(delays) - 501 / fps * 1000) <= 10, (sum(delays), 501 / fps * 1000)
    assert min(delays) >= 20 and all(d % 10 == 0 for d in delays)
    assert count < 501 or every == 1 and fps <= 50  # identical frames were merged (their delays added)


def test_lab_record_says_what_the_gif_holds(run, tmp_path):
    import re

    r, _ = run
    out = lab_main("record", r.id, "--runs-dir", str(r.path.parent), "--out", str(tmp_path / "ep.gif"), "--fps", "30")
    assert out.returncode == 0, out.stderr
    count, delays = gif_timing(tmp_path / "ep.gif")
    said = re.search(r"(\d+) GIF frames, ([\d.]+) s", out.stdout)
    assert said, out.stdout
    assert int(said.group(1)) == count and float(said.group(2)) == pytest.approx(sum(delays) / 1000, abs=0.005)
    steps = int(re.search(r"(\d+) frames? of the episode", out.stdout).group(1))
    assert abs(sum(delays) - steps / 30 * 1000) <= 10  # the episode's frames at 30 a second


def _lab(*args):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "lab", *args], capture_output=True, text=True, timeout=120)


def test_lab_record_writes_a_gif_and_refuses_bad_input_in_one_line(run, tmp_path):
    r, _ = run
    root = str(r.path.parent)
    out = lab_main("record", r.id, "--runs-dir", root, "--out", str(tmp_path / "ep.gif"))  # what it writes
    assert out.returncode == 0 and (tmp_path / "ep.gif").stat().st_size > 0 and "frames" in out.stdout
    for args, message in ((["--out", str(tmp_path / "ep.png")], "must end in .gif"),
                          (["--out", str(tmp_path / "no" / "ep.gif")], "does not exist"),
                          (["--out", str(tmp_path / "x.gif"), "--fps", "0"], "--fps: must be a finite number from 0.1 to 100 (got 0)")):
        bad = _lab("record", r.id, "--runs-dir", root, *args)
        assert bad.returncode == 2 and message in bad.stderr and bad.stderr.count("\n") == 1
    assert not (tmp_path / "x.gif").exists()


def test_lab_play_needs_a_terminal(run):
    r, _ = run
    out = _lab("play", r.id, "--runs-dir", str(r.path.parent))
    assert out.returncode == 2 and "lab record" in out.stderr
