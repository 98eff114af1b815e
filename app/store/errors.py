"""Errors of the local store. Errors the user can act on are kept apart from bugs.

    StoreError                       base; ``user_message`` says what happened and what to do
    ├── StoreUnavailable             the database cannot be opened or written right now
    │   ├── StoreLocked              another program holds a lock for too long
    │   ├── StoreDiskFull            the disk (or quota) is full
    │   └── StoreClosed              used after the app closed it (a bug in the closing order)
    ├── StoreCorrupt                 the file is not a database or is damaged
    │   └── StoreMissing             empty or gone, although a store existed there (app.store.
    │                                file_check: its anchor, its WAL or its key say so)
    ├── BackupUnusable               a backup fails a check; nothing was restored (app.store.restore)
    ├── StoreTooNew                  created by a newer version of the app (unknown migration)
    ├── StoreMigrationFailed         upgrading the schema failed (the file is left as it was)
    ├── DraftNotFound                no draft with that id
    ├── DraftNotEditable             the stored draft is approved or discarded: content is frozen
    ├── StaleDraft                   the draft was saved elsewhere since it was read (revision)
    ├── InboxUnavailable             the scribe's watched folder cannot be listed (draft_inbox)
    └── KeepingEnded                 a chart read in a session that has ended (signed out) is
                                     not kept (chart_cache): nothing written

Programming errors (SQL mistakes, integrity bugs) are not wrapped: they surface as themselves.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the error classes are imported at start-up; SQLAlchemy only with the store
    import sqlalchemy.exc


class StoreError(Exception):
    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


class StoreUnavailable(StoreError):
    pass


class StoreLocked(StoreUnavailable):
    pass


class StoreDiskFull(StoreUnavailable):
    pass


class StoreClosed(StoreUnavailable):
    """The store was used after it was closed (quitting, signing out): refused, never
    reopened behind the closer's back (its connections would stay open, unwatched)."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            f"The local store {path} was already closed when the app tried to use it (it was "
            "closing); nothing was written. What is on screen is kept: start the app again and "
            "check the note before you approve it."
        )
        self.path = path


class StoreCorrupt(StoreError):
    @classmethod
    def damaged(cls, path: Path, detail: str = "") -> StoreCorrupt:
        """The one message for a store file that cannot be used as it is."""
        return cls(damaged_message(path, detail))


class StoreMissing(StoreCorrupt):
    def __init__(self, path: Path, evidence: tuple[str, ...], backups: int) -> None:
        detail = f"it is {'empty' if path.exists() else 'missing'}"
        if evidence:
            detail += ", but a store existed: " + "; ".join(evidence)
        if backups:
            detail += f". {backups} automatic backup(s) of it are kept on this computer"
        super().__init__(damaged_message(path, detail))
        self.evidence = evidence
        self.backups = backups


def damaged_message(path: Path, detail: str = "") -> str:
    why = f" ({detail})" if detail else ""
    return (
        f"The local store {path} is damaged{why}. Ask IT to restore it from a backup "
        "(fhir-writeback store restore); the app will not overwrite it."
    )


class StoreTooNew(StoreError):
    pass


class StoreMigrationFailed(StoreError):
    pass


class DraftNotFound(StoreError):
    def __init__(self, draft_id: object) -> None:
        super().__init__(f"The draft {draft_id} no longer exists in the local store.")
        self.draft_id = draft_id


class DraftNotEditable(StoreError):
    def __init__(self, draft_id: object, status: str) -> None:
        super().__init__(
            f"The draft {draft_id} is {status}; its content can no longer change. "
            "Start a new draft to make further changes."
        )
        self.draft_id = draft_id
        self.status = status


class StaleDraft(StoreError):
    def __init__(self, draft_id: object, expected: int, actual: int) -> None:
        super().__init__(
            f"The draft {draft_id} was changed elsewhere (revision {actual}, expected {expected}). "
            "Reopen it to see the latest version; your text is kept as a separate draft."
        )
        self.draft_id = draft_id
        self.expected = expected
        self.actual = actual


class KeepingEnded(StoreError):
    def __init__(self) -> None:
        super().__init__(
            "The chart was read in a session that has ended (signed out); it is not kept on "
            "this computer."
        )


def translate(exc: sqlalchemy.exc.DBAPIError, path: Path) -> StoreError | None:
    """A StoreError for the operational failures a user can act on, else None (a bug)."""
    orig = exc.orig
    text = str(orig).lower()
    if isinstance(orig, sqlite3.OperationalError):
        if "locked" in text or "busy" in text:
            return StoreLocked(
                f"The local store {path} is locked by another program. "
                "Close other copies of the app and try again."
            )
        if "disk is full" in text or "database or disk is full" in text:
            return StoreDiskFull(
                f"The disk holding {path} is full; your last change could not be saved. "
                "Free some space; the app keeps your text and retries."
            )
        if "unable to open" in text or "readonly" in text or "read-only" in text:
            return StoreUnavailable(
                f"The local store {path} cannot be opened for writing. "
                "Check that the folder exists and that you may write to it."
            )
    if isinstance(orig, sqlite3.DatabaseError) and is_damage(text):
        return StoreCorrupt.damaged(path)
    return None


def is_damage(text: str) -> bool:
    """Whether an SQLite error message says the file itself is damaged."""
    text = text.lower()
    return any(
        words in text
        for words in ("not a database", "malformed", "corrupt", "could not decode to utf-8")
    )


class InboxUnavailable(StoreError):
    """The watched folder cannot be listed (missing, no permission, network share gone)."""

    def __init__(self, folder: Path, why: str) -> None:
        super().__init__(
            f"The scribe folder {folder} cannot be read ({why}). Files in it wait there; "
            "ask IT to check the folder and the draft_inbox setting of this site."
        )
