"""The play pane's helper process: plays a run's newest best policy in its environment and writes
the frames to its stdout, for the dashboard's PlayPane to draw.

    python -m lab.tui.player RUN_FOLDER [--fps 10]

A process, not a thread of the dashboard: stepping and drawing an environment never holds the
dashboard's GIL. From its first frame on it runs at the lowest CPU priority (its own session,
nice 19 for it and its autogroup), below training runs (nice 10), so it takes what training
leaves; a frame costs 2-4 ms (step, pygame's rgb_array, downscale, the pipe): about 4% of a core
at the cap (benchmarks/results-dashboard.md). Its start (imports, the first policy, ~2
CPU-seconds) runs at normal priority, once per opening of the pane: at nice 19 on a busy machine
it would take a minute.
It watches the delivered checkpoint (while training: best.*, rewritten at each new best
evaluation) once a second and starts a fresh episode with a new one at once; otherwise it plays
episode after episode of the one it has. It exits when its parent (the dashboard) is gone.
No Textual here.

Protocol, on stdout: one JSON line per message; a frame's line is followed by its pixels.
  {"note": "..."}                                  a status, or why nothing can be drawn
  {"frame": [h, w], "title": "...", "caption": "..."}  then h*w*3 bytes, RGB, downscaled to
                                                   at most MAX_COLUMNS x 2*MAX_ROWS pixels
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

FPS = 10.0  # the cap; lower still where the environment says it runs slower (metadata render_fps)
NICE = 19
MAX_COLUMNS, MAX_ROWS = 160, 50  # what is sent (CartPole: 150x100 pixels); the pane scales it to its size
CHECK_SECONDS = 1.0  # how often a new best is looked for, mid-episode
HOLD_SECONDS = 1.0  # the last frame of an episode stays this long


def messages(path: Path, fps: float = FPS, alive=lambda: True):
    """(message, pixels or None) for as long as `alive()`: notes and frames, paced at `fps`."""
    from lab.errors import BadInput
    from lab.rl.play import play
    from lab.rl.seeds import PLAY_SEED_OFFSET
    from lab.rl.train import policy_checkpoint
    from lab.spec import load_experiment
    from lab.store import Run

    run = Run.load(path)
    if run.kind != "rl":
        yield {"note": f"{run.id} is an {run.kind} run: there is no agent to play"}, None
        return
    spec = load_experiment(run.spec_path)
    why, env_fps = _drawable(spec)
    if why:
        yield {"note": why}, None
        return
    period = 1.0 / min(fps, env_fps or fps)
    seed = spec.seed + PLAY_SEED_OFFSET  # lab play's seeds: episodes the evaluations did not see

    def version():
        """The delivered checkpoint and its file's identity (rewritten atomically: a new best is a new inode)."""
        run = Run.load(path)
        try:
            checkpoint = policy_checkpoint(run, spec)
            st = checkpoint.stat()
        except (BadInput, OSError):
            return run, None
        return run, (checkpoint, st.st_ino, st.st_mtime_ns, st.st_size)

    episode, failed, waiting = 0, None, False
    rate = _Rate()
    while alive():
        run, playing = version()
        if playing is None or playing == failed:
            if playing is None and not waiting:
                yield {"note": "no policy yet: the run saves one at its first evaluation"}, None
                waiting = True
            time.sleep(CHECK_SECONDS)
            continue
        waiting, title = False, _title(run)
        next_at = checked = time.monotonic()
        try:
            for frame in play(run, spec, seed + episode):
                pixels = shrink(frame.image, MAX_COLUMNS, MAX_ROWS)
                caption = (f"episode {episode + 1}  step {frame.step}  return {frame.reward:.1f}"
                           + ("  (done)" if frame.done else "") + f"  {rate.tick():.0f} fps")
                yield {"frame": list(pixels.shape[:2]), "title": title, "caption": caption}, pixels.tobytes()
                now = time.monotonic()
                if not alive():
                    return
                if now - checked >= CHECK_SECONDS:
                    checked = now
                    if version()[1] != playing:  # a new best: play it from a fresh episode
                        break
                next_at = max(next_at + period, now)  # behind (a busy machine): drop the debt, not frames
                time.sleep(max(next_at - now, 0.0))
            else:
                time.sleep(HOLD_SECONDS)
        except BadInput as e:  # a checkpoint this spec cannot load: say so, try the next one
            failed = playing
            yield {"note": str(e)}, None
        episode += 1


def shrink(image, columns: int, rows: int):
    """The image scaled to at most `columns` x 2*`rows` pixels, aspect kept, each pixel the mean
    of those it covers: thin lines (CartPole's pole) stay visible as a blend where picking the
    nearest pixel (lab.rl.play.fit) drops them. Upscaling repeats pixels."""
    import numpy as np

    h, w = image.shape[:2]
    scale = min(columns / w, 2 * rows / h)
    out_w, out_h = max(int(w * scale), 1), max(int(h * scale) // 2 * 2, 2)
    image = image[..., :3]
    k = min(int(1 / scale), 16)  # first whole k x k blocks, by adding strided slices (a 600x400 frame: 0.5 ms)
    if k > 1:
        h, w = h // k, w // k
        image = image[:h * k, :w * k].astype(np.uint16)
        image = sum(image[i::k] for i in range(k))
        image = sum(image[:, j::k] for j in range(k)) // (k * k)
    if (h, w) == (out_h, out_w):
        return image.astype(np.uint8)
    ys, xs = (np.arange(out_h) * h // out_h), (np.arange(out_w) * w // out_w)
    sums = np.add.reduceat(np.add.reduceat(image.astype(np.uint32), ys, axis=0), xs, axis=1)
    counts = np.maximum(np.diff(ys, append=h), 1)[:, None] * np.maximum(np.diff(xs, append=w), 1)[None, :]
    return (sums // counts[..., None]).astype(np.uint8)


def _drawable(spec) -> tuple[str | None, float | None]:
    """(why the environment cannot be drawn, or None; its frame rate). The same test as
    lab.rl.play.play, made before any policy exists, so the pane can say so at once."""
    from lab.errors import one_line
    from lab.rl.envs import make_env

    name = spec.env.id.rpartition(":")[2]  # a third-party env's module path would fill the line
    try:
        env = make_env(spec, render_mode="rgb_array")
    except Exception as e:
        why = "it takes no render_mode" if "render_mode" in str(e) else f"{type(e).__name__}: {one_line(e, 80)}"
        return f"{name} cannot be drawn ({why})", None
    try:
        if "rgb_array" not in (env.metadata.get("render_modes") or []):
            return f"{name} cannot be drawn (it has no 'rgb_array' render mode)", None
        fps = env.metadata.get("render_fps")
        return None, float(fps) if isinstance(fps, (int, float)) and fps > 0 else None
    finally:
        env.close()


def _title(run) -> str:
    """Which policy plays, short enough for a narrow pane."""
    r = run.results
    if r.policy and r.final_eval_return_mean is not None:
        return f"delivered policy, final eval {r.final_eval_return_mean:.1f}"
    if r.best_eval_return_mean is not None:
        return f"best eval {r.best_eval_return_mean:.1f} at step {r.best_eval_step or 0:,}"
    return f"{Path(r.policy).stem if r.policy else 'last'} checkpoint"


class _Rate:
    """Frames per second over the last couple of seconds."""

    def __init__(self):
        self.times: list[float] = []

    def tick(self) -> float:
        now = time.monotonic()
        self.times = [t for t in self.times if now - t < 2.0] + [now]
        return (len(self.times) - 1) / (now - self.times[0]) if len(self.times) > 1 else 0.0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m lab.tui.player", description=__doc__.splitlines()[0])
    p.add_argument("run", help="the run folder")
    p.add_argument("--fps", type=float, default=FPS)
    args = p.parse_args(argv)
    from lab.launch import _lower_priority

    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # pygame draws off screen
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    # the protocol gets stdout to itself: whatever a library prints goes to stderr instead
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    parent = os.getppid()
    lowered = False
    try:
        for message, pixels in messages(Path(args.run), args.fps, alive=lambda: os.getppid() == parent):
            out.write(json.dumps(message).encode() + b"\n")
            if pixels is not None:
                out.write(pixels)
            out.flush()
            if pixels is not None and not lowered:
                _lower_priority(NICE)
                lowered = True
    except (BrokenPipeError, KeyboardInterrupt):  # the dashboard closed the pane or went away
        return 0
    except Exception as e:  # the pane says why it stopped; a traceback would go nowhere
        try:
            out.write(json.dumps({"note": f"the player stopped: {type(e).__name__}: {e}"}).encode() + b"\n")
            out.flush()
        except OSError:
            pass
        return 1
    finally:
        try:
            out.close()
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
