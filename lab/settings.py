"""The user's own settings: one JSON file, $LAB_CONFIG_DIR/settings.json, else
$XDG_CONFIG_HOME/lab/settings.json, else ~/.config/lab/settings.json.

Only the user writes it (by hand, or the dashboard, which remembers its theme there); nothing in a
run or sweep folder does. So it is where lab looks for what the user trusts: `allow_modules`, the
modules lab may import when a run or sweep folder names them (`lab.plugins`):

    {"theme": "textual-dark", "allow_modules": ["gridworld", "my_envs"]}
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def path() -> Path:
    base = os.environ.get("LAB_CONFIG_DIR")
    if base:
        return Path(base) / "settings.json"
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "lab" / "settings.json"


def shown_path() -> str:
    """`path()` as a message shows it: ~ for the home folder."""
    text, home = str(path()), str(Path.home())
    return "~" + text[len(home):] if home not in ("", "/") and text.startswith(home + os.sep) else text


def load() -> dict:
    """The settings; {} when the file is missing, unreadable or not a JSON table."""
    from lab.files import read_regular

    try:
        data = json.loads(read_regular(path()))
    except (OSError, ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}
