"""Errors of the store's encryption (part of the store's error tree, see app/store/errors.py).

    StoreError
    ├── StoreUnavailable
    │   └── StoreKeyUnavailable      the OS keyring cannot be reached right now (nothing is lost:
    │                                fix the keyring and start again; the store is untouched)
    ├── KeyLost                      the store's key is gone from the keyring but encrypted
    │   │                            content exists (``report`` lists what cannot be read)
    │   └── WrongKey                 the keyring holds a key that does not open this store
    └── StoreCorrupt
        └── OutboxPayloadCorrupt
            └── SealBroken           one encrypted value fails authentication: it was edited,
                                     or moved to another row (the outbox sets that commit aside)

``KeyLost`` never changes anything on disk; recovery is an explicit step
(``app.store.key_loss.recover_from_key_loss``) that the clinician confirms.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from app.store.errors import StoreError, StoreUnavailable
from app.store.outbox_errors import OutboxPayloadCorrupt


class StoreKeyUnavailable(StoreUnavailable):
    def __init__(self, detail: str) -> None:
        super().__init__(
            "The system keyring, which holds the key that protects your local notes, cannot be "
            "reached. Nothing was changed. Sign in to the computer again or ask clinic IT to "
            "enable the system keyring, then restart the app."
        )
        self.detail = detail


@dataclass(frozen=True)
class UnsentCommit:
    """An approved note that had not been confirmed by the EHR (ids only: readable without
    the key)."""

    commit_id: str
    sequence: int
    state: str
    created_at: datetime
    resource_types: tuple[str, ...]
    patient_id: str | None = None
    encounter_id: str | None = None

    @property
    def may_have_arrived(self) -> bool:
        """Sent at least once without a confirmed answer: check the chart before re-entering."""
        return self.state in ("sending", "unknown_outcome")


@dataclass(frozen=True)
class KeyLossReport:
    """What a store whose key is gone still tells without the key."""

    path: Path
    unsent: tuple[UnsentCommit, ...] = ()
    open_drafts: int = 0
    open_draft_patients: tuple[str, ...] = ()  # patient ids, for finding the charts again
    audit_records: int = 0
    audit_head: tuple[int, str] | None = None  # (seq, hash) of the last audit record
    encrypted_values: int = 0
    it_can_recover: bool = False  # the key is also kept wrapped for clinic IT (key escrow)

    @property
    def may_have_arrived(self) -> int:
        return sum(1 for u in self.unsent if u.may_have_arrived)

    def describe(self) -> str:
        """Plain words for the clinician (ids only; no names exist without the key)."""
        lines = [
            f"{len(self.unsent)} approved note(s) not yet confirmed by the EHR and "
            f"{self.open_drafts} unfinished draft(s) cannot be read."
        ]
        if self.may_have_arrived:
            lines.append(
                f"{self.may_have_arrived} of those notes were being sent when the key was lost "
                "and may already be in the chart: check the chart before writing them again."
            )
        for u in self.unsent:
            where = f"patient {u.patient_id}" if u.patient_id else "unknown patient"
            if u.encounter_id:
                where += f", encounter {u.encounter_id}"
            lines.append(
                f"  - approved {u.created_at:%Y-%m-%d %H:%M} UTC ({where}; "
                f"{', '.join(u.resource_types) or 'no resources'}; {u.state})"
            )
        return "\n".join(lines)


class KeyLost(StoreError):
    def __init__(self, report: KeyLossReport, *, reason: str | None = None) -> None:
        why = reason or (
            "The key that protects your local notes is no longer in this computer's keyring "
            "(this happens when an administrator resets the Windows password or the user "
            "profile is rebuilt)."
        )
        super().__init__(
            f"{why} {report.describe()}\n"
            "Nothing has been deleted. If clinic IT can restore the keyring (or the store's "
            'recovery key), do that and restart the app. Otherwise choose "Start a new local '
            f'store": the old file is kept next to {report.path.name} as a .locked copy, and '
            "the notes listed above must be written again."
        )
        self.report = report


class WrongKey(KeyLost):
    def __init__(self, report: KeyLossReport) -> None:
        super().__init__(
            report,
            reason=(
                "The key in this computer's keyring does not open the local store (the store "
                "file was copied from another computer or user, or replaced)."
            ),
        )


class SealBroken(OutboxPayloadCorrupt):
    """An encrypted value does not authenticate under its row: edited on disk, or moved."""

    def __init__(self, context: str, why: str) -> None:
        super().__init__(
            f"Protected content in the local store ({context}) cannot be read: {why}. It is "
            "left untouched and is not used; ask clinic IT."
        )
        self.context = context


__all__ = [
    "KeyLossReport",
    "KeyLost",
    "SealBroken",
    "StoreKeyUnavailable",
    "UnsentCommit",
    "WrongKey",
]
