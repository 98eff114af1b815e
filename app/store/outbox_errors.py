"""Errors of the outbox (part of the store's error tree, see app/store/errors.py).

    StoreError
    ├── OutboxItemNotFound           no commit with that id in this store's outbox
    ├── OutboxAlreadyQueued          the same approved commit was queued twice (sent once)
    ├── UnknownBaseCommit            an amendment names a base commit the outbox does not hold
    ├── DiscardNotConfirmed          discard called without the clinician's confirmation
    ├── OutboxStateChanged           the item moved on before the caller's action
    └── StoreCorrupt
        └── OutboxPayloadCorrupt     a stored payload no longer matches its SHA-256

``IllegalTransition`` (app.domain.outbox) passes through: it is a bug in the caller.
"""

from __future__ import annotations

from app.domain.outbox import OutboxState
from app.store.errors import StoreCorrupt, StoreError


class OutboxItemNotFound(StoreError):
    def __init__(self, commit_id: object) -> None:
        super().__init__(f"The commit {commit_id} is not in the outbox of this store.")
        self.commit_id = commit_id


class OutboxPayloadCorrupt(StoreCorrupt):
    """A stored payload no longer matches the SHA-256 recorded at approval."""


class OutboxAlreadyQueued(StoreError):
    def __init__(self, commit_id: object) -> None:
        super().__init__(f"The commit {commit_id} is already in the outbox; it is sent once.")
        self.commit_id = commit_id


class UnknownBaseCommit(StoreError):
    def __init__(self, base_id: object) -> None:
        super().__init__(
            f"The note this amends (commit {base_id}) is not in the local outbox. "
            "Reopen the note from the chart and amend it there."
        )
        self.base_id = base_id


class DiscardNotConfirmed(StoreError):
    def __init__(self) -> None:
        super().__init__("Discarding needs the clinician's confirmation; nothing was discarded.")


class OutboxStateChanged(StoreError):
    """The item is no longer in the state the caller acted on (another action came first)."""

    def __init__(self, commit_id: object, expected: OutboxState, actual: OutboxState) -> None:
        super().__init__(
            f"The commit {commit_id} is now {actual.value}, not {expected.value}; "
            "reload the outbox and try again."
        )
        self.commit_id = commit_id
        self.expected = expected
        self.actual = actual
