"""Sweep files: parse and validate them the way experiment files are.

A sweep file is TOML with `kind = "sweep"` and a [sweep] table (see `SweepSettings`); it lives
beside the experiments (built-in ones in experiments/). Everything that can be wrong with it is
found here, before any folder exists or any run starts, and reported as one `BadInput` line that
names the file and the key: an unknown key, a parameter the experiment does not have, a value
the experiment would refuse, a range with low > high, a metric the experiment's kind does not
produce, a grid over a range, a backend that cannot train these settings.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import tomllib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lab.errors import BadInput, did_you_mean, one_of

# results keys a sweep may optimise, per experiment kind (all numbers in summary.json's results)
METRICS = {
    "rl": ("final_eval_return_mean", "best_eval_return_mean", "rolling_return", "final_eval_return_min",
           "final_eval_return_std", "steps_per_second"),
    "attribution": ("test_accuracy", "test_macro_f1", "test_roc_auc", "best_val_loss", "random_deletion_auc"),
}
MAX_RUNS = 100_000  # settings x seeds of one sweep
MAX_SEEDS = 1000
MAX_CHOICES = 2_000  # choices listed in [sweep.params], all lists together
# metrics a pruner can compare with evaluation returns as they arrive (higher is better for both)
RETURN_METRICS = ("final_eval_return_mean", "best_eval_return_mean", "rolling_return", "final_eval_return_min")
# what a population reports per member, for the population backend
MEMBER_METRICS = ("final_eval_return_mean", "best_eval_return_mean")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class Range(_Strict):
    """A continuous (or integer) range to search: { low = 1e-4, high = 1e-2, log = true }."""

    low: float | int
    high: float | int
    log: bool = Field(False, description="sample on a log scale (low must be > 0)")
    int_: bool = Field(False, alias="int", description="whole numbers only")

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, populate_by_name=True)


class SweepSettings(_Strict):
    experiment: str = Field(description="an experiment name or .toml file: what every trial runs")
    seeds: list[int] = Field([0], min_length=1, max_length=MAX_SEEDS, description="seeds each setting runs with")
    metric: str = Field("final_eval_return_mean", description="a numeric key of the runs' results, averaged over seeds")
    direction: Literal["maximize", "minimize"] = Field("maximize", description="whether a higher or a lower metric is better")
    method: Literal["grid", "random", "tpe"] = Field("grid", description="grid: every combination of the choices; "
                                                     "random and tpe (Optuna's Bayesian search): `trials` settings")
    trials: int = Field(16, ge=1, le=10_000, description="settings to try (random and tpe)")
    workers: int = Field(2, ge=1, le=256, description="runs at a time (local and ray backends)")
    backend: Literal["local", "population", "ray"] = Field(
        "local", description="local: runs as child processes here; population: every trial x seed as one population "
                             "run on the torch engine; ray: Ray Tune trials, on a cluster or a Ray lab starts")
    pruner: Literal["none", "median", "asha"] = Field("none", description="stop trials whose evaluations fall behind "
                                                      "(median: Optuna's median rule; asha: successive halving)")
    address: str | None = Field(None, description="ray backend: the cluster to join (e.g. 127.0.0.1:6379); "
                                                  "without it lab starts a Ray of its own on the loopback")
    params: dict[str, list[Any] | Range] = Field(min_length=1, description="the settings to search: a list of choices "
                                                 "or a range { low, high, log, int }")


class SweepSpec(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)
    kind: Literal["sweep"] = "sweep"
    description: str = ""
    sweep: SweepSettings
    source: str = Field("<dict>", exclude=True)

    def to_toml(self) -> str:
        import tomli_w

        data = self.model_dump(mode="json", exclude_none=True, by_alias=True)
        return tomli_w.dumps(data)

    @property
    def s(self) -> SweepSettings:
        return self.sweep

    def grid_size(self) -> int:
        """How many combinations a grid has: the product of its lists' lengths (none is built)."""
        return math.prod(len(v) for v in self.sweep.params.values() if isinstance(v, list))

    def combination(self, i: int) -> dict[str, Any]:
        """The grid's i-th combination, in `grid`'s order (the last setting changes fastest)."""
        out = {}
        for key, values in reversed(self.sweep.params.items()):
            i, j = divmod(i, len(values))
            out[key] = values[j]
        return dict(reversed(out.items()))

    def grid(self) -> list[dict[str, Any]]:
        """Every combination of the choices, in file order (method grid; its size is checked
        when the file is loaded, so this list is never larger than a sweep may be)."""
        keys = list(self.sweep.params)
        return [dict(zip(keys, combo)) for combo in itertools.product(*(self.sweep.params[k] for k in keys))]

    def trial_count(self) -> int:
        return self.grid_size() if self.sweep.method == "grid" else self.sweep.trials


def _flatten(params: Any, prefix: str = "") -> Any:
    """[sweep.params] with dotted keys written bare (agent.gamma = [...] makes a nested table in
    TOML) -> {"agent.gamma": [...]}; a table with low/high is a range, not a level."""
    if not isinstance(params, dict):
        return params
    out = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and not ({"low", "high"} & set(value)):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


def load_sweep_raw(raw: dict, source: str, overridden: set[str] = frozenset()) -> SweepSpec:
    """A sweep table -> a validated SweepSpec, or BadInput naming the source and key.
    overridden: the keys `apply_overrides` set (as `override_key` writes them): a message about
    one of them says "(set by override)", as an experiment's does."""
    from lab import spec as experiment_spec

    def fail(msg: str):
        key = msg.split(":", 1)[0]
        note = " (set by override)" if any(key == o or key.startswith((o + ".", o + "[")) or o.startswith(key + ".")
                                          for o in overridden) else ""
        raise BadInput(f"{source}: {msg.replace(key + ':', key + note + ':', 1)}", key=key)

    raw = dict(raw)
    if isinstance(raw.get("sweep"), dict):
        raw["sweep"] = {**raw["sweep"], "params": _flatten(raw["sweep"].get("params", {}))}
    try:
        spec = SweepSpec.model_validate({**raw, "source": source})
    except ValidationError as e:
        err = experiment_spec._first(e.errors())
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p in ("list[any]", "Range")))
        if loc[:2] == ("sweep", "params") and len(loc) > 2 and isinstance(loc[2], str):
            loc = ("sweep", f'params."{loc[2]}"', *loc[3:])  # a parameter's dotted name is one key
        fail(experiment_spec._message({**err, "loc": loc}, SweepSpec))
    if "sweep.trials" in overridden and spec.sweep.method == "grid":  # (a file's trials on a grid is its default's twin)
        fail(f"sweep.trials: a grid runs every combination of its choices ({spec.grid_size():,} here), not a number of "
             "trials; give fewer choices (--set 'sweep.params.\"KEY\"=[...]'), or set sweep.method = \"random\" or \"tpe\"")
    _check(spec, fail)
    return spec


# ------------------------------------------------------------------------------ overrides: shaping a sweep

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _key_parts(key: str) -> list[str] | None:
    """A dotted TOML key as the file's own syntax reads it (bare or quoted parts), or None."""
    from lab.files import toml_data

    if not key.strip() or any(c in key for c in "\n\r="):
        return None
    try:
        data = toml_data(f"{key} = 0")
    except tomllib.TOMLDecodeError:
        return None
    parts = []
    while isinstance(data, dict) and len(data) == 1:
        (part, data), = data.items()
        parts.append(part)
    return parts if data == 0 else None


def override_key(key: str) -> str | None:
    """A sweep file's key as lab names it: sweep.trials; sweep.params."agent.gamma" (a parameter is
    one key, given quoted or as bare dotted parts, as in the file); None for what TOML cannot read."""
    parts = _key_parts(key)
    if not parts:
        return None
    if parts[:2] == ["sweep", "params"] and len(parts) > 2:
        return _param_key(".".join(parts[2:]))
    return ".".join(p if _BARE_KEY.fullmatch(p) else json.dumps(p) for p in parts)


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """`lab sweep --set` arguments -> {key: value}: ['sweep.trials=8', 'sweep.params."agent.gamma"=[0.9]']
    -> {'sweep.trials': 8, 'sweep.params."agent.gamma"': [0.9]} (values read as TOML, as `lab run --set`)."""
    from lab.spec import parse_value

    out: dict[str, Any] = {}
    for pair in pairs:
        text, sep, value = pair.partition("=")
        key = override_key(text) if sep else None
        if key is None:  # (the first '=' ends the key: a quoted part holding one is no key of a sweep)
            raise BadInput(f"--set {pair}: expected KEY=VALUE with a key of the sweep file, e.g. --set sweep.trials=8 "
                           "or --set 'sweep.params.\"agent.gamma\"=[0.9, 0.99]'")
        out[key] = parse_value(value.strip())
    return out


def apply_overrides(raw: dict, overrides: dict[str, Any], source: str) -> tuple[dict, set[str]]:
    """A sweep file's table with `overrides` set (a copy; [sweep.params] flattened first, so a
    parameter given either way replaces the file's) and the keys set, as `override_key` names them."""
    from lab import spec as experiment_spec
    from lab.display import inline_toml
    from lab.spec import parse_value

    raw = experiment_spec._deepcopy(raw)
    if isinstance(raw.get("sweep"), dict) and isinstance(raw["sweep"].get("params"), dict):
        raw["sweep"]["params"] = _flatten(raw["sweep"]["params"])
    keys = set()
    for given, value in overrides.items():
        key = override_key(given)
        if key is None:
            raise BadInput(f"{source}: override {given!r}: not a TOML key (e.g. sweep.trials, sweep.params.\"agent.gamma\")")
        keys.add(key)
        value = parse_value(value) if isinstance(value, str) else value
        parts = _key_parts(key)
        if parts[0] not in SweepSpec.model_fields or parts[0] == "source":
            allowed = ("description", "name", "sweep")
            hint = did_you_mean(parts[0], allowed) or (
                f"; to give every trial one {key}, make it one choice: --set 'sweep.params.\"{key}\"="
                f"[{inline_toml(value)}]'")
            raise BadInput(f"{source}: {key} (set by override): not a key of a sweep file (allowed: description, name, "
                           f"sweep.KEY){hint}", key=key)
        if parts[:2] == ["sweep", "params"] and len(parts) > 2:
            parts = ["sweep", "params", ".".join(parts[2:])]
        node = raw
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise BadInput(f"{source}: override {key}: '{'.'.join(parts[:i + 1])}' is a value, not a table", key=key)
            node = child
        node[parts[-1]] = value
    return raw, keys


def settings(raw: dict) -> list:
    """Every key of a sweep file's [sweep] table, then each of its parameters, as `lab.spec.Setting`s:
    what the dashboard's form and `lab list --params` show, and `--set` changes."""
    from lab.spec import _MISSING, Setting, _type_name

    table = raw.get("sweep") if isinstance(raw.get("sweep"), dict) else {}
    out = []
    for name, field in SweepSettings.model_fields.items():
        if name == "params":
            continue
        default = _MISSING if field.is_required() else field.get_default(call_default_factory=True)
        out.append(Setting(f"sweep.{name}", default, table.get(name, _MISSING), field.description or "",
                           _type_name(field.annotation)))
    params = _flatten(table["params"]) if isinstance(table.get("params"), dict) else {}
    for key, value in params.items():
        out.append(Setting(_param_key(key), _MISSING, value, f"the values of {key} to search: a list of choices, or a "
                           "range { low, high, log, int } (random and tpe)", "list | range"))
    return out


def _param_key(key: str) -> str:
    return f'sweep.params."{key}"'


def _check(spec: SweepSpec, fail) -> None:
    from lab import spec as experiment_spec
    from lab.files import read_toml

    s = spec.sweep
    if len(set(s.seeds)) != len(s.seeds) or any(seed < 0 for seed in s.seeds):
        fail(f"sweep.seeds: must be distinct seeds >= 0 (got {s.seeds})")
    choices = sum(len(v) for v in s.params.values() if isinstance(v, list))
    if choices > MAX_CHOICES:  # each is checked against the experiment below (a millisecond each)
        fail(f"sweep.params: {choices:,} choices in all, more than the {MAX_CHOICES:,} a sweep may list; narrow them "
             "(or give a range { low, high } with method = \"random\" or \"tpe\")")
    if spec.trial_count() * len(s.seeds) > MAX_RUNS:  # a product of lengths: counted before anything is built
        sizes = " x ".join(str(len(v)) for v in s.params.values() if isinstance(v, list)) if s.method == "grid" else ""
        fail(f"sweep: {spec.trial_count():,} settings{f' ({sizes} choices)' if sizes else ''} x {len(s.seeds)} seed(s) "
             f"is more than the {MAX_RUNS:,} runs lab will start; narrow it")
    try:
        path = experiment_spec.find_experiment(s.experiment)
    except BadInput as e:
        fail(f"sweep.experiment: {e}")
    try:
        raw = read_toml(path)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        fail(f"sweep.experiment: {path} cannot be read ({getattr(e, 'strerror', None) or e})")
    if raw.get("kind") == "sweep":
        fail(f"sweep.experiment: {s.experiment!r} is a sweep; give an experiment")
    try:
        base = experiment_spec.validate(raw, str(path))
    except BadInput as e:
        fail(f"sweep.experiment: {e}")
    kind = base.kind
    _try(raw, path, "seed", max(s.seeds), "sweep.seeds", fail)  # each run's seed is the experiment's to allow
    metrics = METRICS.get(kind, ())
    if s.metric not in metrics:
        fail(f"sweep.metric: {kind} runs do not produce {s.metric!r}{did_you_mean(s.metric, metrics)} "
             f"(allowed: {one_of(metrics)})")

    keys = {setting.key for setting in experiment_spec.settings(raw)}
    keys |= {f"agent.{k}" for k in (raw.get("agent") or {})}  # set in the file even when the schema is wider
    for key, values in s.params.items():
        where = _param_key(key)
        if key in ("seed", "name", "kind"):
            fail(f"{where}: cannot be swept" + (" (give the seeds in sweep.seeds)" if key == "seed" else ""))
        if key not in keys:
            fail(f"{where}: {s.experiment} has no setting {key!r}{did_you_mean(key, keys) or ''} "
                 "(`lab list --params " + s.experiment + "` lists them)")
        if isinstance(values, Range):
            if values.low > values.high:
                fail(f"{where}: low ({values.low:g}) is greater than high ({values.high:g}); swap them")
            if values.log and values.low <= 0:
                fail(f"{where}: a log range needs low > 0 (got {values.low:g})")
            if values.int_ and (values.low != int(values.low) or values.high != int(values.high)):
                fail(f"{where}: an int range needs whole low and high (got {values.low:g}, {values.high:g})")
            if s.method == "grid":
                fail(f"{where}: a grid needs a list of choices, not a range; give e.g. "
                     f"[{values.low:g}, {values.high:g}], or set sweep.method = \"random\" or \"tpe\"")
            probes = [int(values.low), int(values.high)] if values.int_ else [values.low, values.high]
        else:
            if not values:
                fail(f"{where}: no choices; give at least one value")
            probes = values
        for i, value in enumerate(probes):
            _try(raw, path, key, value, f"{where}" + (f"[{i}]" if not isinstance(values, Range) else
                                                       (".low" if i == 0 else ".high")), fail)

    if s.pruner != "none":
        if kind != "rl":
            fail(f"sweep.pruner: pruning reads evaluation returns, which {kind} runs do not have; set pruner = \"none\"")
        if s.metric not in RETURN_METRICS or s.direction != "maximize":
            fail(f"sweep.pruner: pruning compares evaluation returns (higher is better), so the metric must be one of "
                 f"{', '.join(RETURN_METRICS)} with direction = \"maximize\"; or set pruner = \"none\"")
    if s.backend == "population":
        _check_population(spec, base, fail)
    if s.address is not None and s.backend != "ray":
        fail(f"sweep.address: only the ray backend joins a cluster (backend is {s.backend!r}); remove address")


def _try(raw: dict, path, key: str, value: Any, where: str, fail) -> None:
    """The experiment accepts this value of the key (as `lab run --set` would)."""
    from lab import spec as experiment_spec

    trial = experiment_spec._deepcopy(raw)
    experiment_spec.apply_overrides(trial, {key: value}, str(path))
    try:
        experiment_spec.validate(trial, str(path), {key})
    except BadInput as e:
        msg = str(e).split(": ", 1)[1] if ": " in str(e) else str(e)
        reason = msg.split(":", 1)[1].strip() if ":" in msg else msg
        fail(f"{where}: {reason.replace(' (set by override)', '')}")


def _check_population(spec: SweepSpec, base, fail) -> None:
    s = spec.sweep
    if getattr(base, "engine", None) != "torch":
        fail(f"sweep.backend: the population backend trains on lab's torch engine, and {s.experiment} has "
             "engine = \"gymnasium\"; set backend = \"local\", or sweep a torch-engine experiment")
    settings = base.member_setting_names
    if not settings:
        fail(f"sweep.backend: '{base.algo.name}' on the torch engine trains one agent per run; set backend = \"local\"")
    for key, values in s.params.items():
        name = key.removeprefix("agent.")
        if isinstance(values, list) and len(values) == 1:
            continue  # one choice: the same for every member, set on the run as a whole
        if not key.startswith("agent.") or name not in settings:
            fail(f"{_param_key(key)}: a population's members cannot differ in {key} (they can in: "
                 f"{', '.join('agent.' + n for n in settings)}); set backend = \"local\"")
    if s.method == "tpe":
        fail("sweep.method: tpe chooses each setting from the results before it, and a population trains all at once; "
             "use \"grid\" or \"random\", or backend = \"local\"")
    if s.pruner != "none":
        fail("sweep.pruner: the population backend trains every member to the end; set pruner = \"none\"")
    if s.metric not in MEMBER_METRICS:
        fail(f"sweep.metric: a population reports {' and '.join(MEMBER_METRICS)} per member; use one of them")
    n = spec.trial_count() * len(s.seeds)
    if base.population != 1:
        fail(f"sweep.experiment: {s.experiment} is a population already (population = {base.population}); "
             "sweep a single-agent experiment")
    if n > 65_536:
        fail(f"sweep: {n} members (settings x seeds) is more than a population holds (65,536)")


def is_sweep_file(raw: dict) -> bool:
    return isinstance(raw, dict) and raw.get("kind") == "sweep"


def load_sweep(name_or_path, overrides: dict[str, Any] | None = None) -> SweepSpec:
    """A sweep by built-in name or file path (or the sweep.toml of a sweep folder), shaped by
    `overrides`: {"sweep.trials": 4, 'sweep.params."agent.gamma"': [0.9, 0.99]} (keys as in the
    file, `apply_overrides`; values may be strings as on the command line, read as TOML)."""
    from lab import spec as experiment_spec
    from lab.files import read_toml

    try:
        path = experiment_spec.find_experiment(name_or_path)
    except BadInput as e:
        if not str(e).startswith("unknown experiment"):
            raise
        sweeps = [n for n, p in experiment_spec.builtin_experiments().items() if 'kind = "sweep"' in p.read_text()]
        raise BadInput(f"unknown sweep '{name_or_path}'{did_you_mean(str(name_or_path), sweeps)} (built-in: "
                       f"{one_of(sweeps)}; or give a path to a sweep .toml file)") from None
    source = experiment_spec._display(path)
    try:
        raw = read_toml(path)
    except (OSError, UnicodeDecodeError) as e:
        raise BadInput(f"{source}: cannot read ({getattr(e, 'strerror', None) or e})") from None
    except tomllib.TOMLDecodeError as e:
        raise BadInput(f"{source}: TOML syntax error: {e}") from None
    if not is_sweep_file(raw):
        raise BadInput(f"{source}: is an experiment (kind {raw.get('kind', 'rl')!r}), not a sweep; "
                       f"`lab run {name_or_path}` runs it, and a sweep file has kind = \"sweep\"")
    overridden: set[str] = set()
    if overrides:
        raw, overridden = apply_overrides(raw, overrides, source)
    if experiment_spec.is_folder_file(path):  # a sweep folder's sweep.toml: what it names is data
        from lab.plugins import folder_data

        with folder_data():
            return load_sweep_raw(raw, source, overridden)
    return load_sweep_raw(raw, source, overridden)


def overrides_for(params: dict[str, Any]) -> list[str]:
    """A trial's settings as `lab run` arguments: ["--set", "agent.gamma=0.99", ...]."""
    from lab.display import inline_toml

    out = []
    for key, value in params.items():
        out += ["--set", f"{key}={inline_toml(value)}"]
    return out


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
