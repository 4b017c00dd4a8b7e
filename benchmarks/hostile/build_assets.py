#!/usr/bin/env python3
"""Build the harness's large hostile files once under ROOT/assets ($LAB_REDTEAM_DIR, default
/tmp/redteam): these 2.5 GB; the cases add a 1.5 GB study.db and the checkpoint bombs they make
from the base runs (3.8 GiB in all). A case builds any asset it needs that is missing, so this
only moves the wait to the start.

    python3 benchmarks/hostile/build_assets.py            # every one below
    python3 benchmarks/hostile/build_assets.py NAME...    # only these (e.g. npz-bomb.npz, the one small one)
"""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import assets as A  # noqa: E402

ASSETS = {
    "huge-line-events.jsonl": A.huge_line_events,    # 315 MB
    "tiny-lines-events.jsonl": A.tiny_lines_events,  # 403 MB
    "many-evals.jsonl": A.many_evals_events,         # 300 MB
    "episodes-events.jsonl": A.episodes_events,      # 344 MB
    "summary-dicts.json": A.summary_dicts,           # 120 MB
    "summary-zeros.json": A.summary_zeros,           # 200 MB
    "summary-error-200mb.json": A.summary_error_200mb,  # 200 MB
    "comparison-dicts.json": A.comparison_dicts,     # 300 MB
    "sweep-worst.json": A.sweep_json_worst,          # 66 MB
    "big.toml": A.big_toml,                          # 200 MB
    "big.yml": A.big_yaml,                           # 60 MB
    "npz-bomb.npz": A.npz_bomb,                      # 6 MB
}

names = sys.argv[1:] or list(ASSETS)
unknown = [n for n in names if n not in ASSETS]
if unknown:
    sys.exit(f"build_assets: no asset {', '.join(unknown)}; the assets: {', '.join(ASSETS)}")
for name in names:
    t = time.time()
    A._build(name, ASSETS[name])
    print(name, round(time.time() - t, 1), flush=True)
