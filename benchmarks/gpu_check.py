"""Explaining on a GPU: every built-in attribution experiment on CUDA against the CPU.

    .venv/bin/python benchmarks/gpu_check.py [--samples 10]

Needs a CUDA device (run it through the device tool where a session is lent one). For each
built-in attribution experiment, runs it with device=cuda and device=cpu on the same inputs
and prints, per method, both times per input and how far the attributions agree (Spearman per
input, averaged; training on the two devices can differ in the last bits, so the trained
models may differ slightly).
"""

import argparse
import json
import subprocess
import sys
import tempfile

import numpy as np

EXPERIMENTS = ["breast-cancer-attributions", "wine-linear-attributions", "digits-attributions", "cartpole-policy-attributions"]


def run(name: str, device: str, samples: int, runs_dir: str) -> dict:
    proc = subprocess.run([sys.executable, "-m", "lab", "run", name, "--device", device, "--set", f"explain.samples={samples}",
                           "--runs-dir", runs_dir, "--json"], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{name} on {device} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.splitlines()[-1])


def main() -> None:
    from scipy.stats import spearmanr

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=10)
    args = p.parse_args()
    import torch

    if not torch.cuda.is_available():
        sys.exit("gpu_check: torch sees no CUDA device")
    print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}\n")
    print("| experiment | method | cuda ms/input | cpu ms/input | Spearman(cuda, cpu) |")
    print("|---|---|---|---|---|")
    for name in EXPERIMENTS:
        root = tempfile.mkdtemp(prefix="lab-gpu-")
        gpu = run(name, "cuda", args.samples, root)
        cpu = run(name, "cpu", args.samples, root)
        assert gpu["device"] == "cuda", gpu["device"]
        with np.load(f"{root}/{gpu['id']}/artifacts/attributions.npz") as a, np.load(f"{root}/{cpu['id']}/artifacts/attributions.npz") as b:
            for method in gpu["results"]["methods"]:
                rho = np.mean([spearmanr(u.ravel(), v.ravel()).statistic for u, v in zip(a[method], b[method])])
                print(f"| {name} | {method} | {gpu['results']['seconds_per_sample'][method] * 1000:.2f} | "
                      f"{cpu['results']['seconds_per_sample'][method] * 1000:.2f} | {rho:.3f} |")


if __name__ == "__main__":
    main()
