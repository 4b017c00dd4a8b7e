"""What the dashboard remembers between sessions (the theme), in
$LAB_CONFIG_DIR or $XDG_CONFIG_HOME/lab or ~/.config/lab, as settings.json."""

from __future__ import annotations

import json
import os
from pathlib import Path


def path() -> Path:
    base = os.environ.get("LAB_CONFIG_DIR")
    if base:
        return Path(base) / "settings.json"
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "lab" / "settings.json"


def load() -> dict:
    try:
        data = json.loads(path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save(**values) -> None:
    """Merge values into the file; a read-only home keeps the dashboard going, unremembered."""
    from lab.store import write_atomic

    target = path()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, json.dumps({**load(), **values}, indent=1) + "\n")
    except OSError:
        pass
