"""The README is a front door and the docs site builds: `mkdocs build --strict` passes, the generated
tables list exactly what the registries hold, the README stays short and its links lead somewhere."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"


@pytest.fixture(scope="module")
def hooks():
    """docs/hooks.py, the build hook that generates the tables, imported as a module."""
    spec = importlib.util.spec_from_file_location("lab_docs_hooks", REPO / "docs" / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _first_column(markdown: str) -> list[str]:
    """The first cell of each body row of a Markdown table, without its backticks."""
    rows = [line for line in markdown.splitlines() if line.startswith("| ")][1:]  # less the header
    return [row.split(" | ")[0].removeprefix("| ").strip("`") for row in rows]


def test_mkdocs_build_strict_passes(tmp_path):
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
                          cwd=REPO, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    for page in ("index.html", "settings/index.html", "cli/index.html", "benchmarks/results-sweeps/index.html"):
        assert (tmp_path / "site" / page).is_file(), page
    settings = (tmp_path / "site" / "settings" / "index.html").read_text()
    assert "<!-- table:" not in settings and "agent.learning_rate" in settings


def test_methods_table_lists_exactly_the_method_registry(hooks):
    from lab.xai.methods import METHODS

    assert _first_column(hooks.table("methods")) == list(METHODS)


def test_algorithms_table_lists_exactly_the_algorithm_registry(hooks):
    from lab.rl.algos import ALGOS

    assert _first_column(hooks.table("algorithms")) == list(ALGOS)


def test_datasets_architectures_and_engine_envs_tables_list_their_registries(hooks):
    from lab.engine.registry import ENVS
    from lab.xai.data import DATASETS
    from lab.xai.models import ARCHS

    assert _first_column(hooks.table("datasets")) == list(DATASETS)
    assert _first_column(hooks.table("architectures")) == list(ARCHS)
    assert _first_column(hooks.table("engine-envs")) == list(ENVS)


def test_a_method_added_to_the_table_appears_in_the_generated_page(hooks, monkeypatch):
    from lab.xai import methods

    extra = methods.Method("made_up_attribution", "lab", lambda ctx, x, t, width=3: x, note="a method only this test has")
    monkeypatch.setattr(methods, "METHODS", {**methods.METHODS, extra.name: extra})
    page = hooks.render("# Methods\n\n<!-- table:methods -->\n")
    assert "| `made_up_attribution` | lab |" in page
    assert "`width = 3`" in page and "a method only this test has" in page
    assert _first_column(page.split("# Methods")[1]) == list(methods.METHODS)


def test_settings_tables_hold_every_key_of_the_schemas(hooks):
    from lab.rl.algos import ALGOS
    from lab.spec import settings

    rl = _first_column(hooks.table("settings-rl"))
    assert rl == [s.key for s in settings({"kind": "rl"})]
    agent = hooks.table("settings-agent")
    for name, algo in ALGOS.items():
        assert f"### `{name}`" in agent
        for field in algo.params.model_fields:
            if field not in ("algo", "total_steps"):
                assert f"`agent.{field}`" in agent, (name, field)
    attribution = _first_column(hooks.table("settings-attribution"))
    assert attribution == [s.key for s in settings({"kind": "attribution"})]


def test_cli_table_lists_every_command_of_the_parser(hooks):
    from lab.cli import _parser

    commands = [c.removeprefix("lab ") for c in _first_column(hooks.table("cli"))]
    sub = next(a for a in _parser()._actions if a.dest == "command")
    assert [c.split()[0] for c in commands] == list(sub.choices)


def test_generated_text_keeps_angle_brackets_and_pipes_visible(hooks):
    assert hooks._cell("Adam step size, or lin_<x>") == "Adam step size, or lin_&lt;x&gt;"
    assert hooks._cell("`str | None` or a | b") == "`str | None` or a \\| b"


def test_an_unknown_table_marker_fails_the_build(hooks):
    with pytest.raises(KeyError, match="unknown docs table 'nonesuch'"):
        hooks.render("<!-- table:nonesuch -->\n")


def test_readme_is_at_most_250_lines():
    assert len(README.read_text().splitlines()) <= 250


def test_every_relative_link_in_the_readme_points_to_a_file_that_exists():
    links = re.findall(r"\]\(([^)\s]+)\)", README.read_text())
    relative = [link.split("#")[0] for link in links if not re.match(r"[a-z]+:", link) and not link.startswith("#")]
    assert relative, "the README links nothing"
    missing = [link for link in relative if not (REPO / link).exists()]
    assert not missing, missing
