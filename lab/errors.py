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
