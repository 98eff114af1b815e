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
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from app.domain.audit import (
    DECISION_KEYS,
    MAX_DETAIL_TEXT,
    AuditEvent,
    AuditKind,
    check_details,
    decision_details,
)
from app.domain.clock import parse_ts
from app.domain.outbox import OutboxState, SyncEvent
from app.domain.review_codec import decision_from_json
from app.store.audit import AuditLog
from app.store.audit_tables import audit_log
from app.store.database import Database
from app.store.drafts import DraftEvent, DraftEventKind
from app.store.errors import StoreCorrupt
from app.store.outbox_records import OutboxEvent, OutboxEventKind
from app.store.outbox_tables import outbox_commits, outbox_writes
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
            if ev.status != "discarded":
                return  # approval is recorded with its decision by the outbox hook
            kind, details = AuditKind.DRAFT_DISCARDED, counts
        else:
            kind, details = AuditKind.DRAFT_DELETED, {"revision": ev.revision}
        self._audit.append(
            AuditEvent(
                kind=kind,
                at=ev.at,
                actor=self._actor(),
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
        commit_id = str(ev.commit_id)
        row = c.execute(_COMMIT_FACTS.where(outbox_commits.c.commit_id == commit_id)).first()
        if row is None:
            return
        draft_id = row.draft_id or (None if ev.draft_id is None else str(ev.draft_id))
        patient_id, encounter_id = self._chart_of(c, commit_id, draft_id)
        actor = ev.by or self._actor()
        for kind, details, who in self._outbox_records(c, ev, row, actor):
            self._audit.append(
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
                ),
                conn=c,
            )

    def _outbox_records(
        self, c: Connection, ev: OutboxEvent, row: Any, actor: str | None
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
        found = [self._step(c, ev, row), _outcome(ev, row, lambda: self._written(c, commit_id))]
        return [(kind, details, actor) for kind, details in filter(None, found)]

    def _step(self, c: Connection, ev: OutboxEvent, row: Any) -> _Record | None:
        """What was done: a send attempt, a reconciliation, a retry the clinician asked for."""
        event, commit_id = ev.event, str(ev.commit_id)
        if ev.old_state is S.SENDING:
            attempt = self._attempts(c, commit_id) + 1
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

    def _chart_of(
        self, c: Connection, commit_id: str, draft_id: str | None
    ) -> tuple[str | None, str | None]:
        """(patient id, encounter id) of a commit: from its draft, else from earlier records."""
        if draft_id is not None:
            found = c.execute(
                select(drafts.c.patient_id, drafts.c.encounter_id).where(drafts.c.id == draft_id)
            ).first()
            if found is not None:
                return str(found.patient_id), str(found.encounter_id)
        earlier = c.execute(
            select(audit_log.c.patient_id, audit_log.c.encounter_id)
            .where(audit_log.c.commit_id == commit_id, audit_log.c.patient_id.is_not(None))
            .order_by(audit_log.c.seq)
            .limit(1)
        ).first()
        if earlier is None:
            return None, None
        return earlier.patient_id, earlier.encounter_id

    def _attempts(self, c: Connection, commit_id: str) -> int:
        """Send attempts already recorded for the commit (the state machine counts failures
        only; the audit numbers every attempt)."""
        return int(
            c.execute(
                select(func.count()).where(
                    audit_log.c.commit_id == commit_id,
                    audit_log.c.kind == AuditKind.SEND_ATTEMPT.value,
                )
            ).scalar_one()
        )

    def _written(self, c: Connection, commit_id: str) -> list[str]:
        rows = c.execute(
            select(outbox_writes.c.resource_type, outbox_writes.c.server_id)
            .where(outbox_writes.c.commit_id == commit_id)
            .order_by(outbox_writes.c.position)
        )
        return [f"{r.resource_type}/{r.server_id}"[:200] for r in rows]


_Record = tuple[AuditKind, dict[str, Any]]

# What the records of one commit need from its row.
_COMMIT_FACTS = select(
    outbox_commits.c.draft_id,
    outbox_commits.c.attempts,
    outbox_commits.c.last_status,
    outbox_commits.c.strategy,
    outbox_commits.c.resource_types,
    outbox_commits.c.write_count,
    outbox_commits.c.decision_format,
    outbox_commits.c.decision,
)


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


def _short(text: str | None) -> str | None:
    return None if text is None else text[:MAX_DETAIL_TEXT]


def _value(member: Any) -> str | None:
    return None if member is None else str(member.value)
