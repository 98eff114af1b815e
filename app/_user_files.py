"""Reading a file a person chose or configured (sites.toml, a CA bundle, a draft to import, a
note template): only a regular file, at most ``limit`` bytes, and never waiting.

A named pipe (FIFO) opened for reading blocks until a writer comes, a device such as
``/dev/zero`` never ends, a directory or a socket cannot be read at all: each is refused with
words saying what the path is. The file is checked with ``stat`` first, opened non-blocking and
checked again on the open descriptor (the path may have been replaced in between), and read
only up to the limit. A leaf module with no imports from the app, so every layer may use it.
"""

from __future__ import annotations

import os
import stat
from enum import Enum
from pathlib import Path

_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)  # a FIFO swapped in after stat() does not block open()
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_BINARY", 0)
)
_CHUNK = 1 << 16


class FileProblem(Enum):
    MISSING = "missing"
    NOT_A_REGULAR_FILE = "not a regular file"
    TOO_LARGE = "too large"
    UNREADABLE = "unreadable"


class UserFileError(Exception):
    """``problem`` completes "the file <path> ..." in a sentence for people."""

    def __init__(self, kind: FileProblem, problem: str) -> None:
        super().__init__(problem)
        self.kind = kind
        self.problem = problem


def read_user_file(path: Path, *, limit: int) -> bytes:
    """The bytes of ``path``; UserFileError when it is not a readable regular file of at most
    ``limit`` bytes."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise UserFileError(FileProblem.MISSING, "does not exist") from None
    except OSError as exc:
        raise _unreadable(exc) from None
    _check(info, limit)
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        raise _unreadable(exc) from None
    try:
        _check(os.fstat(fd), limit)
        return _read_at_most(fd, limit)
    except OSError as exc:
        raise _unreadable(exc) from None
    finally:
        os.close(fd)


def describe_kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _check(info: os.stat_result, limit: int) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise UserFileError(
            FileProblem.NOT_A_REGULAR_FILE,
            f"is not a regular file (it is {describe_kind(info.st_mode)})",
        )
    if info.st_size > limit:
        raise UserFileError(FileProblem.TOO_LARGE, _too_large(info.st_size, limit))


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while total <= limit:  # the file may have grown since fstat()
        chunk = os.read(fd, min(_CHUNK, limit + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    if total > limit:
        raise UserFileError(FileProblem.TOO_LARGE, _too_large(total, limit))
    return b"".join(chunks)


def _too_large(size: int, limit: int) -> str:
    return f"is too large ({_size(size)}; the limit is {_size(limit)})"


def _size(n: int) -> str:
    return f"{n / 1_048_576:.1f} MB" if n >= 1_048_576 else f"{n / 1024:.0f} KB"


def _unreadable(exc: OSError) -> UserFileError:
    return UserFileError(FileProblem.UNREADABLE, f"cannot be read ({exc.strerror or exc})")
