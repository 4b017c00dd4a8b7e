"""Code an experiment names: 'module:Name' (an agent class, an environment class), and the one
rule for importing it.

A module named by an experiment the user gives lab (their own file, a dict, the command line) is
imported, from Python's path or the current directory, as `python -m` would find it. A module
named by a run or sweep folder (its spec.toml, sweep.toml or best.toml, or a spec that a lab
process passes on to the one it starts) is not: folders are data, and opening a folder someone
else made must not run their code. It is imported only when the user allows it by name:

- on the command line, for one command: `--allow-module NAME` (repeatable);
- in the environment: LAB_ALLOW_MODULES="gridworld,my_envs" (commas or spaces);
- in their own settings file (`lab.settings`): "allow_modules": ["gridworld"].

Allowing a package allows its submodules; lab's own modules (`lab.*`) need no allowance. An
allowed module is imported as one an experiment file names (Python's path, then the current
directory). Whatever goes wrong is one BadInput line naming the file and the key.

The processes lab starts (runs, sweeps, the dashboard's player) get what this process allows
explicitly, on their command line (`child_args`) or in their environment (`child_env`), and start
with Python's -P (`lab_command`): the current directory does not go first on their path, so a
`numpy.py` or `lab.py` there shadows nothing.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import os
import re
import sys
from collections.abc import Iterable, Iterator

from lab.errors import BadInput, one_line

ALLOW_ENV = "LAB_ALLOW_MODULES"
ALLOW_KEY = "allow_modules"  # in the user's settings file
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")

_allowed: set[str] = set()  # --allow-module, in this process
_named_by_user: set[str] = set()  # named by an experiment the user gave this process
_folder_data = contextvars.ContextVar("lab_folder_data", default=False)


# ------------------------------------------------------------------------------ what is allowed

def allow(modules: Iterable[str], where: str = "--allow-module") -> None:
    """Allow these modules for the rest of this process (a command's --allow-module); BadInput
    for a name that is not a module's."""
    for name in modules:
        if not isinstance(name, str) or not _MODULE.fullmatch(name):
            raise BadInput(f"{where} {name!r}: not a module name (e.g. gridworld or my_pkg.envs)")
        _allowed.add(name)


def _listed() -> set[str]:
    """The user's standing allowance: LAB_ALLOW_MODULES and their settings file's allow_modules
    (names that are not modules' are ignored)."""
    from lab import settings

    names = set(re.split(r"[,\s]+", os.environ.get(ALLOW_ENV, "")))
    listed = settings.load().get(ALLOW_KEY)
    if isinstance(listed, list):
        names.update(n for n in listed if isinstance(n, str))
    return {n for n in names if _MODULE.fullmatch(n)}


def granted() -> list[str]:
    """Every module this process may import on a folder's say-so, beyond lab's own (what it
    passes on to the processes it starts)."""
    return sorted(_allowed | _named_by_user | _listed())


def allowed(module: str) -> bool:
    """Whether `module` may be imported: lab's own, named by the user's own experiment in this
    process, or allowed (it or a package above it) on the command line, in LAB_ALLOW_MODULES or
    in the settings file."""
    if not isinstance(module, str) or not _MODULE.fullmatch(module):
        return False
    parts = module.split(".")
    if parts[0] == "lab":
        return True
    given = _allowed | _named_by_user | _listed()
    return any(".".join(parts[:i]) in given for i in range(1, len(parts) + 1))


def how_to_allow(module: str) -> str:
    from lab import settings

    return (f"--allow-module {module} (or {ALLOW_ENV}={module}, or \"{ALLOW_KEY}\": [\"{module}\"] in "
            f"{settings.shown_path()})")


def refusal(ref: str, key: str) -> str:
    """The one line (after the file's name) that says a folder's `key` = `ref` ('module:Name', or
    a module's name) is not imported, and how to allow it."""
    module = ref.partition(":")[0]
    if not _MODULE.fullmatch(module):
        return f"{key}: {ref!r} names no module lab could import (expected 'module:Name', e.g. 'my_envs:GridWorld')"
    named = f"{ref!r} names module '{module}'" if ":" in ref else f"module '{module}'"
    return (f"{key}: {named}, and lab imports no code that a run or sweep folder names (folders are data); "
            f"if you trust it, allow it: {how_to_allow(module)}")


# ------------------------------------------------------------------------------ where a spec came from

@contextlib.contextmanager
def folder_data() -> Iterator[None]:
    """Everything validated in this block (in this thread) was read from a run or sweep folder:
    the modules it names are imported only if allowed."""
    token = _folder_data.set(True)
    try:
        yield
    finally:
        _folder_data.reset(token)


def reading_folder() -> bool:
    """Whether this code runs inside `folder_data()`."""
    return _folder_data.get()


def permit(ref: str, key: str, from_folder: bool) -> str | None:
    """Before validation imports what `key` = `ref` ('module:Name') names: a module named by the
    user's own experiment is recorded as theirs (this process, and those it starts, may import it);
    one a folder names must be allowed, else the refusal line (None: go on)."""
    module, sep, _ = ref.partition(":")
    if not sep or not module:
        return None  # not 'module:...': nothing to import
    if not _MODULE.fullmatch(module) or from_folder or reading_folder():
        return None if allowed(module) else refusal(ref, key)
    _named_by_user.add(module)
    return None


# ------------------------------------------------------------------------------ importing

def load_object(ref: str, key: str, source: str | None = None):
    """The object `ref` = 'module:Name' names; BadInput for a malformed ref, a module that is not
    allowed or cannot be imported (or fails when imported) and a name the module does not have:
    one line that starts with `source` (the experiment file), where given, and `key`."""
    try:
        return _load(ref, key)
    except BadInput as e:
        raise BadInput(f"{source}: {e}" if source else str(e), key=key) from None


def _load(ref: str, key: str):
    module_name, sep, name = ref.partition(":")
    if not sep or not module_name or not name.isidentifier():
        raise BadInput(f"{key}: {ref!r} is not 'module:Name' (e.g. 'my_agents:MyPPO')", key=key)
    if not allowed(module_name):
        raise BadInput(refusal(ref, key), key=key)
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
        sys.path.append(cwd)  # last: the current directory never shadows an installed module
    try:
        return importlib.import_module(module_name)
    finally:
        if added:
            sys.path.remove(cwd)


def import_module(module_name: str, key: str = "env.id"):
    """A module imported as `load_object` imports one: from Python's path or the current directory
    (an experiment's `env.id = "module:Id"` or "module:Class" too). BadInput for a module that is
    not allowed (`allowed`): validation refuses those first, this is the guard behind it."""
    if not allowed(module_name):
        raise BadInput(refusal(module_name, key), key=key)
    return _import(module_name)


# ------------------------------------------------------------------------------ the processes lab starts

def lab_command(*args: str) -> list[str]:
    """`python -P -m lab ARGS`: lab in a child process, with nothing imported from the current
    directory ahead of the installed packages."""
    return python_command("lab", *args)


def python_command(module: str, *args: str) -> list[str]:
    return [sys.executable, "-P", "-m", module, *args]


def child_args() -> list[str]:
    """This process's allowance as `lab` arguments (--allow-module NAME ...), for a lab command it starts."""
    return [arg for name in granted() for arg in ("--allow-module", name)]


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a lab helper process this one starts: this one's, with its allowance."""
    return {**os.environ, ALLOW_ENV: ",".join(granted()), **extra}
