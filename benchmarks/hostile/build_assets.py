import sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
import assets as A
from pathlib import Path
B = Path("/tmp/redteam/base/runs")
def f(name, fn):
    t = time.time(); A._build(name, fn); print(name, round(time.time()-t,1), flush=True)
f("huge-line-events.jsonl", A.huge_line_events)
f("tiny-lines-events.jsonl", A.tiny_lines_events)
f("many-evals.jsonl", A.many_evals_events)
f("episodes-events.jsonl", A.episodes_events)
f("summary-dicts.json", A.summary_dicts)
f("summary-zeros.json", A.summary_zeros)
f("summary-error-200mb.json", A.summary_error_200mb)
f("comparison-dicts.json", A.comparison_dicts)
f("sweep-worst.json", A.sweep_json_worst)
f("big.toml", A.big_toml)
f("big.yml", A.big_yaml)
f("npz-bomb.npz", A.npz_bomb)
