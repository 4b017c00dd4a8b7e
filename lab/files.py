"""Opening files that someone else made (run folders, experiment files, data) as data: only
regular files. A FIFO named summary.json would block a reader forever, and /dev/zero given as an
experiment file would be read until memory runs out; both are refused with a reason instead."""

from __future__ import annotations

import errno
import json
import math
import os
import re
import stat
from typing import BinaryIO

_KINDS = {stat.S_IFIFO: "a named pipe", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
          stat.S_IFSOCK: "a socket", stat.S_IFDIR: "a directory"}


class NotARegularFile(OSError):
    pass


def kind_of(mode: int) -> str:
    """What a file of this st_mode is, in words: 'a character device', 'a directory'; 'a regular
    file' for one."""
    return "a regular file" if stat.S_ISREG(mode) else _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def open_regular(path: str | os.PathLike) -> BinaryIO:
    """The file opened for binary reading, if it is a regular file (symlinks followed); else
    NotARegularFile (an OSError) whose strerror says what it is. Opening never blocks."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO opens at once instead of waiting for a writer
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotARegularFile(errno.EINVAL, f"{kind_of(mode)}, not a regular file", str(path))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike, limit: int | None = None) -> bytes:
    """The file's bytes; with `limit`, at most limit + 1 of them (more than `limit`: too large)."""
    with open_regular(path) as f:
        return f.read() if limit is None else f.read(limit + 1)


MAX_JSON_DEPTH = 64  # lab's own JSON files nest a few levels
MAX_TOML_BYTES = 16 << 20  # an experiment, spec.toml or sweep file is a few KB


MAX_TOML_KEY_DEPTH = 64  # lab's keys have two or three parts (agent.policy.net_arch)


_KEY_PART = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_DEEP_KEY = re.compile(rf"{_KEY_PART}(?:[ \t]*\.[ \t]*{_KEY_PART}){{{MAX_TOML_KEY_DEPTH},}}")


def toml_data(text: str) -> dict:
    """TOML from a file someone else made: tomllib.TOMLDecodeError (a ValueError), never
    RecursionError, for arrays or inline tables nested too deeply for tomllib's recursive parser,
    and for a dotted key of more than MAX_TOML_KEY_DEPTH parts (tomllib's time and memory grow
    with the square of a key's depth: a 50,000-part key took 6 GB)."""
    import tomllib

    for number, line in enumerate(text.splitlines(), 1):
        # counted before tomllib builds the tables: a chain of key parts anywhere on the line (a
        # quoted part may hold '=', an inline table's keys follow one)
        if line.count(".") >= MAX_TOML_KEY_DEPTH and _DEEP_KEY.search(line):
            raise tomllib.TOMLDecodeError(f"line {number}: a dotted key of more than {MAX_TOML_KEY_DEPTH} parts")
    try:
        return tomllib.loads(text)
    except RecursionError:
        raise tomllib.TOMLDecodeError("arrays or tables nested too deeply") from None


def read_toml(path: str | os.PathLike) -> dict:
    """A TOML file someone else made, as `toml_data` reads it: OSError or UnicodeDecodeError when
    it cannot be read, tomllib.TOMLDecodeError when it is not TOML or over MAX_TOML_BYTES."""
    import tomllib

    data = read_regular(path, limit=MAX_TOML_BYTES)
    if len(data) > MAX_TOML_BYTES:
        raise tomllib.TOMLDecodeError(f"larger than {MAX_TOML_BYTES >> 20} MiB")
    return toml_data(data.decode("utf-8"))


def json_data(text: str | bytes, max_depth: int = MAX_JSON_DEPTH):
    """JSON from a file someone else made: ValueError, never RecursionError, for nesting deeper
    than `max_depth` (a 100,000-deep list, which every recursive reader after the parser would
    choke on too), and for what JSON does not have but Python's parser takes: NaN, Infinity,
    floats too large to be finite (1e999) and integers beyond 64 bits (9 * 400: no float or
    array holds them, and a reader formatting one as a float raised OverflowError)."""
    try:
        data = json.loads(text, parse_constant=_not_a_number, parse_float=_finite, parse_int=bounded_int)
    except RecursionError:
        raise ValueError(f"nested deeper than {max_depth} levels") from None
    level, depth = [data], 0
    while level:  # breadth first, without recursion
        depth += 1
        if depth > max_depth:
            raise ValueError(f"nested deeper than {max_depth} levels")
        level = [v for x in level if isinstance(x, (dict, list)) for v in (x.values() if isinstance(x, dict) else x)
                 if isinstance(v, (dict, list))]
    return data


MAX_INT = 2**63  # lab writes no integer beyond 64 bits (steps, seeds, counts)


def bounded_int(text: str) -> int:
    """json.loads' parse_int: ValueError for an integer of 64 bits or more, as for 1e999."""
    if len(text) > 20:
        raise ValueError(f"{text[:20]}... ({len(text)} digits) is beyond a 64-bit integer")
    value = int(text)
    if not -MAX_INT <= value < MAX_INT:
        raise ValueError(f"{text} is beyond a 64-bit integer")
    return value


MAX_JSON_BYTES = 32 << 20  # lab's artifact JSON (comparison, robustness) is a few KB


def read_json(path: str | os.PathLike, limit: int = MAX_JSON_BYTES):
    """A JSON file someone else made, as `json_data` reads it; ValueError for one over `limit`
    bytes, read no further (300 MB of empty objects took 6 GB to parse)."""
    data = read_regular(path, limit=limit)
    if len(data) > limit:
        raise ValueError(f"larger than the {limit >> 20} MiB lab reads")
    return json_data(data)


def _not_a_number(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:40]} is not a finite number")
    return value
