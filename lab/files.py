"""Opening files that someone else made (run folders, experiment files, data) as data: only
regular files. A FIFO named summary.json would block a reader forever, and /dev/zero given as an
experiment file would be read until memory runs out; both are refused with a reason instead."""

from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO

_KINDS = {stat.S_IFIFO: "a named pipe", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
          stat.S_IFSOCK: "a socket", stat.S_IFDIR: "a directory"}


class NotARegularFile(OSError):
    pass


def open_regular(path: str | os.PathLike) -> BinaryIO:
    """The file opened for binary reading, if it is a regular file (symlinks followed); else
    NotARegularFile (an OSError) whose strerror says what it is. Opening never blocks."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO opens at once instead of waiting for a writer
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
            raise NotARegularFile(errno.EINVAL, f"{kind}, not a regular file", str(path))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike) -> bytes:
    with open_regular(path) as f:
        return f.read()
