"""How a run is shown, for the CLI and the dashboard alike: durations, state colours, results,
and text from folders made printable."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from lab.summary import RunState

# What a terminal acts on instead of printing: C0 controls (ESC starts the sequences that set a
# title or clear a screen), DEL, C1 controls, and the marks that reorder or hide text
# (bidirectional overrides and isolates, line and paragraph separators).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_CONTROL_BUT_NEWLINE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
TEXT_LIMIT = 2000  # characters of one text (an id, a name, an error) shown before it is cut


def printable(text, limit: int | None = TEXT_LIMIT, newlines: bool = False) -> str:
    """Text that came from a folder (an id, a name, an error, a log line), safe to print: its
    control characters written out as escapes ('\\x1b'), newlines and tabs too unless `newlines`, so that
    nothing in a folder can set a terminal's title, clear its screen or fake a line; and cut to
    `limit` characters with a marker saying how much was left out. The dashboard passes it to
    Rich as Text, never as markup."""
    text, marker = _cut(str(text), limit)
    return (_CONTROL_BUT_NEWLINE if newlines else _CONTROL).sub(_escape, text) + marker


def cut(text: str, limit: int = TEXT_LIMIT) -> str:
    """`text` cut to `limit` characters, with a marker saying how many more there were."""
    return "".join(_cut(text, limit))


def _cut(text: str, limit: int | None) -> tuple[str, str]:
    if limit is None or len(text) <= limit:
        return text, ""
    return text[:limit], f" [... {len(text) - limit:,} more characters]"


def _escape(m: re.Match) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

# Rich styles; the CLI and the dashboard use the same ones.
STATE_STYLE = {RunState.COMPLETED: "green", RunState.RUNNING: "bold cyan", "starting": "cyan", RunState.FAILED: "bold red",
               RunState.CRASHED: "bold red", RunState.CORRUPT: "bold magenta", RunState.STOPPED: "yellow"}


def inline_toml(value) -> str:
    """A value as one line of TOML: 3e-4, true, "x", [64, 64], {is_slippery = false}."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {inline_toml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(inline_toml(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        import json

        return json.dumps(value)
    return repr(value) if isinstance(value, float) else str(value)


SIGNIFICANT = 4  # digits of a value lab shows (a sampled setting, a mean); a short fraction (typed, say) keeps 5


def short_value(value) -> str:
    """A setting's or a metric's value as the CLI and the dashboard both show it, short (a number
    in at most 12 characters): a float to 4 significant digits (0.000443, 9.241e-05, 123.5,
    -1.235e+04), its exponent always whole; a fraction whole where 5 say it exactly (0.99999: not a
    discount shown as 1); anything else as one line of TOML, its floats shortened alike ("relu",
    [64, 64], {lr = 0.000443}); '-' for None. Readers cut a column of these between values, never
    inside one."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "nan" if math.isnan(value) else "inf" if value > 0 else "-inf"
        exact = f"{value:.{SIGNIFICANT + 1}g}"
        return exact if abs(value) < 1 and float(exact) == value else f"{value:.{SIGNIFICANT}g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {short_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(short_value(v) for v in value) + "]"
    return inline_toml(value)


def plain_table(table) -> str:
    """A Rich Table as plain text, for a pipe or a file: its title on a line of its own, then its
    header and one line per row, columns aligned (right-aligned where the column is), every cell
    whole on its line: nothing wrapped, folded or cut at a guessed width, no line padded at its end."""
    from rich.cells import cell_len
    from rich.text import Text

    def plain(cell) -> str:
        text = cell.plain if isinstance(cell, Text) else Text.from_markup(cell).plain if isinstance(cell, str) else str(cell)
        return " ".join(text.splitlines())

    columns = table.columns
    header = [plain(c.header) for c in columns]
    rows = list(zip(*([plain(cell) for cell in c.cells] for c in columns))) if columns else []
    widths = [max([cell_len(h), *(cell_len(row[i]) for row in rows)]) for i, h in enumerate(header)]

    def line(cells) -> str:
        out = []
        for cell, width, column in zip(cells, widths, columns):
            pad = " " * (width - cell_len(cell))
            out.append(pad + cell if column.justify == "right" else cell + pad)
        return "  ".join(out).rstrip()

    lines = [plain(table.title)] if table.title else []
    if table.show_header:
        lines.append(line(header))
    lines += [line(row) for row in rows]
    return "\n".join(lines)


def run_labels(runs, sweeps: dict | None = None) -> dict[str, str]:
    """A short label for each run (id -> label), for legends, no two alike: a sweep's trial by its
    sweep's name, its trial's number and its seed ('tiny #2 s0'; `sweeps`: sweep id -> its record,
    as the caller has them), any other run by its experiment, seed and the random tail of its id
    ('cartpole-ppo s0 7f4e'). Where two would still read the same (two sweeps of one name), the
    id's tail is added, then the whole id. Printable: names come from folders."""
    from collections import Counter

    sweeps = sweeps or {}
    labels, tails = {}, {}
    for run in runs:
        s = run.summary
        tails[run.id] = run.id.rsplit("-", 1)[-1]
        seed = "" if s.seed is None else f" s{s.seed}"
        record = sweeps.get(s.sweep) if s.sweep else None
        trial = next((t for t in record.trials if run.id in t.runs), None) if record is not None else None
        if trial is not None and len(set(trial.runs)) == len(trial.runs):  # (a population's run is every trial's)
            labels[run.id] = f"{printable(record.name, limit=40)} #{trial.number}{seed}"
        else:
            labels[run.id] = f"{printable(s.experiment, limit=40)}{seed} {printable(tails[run.id], limit=20)}"
    for extra in (lambda rid: printable(tails[rid], limit=20), lambda rid: printable(rid, limit=200)):
        counts = Counter(labels.values())
        labels = {rid: f"{label} {extra(rid)}" if counts[label] > 1 and not label.endswith(" " + extra(rid)) else label
                  for rid, label in labels.items()}
    return labels


def duration(seconds: float | None) -> str:
    """0:42, 12:05, 3h07; '-' when unknown."""
    if seconds is None:
        return "-"
    s = int(seconds)
    return f"{s // 60}:{s % 60:02d}" if s < 3600 else f"{s // 3600}h{s % 3600 // 60:02d}"


def started_text(started) -> str:
    """When a run (a sweep, a launch) started, in local time: '2026-11-23 00:03'; '-' when unknown."""
    if not isinstance(started, (int, float)) or isinstance(started, bool) or not 0 < started < 1e11:
        return "-"
    import time

    return time.strftime("%Y-%m-%d %H:%M", time.localtime(started))


@dataclass(frozen=True)
class ShownProgress:
    """How far a run is, as every view says it (`shown_progress`)."""

    fraction: float | None  # 0..1 of the run, or of its current phase; None: not known
    phase: str = ""  # what the fraction is of, for a job of phases ('compare'); '' for the whole run
    method: str = ""  # what the phase works on ('shap_kernel')
    early: str = ""  # why a run that completed before its total did: 'ended early: target return reached'

    @property
    def percent(self) -> str:
        return "-" if self.fraction is None else f"{self.fraction:.0%}"

    @property
    def label(self) -> str:
        """The phase and what it works on: 'compare shap_kernel' ('' for a run of one part)."""
        return f"{self.phase} {self.method}".strip()


def shown_progress(state: str, progress) -> ShownProgress:
    """A run's progress, the one rule for the runs table, the live view, `lab runs`/`lab show`:
    `progress` is its summary's (`Progress`) or its newest progress event (what the live view
    has, a second fresher). While it runs, and where it stopped, failed or crashed: the fraction
    of the run, or of the phase it is in; a completed run is complete (100%), and one that ended
    before its total (RL training stops at its target return) says so."""
    def get(key):
        value = progress.get(key) if isinstance(progress, dict) else getattr(progress, key, None)
        return None if isinstance(value, bool) else value

    step, total, fraction = get("step"), get("total"), get("fraction")
    step = step if isinstance(step, int) and step >= 0 else None
    total = total if isinstance(total, int) and total > 0 else None
    if not isinstance(fraction, (int, float)) or not 0 <= fraction <= 1:
        fraction = min(step / total, 1.0) if step is not None and total else None
    phase, method = (printable(v, limit=60) if isinstance(v, str) else "" for v in (get("phase"), get("method")))
    if state == RunState.COMPLETED:
        early = ""
        if not phase and step is not None and total and step < total:
            early = "ended early: target return reached"
        return ShownProgress(1.0, early=early)
    return ShownProgress(fraction, phase, method)


def result_text(summary) -> str:
    """A run's headline result: test accuracy or most faithful method for attribution runs; the
    final evaluation for RL runs, else (marked *) the best evaluation or the rolling return so far."""
    r = summary.results
    if summary.kind == "attribution":
        if r.test_accuracy is not None:
            return f"acc {r.test_accuracy:.3f}"
        return r.most_faithful_method or "-"
    for key in ("final_eval_return_mean", "best_eval_return_mean", "rolling_return"):
        value = getattr(r, key)
        if value is not None:
            return f"{value:.1f}" + ("" if key == "final_eval_return_mean" else "*")
    return "-"


def number(value, fmt: str = ".2f") -> str:
    return "-" if value is None else format(value, fmt)


_FRAGILITY_COLUMNS = (("attack top-k", 13), ("spearman", 10), ("random top-k", 14), ("spearman", 10), ("sens. max", 11),
                      ("sparsity", 10), ("deletion", 10))


def robustness_lines(report: dict) -> list[str]:
    """artifacts/robustness.json as text tables, for `lab show` and the dashboard: accuracy (or
    a policy's return) per attack and epsilon, then per model the smallest flips and the
    fragility of each method's attributions."""
    eps = report.get("epsilons", [])
    unit = report.get("unit", "")
    head = "  ".join(f"{e:>6g}" for e in eps)
    lines = []
    policy = report.get("policy")
    if policy:
        lines.append(f"return of the policy of run {policy.get('run')} under attack ({policy.get('episodes')} episodes per point), "
                     f"epsilon in {unit}")
        lines.append(f"  {'attack':<22}{head}")
        for attack, rows in policy.get("attacks", {}).items():
            lines.append(f"  {attack:<22}" + "  ".join(f"{r['return_mean']:>6.1f}" for r in rows))
    for name, m in report.get("models", {}).items():
        if "attacks" in m:
            lines.append(f"{name} model: accuracy under attack on {report.get('samples')} test inputs (clean {m['clean_accuracy']:.3f}), "
                         f"epsilon in {unit}")
            lines.append(f"  {'attack':<22}{head}")
            for attack, rows in m["attacks"].items():
                lines.append(f"  {attack.replace('_', ' '):<22}" + "  ".join(f"{r['accuracy']:>6.3f}" for r in rows))
            for defense, d in m.get("defenses", {}).items():
                for attack, rows in d["attacks"].items():
                    lines.append(f"  {f'{defense} + {attack}':<22}" + "  ".join(f"{r['accuracy']:>6.3f}" for r in rows))
        flips = [f["epsilon"] for f in m.get("min_perturbation", []) if f.get("epsilon") is not None]
        if m.get("min_perturbation"):
            median = sorted(flips)[len(flips) // 2] if flips else None
            lines.append(f"  smallest {report.get('flip_attack')} epsilon flipping the prediction: {len(flips)} of "
                         f"{len(m['min_perturbation'])} explained inputs" + (f", median {median:.3g}" if median is not None else ""))
        if m.get("fragility"):
            lines.append(f"  fragility of attributions (x vs x + delta, prediction kept; top-{m.get('fragility_top_k')} intersection "
                         f"and Spearman; delta median size {m.get('fragility_radius_median')}):")
            lines.append(f"    {'method':<22}" + "".join(f"{title:>{w}}" for title, w in _FRAGILITY_COLUMNS))
            for method, f in m["fragility"].items():
                cells = [f.get("adversarial_top_k_intersection"), f.get("adversarial_spearman"), f.get("random_top_k_intersection"),
                         f.get("random_spearman"), f.get("sensitivity_max"), m.get("sparsity", {}).get(method),
                         m.get("deletion_auc", {}).get(method)]
                lines.append(f"    {method:<22}" + "".join(f"{number(v, '.3g'):>{w}}" for v, (_, w) in zip(cells, _FRAGILITY_COLUMNS)))
    agreement = report.get("attribution_agreement")
    if agreement:
        lines.append("plain vs hardened attributions of the same inputs (Spearman): "
                     + ", ".join(f"{k} {number(v, '.2f')}" for k, v in agreement.items()))
    return lines


def robustness_curves(report: dict) -> tuple[str, list[tuple[str, list[float], list[float]]]]:
    """(y label, [(name, epsilons, values)]) of a robustness.json: a policy's mean return per
    attack, else each model's accuracy per untargeted attack; for charts."""
    policy = report.get("policy")
    if policy:
        return "return", [(a, [r["epsilon"] for r in rows], [r["return_mean"] for r in rows])
                          for a, rows in policy.get("attacks", {}).items()]
    out = []
    for name, m in report.get("models", {}).items():
        for attack, rows in m.get("attacks", {}).items():
            if not attack.endswith("_targeted"):
                out.append((f"{name} {attack}", [r["epsilon"] for r in rows], [r["accuracy"] for r in rows]))
    return "accuracy", out
