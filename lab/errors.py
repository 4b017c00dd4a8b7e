"""Errors that reach the user as one clear line (exit code 2), never as a traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class BadInput(Exception):
    """Input the user can fix: a bad experiment file, override, run reference or argument.

    The message is complete on its own: where (file and key), what is wrong, what is allowed,
    and a suggestion where one fits.
    """

    exit_code = 2

    def __init__(self, message: str, key: str | None = None):
        super().__init__(message)
        self.key = key  # the dotted spec key at fault, where there is one (the dashboard marks its field)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest choice, or '' when none is close."""
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def one_of(choices: Iterable[str], limit: int = 12) -> str:
    items = sorted(choices)
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items)} in all)" if len(items) > limit else "")


def one_line(error: BaseException, limit: int = 240) -> str:
    """An exception's message as one line: its first line, cut to `limit` characters. Libraries
    put whole tensors and tracebacks into messages; a summary or a log line wants the gist."""
    text = str(error).strip()
    first = text.splitlines()[0].strip() if text else ""
    if first.endswith(":") and len(text.splitlines()) > 1:
        first = first[:-1]
    if len(first) > limit:
        first = first[:limit - 3].rstrip() + "..."
    return first or type(error).__name__


def checkpoint_error(error: BaseException) -> str:
    """Why a checkpoint did not load, in one line. torch's own message for a file that is not a
    weights file advises loading it with weights_only=False, which would run its code: not here."""
    import pickle
    import zipfile

    if isinstance(error, (pickle.UnpicklingError, zipfile.BadZipFile, EOFError)) or "PytorchStreamReader" in str(error):
        return f"not a checkpoint of weights: a corrupt, truncated or foreign file ({type(error).__name__})"
    if str(error).startswith("not a checkpoint of weights"):  # lab's own reader said so (lab.store.check_archive)
        return one_line(error)
    return f"{type(error).__name__}: {one_line(error)}"
