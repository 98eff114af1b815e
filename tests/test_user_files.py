"""Reading a file a person chose or configured (app._user_files): regular files only, capped,
never waiting on a FIFO or a device."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from app._user_files import FileProblem, UserFileError, read_user_file


def test_a_regular_file_is_read_up_to_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"x" * 100)
    assert read_user_file(path, limit=100) == b"x" * 100
    with pytest.raises(UserFileError) as info:
        read_user_file(path, limit=99)
    assert info.value.kind is FileProblem.TOO_LARGE and "the limit is" in info.value.problem


def test_a_symlink_to_a_regular_file_is_followed(tmp_path: Path) -> None:
    (tmp_path / "real.txt").write_bytes(b"ok")
    (tmp_path / "link.txt").symlink_to(tmp_path / "real.txt")
    assert read_user_file(tmp_path / "link.txt", limit=10) == b"ok"


def test_what_is_not_a_regular_file_is_named(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "sock"))
    try:
        cases = {
            tmp_path / "pipe": "a named pipe (FIFO)",
            tmp_path / "sock": "a socket",
            tmp_path: "a folder",
            Path("/dev/zero"): "a device",
        }
        for path, kind in cases.items():
            with pytest.raises(UserFileError) as info:
                read_user_file(path, limit=1024)
            assert info.value.kind is FileProblem.NOT_A_REGULAR_FILE
            assert info.value.problem == f"is not a regular file (it is {kind})"
    finally:
        server.close()


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(UserFileError) as info:
        read_user_file(tmp_path / "absent", limit=10)
    assert info.value.kind is FileProblem.MISSING and info.value.problem == "does not exist"
    with pytest.raises(UserFileError) as info:
        read_user_file(tmp_path / "absent" / "below", limit=10)
    assert info.value.kind is FileProblem.MISSING
