"""How a group commit (``app.store.database.Database.group``) isolates the writes inside it.

Kept apart from the database module (standard library only), so the sync runner can name a
mode without importing SQLAlchemy at start-up.
"""

from __future__ import annotations

from enum import Enum


class GroupMode(Enum):
    # Each write in its own SAVEPOINT: one that fails is rolled back alone.
    SAVEPOINTS = "savepoints"
    # No SAVEPOINT (two statements less per write): a write that fails fails the whole group,
    # even when its caller caught the error; the group is rolled back and the caller runs it
    # again with SAVEPOINTS (app.sync.store_thread).
    ALL_OR_NOTHING = "all_or_nothing"


class GroupWriteFailed(Exception):
    """A write failed inside an ALL_OR_NOTHING group (its caller may have caught the error):
    nothing of the group may be committed."""
