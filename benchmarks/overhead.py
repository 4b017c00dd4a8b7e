"""lab's overhead: `lab run cartpole-ppo` against the same SB3 training as a plain script.

    .venv/bin/python benchmarks/overhead.py [--repeats 3]

Runs the commands in turn (one at a time, 1 torch thread each), times each whole process
from start to exit, and prints a table with the median ratio. The plain script
(benchmarks/plain_sb3_ppo.py) has the same hyperparameters, evaluation schedule and final
evaluation as the built-in experiment; the same script with --no-eval (training alone) is
the floor that shows what evaluation costs.
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    runs = tempfile.mkdtemp(prefix="lab-overhead-")
    lab_cmd = [sys.executable, "-m", "lab", "run", "cartpole-ppo", "--runs-dir", runs]
    plain_cmd = [sys.executable, str(HERE / "plain_sb3_ppo.py")]
    floor_cmd = plain_cmd + ["--no-eval"]
    lab_times, plain_times, floor_times = [], [], []
    for i in range(args.repeats):
        plain_times.append(timed(plain_cmd))
        lab_times.append(timed(lab_cmd))
        floor_times.append(timed(floor_cmd))
        print(f"repeat {i + 1}: plain SB3 {plain_times[-1]:.1f} s, lab run {lab_times[-1]:.1f} s, "
              f"training alone {floor_times[-1]:.1f} s", file=sys.stderr)
    plain, lab, floor = (statistics.median(t) for t in (plain_times, lab_times, floor_times))
    print("| command | wall times (s) | median (s) |")
    print("|---|---|---|")
    print(f"| plain SB3 script with EvalCallback (benchmarks/plain_sb3_ppo.py) | {', '.join(f'{t:.1f}' for t in plain_times)} | {plain:.1f} |")
    print(f"| `lab run cartpole-ppo` | {', '.join(f'{t:.1f}' for t in lab_times)} | {lab:.1f} |")
    print(f"| floor: plain SB3 `model.learn` alone, no evaluation (`--no-eval`) | {', '.join(f'{t:.1f}' for t in floor_times)} | {floor:.1f} |")
    print(f"\nlab overhead against the same training and evaluation as a plain script: {100 * (lab / plain - 1):+.1f}%"
          f" (median lab / median plain - 1); lab against training alone: {100 * (lab / floor - 1):+.1f}%")


if __name__ == "__main__":
    main()
