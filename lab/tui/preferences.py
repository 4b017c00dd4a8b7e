"""What the dashboard remembers between sessions (the theme), in the user's settings file
(`lab.settings`: $LAB_CONFIG_DIR or $XDG_CONFIG_HOME/lab or ~/.config/lab, as settings.json)."""

from __future__ import annotations

import json

from lab.settings import load, path

__all__ = ["load", "path", "save"]


def save(**values) -> None:
    """Merge values into the file; a read-only home keeps the dashboard going, unremembered."""
    from lab.store import write_atomic

    target = path()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, json.dumps({**load(), **values}, indent=1) + "\n")
    except OSError:
        pass
