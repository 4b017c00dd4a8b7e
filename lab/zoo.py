"""RL Zoo hyperparameter files -> lab experiment files (`lab import rl-zoo FILE.yml ENV_ID`).

An RL Zoo file (rl_zoo3's `hyperparams/<algo>.yml`) is a table of entries, one per environment
id, of SB3's keyword arguments plus RL Zoo's own keys (n_timesteps, n_envs, normalize,
policy_kwargs as a Python expression string, env_wrapper, frame_stack, ...). Each key becomes
the lab setting that does the same thing, or the import is refused naming the key: nothing
is dropped silently. `policy_kwargs` and `normalize` strings are read with `ast` as literals
(dict(...) calls, nn.ReLU-style names as names), never evaluated.
"""

from __future__ import annotations

import ast
import math
import re
from pathlib import Path
from typing import Any

from lab.errors import BadInput, did_you_mean, one_of

# RL Zoo keys lab has no counterpart for, and why (a key absent here and from the algorithm's
# schema is refused as an unknown setting)
_UNSUPPORTED = {
    "env_wrapper": "lab steps environments without extra Gymnasium wrappers (it converts "
                   "gymnasium.wrappers.TimeLimit into env.max_episode_steps)",
    "vec_env_wrapper": "lab steps environments without extra VecEnv wrappers",
    "frame_stack": "lab does not stack frames (VecFrameStack)",
    "callback": "lab trains with its own callbacks",
    "monitor_kwargs": "lab's Monitor takes no arguments",
    "replay_buffer_class": "lab uses SB3's default replay buffer",
    "replay_buffer_kwargs": "lab uses SB3's default replay buffer",
    "optimize_memory_usage": "lab uses SB3's default replay buffer",
}
_NORMALIZE_KEYS = ("norm_obs", "norm_reward", "clip_obs", "clip_reward", "epsilon")
_ACTIVATIONS = {"ReLU": "relu", "Tanh": "tanh"}  # torch.nn class -> lab's agent.activation
_POLICY_ARGUMENTS = ("log_std_init", "ortho_init")  # policy_kwargs lab's schemas have under the same name
_TIME_LIMITS = ("gymnasium.wrappers.TimeLimit", "gymnasium.wrappers.time_limit.TimeLimit")
_SCHEDULE = re.compile(r"^lin_")
EVALUATIONS = 10  # periodic evaluations over a run (eval.every = n_timesteps / this)


class _Name(str):
    """A name in a policy_kwargs expression (nn.ReLU): kept as its dotted text, never looked up."""


def hyperparams_dir() -> Path | None:
    """rl_zoo3's hyperparams folder, found without importing rl_zoo3 (its import pulls in
    sb3_contrib, Hugging Face and more); None when rl_zoo3 is not installed."""
    import importlib.util

    found = importlib.util.find_spec("rl_zoo3")
    if found is None or not found.submodule_search_locations:
        return None
    folder = Path(list(found.submodule_search_locations)[0]) / "hyperparams"
    return folder if folder.is_dir() else None


def zoo_algos() -> list[str]:
    """The algorithms lab runs through SB3, and so can import from RL Zoo."""
    from lab.rl.algos import ALGOS

    return [name for name, a in ALGOS.items() if a.sb3_class]


def _resolve_file(file: str) -> tuple[Path, str]:
    """(path, where it came from for the description): the file as given, else, for a bare
    name like ppo.yml, the one in the installed rl_zoo3."""
    path = Path(file)
    if path.is_file():
        return path, str(file)
    folder = hyperparams_dir()
    if path.parent == Path(".") and folder is not None and (folder / path.name).is_file():
        return folder / path.name, f"rl_zoo3 {_zoo_version()} hyperparams/{path.name}"
    where = f" (nor in rl_zoo3's hyperparams folder: {', '.join(sorted(p.name for p in folder.glob('*.yml')))})" \
        if folder is not None and path.parent == Path(".") else ""
    raise BadInput(f"{file}: no such file{where}")


def _zoo_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rl_zoo3")
    except PackageNotFoundError:
        return "?"


# RL Zoo's files are about 12 KB and expand (merge keys, aliases) to a few thousand values
MAX_YAML_BYTES = 1 << 20
MAX_YAML_VALUES = 100_000


def _read_entries(path: Path, shown: str) -> dict:
    try:
        import yaml
    except ImportError:
        raise BadInput(f"{shown}: reading RL Zoo files needs PyYAML; pip install pyyaml") from None
    from lab.files import read_regular

    try:
        raw = read_regular(path, limit=MAX_YAML_BYTES)
        if len(raw) > MAX_YAML_BYTES:
            raise BadInput(f"{shown}: larger than {MAX_YAML_BYTES >> 20} MiB; RL Zoo hyperparameter files are a few KB")
        data = _load_yaml(raw.decode("utf-8"), shown)
    except (OSError, UnicodeDecodeError) as e:
        raise BadInput(f"{shown}: cannot read ({getattr(e, 'strerror', None) or e})") from None
    except yaml.YAMLError as e:
        raise BadInput(f"{shown}: not valid YAML ({' '.join(str(e).split())})") from None
    except RecursionError:
        raise BadInput(f"{shown}: nested too deeply to be an RL Zoo hyperparameter file") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise BadInput(f"{shown}: not an RL Zoo hyperparameter file (a table of environment ids, each a table of settings)")
    return data


def _load_yaml(text: str, shown: str):
    """The YAML document, its size counted before it is built: aliases and merge keys (which RL
    Zoo uses) can make a small file stand for billions of values ("billion laughs"), so the
    composed nodes are counted as they would expand, and a file over MAX_YAML_VALUES, or one
    whose aliases refer to themselves, is refused before any Python object is made."""
    import yaml

    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()  # nodes only: an alias is the node it names, not a copy
        if node is None:
            return None
        values = _expanded_size(node)
        if values > MAX_YAML_VALUES:
            raise BadInput(f"{shown}: its aliases expand to more than {MAX_YAML_VALUES:,} values; an RL Zoo "
                           "hyperparameter file has a few thousand")
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _expanded_size(root) -> int:
    """How many values a YAML node graph stands for once every alias is expanded (a node
    reached through n aliases counts n times), in one pass over the distinct nodes; a node
    that contains itself counts as too many."""
    import yaml

    def children(node):
        if isinstance(node, yaml.SequenceNode):
            return node.value
        if isinstance(node, yaml.MappingNode):
            return [n for pair in node.value for n in pair]
        return []

    size: dict[int, int] = {}
    open_: set[int] = set()
    stack = [(root, False)]
    while stack:  # depth first, without recursion: a node's size once its children's are known
        node, done = stack.pop()
        key = id(node)
        if done:
            open_.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in children(node))
            continue
        if key in size:
            continue
        if key in open_:
            return MAX_YAML_VALUES + 1  # an alias to a node that holds it: endless
        open_.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children(node) if id(c) not in size)
    return size[id(root)]


def _algo_for(file: str, algo: str | None) -> str:
    algos = zoo_algos()
    if algo is not None:
        if algo not in algos:
            raise BadInput(f"--algo {algo}: lab imports RL Zoo entries of {', '.join(algos)}{did_you_mean(algo, algos)}")
        return algo
    stem = Path(file).stem
    if stem not in algos:
        raise BadInput(f"{file}: cannot tell the algorithm from the file name '{stem}' (lab imports RL Zoo entries of "
                       f"{', '.join(algos)}); pass --algo")
    return stem


def _literal(node: ast.AST) -> Any:
    """A literal of a policy_kwargs/normalize expression: numbers, strings, booleans, None,
    lists, tuples, {...} and dict(...) tables, and names (as _Name). Anything else: ValueError."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _literal(node.operand)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_literal(e) for e in node.elts]
    if isinstance(node, ast.Dict) and all(isinstance(k, ast.Constant) and isinstance(k.value, str) for k in node.keys):
        return {k.value: _literal(v) for k, v in zip(node.keys, node.values)}
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict" and not node.args \
            and all(k.arg for k in node.keywords):
        return {k.arg: _literal(k.value) for k in node.keywords}
    if isinstance(node, (ast.Name, ast.Attribute)):
        return _Name(ast.unparse(node))
    raise ValueError(f"'{ast.unparse(node)}' is not a literal lab reads")


def parse_expression(text: str) -> Any:
    """RL Zoo's Python-expression strings ("dict(net_arch=[256, 256])"), read as literals."""
    try:
        return _literal(ast.parse(text.strip(), mode="eval").body)
    except SyntaxError as e:
        raise ValueError(f"not a Python expression ({e.msg})") from None
    except RecursionError:
        raise ValueError("nested too deeply") from None


class _Entry:
    """One RL Zoo entry being converted; `refuse` ends the import with one line naming the setting."""

    def __init__(self, shown: str, env_id: str, algo: str):
        from lab.rl.algos import ALGOS

        self.shown, self.env_id, self.algo = shown, env_id, algo
        self.schema = ALGOS[algo].params
        self.fields = [k for k in self.schema.model_fields if k not in ("algo", "total_steps")]
        self.env: dict[str, Any] = {"id": env_id}
        self.agent: dict[str, Any] = {"algo": algo}
        self._normalize_gamma = None  # a normalize table's own gamma, if it gives one

    def refuse(self, key: str, value: Any, why: str):
        shown = value if isinstance(value, str) and len(value) <= 80 else repr(value)[:80]
        raise BadInput(f"{self.shown}: {self.env_id}: {key} = {shown}: {why}", key=key)

    def not_a_setting(self, key: str, value: Any, where: str = ""):
        from lab.rl.algos import ALGOS

        name = key.rsplit(".", 1)[-1]
        others = [a for a in zoo_algos() if a != self.algo and name in ALGOS[a].params.model_fields]
        having = f" ({', '.join(others)} {'has' if len(others) == 1 else 'have'} it)" if others else ""
        self.refuse(key, value, f"lab's {self.algo} has no setting '{name}'{where}{having}; "
                                f"lab's {self.algo} settings: {one_of(self.fields, 40)}")

    def set_agent(self, key: str, value: Any, zoo_key: str | None = None) -> None:
        if key not in self.fields:
            self.not_a_setting(zoo_key or key, value)
        field = self.schema.model_fields[key]
        if isinstance(value, float) and value.is_integer() and field.annotation is int:
            value = int(value)  # YAML's !!float 1e6 for a count
        self.agent[key] = value

    # --- RL Zoo's own keys ----------------------------------------------------------------
    def total_steps(self, value) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0 \
                or value != int(value):
            hint = f" (YAML reads {value} as text; RL Zoo writes !!float {value})" if isinstance(value, str) else ""
            self.refuse("n_timesteps", value, "must be a positive whole number" + hint)
        self.agent["total_steps"] = int(value)

    def n_envs(self, value) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.refuse("n_envs", value, "must be a whole number")
        self.env["n_envs"] = value

    def policy(self, value) -> None:
        if value != "MlpPolicy":
            self.refuse("policy", value, "lab builds MlpPolicy networks only (image and dict observations: not yet)")

    def env_kwargs(self, value) -> None:
        if not isinstance(value, dict):
            self.refuse("env_kwargs", value, "must be a table of gymnasium.make arguments")
        self.env["kwargs"] = value

    def env_wrapper(self, value) -> None:
        """RL Zoo's wrapper list: 'module.Class' or {'module.Class': {kwargs}} each. A time limit is
        env.max_episode_steps; any other wrapper is refused by name."""
        for wrapper in value if isinstance(value, list) else [value]:
            name, kwargs = next(iter(wrapper.items())) if isinstance(wrapper, dict) and len(wrapper) == 1 else (wrapper, {})
            if name in _TIME_LIMITS and isinstance(kwargs, dict) and list(kwargs) == ["max_episode_steps"]:
                self.env["max_episode_steps"] = kwargs["max_episode_steps"]
            else:
                self.refuse("env_wrapper", name, _UNSUPPORTED["env_wrapper"])

    def train_freq(self, value) -> None:
        if isinstance(value, list) and len(value) == 2 and value[1] == "step":
            value = value[0]
        if isinstance(value, list):
            self.refuse("train_freq", value, "lab's train_freq counts steps (a number); per-episode updates are not supported")
        self.set_agent("train_freq", value)

    def schedule(self, key: str, value) -> None:
        if isinstance(value, str) and not _SCHEDULE.match(value):
            self.refuse(key, value, "lab's schedules are linear, 'lin_<start>' (or a number)")
        self.set_agent(key, value)

    def normalize(self, value) -> None:
        if value is False or value is None:
            return
        kwargs: Any = {}
        if isinstance(value, str):
            try:
                kwargs = parse_expression(value)
            except ValueError as e:
                self.refuse("normalize", value, str(e))
        elif isinstance(value, dict):
            kwargs = value
        elif value is not True:
            self.refuse("normalize", value, "must be true, false or a table of VecNormalize's arguments")
        if not isinstance(kwargs, dict):
            self.refuse("normalize", value, "must be true, false or a table of VecNormalize's arguments")
        table = {"norm_obs": True, "norm_reward": True}
        for key, v in kwargs.items():
            if key == "gamma":
                continue  # RL Zoo replaces it by the algorithm's gamma when the entry has one; checked below
            if key not in _NORMALIZE_KEYS:
                self.refuse(f"normalize.{key}", v, f"lab's env.normalize takes {', '.join(_NORMALIZE_KEYS)} "
                                                   "(its gamma is the agent's)")
            table[key] = v
        self.env["normalize"] = table
        self._normalize_gamma = kwargs.get("gamma")

    def policy_kwargs(self, value) -> None:
        try:
            kwargs = parse_expression(value) if isinstance(value, str) else value
        except ValueError as e:
            self.refuse("policy_kwargs", value, str(e))
        if not isinstance(kwargs, dict):
            self.refuse("policy_kwargs", value, "must be a dict(...) of policy arguments")
        for key, v in kwargs.items():
            where = f"policy_kwargs.{key}"
            if key == "net_arch":
                self.set_agent("net_arch", self._net_arch(where, v), where)
            elif key == "activation_fn":
                name = str(v).rsplit(".", 1)[-1] if isinstance(v, _Name) else None
                if name not in _ACTIVATIONS:
                    self.refuse(where, v, f"lab's activations are {', '.join('nn.' + a for a in _ACTIVATIONS)}")
                self.set_agent("activation", _ACTIVATIONS[name], where)
            elif key in _POLICY_ARGUMENTS:
                self.set_agent(key, v, where)
            else:
                known = ", ".join(("net_arch", "activation_fn", *_POLICY_ARGUMENTS))
                self.not_a_setting(where, v, f" among its policy arguments ({known})")

    def _net_arch(self, where: str, value):
        if isinstance(value, dict):
            # dict(pi=[...], vf=[...]) (or qf=): lab builds the same hidden layers for the actor and the critic
            layers = list(value.values())
            if set(value) - {"pi", "vf", "qf"} or not layers or any(x != layers[0] for x in layers):
                self.refuse(where, value, "lab's net_arch is one list of layer sizes for the actor and the critic "
                                          "alike (different pi and vf/qf layers are not supported)")
            value = layers[0]
        if not isinstance(value, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in value):
            self.refuse(where, value, "must be a list of layer sizes like [256, 256]")
        return value

    def convert(self, entry: dict) -> None:
        special = {"n_timesteps": self.total_steps, "n_envs": self.n_envs, "policy": self.policy, "env_wrapper": self.env_wrapper,
                   "env_kwargs": self.env_kwargs, "train_freq": self.train_freq, "normalize": self.normalize,
                   "policy_kwargs": self.policy_kwargs}
        for key, value in entry.items():
            if key in special:
                special[key](value)
            elif key in _UNSUPPORTED:
                self.refuse(key, value, _UNSUPPORTED[key])
            elif key in ("learning_rate", "clip_range", "clip_range_vf"):
                self.schedule(key, value)
            elif key in ("algo", "total_steps"):  # lab's names, which an RL Zoo entry does not use
                self.refuse(key, value, "not an RL Zoo setting (the algorithm comes from the file name or --algo, "
                                        "the training length from n_timesteps)")
            else:
                self.set_agent(key, value)
        if "total_steps" not in self.agent:
            self.refuse("n_timesteps", None, "missing (RL Zoo entries give their training length)")
        if self._normalize_gamma is not None and "gamma" not in self.agent:
            gamma = self.schema.model_fields["gamma"].default if "gamma" in self.fields else None
            if self._normalize_gamma != gamma:
                self.refuse("normalize.gamma", self._normalize_gamma,
                            f"lab's VecNormalize discounts with the agent's gamma ({gamma}); set gamma in the entry instead")


def import_entry(file: str, env_id: str, algo: str | None = None) -> tuple[dict, str]:
    """(the experiment table, its TOML text) of RL Zoo entry `env_id` of `file`; BadInput
    (one line naming the file, the entry and the setting) for anything lab cannot honour."""
    import tomli_w

    from lab.spec import validate

    path, origin = _resolve_file(file)
    shown = file
    command = f"lab import rl-zoo {file} {env_id}" + (f" --algo {algo}" if algo else "")
    algo = _algo_for(file, algo)
    entries = _read_entries(path, shown)
    if env_id not in entries:
        raise BadInput(f"{shown}: no entry for '{env_id}'{did_you_mean(env_id, entries)} (its entries: {one_of(entries, 20)})")
    entry = _Entry(shown, env_id, algo)
    entry.convert(entries[env_id])
    total = entry.agent["total_steps"]
    slug = re.sub(r"[^a-z0-9_.-]+", "-", env_id.lower()).strip("-.")
    raw = {
        "name": f"{slug}-{algo}-zoo"[:64],
        "kind": "rl",
        "description": f"{algo.upper()} on {env_id} with RL Zoo's hyperparameters: the {env_id} entry of {origin}, "
                       f"imported by `lab import rl-zoo`.",
        "seed": 0,
        "device": "auto",
        "threads": 1,
        "env": entry.env,
        "agent": entry.agent,
        "eval": {"every": max(total // EVALUATIONS, 1), "episodes": 10, "final_episodes": 20},
    }
    try:
        validate(raw, source=f"{shown}: {env_id}")
    except BadInput as e:  # a value lab's schema does not accept (out of range, ...): name it as imported
        raise BadInput(f"{e} (imported from the RL Zoo entry)", key=e.key) from None
    header = f"# Imported by `{command}` from {origin}.\n"
    return raw, header + tomli_w.dumps(raw)


def write_experiment(text: str, out: str) -> Path:
    """The experiment file at `out`, written atomically (never half of it)."""
    from lab.store import check_output, write_atomic

    path = check_output(out, "--out", "experiment.toml")
    if path.suffix != ".toml":
        raise BadInput(f"--out {out}: experiment files end in .toml (`lab run` reads them by that); e.g. {path.with_suffix('.toml')}")
    try:
        write_atomic(path, text)
    except OSError as e:  # disk full, an I/O error: the temporary file is gone, nothing is at --out
        raise BadInput(f"--out {out}: {e.strerror or e}; nothing was written (free some space, or choose another folder)") from None
    return path
