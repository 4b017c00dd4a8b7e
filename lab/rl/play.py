"""Watching an agent: play a run's delivered policy in its environment and turn the frames into
terminal pictures (truecolor half blocks: each character cell shows two pixels, the upper as its
foreground colour and the lower as its background) or an animated GIF.

Pure data and files: no Textual here. `lab play` and `lab record` call it, and so can a
dashboard pane (from its own process or thread: stepping an environment must not block a UI).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

UPPER_HALF = "▀"


@dataclass
class Frame:
    image: np.ndarray  # (height, width, 3) uint8
    step: int
    reward: float  # return so far
    done: bool


def play(run, spec, seed: int, device: str = "cpu", deterministic: bool = True,
         max_steps: int | None = None) -> Iterator[Frame]:
    """One episode of the run's delivered policy, frame by frame (the reset frame first).
    BadInput when the environment cannot draw itself (no 'rgb_array' render mode)."""
    from lab.errors import BadInput
    from lab.rl.envs import make_env
    from lab.rl.evaluate import _env_action
    from lab.rl.train import load_delivered_policy

    policy, _ = load_delivered_policy(run, spec, device)
    try:
        env = make_env(spec, render_mode="rgb_array")
    except Exception as e:  # an env without rgb_array rendering
        raise BadInput(f"{run.id}: {spec.env.id} cannot be drawn ({type(e).__name__}: {e})") from None
    if "rgb_array" not in (env.metadata.get("render_modes") or []):
        env.close()
        raise BadInput(f"{run.id}: {spec.env.id} has no 'rgb_array' render mode, so lab cannot draw it")
    try:
        obs, _ = env.reset(seed=seed)
        total, step = 0.0, 0
        yield Frame(np.asarray(env.render()), 0, 0.0, False)
        while True:
            action = policy.act(np.asarray(obs)[None], deterministic)[0]
            obs, reward, terminated, truncated, _ = env.step(_env_action(action))
            total += float(reward)
            step += 1
            done = bool(terminated or truncated) or (max_steps is not None and step >= max_steps)
            yield Frame(np.asarray(env.render()), step, total, done)
            if done:
                return
    finally:
        env.close()


def fit(image: np.ndarray, columns: int, rows: int) -> np.ndarray:
    """The image scaled (nearest pixel, aspect kept) to at most `columns` x 2*`rows` pixels."""
    h, w = image.shape[:2]
    scale = min(columns / w, 2 * rows / h)
    out_w, out_h = max(int(w * scale), 1), max(int(h * scale) // 2 * 2, 2)
    ys = (np.arange(out_h) * h / out_h).astype(int)
    xs = (np.arange(out_w) * w / out_w).astype(int)
    return image[ys][:, xs, :3]


def half_blocks(image: np.ndarray, columns: int, rows: int):
    """A rich Text of the image in `columns` x `rows` cells at most: '▀' with the upper pixel's
    colour as foreground and the lower one's as background."""
    from rich.style import Style
    from rich.text import Text

    pixels = fit(image, columns, rows)
    text = Text()
    cache: dict[tuple, Style] = {}
    for y in range(0, pixels.shape[0], 2):
        top, bottom = pixels[y], pixels[y + 1]
        for (r1, g1, b1), (r2, g2, b2) in zip(top.tolist(), bottom.tolist()):
            key = (r1, g1, b1, r2, g2, b2)
            style = cache.get(key)
            if style is None:
                style = cache[key] = Style(color=f"#{r1:02x}{g1:02x}{b1:02x}", bgcolor=f"#{r2:02x}{g2:02x}{b2:02x}")
            text.append(UPPER_HALF, style)
        if y + 2 < pixels.shape[0]:
            text.append("\n")
    return text


# A GIF's delays are whole hundredths of a second, and browsers (and most viewers) hold a delay
# under 0.02 s for 0.1 s instead
GIF_TICKS_PER_SECOND = 100
GIF_MIN_TICKS = 2


def gif_schedule(count: int, fps: float) -> list[tuple[int, int]]:
    """(frame index, delay in ms) of each frame a GIF of `count` frames at `fps` shows: frame i is
    due at i / fps, shown from that time rounded to the GIF's hundredths until the next shown
    frame's, so that the delays add up to count / fps (to 10 ms) however each one rounds (at 30
    fps: 30, 40, 30 ms..., not 30 ms each, 10% fast). A frame due within 0.02 s of the one shown
    before it is left out (above 50 fps), as a viewer would hold it for 0.1 s."""
    ticks = [round(i * GIF_TICKS_PER_SECOND / fps) for i in range(count + 1)]  # ticks[count]: the end
    shown = []
    for i in range(count):
        if not shown or ticks[i] - ticks[shown[-1]] >= GIF_MIN_TICKS:
            shown.append(i)
    if len(shown) > 1 and ticks[count] - ticks[shown[-1]] < GIF_MIN_TICKS:
        shown.pop()  # too short a last delay: the frame before it holds to the end
    ms = 1000 // GIF_TICKS_PER_SECOND
    return [(i, (ticks[j] - ticks[i]) * ms) for i, j in zip(shown, shown[1:] + [count])]


def write_gif(frames: list[np.ndarray], path: str | Path, fps: float = 30.0) -> Path:
    """An animated GIF of the frames at `fps` (`gif_schedule`: it plays len(frames) / fps seconds),
    written atomically (the whole file or nothing). Identical frames in a row are one frame of
    the file, held for their delays added together (Pillow merges them so)."""
    from PIL import Image

    from lab.store import atomic_target

    path = Path(path)
    if not frames:
        raise ValueError("no frames to write")
    schedule = gif_schedule(len(frames), fps)
    images = [Image.fromarray(np.ascontiguousarray(frames[i][..., :3])) for i, _ in schedule]
    with atomic_target(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=[d for _, d in schedule],
                       loop=0, optimize=False)
    return path


def gif_length(path: str | Path) -> tuple[int, float]:
    """(frames, seconds) a GIF file holds, read back: what `lab record` reports."""
    from PIL import Image, ImageSequence

    with Image.open(path) as gif:
        delays = [frame.info.get("duration", 0) for frame in ImageSequence.Iterator(gif)]
    return len(delays), sum(delays) / 1000
