"""Code an experiment file names: 'module:Name' (an agent class, an environment class).

The module is imported from Python's path or the current directory, as `python -m` would find
it; whatever goes wrong is one BadInput line naming the file and the key. Only what an
experiment file the user runs names is imported this way.
"""

from __future__ import annotations

import importlib
import os
import sys

from lab.errors import BadInput, one_line


def load_object(ref: str, key: str, source: str | None = None):
    """The object `ref` = 'module:Name' names; BadInput for a malformed ref, a module that cannot
    be imported (or fails when imported) and a name the module does not have: one line that
    starts with `source` (the experiment file), where given, and `key`."""
    try:
        return _load(ref, key)
    except BadInput as e:
        raise BadInput(f"{source}: {e}" if source else str(e), key=key) from None


def _load(ref: str, key: str):
    module_name, sep, name = ref.partition(":")
    if not sep or not module_name or not name.isidentifier():
        raise BadInput(f"{key}: {ref!r} is not 'module:Name' (e.g. 'my_agents:MyPPO')", key=key)
    try:
        module = _import(module_name)
    except ImportError as e:
        raise BadInput(f"{key}: cannot import module '{module_name}' ({one_line(e)}); put {module_name}.py in "
                       "the current directory or install the package that provides it", key=key) from None
    except (Exception, SystemExit) as e:  # the module's own bug, or an exit, is one line too
        what = f"exits (SystemExit {e.code!r})" if isinstance(e, SystemExit) else f"raises {type(e).__name__}: {one_line(e)}"
        raise BadInput(f"{key}: module '{module_name}' {what} when imported; fix it", key=key) from None
    if not hasattr(module, name):
        raise BadInput(f"{key}: module '{module_name}' has no {name!r}", key=key)
    return getattr(module, name)


def _import(module_name: str):
    if module_name in sys.modules:
        return sys.modules[module_name]
    cwd = os.getcwd()
    added = cwd not in sys.path and "" not in sys.path
    if added:
        sys.path.append(cwd)
    try:
        return importlib.import_module(module_name)
    finally:
        if added:
            sys.path.remove(cwd)


def import_module(module_name: str):
    """A module imported as `load_object` imports one: from Python's path or the current directory
    (an experiment's `env.id = "module:Id"` or "module:Class" too)."""
    return _import(module_name)
