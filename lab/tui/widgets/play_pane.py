"""PlayPane: a run's newest best policy playing in its environment, in truecolor half blocks.

The playing happens in a helper process (`python -m lab.tui.player RUN_FOLDER`, lowest CPU
priority, frame rate capped); a worker thread of the dashboard reads its frames from a pipe and
posts `FrameArrived` (lab.tui.messages); the pane keeps only the newest one, so a busy event loop drops frames
instead of queueing them. Drawn with Textual's line API from runs of same-coloured cells, cached
until the frame or the size changes; a line whose pixels did not change keeps its strip, and only
the lines that changed are refreshed (a CartPole frame: the pole, the cart, the caption). Removing
the pane (or its screen, or quitting) kills the helper; its reader thread reaps it.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import textwrap
import threading
from pathlib import Path

from rich.segment import Segment
from rich.style import Style
from textual import work
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from lab.tui.messages import FrameArrived, PlayerEnded, PlayerSaid


class PlayPane(Widget):
    def __init__(self, run_path: Path, reason: str | None = None, **kw):
        """`reason`: why there is nothing to play (an attribution run); no helper starts then."""
        super().__init__(**kw)
        self.run_path = Path(run_path)
        self.note = reason or "starting the player…"
        self.proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._slot = None  # (pixels, title, caption): the newest frame, not drawn yet
        self._posted = False
        self._stopped = reason is not None
        self._frame = None  # the frame drawn
        self._frames = 0
        self._cache_key = None
        self._strips: list[Strip] = []
        self._styles: dict[tuple, Style] = {}
        self._lines: dict[tuple, Strip] = {}

    def on_mount(self) -> None:
        if not self._stopped:
            self.read_frames()

    def on_unmount(self) -> None:
        self.stop()

    @property
    def frames(self) -> int:
        """How many frames the pane has drawn."""
        return self._frames

    # --- the helper process (spawned and read in a worker thread) -------------------------
    @work(thread=True, group="play", name="play pane", exit_on_error=False)
    def read_frames(self) -> None:
        """Start the helper and pass on what it sends. It reads with a timeout, so that a cancel
        (the pane removed, the app quitting) ends it even while the helper is quiet."""
        import numpy as np
        from textual.worker import get_current_worker

        worker = get_current_worker()
        with self._lock:
            if self._stopped:
                return
            try:
                from lab.plugins import child_env, python_command

                self.proc = proc = subprocess.Popen(  # the dashboard's allowance for the modules a run names
                    python_command("lab.tui.player", str(self.run_path)), stdin=subprocess.DEVNULL, env=child_env(),
                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
            except OSError as e:
                self.post_message(PlayerSaid(f"cannot start the player: {e.strerror}"))
                return
        fd, buffer = proc.stdout.fileno(), bytearray()
        try:
            while not worker.is_cancelled:
                if not select.select([fd], [], [], 0.5)[0]:
                    continue
                chunk = os.read(fd, 1 << 17)
                if not chunk:
                    break
                buffer += chunk
                while (end := buffer.find(b"\n")) >= 0:  # whole messages: a JSON line, a frame's pixels after it
                    message = json.loads(buffer[:end])
                    if "frame" in message:
                        h, w = message["frame"]
                        if len(buffer) < end + 1 + h * w * 3:
                            break
                        pixels = np.frombuffer(bytes(buffer[end + 1:end + 1 + h * w * 3]), np.uint8).reshape(h, w, 3)
                        del buffer[:end + 1 + h * w * 3]
                        with self._lock:
                            self._slot = (pixels, message.get("title", ""), message.get("caption", ""))
                            post, self._posted = not self._posted, True
                        if post:
                            self.post_message(FrameArrived())
                    else:
                        del buffer[:end + 1]
                        if "note" in message:
                            self.post_message(PlayerSaid(str(message["note"])))
        except (OSError, ValueError):  # a pipe closed under us, or bytes that are not the protocol's
            pass
        if worker.is_cancelled:
            self.stop()
        code = proc.wait()
        proc.stdout.close()
        if not self._stopped:
            self.post_message(PlayerEnded(code))

    def stop(self) -> None:
        """Kill the helper (it keeps nothing worth saving). Its reader thread reaps it: waiting
        here held the event loop for seconds (p, escape, quit) while a nice-19 process on a busy
        machine got round to dying."""
        with self._lock:
            self._stopped = True
            proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.kill()

    # --- what the worker posts ------------------------------------------------------------
    def on_frame_arrived(self, _: FrameArrived) -> None:
        with self._lock:
            frame, self._slot, self._posted = self._slot, None, False
        if frame is None:
            return
        width, height = self.size
        before = self._strips if self._cache_key == (self._frames, "", width, height) else None
        self._frame, self.note = frame, ""
        self._frames += 1
        self._strips, self._cache_key = self._build(width, height), (self._frames, "", width, height)
        if before is None or len(before) != len(self._strips):
            self.refresh()
            return
        # only the lines that changed (the cart, the pole, the caption): the rest costs the compositor nothing
        changed = [y for y, (old, new) in enumerate(zip(before, self._strips)) if old is not new and old != new]
        regions: list[Region] = []
        for y in changed:  # runs of lines as one region each
            if regions and regions[-1].bottom == y:
                regions[-1] = Region(0, regions[-1].y, width, regions[-1].height + 1)
            else:
                regions.append(Region(0, y, width, 1))
        if regions:
            self.refresh(*regions)

    def on_player_said(self, message: PlayerSaid) -> None:
        self._frame, self.note = None, message.note
        self.refresh()

    def on_player_ended(self, message: PlayerEnded) -> None:
        """A note it left stays (why nothing can be drawn); else the pane says it ended."""
        if self._frame is not None or self.note.startswith("starting"):
            self._frame, self.note = None, f"the player ended (exit code {message.code})"
            self.refresh()

    # --- drawing --------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        width, height = self.size
        key = (self._frames, self.note, width, height)
        if key != self._cache_key:
            self._strips, self._cache_key = self._build(width, height), key
        return self._strips[y] if y < len(self._strips) else Strip.blank(width, self.rich_style)

    def _build(self, width: int, height: int) -> list[Strip]:
        base = self.rich_style
        if width <= 0 or height <= 0:
            return []
        if self._frame is None:
            dim = base + Style(dim=True)
            return [Strip([Segment(line, dim)]).adjust_cell_length(width, base)
                    for line in textwrap.wrap(self.note, width)[:height]]
        from lab.rl.play import UPPER_HALF
        from lab.tui.player import shrink

        pixels, title, caption = self._frame
        text_rows = 2 if height >= 6 else 0
        picture = shrink(pixels, width, max(height - text_rows, 1))
        rows, columns = picture.shape[0] // 2, picture.shape[1]
        left = (width - columns) // 2
        strips = [self._text(title, width, base + Style(bold=True))] if text_rows else []
        previous, self._lines = self._lines, {}  # the last frame's lines by their pixels: most stay as they were
        for y in range(0, 2 * rows, 2):
            cells = picture[y:y + 2].transpose(1, 0, 2).reshape(columns, 6)  # per cell: upper pixel, lower pixel
            key = (cells.tobytes(), width, base)
            strip = previous.get(key)
            if strip is None:
                strip = self._lines.get(key)  # (the same line twice in this frame: the sky)
            if strip is None:
                starts = [0, *((cells[1:] != cells[:-1]).any(axis=1).nonzero()[0] + 1).tolist()]
                segments = [Segment(" " * left, base)]
                for start, end in zip(starts, starts[1:] + [columns]):
                    segments.append(Segment(UPPER_HALF * (end - start), self._style(tuple(cells[start].tolist()))))
                strip = Strip(segments).adjust_cell_length(width, base)
            self._lines[key] = strip
            strips.append(strip)
        if text_rows:
            strips.append(self._text(caption, width, base + Style(dim=True)))
        return strips

    def _style(self, cell: tuple) -> Style:
        style = self._styles.get(cell)
        if style is None:
            if len(self._styles) > 4096:  # a bound: each frame reuses a few dozen colours
                self._styles.clear()
            r1, g1, b1, r2, g2, b2 = cell
            style = self._styles[cell] = Style(color=f"#{r1:02x}{g1:02x}{b1:02x}", bgcolor=f"#{r2:02x}{g2:02x}{b2:02x}")
        return style

    @staticmethod
    def _text(text: str, width: int, style: Style) -> Strip:
        if len(text) > width:
            text = text[:max(width - 1, 0)] + "…"
        return Strip([Segment(text, style)]).adjust_cell_length(width, style)
