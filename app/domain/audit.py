"""The audit trail, pure: what is recorded, how records are chained, how a chain is verified.

Every record names a person (``actor``: the signed-in user's fhirUser reference), a time (UTC),
a kind of event, the ids it concerns (patient, encounter, draft, commit) and ``details``: a
small JSON object of counts, states, codes and ids — never note text or names (``AuditEvent``
refuses long strings and floats; callers build details with the helpers below).

Chain (version 1). For the record with sequence number ``seq`` and the previous record's hash
``prev_hash`` (``GENESIS_HASH`` for seq 1)::

    hash = SHA-256( canonical JSON of {"v": 1, "seq", "at", "actor", "kind", "patient_id",
                    "encounter_id", "draft_id", "commit_id", "state", "details", "prev_hash"} )

canonical JSON = sorted keys, no whitespace, UTF-8, no NaN (anyone can recompute it from an
export). A changed field changes ``hash``; a deleted or reordered record breaks a ``prev_hash``
link or the run of sequence numbers. Because anyone can recompute SHA-256, each hash is also
sealed: ``mac = HMAC-SHA256(audit key, hash)`` with a key derived from the store's data key (kept
in the OS keyring), so rewriting the whole chain after an edit is detected too. The newest
record's ``(seq, hash)`` is also kept as a sealed *head*, so deleting records at the end is
detected (unless the attacker has an older copy of the head).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from app.domain.clock import format_ts
from app.domain.draft import CloseReason
from app.domain.review import ReviewDecision

CHAIN_VERSION = 1
GENESIS_HASH = "0" * 64
MAX_DETAIL_TEXT = 300  # details hold codes, ids and short fixed phrases, not prose


class AuditKind(Enum):
    SIGN_IN = "sign_in"
    SIGN_OUT = "sign_out"
    SESSION_LOCKED = "session_locked"
    SESSION_UNLOCKED = "session_unlocked"
    CHART_OPENED = "chart_opened"
    DRAFT_CREATED = "draft_created"
    DRAFT_IMPORTED = "draft_imported"
    DRAFT_EDITED = "draft_edited"  # counts only, at most once per draft per few minutes
    DRAFT_DISCARDED = "draft_discarded"  # the clinician gave up their own draft (and why)
    DRAFT_DECLINED = "draft_declined"  # the clinician will not approve an imported draft (why)
    DRAFT_DELETED = "draft_deleted"
    APPROVED = "approved"  # the review decision; the commit is queued in the same transaction
    SEND_ATTEMPT = "send_attempt"  # one attempt to send a commit and its outcome
    RECONCILED = "reconciled"  # an unknown outcome checked by searching the EHR
    CONFIRMED = "confirmed"
    READ_BACK = "read_back"
    CONFLICT = "conflict"
    NEEDS_ATTENTION = "needs_attention"
    PARKED = "parked"  # the outcome could not be checked: waits for a sign-in or a person
    RETRY_REQUESTED = "retry_requested"  # the clinician pressed "Retry now" / "Send again"
    DISCARDED = "discarded"  # an approved commit discarded before it reached the EHR
    KEY_LOST = "key_lost"  # the store key was lost; the old store was set aside
    STORE_SEALED = "store_sealed"  # rows written before encryption were encrypted in place
    STORE_RESTORED = "store_restored"  # the store was put back from a backup or older copy
    AUDIT_EXPORTED = "audit_exported"


JsonValue = str | int | bool | None | Sequence["JsonValue"] | Mapping[str, "JsonValue"]


@dataclass(frozen=True)
class AuditEvent:
    """One thing that happened, before it has a place in the chain."""

    kind: AuditKind
    at: datetime
    actor: str | None = None  # fhirUser reference ("Practitioner/prac-1"); None: the app itself
    patient_id: str | None = None
    encounter_id: str | None = None
    draft_id: str | None = None
    commit_id: str | None = None
    state: str | None = None  # the draft's or commit's state after the event (viewer filter)
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        format_ts(self.at)
        check_details(self.details)


@dataclass(frozen=True)
class AuditRecord:
    """An event at its place in the chain, as stored."""

    seq: int
    event: AuditEvent
    prev_hash: str
    hash: str
    mac: str | None = None  # None: written without an audit key (plain store)
    readable: bool = True  # False: the details could not be decrypted (``event.details`` = {})
    damaged: bool = False  # True: the stored fields are not valid (a kind or time edited on disk)

    @property
    def kind(self) -> AuditKind:
        return self.event.kind

    @property
    def at(self) -> datetime:
        return self.event.at

    def to_json(self) -> dict[str, Any]:
        e = self.event
        return {
            "seq": self.seq,
            "at": format_ts(e.at),
            "actor": e.actor,
            "kind": e.kind.value,
            "patient_id": e.patient_id,
            "encounter_id": e.encounter_id,
            "draft_id": e.draft_id,
            "commit_id": e.commit_id,
            "state": e.state,
            "details": dict(e.details) if self.readable else None,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


def check_details(details: Mapping[str, Any], path: str = "details") -> None:
    """Details are plain JSON without floats (their text form is not canonical across
    languages) and without long strings (a guard against note text slipping in)."""
    if not isinstance(details, Mapping):
        raise ValueError(f"{path} must be a JSON object")
    for key, value in details.items():
        if not isinstance(key, str):
            raise ValueError(f"{path} keys must be strings")
        _check_value(value, f"{path}.{key}")


def _check_value(value: Any, path: str) -> None:
    if value is None or isinstance(value, bool | int):
        return
    if isinstance(value, str):
        if len(value) > MAX_DETAIL_TEXT:
            raise ValueError(f"{path} is longer than {MAX_DETAIL_TEXT} characters")
        return
    if isinstance(value, Mapping):
        check_details(value, path)
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_value(item, f"{path}[{i}]")
        return
    raise ValueError(f"{path} is a {type(value).__name__}; audit details hold plain JSON only")


# ---------------------------------------------------------------- the chain


def canonical_json(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def event_fields(event: AuditEvent) -> dict[str, str | None]:
    """The event's own fields as text, by name: what a record's hash covers besides its
    details, and the columns the audit table stores them in (app.store.audit)."""
    return {
        "at": format_ts(event.at),
        "actor": event.actor,
        "kind": event.kind.value,
        "patient_id": event.patient_id,
        "encounter_id": event.encounter_id,
        "draft_id": event.draft_id,
        "commit_id": event.commit_id,
        "state": event.state,
    }


def canonical_record(seq: int, event: AuditEvent, prev_hash: str) -> bytes:
    """The exact bytes hashed for a record (documented in the module docstring; the keys are
    sorted, so the order they are put together in does not matter)."""
    return canonical_json(
        {
            "v": CHAIN_VERSION,
            "seq": seq,
            **event_fields(event),
            "details": event.details,
            "prev_hash": prev_hash,
        }
    )


def chain_hash(seq: int, event: AuditEvent, prev_hash: str) -> str:
    return hashlib.sha256(canonical_record(seq, event, prev_hash)).hexdigest()


def record_mac(key: bytes, record_hash: str) -> str:
    return hmac.new(key, b"audit-record\x00" + record_hash.encode("ascii"), "sha256").hexdigest()


def head_mac(key: bytes, seq: int, record_hash: str) -> str:
    message = f"audit-head\x00{seq}\x00{record_hash}".encode("ascii")
    return hmac.new(key, message, "sha256").hexdigest()


def link(seq: int, event: AuditEvent, prev_hash: str, mac_key: bytes | None) -> AuditRecord:
    """The record for ``event`` placed after a record whose hash is ``prev_hash``."""
    digest = chain_hash(seq, event, prev_hash)
    mac = None if mac_key is None else record_mac(mac_key, digest)
    return AuditRecord(seq, event, prev_hash, digest, mac)


# ---------------------------------------------------------------- verification


class ProblemKind(Enum):
    EDITED = "edited"  # the record's content does not match its hash
    FORGED = "forged"  # the hash is not sealed by this store's audit key (chain rewritten)
    MISSING = "missing"  # sequence numbers jump: records were deleted
    BROKEN_LINK = "broken_link"  # prev_hash is not the previous record's hash (moved/replaced)
    TRUNCATED = "truncated"  # the sealed head names a record that is gone
    UNREADABLE = "unreadable"  # the details cannot be decrypted (moved between rows, or no key)
    UNSEALED = "unsealed"  # no seal to check (record written without an audit key)


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    kind: ProblemKind
    message: str


@dataclass(frozen=True)
class AuditHead:
    seq: int
    hash: str
    mac: str | None = None


@dataclass(frozen=True)
class VerifyResult:
    checked: int
    head: AuditHead | None
    problems: tuple[ChainProblem, ...] = ()

    @property
    def ok(self) -> bool:
        return not any(p.kind is not ProblemKind.UNSEALED for p in self.problems)

    def summary(self) -> str:
        if not self.checked and self.ok:
            return "The audit log is empty."
        head = "" if self.head is None else f" Last record {self.head.seq}, hash {self.head.hash}."
        if self.ok:
            note = ""
            unsealed = sum(1 for p in self.problems if p.kind is ProblemKind.UNSEALED)
            if unsealed:
                note = f" {unsealed} record(s) carry no seal (written without a store key)."
            return f"The audit log is intact: {self.checked} record(s) checked.{head}{note}"
        lines = [
            f"The audit log has been altered: {len(self.problems)} problem(s) in "
            f"{self.checked} record(s).{head}"
        ]
        lines += [f"  record {p.seq}: {p.kind.value}: {p.message}" for p in self.problems]
        return "\n".join(lines)


def verify_chain(
    records: Iterable[AuditRecord],
    *,
    mac_key: bytes | None,
    head: AuditHead | None,
    max_problems: int = 100,
) -> VerifyResult:
    """Check ``records`` (in stored order) against their hashes, links, seals and the head."""
    problems: list[ChainProblem] = []
    expected_seq, prev_hash = 1, GENESIS_HASH
    checked = 0
    last: AuditRecord | None = None

    def report(found: Iterable[ChainProblem]) -> None:
        problems.extend(found)
        del problems[max_problems:]

    for rec in records:
        checked += 1
        report(_record_problems(rec, expected_seq, prev_hash, mac_key))
        expected_seq, prev_hash = rec.seq + 1, rec.hash
        last = rec
    found = None if last is None else AuditHead(last.seq, last.hash, None)
    if head is not None:
        report(_head_problems(head, found, mac_key))
    return VerifyResult(checked=checked, head=found, problems=tuple(problems))


def _record_problems(
    rec: AuditRecord, expected_seq: int, prev_hash: str, mac_key: bytes | None
) -> Iterator[ChainProblem]:
    """What is wrong with one record at its place in the chain."""
    if rec.seq != expected_seq:
        yield ChainProblem(
            rec.seq,
            ProblemKind.MISSING,
            f"expected record {expected_seq} here; {rec.seq - expected_seq} record(s) are gone"
            if rec.seq > expected_seq
            else f"record number {rec.seq} appears out of order",
        )
    if rec.prev_hash != prev_hash:
        yield ChainProblem(rec.seq, ProblemKind.BROKEN_LINK, "does not follow the record before it")
    if rec.damaged:
        yield ChainProblem(rec.seq, ProblemKind.EDITED, "its fields are not valid any more")
    elif not rec.readable:
        yield ChainProblem(rec.seq, ProblemKind.UNREADABLE, "its details cannot be decrypted")
    elif chain_hash(rec.seq, rec.event, rec.prev_hash) != rec.hash:
        yield ChainProblem(rec.seq, ProblemKind.EDITED, "its content no longer matches its hash")
    if mac_key is None:
        return
    if rec.mac is None:
        yield ChainProblem(rec.seq, ProblemKind.UNSEALED, "written without a store key")
    elif not hmac.compare_digest(rec.mac, record_mac(mac_key, rec.hash)):
        yield ChainProblem(
            rec.seq, ProblemKind.FORGED, "its hash is not sealed by this store's key"
        )


def _head_problems(
    head: AuditHead, found: AuditHead | None, mac_key: bytes | None
) -> Iterator[ChainProblem]:
    """Whether the log ends where its sealed head says it does."""
    if mac_key is not None and (
        head.mac is None
        or not hmac.compare_digest(head.mac, head_mac(mac_key, head.seq, head.hash))
    ):
        yield ChainProblem(
            head.seq, ProblemKind.FORGED, "the recorded end of the log is not sealed"
        )
    if found is None or found.seq < head.seq:
        yield ChainProblem(
            head.seq,
            ProblemKind.TRUNCATED,
            f"the log should end at record {head.seq} but ends at "
            f"{0 if found is None else found.seq}",
        )
    elif found.seq == head.seq and found.hash != head.hash:
        yield ChainProblem(head.seq, ProblemKind.EDITED, "the last record is not the one recorded")


# ---------------------------------------------------------------- details builders


def decision_details(decision: ReviewDecision) -> dict[str, Any]:
    """What the audit keeps of a review decision: who, when, what kinds of resources, which
    risks were flagged (kinds only), where the content came from — no note text."""
    prov = decision.provenance
    return {
        "decision_id": str(decision.decision_id),
        "review_status": decision.status.value,
        "approved_by": decision.approved_by.relative,
        "approved_at": format_ts(decision.approved_at),
        "source_encounter": decision.source_encounter.relative,
        "destination_types": list(decision.destination_types),
        "risk_flags": [f.kind.value for f in decision.risk_flags],
        "generated_by": prov.generated_by[:MAX_DETAIL_TEXT],
        "human_edited": prov.human_edited,
        "source": prov.source.value,
        "import_sha256": prov.import_sha256,
        "content_sha256": decision.content_sha256,
        "amends": None if decision.amends is None else decision.amends.relative,
        "acknowledged_warnings": len(decision.acknowledged_warnings),
        "app": decision.app.label[:MAX_DETAIL_TEXT],
    }


# The keys of ``decision_details`` kept when the decision only arrives as stored JSON.
DECISION_KEYS = frozenset(
    {
        "decision_id",
        "review_status",
        "approved_by",
        "approved_at",
        "source_encounter",
        "destination_types",
        "risk_flags",
        "generated_by",
        "human_edited",
        "source",
        "import_sha256",
        "content_sha256",
        "amends",
        "acknowledged_warnings",
        "app",
    }
)


# ---------------------------------------------------------------- plain words (the viewer)

_WORDS = {
    AuditKind.SIGN_IN: "Signed in",
    AuditKind.SIGN_OUT: "Signed out",
    AuditKind.SESSION_LOCKED: "Session locked",
    AuditKind.SESSION_UNLOCKED: "Session unlocked",
    AuditKind.CHART_OPENED: "Chart opened",
    AuditKind.DRAFT_CREATED: "Draft started",
    AuditKind.DRAFT_IMPORTED: "Draft imported",
    AuditKind.DRAFT_EDITED: "Draft edited",
    AuditKind.DRAFT_DISCARDED: "Draft discarded",
    AuditKind.DRAFT_DECLINED: "Imported draft declined",
    AuditKind.DRAFT_DELETED: "Draft deleted",
    AuditKind.APPROVED: "Approved for the chart",
    AuditKind.SEND_ATTEMPT: "Sent to the EHR",
    AuditKind.RECONCILED: "Checked in the EHR after an unknown outcome",
    AuditKind.CONFIRMED: "Confirmed by the EHR",
    AuditKind.READ_BACK: "Compared with what the EHR stored",
    AuditKind.CONFLICT: "Conflict with the chart",
    AuditKind.NEEDS_ATTENTION: "Refused by the EHR: needs attention",
    AuditKind.PARKED: "Could not check in the EHR: waits for a person",
    AuditKind.RETRY_REQUESTED: "Retry requested",
    AuditKind.DISCARDED: "Approved note discarded before it reached the EHR",
    AuditKind.KEY_LOST: "Store key lost: old store set aside",
    AuditKind.STORE_SEALED: "Older local data encrypted",
    AuditKind.STORE_RESTORED: "Local store restored from a backup",
    AuditKind.AUDIT_EXPORTED: "Audit log exported",
}


_REASON_WORDS = {r.value: r.words for r in CloseReason}


def describe(event: AuditEvent) -> str:
    """One line for the audit viewer (ids, counts and states only, like the record)."""
    d = event.details
    text = _WORDS[event.kind]
    if event.kind in (AuditKind.DRAFT_CREATED, AuditKind.DRAFT_IMPORTED, AuditKind.DRAFT_EDITED):
        text += f": {d.get('sections', 0)} section(s), {d.get('characters', 0)} characters, "
        text += f"{d.get('items', 0)} item(s)"
    elif event.kind is AuditKind.APPROVED:
        decision = d.get("decision")
        types = decision.get("destination_types") if isinstance(decision, Mapping) else None
        if isinstance(types, list) and types:
            text += f": {', '.join(str(t) for t in types)}"
    elif event.kind is AuditKind.SEND_ATTEMPT:
        status = d.get("status")
        text += f" (attempt {d.get('attempt')}"
        text += f", HTTP {status})" if status is not None else ", no answer)"
        text += f" -> {d.get('outcome')}"
    elif event.kind is AuditKind.CONFIRMED:
        written = d.get("written")
        if isinstance(written, list) and written:
            text += f": {', '.join(str(w) for w in written)}"
    elif event.kind is AuditKind.DISCARDED and d.get("reason"):
        text += f" (reason given: {d.get('reason')})"
    elif event.kind in (AuditKind.DRAFT_DECLINED, AuditKind.DRAFT_DISCARDED) and d.get("reason"):
        words = _REASON_WORDS.get(str(d.get("reason")), str(d.get("reason")))
        text += (
            f" (reason: {words}" + (f"; {d['reason_text']}" if d.get("reason_text") else "") + ")"
        )
    elif event.kind is AuditKind.READ_BACK:
        text += f": {d.get('result')}"
    return text
