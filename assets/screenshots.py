"""Take the README's screenshots from the real dashboard, on real run folders.

    .venv/bin/python assets/screenshots.py --runs-dir runs

Needs a completed RL run and a completed digits-attributions run in the runs root (for example
`lab run cartpole-ppo` and `lab run digits-attributions`). Writes SVG files beside this script.
"""

import argparse
import asyncio
from pathlib import Path

from lab.store import list_runs
from lab.tui.app import LabApp

HERE = Path(__file__).resolve().parent


async def main(runs_dir: str) -> None:
    runs = [r for r in list_runs(runs_dir) if r.state == "completed"]
    rl = next(r for r in reversed(runs) if r.experiment == "cartpole-ppo")
    digits = next(r for r in reversed(runs) if r.experiment == "digits-attributions")
    app = LabApp(runs_dir)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause(1.0)
        app.save_screenshot("home.svg", str(HERE))
        app.open_run(rl.path)
        await pilot.pause(1.0)
        app.save_screenshot("live-view.svg", str(HERE))
        app.pop_screen()
        from lab.tui.screens.attribution import Attributions, AttributionScreen

        app.push_screen(AttributionScreen(Attributions.read(digits.path)))
        await pilot.pause(1.0)
        app.save_screenshot("attributions.svg", str(HERE))
    print("wrote", ", ".join(str(HERE / n) for n in ("home.svg", "live-view.svg", "attributions.svg")))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs-dir", default="runs")
    asyncio.run(main(p.parse_args().runs_dir))
