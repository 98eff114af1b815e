"""What the outbox repository hands to callers: rows for lists, entries for sending, summaries.

Plain frozen dataclasses over the domain types (``OutboxItem``, ``ApprovedCommit``); no
SQLAlchemy here. Timestamps are timezone-aware UTC; in the database they are ISO-8601 text of
fixed width (``format_ts``), so they sort as text and parse quickly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any
from uuid import UUID

from app.domain.clock import parse_ts
from app.domain.commit import ApprovedCommit
from app.domain.outbox import ErrorClass, OutboxItem, OutboxState, SyncEvent


class ReadBack(Enum):
    """The check made after confirming: does the EHR hold what was sent?"""

    PENDING = "pending"  # not confirmed yet, or not checked yet
    MATCHED = "matched"  # the stored copy holds everything that was sent
    DIFFERS = "differs"  # the EHR stored something else (content stripped or changed)
    NOT_CHECKED = "not_checked"  # the stored copy could not be read back


class OutboxEventKind(Enum):
    ENQUEUED = "enqueued"
    STATE_CHANGED = "state_changed"
    DISCARDED = "discarded"  # also a state change; separate so the audit log can say who/why


@dataclass(frozen=True)
class OutboxEvent:
    """Given to hooks inside the transaction that makes the change (ids and states, no PHI)."""

    kind: OutboxEventKind
    commit_id: UUID
    sequence: int
    old_state: OutboxState | None
    new_state: OutboxState
    event: SyncEvent | None
    at: datetime
    draft_id: UUID | None = None
    by: str | None = None  # who (fhirUser), for a clinician's action
    reason: str | None = None  # why, for a discard
    facts: CommitFacts | None = None  # the commit's row after the change, when at hand


@dataclass(frozen=True)
class CommitFacts:
    """What hooks need of a commit's row after a state change, from the transaction that made
    it (issue 15: the audit hook need not read the row, nor the writes, back)."""

    draft_id: str | None
    attempts: int  # failed attempts (the state machine's count)
    last_status: int | None
    strategy: str | None
    writes: tuple[WriteRecord, ...] | None = None  # every write, read when the commit confirmed


@dataclass(frozen=True)
class OutboxChange:
    """Given to listeners after the transaction committed: "the state of commit X changed"."""

    commit_id: UUID
    old_state: OutboxState | None
    item: OutboxItem


# ``response_status`` of an optional companion write (Provenance, Composition) the EHR refused
# after it took the note: the commit is confirmed without it (docs/writeback.md).
NOT_WRITTEN = "not written"


@dataclass(frozen=True)
class WriteResult:
    """Where the server keeps one write (from Location, ETag, entry.response or a search).
    ``server_id`` "" with ``response_status`` ``"not written: ..."``: a companion the EHR
    refused (:func:`not_written`)."""

    position: int
    server_id: str
    version_id: str | None = None
    etag: str | None = None
    location: str | None = None
    response_status: str | None = None


def not_written(position: int, status: int | None) -> WriteResult:
    """The result of a companion write the EHR refused (HTTP ``status``)."""
    code = f" (HTTP {status})" if status else ""
    return WriteResult(position, "", response_status=f"{NOT_WRITTEN}: refused by the EHR{code}")


@dataclass(frozen=True)
class WriteRecord:
    """One write of a stored commit, with the server's id once known."""

    position: int
    resource_type: str
    server_id: str | None = None
    version_id: str | None = None
    etag: str | None = None
    location: str | None = None
    response_status: str | None = None

    @property
    def reference(self) -> str | None:
        """``"Type/id"`` once the server holds it."""
        return None if self.server_id is None else f"{self.resource_type}/{self.server_id}"

    @property
    def not_written(self) -> bool:
        """An optional companion the EHR refused: the commit was confirmed without it."""
        return self.server_id is None and (self.response_status or "").startswith(NOT_WRITTEN)


@dataclass(frozen=True)
class ConflictDetail:
    """Kept for the three-way view when the chart changed under a commit (never merged)."""

    message: str  # plain words
    resource: str | None = None  # "DocumentReference/123": the chart record that changed
    expected_version: str | None = None
    chart_version: str | None = None
    base: dict[str, Any] | None = None  # what the clinician started from
    chart: dict[str, Any] | None = None  # what the chart holds now
    mine: dict[str, Any] | None = None  # what the clinician approved

    def to_json(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "resource": self.resource,
            "expected_version": self.expected_version,
            "chart_version": self.chart_version,
            "base": self.base,
            "chart": self.chart,
            "mine": self.mine,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ConflictDetail:
        return cls(
            message=str(data.get("message") or ""),
            resource=data.get("resource"),
            expected_version=data.get("expected_version"),
            chart_version=data.get("chart_version"),
            base=data.get("base"),
            chart=data.get("chart"),
            mine=data.get("mine"),
        )


# The columns a list row is made from, in this order (app.store.outbox_codec selects them).
ROW_FIELDS = (
    "commit_id",
    "sequence",
    "draft_id",
    "state",
    "attempts",
    "next_attempt_at",
    "last_event",
    "last_status",
    "error_text",  # sealed: opened only when the row's item is decoded
    "resource_types",
    "write_count",
    "strategy",
    "verify_state",
    "verify_note",
    "created_at",
    "updated_at",
    "confirmed_at",
    "discarded_by",
    "discard_reason",
    "error_format",
    "error_class",
)
_STATES = {s.value: s for s in OutboxState}
_EVENTS = {e.value: e for e in SyncEvent}
_READ_BACKS = {r.value: r for r in ReadBack}
_ERROR_CLASSES = {c.value: c for c in ErrorClass}

# Opens a row's sealed last error: (commit id, error_format, error_text) -> the words. Given by
# the repository (it has the key); it never raises (an unreadable text becomes a sentence).
ErrorOpener = Callable[[str, int | None, bytes | None], str | None]


def plain_error(_commit_id: str, _fmt: int | None, blob: bytes | None) -> str | None:
    """The opener for a store without encryption (tests, the self-test)."""
    return None if blob is None else bytes(blob).decode("utf-8", "replace")


class OutboxRow:
    """One line of the outbox panel: no payloads, and decoded lazily — a list of 10,000 rows
    costs one small object per row; a view decodes only the rows it shows. Immutable."""

    __slots__ = ("_item", "_open_error", "_values")

    def __init__(self, values: tuple[Any, ...], open_error: ErrorOpener = plain_error) -> None:
        if len(values) != len(ROW_FIELDS):
            raise ValueError("an outbox row needs every ROW_FIELDS value")
        self._values = values
        self._open_error = open_error
        self._item: OutboxItem | None = None

    @property
    def item(self) -> OutboxItem:
        if self._item is None:
            t = self._values
            self._item = OutboxItem(
                UUID(t[0]),
                t[1],
                _STATES[t[3]],
                t[4],
                parse_ts(t[5]),
                None if t[6] is None else _EVENTS[t[6]],
                t[7],
                None if t[8] is None else self._open_error(t[0], t[19], t[8]),
                parse_ts(t[15]),
                self.error_class,
            )
        return self._item

    @property
    def error_class(self) -> ErrorClass | None:
        """The kind of the last error, without opening its words (for lists and logs)."""
        value = self._values[20]
        return None if value is None else _ERROR_CLASSES.get(value, ErrorClass.OTHER)

    @property
    def commit_id(self) -> UUID:
        return self.item.commit_id

    @property
    def sequence(self) -> int:
        return int(self._values[1])

    @property
    def state(self) -> OutboxState:
        return _STATES[self._values[3]]

    @property
    def draft_id(self) -> UUID | None:
        value = self._values[2]
        return None if value is None else UUID(value)

    @property
    def resource_types(self) -> tuple[str, ...]:
        text = self._values[9]
        return tuple(text.split(",")) if text else ()

    @property
    def write_count(self) -> int:
        return int(self._values[10])

    @property
    def strategy(self) -> str | None:
        value: str | None = self._values[11]
        return value

    @property
    def read_back(self) -> ReadBack:
        return _READ_BACKS[self._values[12]]

    @property
    def read_back_note(self) -> str | None:
        value: str | None = self._values[13]
        return value

    @property
    def created_at(self) -> datetime:
        text: str = self._values[14]
        return parse_ts(text)

    @property
    def confirmed_at(self) -> datetime | None:
        text: str | None = self._values[16]
        return parse_ts(text)

    @property
    def discarded_by(self) -> str | None:
        value: str | None = self._values[17]
        return value

    @property
    def discard_reason(self) -> str | None:
        value: str | None = self._values[18]
        return value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OutboxRow) and other._values == self._values

    def __hash__(self) -> int:
        return hash(self._values)

    def __repr__(self) -> str:
        return f"OutboxRow(commit_id={self._values[0]}, sequence={self._values[1]}, state={self._values[3]})"


@dataclass(frozen=True)
class OutboxEntry:
    """A commit as the runner needs it: verified payloads, what the server already holds."""

    row: OutboxRow
    commit: ApprovedCommit
    writes: tuple[WriteRecord, ...]
    preconditions: Mapping[str, str] = field(default_factory=dict)  # "Type/id" -> versionId
    conflict: ConflictDetail | None = None
    decision_json: str | None = None  # loaded by ``get`` and ``claim_due`` only

    @property
    def item(self) -> OutboxItem:
        return self.row.item

    @property
    def commit_id(self) -> UUID:
        return self.commit.commit_id

    def resolved(self) -> dict[str, str]:
        """fullUrl (``urn:uuid:...``) -> ``"Type/id"`` for the writes the server already has."""
        out: dict[str, str] = {}
        for planned, record in zip(self.commit.writes, self.writes, strict=True):
            if record.reference is not None:
                out[planned.full_url] = record.reference
        return out


@dataclass(frozen=True)
class OutboxSummary:
    """The status bar: counts per state and the last successful sync."""

    counts: Mapping[OutboxState, int]
    last_success_at: datetime | None
    read_back_differs: int = 0

    def count(self, *states: OutboxState) -> int:
        return sum(self.counts.get(s, 0) for s in states)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def pending(self) -> int:
        """Approved but not in the EHR yet, neither refused nor in conflict nor paused (an
        outcome the app could not check counts here too, as it did as a kind of Checking)."""
        return self.count(
            OutboxState.WAITING_FOR_BASE,
            OutboxState.QUEUED,
            OutboxState.SENDING,
            OutboxState.RETRY_WAIT,
            OutboxState.UNKNOWN_OUTCOME,
            OutboxState.CHECK_PAUSED_FOR_SIGN_IN,
            OutboxState.PARKED,
        )

    @property
    def needs_attention(self) -> int:
        return self.count(OutboxState.NEEDS_ATTENTION)

    @property
    def conflicts(self) -> int:
        return self.count(OutboxState.CONFLICT)

    @property
    def paused_for_sign_in(self) -> int:
        return self.count(OutboxState.PAUSED_FOR_SIGN_IN)

    @property
    def confirmed(self) -> int:
        return self.count(OutboxState.CONFIRMED)
