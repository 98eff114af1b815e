"""Audit records for what the draft and outbox repositories do, from their hooks.

The hooks run inside the repository's own transaction (``DraftHook``, ``OutboxHook``), so a
record exists exactly when the change it describes was committed. They see ids, states and
counts only; the review decision of an approval is read back from the sealed decision blob
written in the same transaction, and only the whitelisted keys of ``decision_details`` are
kept (no note text can reach the audit log this way).

Draft autosaves are frequent: ``DRAFT_EDITED`` is recorded at most once per draft per
``edit_interval`` (counts at that moment); the approval records the final counts anyway.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, func, select

from app.domain.audit import (
    DECISION_KEYS,
    MAX_DETAIL_TEXT,
    AuditEvent,
    AuditKind,
    check_details,
    decision_details,
)
from app.domain.clock import format_ts, parse_ts
from app.domain.outbox import OutboxState, SyncEvent
from app.domain.review_codec import decision_from_json
from app.store.audit import AuditLog
from app.store.audit_tables import audit_log
from app.store.database import Database
from app.store.drafts import DraftEvent, DraftEventKind
from app.store.errors import StoreCorrupt
from app.store.outbox_records import OutboxEvent, OutboxEventKind
from app.store.outbox_tables import outbox_commits, outbox_writes
from app.store.prepared import Prepared
from app.store.schema import drafts

S, E = OutboxState, SyncEvent
_RECONCILE_EVENTS = frozenset(
    {
        E.RECONCILED_PRESENT,
        E.RECONCILED_PARTIAL,
        E.RECONCILED_ABSENT,
        E.DUPLICATES_FOUND,
    }
)
# The check of an unknown outcome stopped: the app waits for a sign-in or a person.
_PARKED = frozenset({S.CHECK_PAUSED_FOR_SIGN_IN, S.PARKED})
_EDIT_KINDS = (
    AuditKind.DRAFT_CREATED.value,
    AuditKind.DRAFT_IMPORTED.value,
    AuditKind.DRAFT_EDITED.value,
)


class AuditHooks:
    """``on_draft`` is a DraftHook, ``on_outbox`` an OutboxHook.

    ``actor`` gives the signed-in user's fhirUser reference (None when nobody is signed in);
    ``destination`` the FHIR base URL commits are sent to (for send attempts).
    """

    def __init__(
        self,
        audit: AuditLog,
        db: Database,
        *,
        actor: Callable[[], str | None] = lambda: None,
        destination: Callable[[], str | None] = lambda: None,
        edit_interval: timedelta = timedelta(minutes=5),
    ) -> None:
        self._audit = audit
        self._db = db
        self._actor = actor
        self._destination = destination
        self._edit_interval = edit_interval

    # ------------------------------------------------------------------ drafts
    def on_draft(self, c: Connection, ev: DraftEvent) -> None:
        counts = {
            "revision": ev.revision,
            "sections": ev.sections,
            "characters": ev.characters,
            "items": ev.items,
        }
        if ev.kind is DraftEventKind.CREATED:
            kind = AuditKind.DRAFT_IMPORTED if ev.source == "imported" else AuditKind.DRAFT_CREATED
            details: dict[str, Any] = {"source": ev.source, **counts}
        elif ev.kind is DraftEventKind.SAVED:
            if self._edited_recently(c, str(ev.draft_id), ev.at):
                return
            kind, details = AuditKind.DRAFT_EDITED, counts
        elif ev.kind is DraftEventKind.STATUS_CHANGED:
            if ev.status not in ("discarded", "declined"):
                return  # approval is recorded with its decision by the outbox hook
            kind = (
                AuditKind.DRAFT_DECLINED if ev.status == "declined" else AuditKind.DRAFT_DISCARDED
            )
            details = {**counts, **_decision_details(ev)}
        else:
            kind, details = AuditKind.DRAFT_DELETED, {"revision": ev.revision}
        actor = ev.decision.by.relative if ev.decision is not None else self._actor()
        self._audit.append(
            AuditEvent(
                kind=kind,
                at=ev.at,
                actor=actor,
                patient_id=ev.patient_id,
                encounter_id=ev.encounter_id,
                draft_id=str(ev.draft_id),
                state=ev.status,
                details=details,
            ),
            conn=c,
        )

    def _edited_recently(self, c: Connection, draft_id: str, at: datetime) -> bool:
        last = c.execute(
            select(audit_log.c.at)
            .where(audit_log.c.draft_id == draft_id, audit_log.c.kind.in_(_EDIT_KINDS))
            .order_by(audit_log.c.seq.desc())
            .limit(1)
        ).scalar()
        return last is not None and at - parse_ts(str(last)) < self._edit_interval

    # ------------------------------------------------------------------ outbox
    def on_outbox(self, c: Connection, ev: OutboxEvent) -> None:
        """The records of an outbox event. Most state changes (queued -> sending, ...) make
        none: the commit's row is read only for those that do (issue 15)."""
        if not records_something(ev):
            return
        commit_id = str(ev.commit_id)
        row = ev.facts if ev.kind is not OutboxEventKind.ENQUEUED else None
        if row is None:
            row = _COMMIT_FACTS.first(c, {"key": commit_id})
        if row is None:
            return
        actor = ev.by or self._actor()
        draft_id = row.draft_id or (None if ev.draft_id is None else str(ev.draft_id))
        lookups = _Lookups(c, commit_id, draft_id)
        records = self._outbox_records(c, ev, row, actor, lookups)
        if not records:
            return
        patient_id, encounter_id = lookups.chart()
        events = [
            AuditEvent(
                kind=kind,
                at=ev.at,
                actor=who,
                patient_id=patient_id,
                encounter_id=encounter_id,
                draft_id=draft_id,
                commit_id=commit_id,
                state=ev.new_state.value,
                details=details,
            )
            for kind, details, who in records
        ]
        self._audit.append_many(events, conn=c)

    def _outbox_records(
        self, c: Connection, ev: OutboxEvent, row: Any, actor: str | None, lookups: _Lookups
    ) -> list[tuple[AuditKind, dict[str, Any], str | None]]:
        """The records one outbox event makes: (kind, details, who)."""
        commit_id = str(ev.commit_id)
        if ev.kind is OutboxEventKind.ENQUEUED:
            decision = self._decision(row, commit_id)
            details = {
                "sequence": ev.sequence,
                "resource_types": [t for t in str(row.resource_types).split(",") if t],
                "write_count": int(row.write_count),
                "decision": decision,
            }
            approver = decision.get("approved_by")
            return [(AuditKind.APPROVED, details, approver if isinstance(approver, str) else actor)]
        if ev.kind is OutboxEventKind.DISCARDED:
            details = {"from_state": _value(ev.old_state), "reason": _short(ev.reason)}
            return [(AuditKind.DISCARDED, details, actor)]
        found = [self._step(ev, row, lookups), _outcome(ev, row, lambda: self._written(c, ev))]
        return [(kind, details, actor) for kind, details in filter(None, found)]

    def _step(self, ev: OutboxEvent, row: Any, lookups: _Lookups) -> _Record | None:
        """What was done: a send attempt, a reconciliation, a retry the clinician asked for."""
        event, commit_id = ev.event, str(ev.commit_id)
        if ev.old_state is S.SENDING and event is not E.SEND_WITHHELD:
            attempt = lookups.send_attempts() + 1
            return AuditKind.SEND_ATTEMPT, {
                "attempt": attempt,
                "request_id": f"{commit_id}/{attempt}",
                "failed_attempts": int(row.attempts),
                "destination": _short(self._destination()),
                "strategy": row.strategy,
                "status": row.last_status,
                "event": _value(event),
                "outcome": ev.new_state.value,
            }
        if ev.old_state is S.UNKNOWN_OUTCOME and event in _RECONCILE_EVENTS:
            return AuditKind.RECONCILED, {"event": _value(event), "outcome": ev.new_state.value}
        if event in (E.USER_RETRY, E.USER_RESEND):
            return AuditKind.RETRY_REQUESTED, {
                "event": _value(event),
                "from_state": _value(ev.old_state),
            }
        return None

    def _decision(self, row: Any, commit_id: str) -> dict[str, Any]:
        """The review decision's audit fields, from the sealed decision blob: read with the
        decision codec (app.domain.review_codec); a blob in another layout keeps only the
        whitelisted keys with plain values (references with display names are dropped)."""
        protector = self._db.protector
        try:
            if row.decision_format != protector.format_id:
                return {"unreadable": True}
            text = protector.unprotect(row.decision, context=f"{commit_id}:decision".encode())
            return decision_details(decision_from_json(text.decode("utf-8")))
        except StoreCorrupt:
            return {"unreadable": True}
        except ValueError:
            pass
        try:
            data = json.loads(text)
        except ValueError:
            return {"unreadable": True}
        if not isinstance(data, dict):
            return {}
        kept: dict[str, Any] = {}
        for key, value in data.items():
            if key not in DECISION_KEYS:
                continue
            plain = value is None or isinstance(value, str | int | bool)
            if plain or (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                kept[key] = value
        try:
            check_details(kept)
        except ValueError:
            return {"unreadable": True}
        return kept

    def _written(self, c: Connection, ev: OutboxEvent) -> list[str]:
        """``Type/id`` of each write; a companion the EHR refused as ``Type not written:
        refused by the EHR (HTTP 403)`` (its content stays in the sealed outbox). The writes
        come with the event when the change that confirmed read them."""
        facts = ev.facts
        rows: Iterable[Any] = (
            facts.writes
            if facts is not None and facts.writes is not None
            else _WRITTEN.all(c, {"key": str(ev.commit_id)})
        )
        return [
            (
                f"{r.resource_type}/{r.server_id}"
                if r.server_id is not None
                else f"{r.resource_type} {r.response_status or 'not written'}"
            )[:200]
            for r in rows
        ]


_Record = tuple[AuditKind, dict[str, Any]]

# What the records of one commit need from its row (when the event does not bring it). These
# statements run on every recorded outbox event: compiled once and run on the DBAPI cursor
# (issue 15, app.store.prepared).
_COMMIT_FACTS = Prepared(
    select(
        outbox_commits.c.draft_id,
        outbox_commits.c.attempts,
        outbox_commits.c.last_status,
        outbox_commits.c.strategy,
        outbox_commits.c.resource_types,
        outbox_commits.c.write_count,
        outbox_commits.c.decision_format,
        outbox_commits.c.decision,
    ).where(outbox_commits.c.commit_id == bindparam("key"))
)


class _Lookups:
    """What the audit log and the draft tell of a commit — its send attempts recorded so far
    (the state machine counts failures only; the audit numbers every attempt) and its chart
    (from its draft, else from its earlier records) —, read with one statement when first
    asked (issue 15: two before)."""

    def __init__(self, c: Connection, commit_id: str, draft_id: str | None) -> None:
        self._c = c
        self._params = {"key": commit_id, "draft": draft_id}
        self._row: Any = None

    def _read(self) -> Any:
        if self._row is None:
            self._row = _LOOKUPS.first(self._c, self._params)
        return self._row

    def send_attempts(self) -> int:
        return int(self._read().attempts)

    def chart(self) -> tuple[str | None, str | None]:
        """(patient id, encounter id)."""
        r = self._read()
        if r.draft is not None:
            return str(r.draft_patient), str(r.draft_encounter)
        return r.patient, r.encounter


def _earlier(column: Any) -> Any:
    """``column`` of the commit's first record that names a patient."""
    return (
        select(column)
        .where(audit_log.c.commit_id == bindparam("key"), audit_log.c.patient_id.is_not(None))
        .order_by(audit_log.c.seq)
        .limit(1)
        .scalar_subquery()
    )


def _of_draft(column: Any) -> Any:
    return select(column).where(drafts.c.id == bindparam("draft")).scalar_subquery()


# The send attempts are counted among the commit's own records: with the kind in the WHERE
# clause as well, SQLite chose the index on kind and read every send attempt the log ever
# recorded (the cost of a confirmation grew with the store's age; issue 15).
_LOOKUPS = Prepared(
    select(
        select(func.count().filter(audit_log.c.kind == AuditKind.SEND_ATTEMPT.value))
        .where(audit_log.c.commit_id == bindparam("key"))
        .scalar_subquery()
        .label("attempts"),
        _of_draft(drafts.c.id).label("draft"),
        _of_draft(drafts.c.patient_id).label("draft_patient"),
        _of_draft(drafts.c.encounter_id).label("draft_encounter"),
        _earlier(audit_log.c.patient_id).label("patient"),
        _earlier(audit_log.c.encounter_id).label("encounter"),
    )
)
_WRITTEN = Prepared(
    select(
        outbox_writes.c.resource_type, outbox_writes.c.server_id, outbox_writes.c.response_status
    )
    .where(outbox_writes.c.commit_id == bindparam("key"))
    .order_by(outbox_writes.c.position)
)


def records_something(ev: OutboxEvent) -> bool:
    """Whether ``ev`` can make an audit record (``_outbox_records`` decides which): approval,
    discard, a send attempt's end, a reconciliation, a retry asked for, or news of where the
    commit stands. Pure, so the common "queued -> sending" reads nothing."""
    if ev.kind is not OutboxEventKind.STATE_CHANGED:
        return True
    if ev.old_state in (S.SENDING, S.UNKNOWN_OUTCOME) or ev.event in (E.USER_RETRY, E.USER_RESEND):
        return True
    return (ev.new_state in _NEWS and ev.old_state is not ev.new_state) or (
        ev.new_state in _PARKED and ev.old_state not in _PARKED
    )


# The states whose arrival is recorded (``_outcome``).
_NEWS = frozenset({S.CONFIRMED, S.CONFLICT, S.NEEDS_ATTENTION})


def _outcome(ev: OutboxEvent, row: Any, written: Callable[[], list[str]]) -> _Record | None:
    """Where the event left the commit, when that is news: confirmed (with the server ids),
    conflict, needs attention, parked."""
    old, new, event = ev.old_state, ev.new_state, ev.event
    if new is S.CONFIRMED and old is not S.CONFIRMED:
        return AuditKind.CONFIRMED, {"written": written()}
    facts = {"status": row.last_status, "event": _value(event)}
    if new is S.CONFLICT and old is not S.CONFLICT:
        return AuditKind.CONFLICT, facts
    if new is S.NEEDS_ATTENTION and old is not S.NEEDS_ATTENTION:
        return AuditKind.NEEDS_ATTENTION, facts
    if new in _PARKED and old not in _PARKED:
        return AuditKind.PARKED, facts
    return None


def _decision_details(ev: DraftEvent) -> dict[str, Any]:
    """A decline or discard: the reason (its code and the clinician's words, short, as for a
    discarded commit), who and when, and the fingerprints of what was decided about."""
    d = ev.decision
    if d is None:
        return {"decision": ev.status}
    return {
        "decision": d.status.value,
        "reason": d.reason.value,
        "reason_text": _short(d.note) or None,
        "decided_by": d.by.relative,
        "decided_at": format_ts(d.at),
        "content_sha256": d.content_sha256,
        "import_sha256": d.import_sha256,
    }


def _short(text: str | None) -> str | None:
    return None if text is None else text[:MAX_DETAIL_TEXT]


def _value(member: Any) -> str | None:
    return None if member is None else str(member.value)
