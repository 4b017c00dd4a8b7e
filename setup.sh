#!/usr/bin/env bash
# Sets up lab in .venv: torch first (a CPU build where there is no GPU), then lab and its tests' needs.
#   LAB_VENV=DIR      where the virtual environment goes (default .venv)
#   LAB_EXTRAS=LIST   extras to install (default dev,ray: the tests' needs and Ray for sweeps; with
#                     dev, rl_zoo3 too, without its dependencies: the tests read its hyperparameter files)
#   LAB_TORCH=SPEC    the torch requirement to install first (default: torch==2.13.0 without a GPU,
#                     plain torch with one, which takes a CUDA build from PyPI)
set -euo pipefail
cd "$(dirname "$0")"
venv=${LAB_VENV:-.venv}
python=${PYTHON:-python3}
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "setup.sh: lab needs Python >= 3.11 ($python is older); set PYTHON=python3.11" >&2; exit 2; }
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
has_torch() { "$venv/bin/python" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("torch") is None)'; }
if ! has_torch; then
  if [ -z "${LAB_TORCH:-}" ]; then
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then LAB_TORCH=torch; else LAB_TORCH=torch==2.13.0; fi
  fi
  echo "setup.sh: installing $LAB_TORCH into $venv" >&2
  "${pip[@]}" install "$LAB_TORCH" 2>&1 | grep -v "^WARNING: Location" >&2 || true
  has_torch || { echo "setup.sh: torch did not install" >&2; exit 1; }
fi
extras=${LAB_EXTRAS:-dev,ray}
echo "setup.sh: installing lab (editable, extras $extras) into $venv" >&2
"${pip[@]}" install -e ".[$extras]" 2>&1 | grep -v "^WARNING: Location" >&2 || true
if [[ ",$extras," == *",dev,"* ]]; then
  # the tests read RL Zoo's own hyperparameter files: rl_zoo3 alone (lab never imports it, and its
  # dependencies would downgrade pillow)
  "${pip[@]}" install --no-deps "rl_zoo3==2.9.2" 2>&1 | grep -v "^WARNING: Location" >&2 || true
fi
"$venv/bin/python" -c 'import lab, stable_baselines3, gymnasium' || { echo "setup.sh: lab did not install" >&2; exit 1; }
