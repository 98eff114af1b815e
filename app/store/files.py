"""Reading files the user picks (draft imports) with a size cap before anything is parsed."""

from __future__ import annotations

from pathlib import Path

from app.domain.draft_import import MAX_IMPORT_BYTES
from app.domain.errors import DraftImportError


def read_draft_file(path: Path, *, limit: int = MAX_IMPORT_BYTES) -> bytes:
    """The bytes of a draft-import file; DraftImportError when missing, unreadable or too big."""
    try:
        size = path.stat().st_size
        if size > limit:
            raise DraftImportError(
                "$", f"the file is {size / 1_048_576:.1f} MB; the limit is {limit // 1_048_576} MB"
            )
        with path.open("rb") as fh:
            data = fh.read(limit + 1)  # the file may have grown since stat()
    except OSError as exc:
        raise DraftImportError(
            "$", f"the file {path.name} cannot be read ({exc.strerror or exc})"
        ) from exc
    if len(data) > limit:
        raise DraftImportError("$", f"the file is larger than the limit of {limit // 1_048_576} MB")
    return data
