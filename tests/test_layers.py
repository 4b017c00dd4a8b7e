"""lab's layers hold: `lint-imports` keeps every contract of pyproject.toml's [tool.importlinter]
(imports point down, only the dashboard imports Textual, the domain never imports the dashboard,
the CLI, the launcher or sweeps, no import cycles). It parses the source; nothing is imported."""

import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_the_import_contracts_name_the_layers_textual_the_domain_and_cycles():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    assert config["root_package"] == "lab"
    assert {c["id"] for c in config["contracts"]} >= {"layers", "textual-only-in-tui", "domain-below-core", "no-cycles"}


def test_lint_imports_keeps_every_contract():
    lint = Path(sys.executable).parent / "lint-imports"
    proc = subprocess.run([str(lint), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout
