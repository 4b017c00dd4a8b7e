"""The docs site's build hook (mkdocs.yml `hooks:`): the reference tables, generated from lab's
registries and schemas at build time, so that no page lists an algorithm, a method or a setting
by hand and no count can go stale.

A page asks for a table with a marker on a line of its own, e.g. `<!-- table:algorithms -->`;
`table(name)` returns that table as Markdown (a pure function: tests call it), `TABLES` lists the
names. An unknown name fails the build.

The hook also serves two kinds of repository files on the site, so that a page can link them as
`../benchmarks/results-sweeps.md` or `../assets/home.svg` (the path that works on GitHub too):
the benchmark results (`benchmarks/results-*.md` and their `*.png` figures) and the dashboard's
pictures (`assets/*.svg`).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"^<!-- table:([a-z0-9-]+) -->$", re.M)
# repository folders whose files are served on the site under the same path (see on_files)
SERVED = {"benchmarks": ("results-*.md", "*.png"), "assets": ("*.svg",)}


# ------------------------------------------------------------------------------ Markdown


def _text(value) -> str:
    """Text from a docstring or a help string as Markdown: outside code spans, `<` and `>` escaped
    (`lin_<x>` would be an HTML tag, and vanish)."""
    parts = str(value).split("`")
    return "`".join(p if i % 2 else p.replace("<", "&lt;").replace(">", "&gt;") for i, p in enumerate(parts))


def _cell(value) -> str:
    """Text for one table cell, on one line, its pipes escaped outside code spans (Python-Markdown's
    tables leave a pipe inside backticks alone, and would show an escaped one there as `\\|`)."""
    parts = _text(" ".join(str(value).split())).split("`")
    return "`".join(p if i % 2 else p.replace("|", "\\|") for i, p in enumerate(parts))


def _code(value) -> str:
    return f"`{value}`" if value not in ("", None) else ""


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _yes(flag) -> str:
    return "yes" if flag else ""


# ------------------------------------------------------------------------------ the registries


def algorithms() -> str:
    """lab.rl.algos.ALGOS: one row per algorithm."""
    from lab.rl.algos import ALGOS

    rows = []
    for name, a in ALGOS.items():
        engines = "Gymnasium" + (", torch engine" if a.torch_agent else "")
        rows.append([_code(name), a.title, a.library, ", ".join(a.action_spaces), engines,
                     _yes(getattr(a, "member_settings", ())), _yes(getattr(a, "compiles", False))])
    return _table(["`agent.algo`", "algorithm", "implementation", "action spaces", "engines", "populations",
                   "compiles"], rows)


def methods() -> str:
    """lab.xai.methods.METHODS: one row per attribution method."""
    from lab.xai.methods import METHODS

    rows = []
    for name, m in METHODS.items():
        params = ", ".join(f"{k} = {v!r}" for k, v in m.params.items())
        rows.append([_code(name), m.library, ", ".join(m.data), m.reference or "", _yes(m.stochastic),
                     _yes(m.default), _code(params) if params else "", m.note])
    return _table(["method", "library", "inputs", "sums to f(x) minus f at the", "sampled (seeded)",
                   "runs by default", "parameters (`explain.params`)", "what it is"], rows)


def datasets() -> str:
    """lab.xai.data.DATASETS: one row per dataset."""
    from lab.xai.data import DATASETS

    rows = []
    for name, d in DATASETS.items():
        inputs = "images " + "x".join(map(str, d.image_shape)) if d.image_shape else "tabular"
        rows.append([_code(name), inputs + (", from your file (`data.path`)" if d.from_file else ""), d.description])
    return _table(["`data.dataset`", "inputs", "what it is"], rows)


def architectures() -> str:
    """lab.xai.models.ARCHS: one row per classifier architecture."""
    from lab.xai.models import ARCHS

    rows = [[_code(name), "images only" if a.images else "any", a.description] for name, a in ARCHS.items()]
    return _table(["`model.arch`", "inputs", "what it is"], rows)


def engine_envs() -> str:
    """lab.engine.registry.ENVS: the environments lab's torch engine has its own versions of."""
    from lab.engine.registry import ENVS

    def space(s) -> str:
        return f"Discrete({s.n})" if hasattr(s, "n") else f"Box{tuple(s.shape)}"

    rows = []
    for env_id, cls in ENVS.items():
        rows.append([_code(env_id), _code(f"{cls.__module__}.{cls.__name__}"), space(cls.gym_observation_space),
                     space(cls.gym_action_space), f"{cls.max_episode_steps:,}" if getattr(cls, "max_episode_steps", None) else ""])
    return _table(["`env.id`", "class", "observations", "actions", "time limit (steps)"], rows)


def experiments() -> str:
    """The built-in experiment and sweep files (experiments/*.toml), as `lab list` lists them."""
    from lab.spec import builtin_experiments

    rows = []
    for name, path in builtin_experiments().items():
        raw = tomllib.loads(path.read_text())
        kind = raw.get("kind", "rl")
        what = raw.get("sweep", {}).get("experiment", "") if kind == "sweep" else raw.get("agent", {}).get("algo", "")
        where = raw.get("env", {}).get("id", "") or raw.get("data", {}).get("dataset", "")
        rows.append([_code(name), kind, _code(what) if what else "", where, raw.get("description", "")])
    return _table(["name", "kind", "algorithm (sweeps: experiment)", "environment or dataset", "what it is"], rows)


# ------------------------------------------------------------------------------ settings


def _settings_rows(settings) -> list[list]:
    from lab.display import inline_toml

    rows = []
    for s in settings:
        default = "(required)" if s.required else _code(inline_toml(s.default)) if s.default is not None else ""
        rows.append([_code(s.key), _code(s.type), default, s.description])
    return rows


_SETTING_HEADER = ["key", "type", "default", "description"]


def settings_rl() -> str:
    """Every setting of an RL experiment but the algorithm's own (those: settings_agent)."""
    from lab.spec import settings

    return _table(_SETTING_HEADER, _settings_rows(settings({"kind": "rl"})))


def settings_agent() -> str:
    """Each algorithm's `[agent]` settings, from its schema in the algorithm table."""
    from lab.rl.algos import ALGOS
    from lab.spec import settings

    parts = []
    for name, a in ALGOS.items():
        rows = [s for s in settings({"kind": "rl", "agent": {"algo": name}})
                if s.key.startswith("agent.") and s.key not in ("agent.algo", "agent.total_steps")]
        parts.append(f"### `{name}`: {a.title}\n\n`algo = \"{name}\"`, `total_steps` and:\n\n"
                     + _table(_SETTING_HEADER, _settings_rows(rows)))
    return "\n".join(parts)


def settings_attribution() -> str:
    """Every setting of an attribution experiment (`kind = "attribution"`)."""
    from lab.spec import settings

    return _table(_SETTING_HEADER, _settings_rows(settings({"kind": "attribution"})))


def _model_rows(model, prefix: str) -> list[list]:
    from lab.display import inline_toml
    from lab.spec import _type_name

    rows = []
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        key = prefix + (field.alias or name)
        if field.is_required():
            default = "(required)"
        else:
            value = field.get_default(call_default_factory=True)
            default = _code(inline_toml(value)) if value is not None else ""
        rows.append([_code(key), _code(_type_name(field.annotation)), default, field.description or ""])
    return rows


def settings_sweep() -> str:
    """Every setting of a sweep file's `[sweep]` table, and of a range in `[sweep.params]`."""
    from lab.sweep.spec import Range, SweepSettings

    return (_table(_SETTING_HEADER, _model_rows(SweepSettings, "sweep."))
            + "\nA range in `[sweep.params]` (`{ low = 1e-4, high = 1e-2, log = true }`):\n\n"
            + _table(_SETTING_HEADER, _model_rows(Range, "")))


# ------------------------------------------------------------------------------ the CLI and the API


def _parser():
    from lab import cli

    return (getattr(cli, "build_parser", None) or cli._parser)()


def _subcommands(parser):
    """(name, help, subparser) of each command, in the parser's order."""
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield name, helps.get(name, ""), sub


def cli() -> str:
    """The commands of `lab`, from its argparse parser: one row each (subcommands too)."""
    rows = []
    for name, help_, sub in _subcommands(_parser()):
        nested = list(_subcommands(sub))
        if nested:
            rows += [[_code(f"lab {name} {n}"), h] for n, h, _ in nested]
        else:
            rows.append([_code(f"lab {name}"), help_])
    return _table(["command", "what it does"], rows)


def _usage(parser) -> str:
    import argparse
    import functools

    parser.formatter_class = functools.partial(argparse.HelpFormatter, width=10_000)
    return parser.format_usage().removeprefix("usage: ").strip()


def _options(parser) -> list[list]:
    import argparse

    rows = []
    for a in parser._actions:
        if a.help == argparse.SUPPRESS or isinstance(a, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        name = ", ".join(a.option_strings) if a.option_strings else (a.metavar or a.dest)
        if a.option_strings and a.nargs != 0:
            name += f" {a.metavar or a.dest.upper()}" if not a.choices else " {" + ",".join(map(str, a.choices)) + "}"
        rows.append([_code(name), a.help or ""])
    return rows


def cli_options() -> str:
    """Each command's usage, description and options, from the parser."""
    parts = []
    commands = [(f"lab {n}", h, s) for n, h, s in _subcommands(_parser())]
    for name, help_, sub in list(commands):
        nested = [(f"{name} {n}", h, s) for n, h, s in _subcommands(sub)]
        for title, text, parser in nested or [(name, help_, sub)]:
            parts.append(f"### `{title}`\n\n```\n{_usage(parser)}\n```\n\n{_text(parser.description or text)}\n")
            options = _options(parser)
            if options:
                parts.append(_table(["argument", "what it is"], options))
    return "\n".join(parts)


def api() -> str:
    """The public Python API: lab.__all__, each name's signature and first docstring paragraph."""
    import inspect

    import lab

    rows = []
    for name in lab.__all__:
        obj = getattr(lab, name)
        try:
            signature = f"lab.{name}{inspect.signature(obj)}" if inspect.isfunction(obj) else f"lab.{name}"
        except (TypeError, ValueError):
            signature = f"lab.{name}"
        doc = inspect.getdoc(obj) or ""
        rows.append([_code(signature), doc.split("\n\n")[0]])
    return _table(["name", "what it is"], rows)


def import_contracts() -> str:
    """The import-linter contracts in pyproject.toml (checked by `lint-imports`), one row each."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text()).get("tool", {}).get("importlinter", {})
    rows = []
    for c in config.get("contracts", []):
        detail = {k: v for k, v in c.items() if k not in ("name", "type", "id")}
        rows.append([c.get("name", ""), c.get("type", ""),
                     "; ".join(f"{k}: {', '.join(v) if isinstance(v, list) else v}" for k, v in detail.items())])
    if not rows:
        return "*(pyproject.toml holds no import-linter contracts yet.)*\n"
    return _table(["contract", "kind", "what it names"], rows)


TABLES = {
    "algorithms": algorithms,
    "methods": methods,
    "datasets": datasets,
    "architectures": architectures,
    "engine-envs": engine_envs,
    "experiments": experiments,
    "settings-rl": settings_rl,
    "settings-agent": settings_agent,
    "settings-attribution": settings_attribution,
    "settings-sweep": settings_sweep,
    "cli": cli,
    "cli-options": cli_options,
    "api": api,
    "import-contracts": import_contracts,
}


def table(name: str) -> str:
    """The generated table `name` (a key of TABLES) as Markdown."""
    if name not in TABLES:
        raise KeyError(f"unknown docs table {name!r} (known: {', '.join(TABLES)})")
    return TABLES[name]()


def render(markdown: str) -> str:
    """`markdown` with every `<!-- table:NAME -->` marker replaced by its table."""
    return MARKER.sub(lambda m: table(m.group(1)), markdown)


# ------------------------------------------------------------------------------ MkDocs events


def on_files(files, config):
    """Serve the benchmark results and the dashboard's pictures beside the pages."""
    from mkdocs.structure.files import File

    for folder, patterns in SERVED.items():
        for path in sorted(p for pattern in patterns for p in (REPO / folder).glob(pattern)):
            files.append(File(f"{folder}/{path.name}", str(REPO), config["site_dir"], config["use_directory_urls"]))
    return files


# a link from a page (every page sits at the top of docs/) to a served repository file
_REPO_LINK = re.compile(r"\]\(\.\./((?:" + "|".join(SERVED) + r")/[^)\s]+)\)")


def on_page_markdown(markdown, page, config, files):
    return _REPO_LINK.sub(r"](\1)", render(markdown))
