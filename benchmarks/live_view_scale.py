"""The dashboard's live view on a run of 1,000,000 episodes, in both event formats.

    .venv/bin/python benchmarks/live_view_scale.py [--episodes 1000000]

Writes the two long runs `benchmarks/store_scale.py` writes (the aggregated `episodes` format and
lab 0.1's one line per episode), opens each in the live view of a headless dashboard (Textual's
pilot, 160x48) and measures the time from asking for the view to the curves drawn, and the
longest the event loop was blocked meanwhile (a 10 ms ticker's largest gap).
"""

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from store_scale import write_long_runs  # noqa: E402


async def open_view(root: Path, path: Path) -> tuple[float, float]:
    from lab.tui.app import LabApp

    app = LabApp(root)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause(1.0)
        gaps, last, done = [], time.perf_counter(), False

        async def ticker():
            nonlocal last
            while not done:
                await asyncio.sleep(0.01)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        tick = asyncio.create_task(ticker())
        t0 = time.perf_counter()
        app.open_run(path)
        while not (getattr(app.screen, "ready", False) and app.screen.query_one("#return-plot")._series):
            await asyncio.sleep(0.005)
        seconds = time.perf_counter() - t0
        done = True
        await tick
    return seconds, max(gaps) if gaps else 0.0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--episodes", type=int, default=1_000_000)
    args = p.parse_args()
    root = Path(tempfile.mkdtemp(prefix="lab-live-")) / "runs"
    root.mkdir(parents=True)
    new, old = write_long_runs(root, args.episodes)
    rows = []
    for label, path, target in (("new (aggregated)", new, 0.5), ("per-episode (lab 0.1)", old, 2.0)):
        size = (path / "events.jsonl").stat().st_size / 2**20
        seconds, gap = asyncio.run(open_view(root, path))
        rows.append((label, size, seconds, gap, target))
    print(f"live view of a run of {args.episodes:,} episodes, headless dashboard 160x48\n")
    print("| format | events file | open to curves drawn | longest event-loop block | target |")
    print("|---|---|---|---|---|")
    for label, size, seconds, gap, target in rows:
        print(f"| {label} | {size:,.1f} MB | {seconds:.2f} s | {gap * 1000:.0f} ms | <= {target} s |")


if __name__ == "__main__":
    main()
