"""Reading files the user picks (draft imports): only a regular file (a FIFO or a device never
blocks the app), size-capped before anything is parsed (app._user_files)."""

from __future__ import annotations

from pathlib import Path

from app._user_files import UserFileError, read_user_file
from app.domain.draft_import import MAX_IMPORT_BYTES
from app.domain.errors import DraftImportError


def read_draft_file(path: Path, *, limit: int = MAX_IMPORT_BYTES) -> bytes:
    """The bytes of a draft-import file; DraftImportError when it is missing, not a regular
    file, unreadable or too big."""
    try:
        return read_user_file(path, limit=limit)
    except UserFileError as exc:
        raise DraftImportError("$", f"the file {path.name} {exc.problem}") from None
