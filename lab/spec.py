"""Experiment specs: find, parse, override and validate experiment files.

Everything that can be wrong with an experiment file is found here, before any run folder
exists, and reported as one `BadInput` line naming the file, the key, what is allowed and,
where one fits, the nearest valid value.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, ValidationError

from lab.errors import BadInput, did_you_mean, one_line, one_of
from lab.files import MAX_TOML_BYTES, read_regular, toml_data
from lab.rl.algos import ALGOS, suggestions
from lab.rl.params import AgentParams
from lab.xai.params import DataSpec, ExplainSpec, ModelSpec, RobustnessSpec

EXPERIMENTS_DIR = Path(os.environ.get("LAB_EXPERIMENTS_DIR", Path(__file__).resolve().parent.parent / "experiments"))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class NormalizeSpec(_Strict):
    """SB3's VecNormalize (RL Zoo's `normalize`): running statistics, saved in every checkpoint,
    scale observations and rewards while training; evaluation and the delivered policy use the
    observation statistics frozen. Rewards are scaled by the std of returns discounted with agent.gamma."""

    norm_obs: bool = Field(True, description="normalize observations by their running mean and std")
    norm_reward: bool = Field(True, description="scale training rewards by the running std of discounted returns")
    clip_obs: float = Field(10.0, gt=0, description="clip normalized observations to +/- this")
    clip_reward: float = Field(10.0, gt=0, description="clip scaled rewards to +/- this")
    epsilon: float = Field(1e-8, gt=0, description="added to the variances before dividing")


class EnvSpec(_Strict):
    id: str = Field(description="Gymnasium id, 'module:Id' a package registers, or 'module:Class' of your TorchVecEnv "
                    "(engine = \"torch\")")
    n_envs: int = Field(1, ge=1, le=256, description="parallel environments used for training")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="keyword arguments for gymnasium.make (or for "
                                   "the constructor of a 'module:Class' torch environment)")
    max_episode_steps: int | None = Field(None, gt=0, description="override the env's time limit")
    normalize: NormalizeSpec | None = Field(None, description="SB3's VecNormalize for SB3's algorithms: a table "
                                            "{norm_obs, norm_reward, clip_obs, clip_reward, epsilon}; None: raw values")


class EvalSpec(_Strict):
    every: int = Field(10_000, gt=0, description="environment steps between evaluations")
    episodes: int = Field(10, ge=1, le=1000, description="episodes per periodic evaluation")
    final_episodes: int = Field(20, ge=20, le=10_000, description="episodes of the final evaluation of the delivered policy")
    target_return: float | None = Field(None, description="stop training once an evaluation's mean reaches this")
    deterministic: bool = Field(True, description="evaluate the greedy/mean action")
    checkpoint_every: int = Field(10_000, gt=0, description="environment steps between the resumable checkpoints "
                                  "`lab resume` continues from (written atomically: a SIGKILL loses at most this many)")


class ExploreSpec(_Strict):
    """How PBT explores one hyperparameter: a continuous `range` (drawn uniformly, or log-uniformly
    with `log`; perturbed by pbt.factors and kept inside it) or a list of `values` (perturbed to a
    neighbouring value)."""

    range: list[float] | None = Field(None, min_length=2, max_length=2, description="[low, high]: where first values are drawn and "
                                              "perturbed values are kept")
    log: bool = Field(False, description="draw from the range log-uniformly (a learning rate's range)")
    values: list[float] | None = Field(None, min_length=2, description="the values it may take, in order: a "
                                       "perturbation moves to a neighbour, a resample draws any")


class PBTSpec(_Strict):
    """Population-based training (Jaderberg et al. 2017) of a population: every `interval` steps
    the members whose recent episodes returned least copy the weights, optimizer state and
    hyperparameters of members among the best, then perturb those hyperparameters (explore)."""

    interval: int = Field(gt=0, description="steps per member between rounds of exploit and explore")
    fraction: float = Field(0.25, gt=0, le=0.5, description="the bottom this fraction of members (by the mean return "
                            "of their episodes since the last round; at least one) copy one of the top this fraction")
    factors: list[float] = Field([0.8, 1.2], min_length=2, max_length=2, description="explore: a copied value is multiplied by one of "
                                         "these (Ray Tune's perturbation_factors)")
    resample_probability: float = Field(0.25, ge=0, le=1, description="explore: the chance a copied value is drawn "
                                        "afresh from its range or values instead")
    explore: dict[str, ExploreSpec] = Field(default_factory=dict, description="the agent settings explored, each a table: "
                                            "[pbt.explore.learning_rate] range = [1e-4, 1e-2], log = true")
    evolve: bool = Field(True, description="false: no exploit or explore, each member keeps the values it was drawn "
                         "(the fixed-hyperparameter twin of the same run)")
    backend: Literal["engine", "ray"] = Field("engine", description="'engine': the whole population in one process "
                                              "on lab's torch engine; 'ray': one member a Ray Tune trial, through "
                                              "Tune's PopulationBasedTraining")
    ray_address: str | None = Field(None, description="backend 'ray': the Ray cluster to join; None: a local Ray on "
                                    "the loopback for this run")
    cpus: int = Field(2, ge=1, le=4096, description="backend 'ray': trials that run at once")


class _ExperimentSpec(_Strict):
    """Fields every experiment has, whatever its kind."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64, description="experiment name")
    description: str = ""
    seed: int = Field(0, ge=0, lt=2**31, description="random seed")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="torch device; auto picks the faster one for the workload")
    threads: int = Field(1, ge=1, le=256, description="torch CPU threads for this run")

    # Where the spec came from (a path, or "<dict>"); used in messages, not saved.
    source: str = Field("<dict>", exclude=True)

    def to_toml(self) -> str:
        import tomli_w

        return tomli_w.dumps(self.model_dump(mode="json", exclude_none=True))

    # A job reads the experiments it builds on (the run whose model it explains, the experiment
    # it trains first) through the spec it is given: the domain packages never import this
    # module, which imports theirs (the layers pyproject.toml's import contracts check).
    @staticmethod
    def load_experiment(name_or_path):
        """`lab.spec.load_experiment`: a built-in name, a file, or a run folder's spec.toml (data)."""
        return load_experiment(name_or_path)

    @staticmethod
    def is_builtin(name: str) -> bool:
        """Whether `name` is one of lab's built-in experiments."""
        return name in builtin_experiments()


# A PPO minibatch step on this 2-core machine (CartPole net, 256 samples a member): 1 member
# float32 1.33 ms, bf16 1.54; 2: 1.76, 1.84; 4: 3.06, 2.34; 9: 6.17, 4.69. bf16 pays from 4.
BF16_FROM_MEMBERS = 4


class RLSpec(_ExperimentSpec):
    kind: Literal["rl"] = "rl"
    engine: Literal["gymnasium", "torch"] = Field(
        "gymnasium", description="'gymnasium': Gymnasium envs stepped on the host (SB3's agents and lab's); "
                                 "'torch': lab's batched torch envs and agents, all on the device")
    population: int = Field(1, ge=1, le=65_536, description="independent agents trained together in one run and "
                            "one process on the torch engine, with seeds seed .. seed + population - 1")
    precision: Literal["float32", "bf16", "auto"] = Field(
        "float32", description="'bf16': the torch engine's update runs its network matmuls in bfloat16 (faster on GPUs "
                               "and CPUs with bf16 units; weights, losses and optimizer stay float32, and rollouts, "
                               "evaluation and acting compute in float32); 'auto': bf16 "
                               f"for populations of {BF16_FROM_MEMBERS} or more, where it was measured to pay, else float32")
    compile: Literal["off", "auto", "on"] = Field(
        "auto", description="the torch engine's gradient step compiled with torch.compile ('on'; on a GPU also "
                            "captured in CUDA graphs), eager ('off'), or 'auto': compiled where it pays (on a GPU, "
                            "and on a CPU for runs long enough to earn back the compile time); the run's log says why")
    agent_class: str | None = Field(
        None, description="'module:Class': a subclass of the torch engine's agent for agent.algo (for ppo, "
                          "lab.engine.ppo.TorchPPOAgent) that changes it, e.g. its loss (docs/custom-loss.md); "
                          "None: lab's own")
    members: dict[str, dict[str, list[Any]]] = Field(
        default_factory=dict, description="settings that differ per member of a population, one value per member: "
                                          "[members.agent] learning_rate = [1e-3, 3e-4]")
    pbt: PBTSpec | None = Field(None, description="population-based training of the population ([pbt]); None: "
                                "members keep their settings")
    tensorboard: bool = Field(False, description="write TensorBoard event files into the run folder "
                              "(artifacts/tensorboard) as it trains; `lab export RUN --tensorboard DIR` writes "
                              "them for any run afterwards")
    env: EnvSpec
    agent: SerializeAsAny[AgentParams]
    eval: EvalSpec = Field(default_factory=EvalSpec)

    @property
    def algo(self):
        return ALGOS[self.agent.algo]

    @property
    def bf16(self) -> bool:
        """Whether the update's matmuls run in bf16 (precision, with 'auto' resolved)."""
        if self.precision == "auto":
            return self.engine == "torch" and self.population >= BF16_FROM_MEMBERS
        return self.precision == "bf16"

    def member_values(self, key: str) -> list:
        """agent.<key> of each member: its [members.agent] list, else the agent's value for all."""
        given = self.members.get("agent", {}).get(key)
        return list(given) if given is not None else [getattr(self.agent, key)] * self.population

    def member_settings(self, m: int) -> dict[str, Any]:
        """The settings member m has of its own ({"agent.learning_rate": 3e-4}); {} when none."""
        return {f"agent.{k}": v[m] for k, v in self.members.get("agent", {}).items()}

    @property
    def member_setting_names(self) -> tuple[str, ...]:
        """The agent settings that may differ per member of a population ([members.agent]); () where
        the engine trains one agent per run. Read from the algorithm table: no torch import."""
        return self.algo.member_settings if self.engine == "torch" else ()

    def implementation(self):
        """The agent class this spec trains with: its algorithm's on its engine, or `agent_class`."""
        if self.agent_class is not None:
            from lab.plugins import load_object

            return load_object(self.agent_class, "agent_class", self.source)
        return self.algo.agent_class(self.engine)

    # What differs on lab's torch engine, asked of the spec by the RL job (lab.rl.train), which
    # does not import the engine: lab.engine builds on lab.rl (pyproject.toml's import contracts).
    def env_path(self) -> str | None:
        """How the torch engine steps the environment (`lab.engine.env_path`); None off the engine."""
        if self.engine != "torch":
            return None
        from lab.engine import env_path

        return env_path(self.env)

    def compile_decision(self, device_type: str):
        """Whether the torch engine compiles this run's gradient step on `device_type`, and why."""
        from lab.engine.compiling import compile_decision

        return compile_decision(self, device_type)

    def footprint(self, observation_space, action_space) -> list:
        """What training allocates (lab.memory.Need each), as the engine that trains it counts."""
        if self.engine == "torch":
            from lab.engine.footprint import needs
        else:
            from lab.rl.footprint import needs
        return needs(self, observation_space, action_space)


class AttributionSpec(_ExperimentSpec):
    kind: Literal["attribution"] = "attribution"
    data: DataSpec | None = None
    model: ModelSpec
    explain: ExplainSpec = Field(default_factory=ExplainSpec)
    robustness: RobustnessSpec | None = None


SPEC_KINDS: dict[str, type[_Strict]] = {"rl": RLSpec, "attribution": AttributionSpec}


# ---------------------------------------------------------------- finding experiments

def builtin_experiments() -> dict[str, Path]:
    """Built-in experiment names -> files."""
    if not EXPERIMENTS_DIR.is_dir():
        return {}
    return {p.stem: p for p in sorted(EXPERIMENTS_DIR.glob("*.toml"), key=lambda p: p.stem)}  # 'a-b' before 'a-b-c'


def find_experiment(name_or_path: str | os.PathLike) -> Path:
    text = str(name_or_path)
    path = Path(text)
    if path.suffix == ".toml" or os.sep in text or path.is_file():
        if not path.exists():
            raise BadInput(f"{text}: no such experiment file")
        if path.is_dir():
            from lab.store import SPEC

            spec_file = path / SPEC  # a run folder: repeat its run
            if spec_file.is_file():
                return spec_file
            raise BadInput(f"{text}: is a folder, not an experiment file")
        return path
    builtins = builtin_experiments()
    if text in builtins:
        return builtins[text]
    raise BadInput(
        f"unknown experiment '{text}'{did_you_mean(text, builtins)}"
        f" (built-in: {one_of(builtins)}; or give a path to a .toml file)"
    )


# ---------------------------------------------------------------- parsing and overrides

def parse_value(text: str) -> Any:
    """An override's value as TOML would read it (3e-4, true, [64, 64], "x"); else the text."""
    try:
        return toml_data(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """['agent.learning_rate=3e-4', ...] -> {'agent.learning_rate': 0.0003}."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not re.fullmatch(r"[A-Za-z0-9_.]+", key.strip()):
            raise BadInput(f"--set {pair}: expected KEY=VALUE with a dotted key, e.g. --set agent.learning_rate=3e-4")
        out[key.strip()] = parse_value(value.strip())
    return out


def apply_overrides(raw: dict, overrides: dict[str, Any], source: str) -> None:
    """Each "a.b.c" = value into `raw`; a value is copied, so that a later override into it (a
    table, then one of its keys) never changes the caller's."""
    import copy

    for key, value in overrides.items():
        value = copy.deepcopy(value)
        node = raw
        parts = key.split(".")
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise BadInput(f"{source}: override {key}: '{'.'.join(parts[:i + 1])}' is a value, not a table")
            node = child
        node[parts[-1]] = value


# ---------------------------------------------------------------- validation

def _key(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# pydantic names the branch of a union (`str | list[str]`) in an error's location: not a key
_BRANCH = re.compile(r"^(function-\w+.*|str|int|float|bool|list\[.*\]|dict\[.*\]|constrained-.*)$")


def _first(errors: list[dict]) -> dict:
    """The error to report: the first, unless it only says a union's other branch has the wrong
    type ('must be a valid string' for a list) and a branch of the right type says more, or it says
    a required key is missing where the same table has an unknown key (the required one misspelt)."""
    first = errors[0]
    if first["type"] == "missing":  # a required key misspelt: the unknown key beside it says so, with the spelling
        for err in errors[1:]:
            if err["type"] == "extra_forbidden" and err["loc"][:-1] == first["loc"][:-1]:
                return err
    if first["type"].endswith("_type"):
        key = [p for p in first["loc"] if not (isinstance(p, str) and _BRANCH.match(p))]
        for err in errors[1:]:
            if [p for p in err["loc"] if not (isinstance(p, str) and _BRANCH.match(p))][:len(key)] == key \
                    and not err["type"].endswith("_type"):
                return err
    return first


def _message(err: dict, model: type[BaseModel], prefix: tuple = ()) -> str:
    loc = prefix + tuple(p for p in err["loc"] if not (isinstance(p, str) and _BRANCH.match(p)))
    key = _key(loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        # the allowed keys of the table that holds the unknown key
        table = model
        for part in err["loc"][:-1]:
            field = table.model_fields.get(part) if isinstance(part, str) else None
            ann = getattr(field, "annotation", None)
            ann = next((a for a in getattr(ann, "__args__", ()) if isinstance(a, type) and issubclass(a, BaseModel)), ann)  # X | None
            table = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
            if table is None:
                break
        allowed = [k for k, f in table.model_fields.items() if not f.exclude] if table else []
        where = _key(loc[:-1]) or "top level"
        hint = did_you_mean(loc[-1], allowed)
        return f"{key}: unknown key in {where}{hint or ''}" + (f" (allowed: {one_of(allowed, 30)})" if allowed and not hint else "")
    if kind == "missing":
        return f"{key}: missing (required)"
    msg = err["msg"].replace("Input should be", "must be").replace("String should", "must").replace("Value error, ", "")
    msg = re.sub(r"(?:List|Dictionary) should have at least (\d+) items? after validation, not \d+", lambda m: f"must have at least {m[1]} item{'s' if m[1] != '1' else ''}", msg)
    if kind == "literal_error":
        allowed = re.findall(r"'([^']+)'", msg)
        return f"{key}: {msg} (got {err['input']!r}){did_you_mean(err['input'], allowed)}"
    got = err.get("input")
    return f"{key}: {msg}" + (f" (got {got!r})" if not isinstance(got, dict) else "")


def validate(raw: dict, source: str = "<dict>", overridden: set[str] = frozenset(), *, from_folder: bool = False):
    """A raw experiment table -> a validated spec, or BadInput naming source and key.

    from_folder: the table was read from a run or sweep folder (or inside `plugins.folder_data()`):
    the modules it names (env.id, agent_class) are imported only if the user allows them
    (`lab.plugins`); otherwise it is the user's own, and they are."""

    def fail(msg: str):
        key = msg.split(":", 1)[0]
        note = " (set by override)" if any(key == o or key.startswith((o + ".", o + "[")) or o.startswith(key + ".")
                                          for o in overridden) else ""
        raise BadInput(f"{source}: {msg.replace(key + ':', key + note + ':', 1)}", key=key)

    if not isinstance(raw, dict):
        fail("top level: must be a table")
    kind = raw.get("kind", "rl")
    if kind == "sweep":
        fail("kind: this file is a sweep, not an experiment; run it with `lab sweep " + source + "`")
    if kind not in SPEC_KINDS:
        fail(f"kind: unknown kind {kind!r}{did_you_mean(kind, SPEC_KINDS)} (allowed: {one_of(SPEC_KINDS)})")
    model = SPEC_KINDS[kind]

    if kind == "attribution":
        try:
            spec = model.model_validate({**raw, "source": source})
        except ValidationError as e:
            fail(_message(_first(e.errors()), model))
        if from_folder:
            _check_folder_data(spec, source, fail)
        _check_attribution(spec, fail)
        return spec

    agent_raw = raw.get("agent")
    agent = None
    if isinstance(agent_raw, dict):
        algo = agent_raw.get("algo")
        if algo is None:
            fail(f"agent.algo: missing (required; allowed: {one_of(ALGOS)})")
        if algo not in ALGOS:
            fail(f"agent.algo: unknown algorithm {algo!r}{did_you_mean(algo, ALGOS)} (allowed: {one_of(ALGOS)})")
        schema = ALGOS[algo].params
        try:
            agent = schema.model_validate(agent_raw)
        except ValidationError as e:
            fail(_message(_first(e.errors()), schema, ("agent",)))

    try:
        spec = model.model_validate({**raw, "agent": agent if agent is not None else agent_raw, "source": source})
    except ValidationError as e:
        fail(_message(_first(e.errors()), model))
    _check_modules(spec, fail, from_folder)
    _check_env(spec, fail)
    _check_population(spec, agent_raw, fail)
    _check_engine_settings(spec, fail)
    _check_pbt(spec, agent_raw, fail)
    return spec


def _check_folder_data(spec, source: str, fail) -> None:
    """A folder's spec reads data only from inside that folder: its data.path is a relative path
    that stays within it (no '..', no absolute path, no link out), like every path a folder names."""
    from lab.store import inside

    if spec.data is None or not spec.data.path:
        return
    try:
        inside(Path(source).parent, spec.data.path, "data.path")
    except ValueError:
        fail(f"data.path: {spec.data.path!r} is outside this folder, and a run folder's spec reads data only from "
             "inside it; run the experiment file it came from, or copy the CSV into the folder and name it there")


def _check_modules(spec: RLSpec, fail, from_folder: bool) -> None:
    """Before anything is imported: a module the spec names is the user's (their own experiment)
    or allowed (a folder's)."""
    from lab.plugins import permit

    for key, ref in (("env.id", spec.env.id), ("agent_class", spec.agent_class)):
        if ref is not None and (why := permit(ref, key, from_folder)):
            fail(why)


# env.kwargs are passed to code that builds from them before lab can count what it built (a
# FrozenLake `desc` of 1500 x 1500 cells builds a 4.5 GB transition table in two minutes; at
# 16 KiB, 125 x 125 cells, each of the two dozen envs a run builds takes 0.5 s)
MAX_ENV_KWARGS = 16 * 1024


def _check_env(spec: RLSpec, fail) -> None:
    """The env id exists and the algorithm can act in its spaces."""
    import gymnasium as gym

    from lab.plugins import import_module

    env_id = spec.env.id
    size = len(json.dumps(spec.env.kwargs, default=str))
    if size > MAX_ENV_KWARGS:
        fail(f"env.kwargs: {size / 1024:,.0f} KiB of arguments; lab passes at most {MAX_ENV_KWARGS // 1024} KiB to an "
             "environment's constructor, whose work grows with them before any check can count it (a larger map or "
             "table belongs in a file your own environment reads)")
    if spec.engine == "torch":
        _check_torch_engine(spec, fail)
    if ":" in env_id:
        module = env_id.split(":", 1)[0]
        try:
            import_module(module)
        except ImportError as e:
            fail(f"env.id: cannot import module '{module}' for {env_id!r} ({e}); put {module}.py in the current "
                 "directory or install the package that provides it")
        except (Exception, SystemExit) as e:  # an env module's own bug, or an exit, is one line too
            what = f"exits (SystemExit {e.code!r})" if isinstance(e, SystemExit) else f"raises {type(e).__name__}: {one_line(e)}"
            fail(f"env.id: module '{module}' of {env_id!r} {what} when imported; fix or reinstall it")
        from lab.rl.envs import env_class

        cls = env_class(env_id)
        if cls is not None:
            _check_algo_fits(spec, *_user_env_spaces(spec, cls, fail), fail)
            return
        env_id = env_id.split(":", 1)[1]
    if env_id not in gym.registry:
        fail(_unknown_env(spec, env_id))
    try:
        env = gym.make(env_id, **spec.env.kwargs)
    except TypeError as e:
        fail(f"env.kwargs: {env_id} does not accept these arguments ({e})")
    except Exception as e:  # an env that cannot be built is bad input for this spec
        fail(f"env: cannot create {env_id} ({type(e).__name__}: {e})")
    try:
        spaces, limit = (env.observation_space, env.action_space), env.spec.max_episode_steps if env.spec else None
    finally:
        env.close()
    if spec.engine == "torch" and spec.env.id not in _engine_env_ids():
        _check_gymnasium_path(spec, env_id, *spaces, limit, fail)
    _check_algo_fits(spec, *spaces, fail)


def _check_algo_fits(spec: RLSpec, observation_space, action_space, fail) -> None:
    """The algorithm can act in the env's action space and read its observations."""
    env_id = spec.env.id.rpartition(":")[2]
    act, obs = type(action_space).__name__, type(observation_space).__name__
    algo = spec.algo
    instead = " or ".join(map(repr, suggestions(act, obs, algo.name))) or "another algorithm"
    if act not in algo.action_spaces:
        fail(f"agent.algo: '{algo.name}' cannot act in {env_id}'s {act} action space"
             f" (it supports {', '.join(algo.action_spaces)}); try {instead}")
    if spec.env.n_envs > 1 and not algo.vectorized:
        fail(f"env.n_envs: '{algo.name}' learns from one environment; set env.n_envs = 1")
    if obs not in algo.observation_spaces:
        fail(f"agent.algo: '{algo.name}' cannot read {env_id}'s {obs} observations"
             f" (it supports {', '.join(algo.observation_spaces)}); try {instead}")
    if getattr(spec.agent, "use_sde", False) and act != "Box":
        fail(f"agent.use_sde: gSDE explores continuous (Box) actions; {env_id}'s are {act}; set use_sde = false")
    if spec.env.normalize is not None:
        if not getattr(spec.implementation(), "normalizes", False):
            engine = " on lab's torch engine" if spec.engine == "torch" else ""
            having = [name for name, a in ALGOS.items() if getattr(a.agent_class(), "normalizes", False)]
            fail(f"env.normalize: '{algo.name}'{engine} has no VecNormalize (on the gymnasium engine: "
                 f"{', '.join(having)}); remove [env.normalize]")
        if spec.env.normalize.norm_obs and obs != "Box":
            fail(f"env.normalize.norm_obs: {env_id}'s {obs} observations cannot be normalized (Box only); set norm_obs = false")


def _engine_env_ids() -> tuple[str, ...]:
    from lab.engine import ENV_IDS  # not ENVS: validating imports no torch

    return ENV_IDS


def _unknown_env(spec: RLSpec, env_id: str) -> str:
    import gymnasium as gym

    if spec.engine != "torch":
        return (f"env.id: unknown Gymnasium environment {spec.env.id!r}{did_you_mean(env_id, gym.registry)}"
                " (any id registered with Gymnasium, or 'module:Id')")
    module = spec.env.id.rpartition(":")[0]
    if module:  # imported by now
        import sys

        classes = [n for n, v in vars(sys.modules[module]).items() if isinstance(v, type) and not n.startswith("_")]
        return (f"env.id: module '{module}' has no class {env_id!r} and registers no Gymnasium id {env_id!r}"
                f"{did_you_mean(env_id, [*classes, *gym.registry])}")
    ids = _engine_env_ids()
    return (f"env.id: the torch engine has no {spec.env.id!r}{did_you_mean(env_id, [*ids, *gym.registry])} (it steps "
            f"lab's own {', '.join(ids)}, any other Gymnasium id through Gymnasium's vector env, 'module:Id' of a "
            "package that registers one, or 'module:Class' of your own TorchVecEnv)")


def _user_env_spaces(spec: RLSpec, cls, fail):
    """(observation space, action space) of a user's TorchVecEnv class, checked (lab.engine.check)."""
    from lab.errors import BadInput

    if spec.engine != "torch":
        fail(f"env.id: {spec.env.id!r} names a class, a batched torch environment; set engine = \"torch\" "
             "(the gymnasium engine takes Gymnasium ids)")
    if spec.env.max_episode_steps is not None:
        fail(f"env.max_episode_steps: {spec.env.id} states its own time limit (its class's max_episode_steps); "
             "remove env.max_episode_steps")
    from lab.engine.check import check_env_class

    try:
        return check_env_class(cls, spec.env.id, spec.env.kwargs)
    except BadInput as e:
        fail(f"{e.key or 'env.id'}: {e}")


def _check_gymnasium_path(spec: RLSpec, env_id: str, observation_space, action_space, limit, fail) -> None:
    """A Gymnasium env the torch engine steps through Gymnasium's vector env: spaces it can
    read and act in, and a time limit (its evaluations step every episode to its end)."""
    obs, act = type(observation_space).__name__, type(action_space).__name__
    if obs not in ("Box", "Discrete"):
        fail(f"env.id: the torch engine reads Box and Discrete observations; {env_id}'s are {obs}; "
             "set engine = \"gymnasium\"")
    if act not in ("Box", "Discrete"):
        fail(f"env.id: the torch engine acts in Discrete and Box action spaces; {env_id}'s is {act}; "
             "set engine = \"gymnasium\"")
    if spec.env.max_episode_steps is None and not limit:
        fail(f"env.max_episode_steps: {env_id} has no time limit, and the torch engine needs one (its evaluations "
             "run every episode to its end); set env.max_episode_steps")


def _check_torch_engine(spec: RLSpec, fail) -> None:
    """The torch engine has this algorithm; lab's own torch environments take no arguments."""
    ids = _engine_env_ids()
    with_torch = [name for name, a in ALGOS.items() if a.torch_agent]
    if spec.algo.torch_agent is None:
        fail(f"engine: '{spec.algo.name}' has no torch-engine implementation (it has: {', '.join(with_torch)}); "
             "set engine = \"gymnasium\" or agent.algo = " + " or ".join(f"'{n}'" for n in with_torch))
    if spec.env.id in ids and spec.env.kwargs:
        fail(f"env.kwargs: the torch engine's environments take no arguments when they are lab's own, as {spec.env.id} "
             "is; remove env.kwargs or set engine = \"gymnasium\"")
    if spec.env.id in ids and spec.env.max_episode_steps is not None:
        fail(f"env.max_episode_steps: lab's torch {spec.env.id} keeps Gymnasium's time limit; remove it or set "
             "engine = \"gymnasium\"")
    for name, field in type(spec.agent).model_fields.items():
        if (field.json_schema_extra or {}).get("sb3_only") and getattr(spec.agent, name) != field.default:
            fail(f"agent.{name}: SB3's {spec.algo.name} has it, the torch engine's does not; remove it or set engine = \"gymnasium\"")


def _check_engine_settings(spec: RLSpec, fail) -> None:
    """`compile` and `agent_class` are the torch engine's; an agent class extends the algorithm's."""
    if spec.engine != "torch":
        if spec.compile == "on":
            fail("compile: 'on' compiles the torch engine's gradient step (SB3 trains eagerly); set engine = \"torch\" "
                 "or compile = \"auto\"")
        if spec.agent_class is not None:
            fail("agent_class: names a subclass of a torch engine agent; set engine = \"torch\" or remove agent_class")
        return
    if spec.compile == "on" and not spec.algo.compiles:
        compiled = [name for name, a in ALGOS.items() if a.compiles]
        fail(f"compile: '{spec.algo.name}' on the torch engine runs its gradient step eagerly (compiled: "
             f"{', '.join(compiled)}); set compile = \"auto\" or \"off\"")
    if spec.agent_class is not None:
        from lab.plugins import load_object

        try:
            cls = load_object(spec.agent_class, "agent_class")
        except BadInput as e:
            fail(str(e))
        base = spec.algo.agent_class("torch")
        if not (isinstance(cls, type) and issubclass(cls, base)):
            fail(f"agent_class: {spec.agent_class!r} is not a subclass of {base.__module__}.{base.__name__} "
                 f"(agent.algo = '{spec.algo.name}'); subclass it and override what you change, e.g. its loss")


def _check_population(spec: RLSpec, agent_raw: dict, fail) -> None:
    """A population trains on the torch engine with an algorithm that batches members; each
    [members.agent] list has one valid value per member of a setting that may differ."""
    if spec.precision == "bf16" and spec.engine != "torch":
        fail("precision: bf16 is the torch engine's (SB3 trains in float32); set engine = \"torch\" or precision = \"float32\"")
    with_members = [name for name, a in ALGOS.items() if a.torch_agent and a.member_settings]
    if spec.precision == "bf16" and not spec.member_setting_names:  # the agents that batch members have bf16
        fail(f"precision: '{spec.algo.name}' on the torch engine trains in float32 (bf16: {', '.join(with_members)}); "
             "remove precision")
    n = spec.population
    if n == 1 and not spec.members:
        return
    key = "population" if n > 1 else "members"
    if spec.engine != "torch":
        fail(f"{key}: populations train on lab's torch engine; set engine = \"torch\"")
    settings = spec.member_setting_names
    if not settings:
        fail(f"{key}: '{spec.algo.name}' on the torch engine trains one agent per run (populations: "
             f"{', '.join(with_members)}); set population = 1")
    for table in spec.members:
        if table != "agent":
            fail(f"members.{table}: only agent settings can differ per member ([members.agent])")
    schema = type(spec.agent)
    for name, values in spec.members.get("agent", {}).items():
        where = f"members.agent.{name}"
        _check_member_setting(where, name, settings, schema, fail)
        if len(values) != n:
            fail(f"{where}: {len(values)} value{'s' if len(values) != 1 else ''} for population = {n}; give one per member")
        for i, value in enumerate(values):
            _check_member_value(f"{where}[{i}]", name, value, schema, agent_raw, fail)


def _check_member_setting(where: str, name: str, settings: tuple[str, ...], schema, fail) -> None:
    """`name` is a setting a population's members may each have (`settings`)."""
    if name not in settings:
        if name in schema.model_fields:
            fail(f"{where}: cannot differ per member (it shapes the batched networks or rollouts); "
                 f"settings that can: {', '.join(settings)}")
        fail(f"{where}: unknown setting{did_you_mean(name, settings) or ''} (settings that can differ: {', '.join(settings)})")


def _check_member_value(where: str, name: str, value, schema, agent_raw: dict, fail) -> None:
    """`value` is valid for agent.<name> (the algorithm's schema says)."""
    try:
        schema.model_validate({**agent_raw, name: value})
    except ValidationError as e:
        fail(f"{where}:" + _message(_first(e.errors()), schema).split(":", 1)[1])


def _check_pbt(spec: RLSpec, agent_raw: dict, fail) -> None:
    """[pbt] explores settings a member may have of its own, over a population large enough to
    have a bottom and a top; each range's ends and each value valid for the setting."""
    pbt = spec.pbt
    if pbt is None:
        return
    if spec.population < 2:
        fail("pbt: population-based training needs a population; set population = 8 or more (or remove [pbt])")
    if not pbt.explore:
        fail("pbt.explore: names no setting; add one, e.g. [pbt.explore.learning_rate] range = [1e-4, 1e-2], log = true")
    if pbt.interval >= spec.agent.total_steps:
        fail(f"pbt.interval: {pbt.interval:,} steps reaches no round before agent.total_steps = "
             f"{spec.agent.total_steps:,}; lower it (a round every tenth of training: {spec.agent.total_steps // 10:,})")
    if not pbt.evolve and pbt.backend == "ray":
        fail("pbt.evolve: false runs on the engine (the fixed twin needs no Ray: its members never meet); "
             "set pbt.backend = \"engine\"")
    low, high = pbt.factors
    if not 0 < low < high:
        fail(f"pbt.factors: {list(pbt.factors)} must be two positive factors, the lower first (e.g. [0.8, 1.2])")
    settings = spec.member_setting_names
    schema = type(spec.agent)
    for name, how in pbt.explore.items():
        where = f"pbt.explore.{name}"
        _check_member_setting(where, name, settings, schema, fail)
        if (how.range is None) == (how.values is None):
            fail(f"{where}: give exactly one of range = [low, high] or values = [...]")
        if how.range is not None:
            lo, hi = how.range
            if not lo < hi:
                fail(f"{where}.range: {list(how.range)} must be [low, high] with low < high")
            if how.log and lo <= 0:
                fail(f"{where}.range: a log range starts above 0 (got {lo:g})")
        elif how.log:
            fail(f"{where}.log: only with a range; remove it or give range = [low, high]")
        for i, value in enumerate(how.range if how.range is not None else how.values):
            _check_member_value(f"{where}.{'range' if how.range is not None else 'values'}[{i}]", name, value, schema,
                                agent_raw, fail)
        given = spec.members.get("agent", {}).get(name)
        for i, value in enumerate(given or []):
            if isinstance(value, str):
                fail(f"members.agent.{name}[{i}]: PBT explores constants, not a schedule ({value!r}); give a number")
            if how.range is not None and not how.range[0] <= value <= how.range[1]:
                fail(f"members.agent.{name}[{i}]: {value:g} is outside pbt.explore.{name}.range {list(how.range)}")
            if how.values is not None and value not in how.values:
                fail(f"members.agent.{name}[{i}]: {value:g} is not one of pbt.explore.{name}.values")


def _check_attribution(spec: AttributionSpec, fail) -> None:
    """Model source, dataset and methods fit together."""
    from lab.errors import BadInput
    from lab.xai.data import DATASETS
    from lab.xai.explain import check_methods
    from lab.xai.models import ARCHS

    m = spec.model
    if (m.arch is None) == (m.from_run is None):
        fail("model: set exactly one of arch (train a classifier: " + one_of(ARCHS) + ") or from_run (explain a trained model)")
    is_image = None  # a run's model: known once the run is found
    if m.arch is not None:
        if m.arch not in ARCHS:
            fail(f"model.arch: unknown architecture {m.arch!r}{did_you_mean(m.arch, ARCHS)} (allowed: {one_of(ARCHS)})")
        if spec.data is None:
            fail("data: missing (required to train a classifier; e.g. [data] dataset = \"breast_cancer\")")
        if spec.data.dataset not in DATASETS:
            fail(f"data.dataset: unknown dataset {spec.data.dataset!r}{did_you_mean(spec.data.dataset, DATASETS)} (allowed: {one_of(DATASETS)})")
        is_image = DATASETS[spec.data.dataset].is_image
        if ARCHS[m.arch].images and not is_image:
            tabular = " or ".join(repr(name) for name, a in ARCHS.items() if not a.images)
            fail(f"model.arch: '{m.arch}' is for images; dataset '{spec.data.dataset}' is tabular; use {tabular}")
        if DATASETS[spec.data.dataset].from_file:
            from lab.xai.data import load_dataset

            load_dataset(spec)  # non-numeric or missing values are bad input, found now
    elif spec.data is not None and m.from_run is not None:
        fail("data: not used with model.from_run (the explained run brings its own data); remove [data]")
    if m.members != "best" and m.from_run is None:
        fail("model.members: only with model.from_run of a population run (its members explained on the same states); "
             "remove it or set model.from_run")
    try:
        check_methods(spec.explain.methods, is_image, spec.explain.params, where="explain.methods")
    except BadInput as e:
        fail(str(e).replace("explain.methods.params", "explain.params"))
    from lab.xai.params import check_robustness

    check_robustness(spec, fail)


# ---------------------------------------------------------------- every setting of an experiment

_MISSING = object()


@dataclass
class Setting:
    """One settable key of an experiment, as the dashboard's form and `lab list --params` show it."""

    key: str  # dotted: agent.learning_rate
    default: Any  # the schema's default; _MISSING when the key is required
    value: Any  # the experiment file's value; _MISSING when the file does not set it
    description: str
    type: str

    @property
    def required(self) -> bool:
        return self.default is _MISSING

    @property
    def in_file(self) -> bool:
        return self.value is not _MISSING

    @property
    def current(self) -> Any:
        """What a run of the file gets: its value, else the default."""
        return self.value if self.in_file else self.default


def _type_name(annotation) -> str:
    """int, float | str, list[int] | None, one of 'auto' 'cpu' 'cuda': for people, not for Python."""
    import types
    import typing

    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in args)
    if origin is typing.Literal:
        return "one of " + " ".join(repr(a) for a in args)
    if origin is list:
        return f"list[{_type_name(args[0])}]" if args else "list"
    if origin is dict or annotation is dict or (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        return "table"
    if annotation is type(None):
        return "None"
    return getattr(annotation, "__name__", str(annotation))


def settings(raw: dict) -> list[Setting]:
    """Every field an experiment of this kind (and algorithm) has, in schema order: its default,
    the file's value where it sets one, and its description. `raw` is the experiment's table."""
    kind = raw.get("kind", "rl")
    model = SPEC_KINDS.get(kind, RLSpec)
    tables: dict[str, type[BaseModel]] = {}
    if kind == "rl":
        algo = (raw.get("agent") or {}).get("algo")
        tables = {"env": EnvSpec, "agent": ALGOS[algo].params if algo in ALGOS else AgentParams, "eval": EvalSpec}
    else:
        tables = {"data": DataSpec, "model": ModelSpec, "explain": ExplainSpec, "robustness": RobustnessSpec}
    out = []

    def add(prefix: str, schema: type[BaseModel], values: dict) -> None:
        for name, field in schema.model_fields.items():
            if field.exclude or (not prefix and (name in ("name", "kind", "description") or name in tables)):
                continue
            default = _MISSING if field.is_required() else field.get_default(call_default_factory=True)
            value = values.get(name, _MISSING) if isinstance(values, dict) else _MISSING
            out.append(Setting(prefix + name, default, value, field.description or "", _type_name(field.annotation)))

    add("", model, raw)
    for table, schema in tables.items():
        add(f"{table}.", schema, raw.get(table) or {})
    return out


# ---------------------------------------------------------------- the entry point

def load_experiment(name_or_path: str | os.PathLike | dict, overrides: dict[str, Any] | None = None, *,
                    from_folder: bool | None = None):
    """An experiment by built-in name, file path, run folder or raw dict, with overrides applied.

    overrides: {"agent.total_steps": 2000, "seed": 3}; values may also be strings as given
    on the command line ("3e-4"), which are read as TOML values.
    from_folder: whether the spec is a folder's data (see `validate`); None: a run folder, its
    spec.toml and a file in a sweep folder are (`is_folder_file`), any other file or dict is not.
    """
    overrides = {k: parse_value(v) if isinstance(v, str) else v for k, v in (overrides or {}).items()}
    if isinstance(name_or_path, dict):
        raw, source = _deepcopy(name_or_path), "<dict>"
    else:
        path = find_experiment(name_or_path)
        source = _display(path)
        try:
            data = read_regular(path, limit=MAX_TOML_BYTES)
            if len(data) > MAX_TOML_BYTES:
                raise BadInput(f"{source}: larger than {MAX_TOML_BYTES >> 20} MiB; an experiment file is a few KB")
            text = data.decode("utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise BadInput(f"{source}: cannot read ({e.strerror if isinstance(e, OSError) else e})") from None
        try:
            raw = toml_data(text)
        except tomllib.TOMLDecodeError as e:
            raise BadInput(f"{source}: TOML syntax error: {e}") from None
    apply_overrides(raw, overrides, source)
    if from_folder is None:
        from_folder = not isinstance(name_or_path, dict) and is_folder_file(path)
    return validate(raw, source, set(overrides), from_folder=from_folder)


def is_folder_file(path: Path) -> bool:
    """Whether an experiment file is a run or sweep folder's (spec.toml, or a file beside a run's
    summary.json or events.jsonl or a sweep's sweep.json): data, whose modules need an allowance."""
    from lab.store import EVENTS, SPEC, SUMMARY, SWEEP_JSON

    return path.name == SPEC or any(os.path.lexists(path.parent / name) for name in (SUMMARY, EVENTS, SWEEP_JSON))


def _deepcopy(d: dict) -> dict:
    return {k: _deepcopy(v) if isinstance(v, dict) else v for k, v in d.items()}


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
