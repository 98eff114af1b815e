"""The watched folder on disk: list it, read a file (with the import size cap), file it away
in ``imported/`` or set it aside in ``rejected/`` with ``<name>.rejected.txt`` beside it.

Only the file being handled is moved (``os.replace``: atomic within one volume, so a file is
never half in two places) and only ``imported/``, ``rejected/`` and the ``.rejected.txt`` files
are created: nothing else in the folder is touched. The rules of which file is read when are
in ``app.domain.draft_inbox``.
"""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path

from app.domain.draft_inbox import (
    IMPORTED_DIR,
    REJECTED_DIR,
    REJECTED_SUFFIX,
    InboxEntry,
    aside_name,
    rejection_text,
)
from app.store.errors import InboxUnavailable
from app.store.files import read_draft_file


class InboxFolder:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def entries(self) -> list[InboxEntry]:
        """The regular files directly in the folder (sub-folders are not looked into)."""
        found: list[InboxEntry] = []
        try:
            with os.scandir(self.folder) as scan:
                for item in scan:
                    try:
                        if not item.is_file(follow_symlinks=False):
                            continue
                        info = item.stat(follow_symlinks=False)
                    except OSError:
                        continue  # gone or unreadable since the listing: seen next time
                    modified = datetime.fromtimestamp(info.st_mtime, UTC)
                    found.append(InboxEntry(item.name, info.st_size, modified))
        except OSError as exc:
            raise InboxUnavailable(self.folder, exc.strerror or type(exc).__name__) from exc
        return found

    def has(self, name: str) -> bool:
        return (self.folder / name).is_file()

    def read(self, name: str) -> bytes:
        """The file's bytes (DraftImportError when over the size limit or unreadable)."""
        return read_draft_file(self.folder / name)

    def file_away(self, name: str) -> str:
        """Move an imported file to ``imported/``; returns where it went (relative)."""
        return self._move(name, IMPORTED_DIR)

    def set_aside(self, name: str, reason: str, at: datetime, data: bytes | None) -> str:
        """Move a file to ``rejected/`` with ``<name>.rejected.txt`` beside it saying why; the
        text is written first, so a file is never set aside without its reason."""
        target_dir = self.folder / REJECTED_DIR
        target_dir.mkdir(exist_ok=True)
        target = aside_name(name, self._taken(target_dir))
        sha = hashlib.sha256(data).hexdigest() if data is not None else None
        note = target_dir / f"{target}{REJECTED_SUFFIX}"
        partial = target_dir / f".{target}{REJECTED_SUFFIX}.part"
        partial.write_text(rejection_text(name, reason, at, sha), encoding="utf-8")
        os.replace(partial, note)
        try:
            os.replace(self.folder / name, target_dir / target)
        except OSError:
            note.unlink(missing_ok=True)
            raise
        return f"{REJECTED_DIR}/{target}"

    def _move(self, name: str, sub: str) -> str:
        target_dir = self.folder / sub
        target_dir.mkdir(exist_ok=True)
        target = aside_name(name, self._taken(target_dir))
        os.replace(self.folder / name, target_dir / target)
        return f"{sub}/{target}"

    @staticmethod
    def _taken(directory: Path) -> list[str]:
        names = [p.name for p in directory.iterdir()]
        return names + [n.removesuffix(REJECTED_SUFFIX) for n in names]
