"""KPI measurements from the audit log: a listener of :class:`app.store.audit.AuditLog`.

Every event worth measuring is already an audit record — a sign-in, a chart opened, a draft
started, imported, discarded or declined, an approval, each send attempt, a reconciliation, a
conflict, a note needing attention, a confirmation, an approved note withdrawn — so the
recorder only listens: it runs inside the transaction that appends the record (a figure exists
exactly when the event it measures was committed), keeps ids to find the note's random key and
the record's time to compute durations, and writes counters and durations only.

Kinds are matched by their stored names, so a kind another version adds (``draft_declined``)
is measured as soon as it is recorded. A measurement that fails is logged (without details)
and leaves nothing behind — each one reads first and writes once, and SQLite undoes a failed
statement on its own —, so it never fails the clinician's action.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection

from app.domain.audit import AuditEvent, AuditKind, AuditRecord
from app.domain.clock import parse_ts
from app.domain.kpi import DayCounter, NoteOutcome, NoteSource, duration_ms
from app.store.kpi import EditsState, KpiRepository

log = logging.getLogger(__name__)

_FOUND_ALREADY_THERE = frozenset({"reconciled_present", "reconciled_partial"})


def local_day(at: datetime) -> date:
    """The workstation's calendar day of a UTC time."""
    return at.astimezone().date()


class KpiRecorder:
    def __init__(
        self, kpi: KpiRepository, *, day_of: Callable[[datetime], date] = local_day
    ) -> None:
        self._kpi = kpi
        self._day_of = day_of
        handlers: dict[str, Callable[[Connection, AuditEvent, int], None]] = {
            AuditKind.SIGN_IN.value: self._sign_in,
            AuditKind.CHART_OPENED.value: self._chart_opened,
            AuditKind.DRAFT_CREATED.value: self._started,
            AuditKind.DRAFT_IMPORTED.value: self._started,
            AuditKind.DRAFT_DISCARDED.value: self._closed(NoteOutcome.DISCARDED),
            "draft_declined": self._closed(NoteOutcome.DECLINED),
            AuditKind.APPROVED.value: self._approved,
            AuditKind.SEND_ATTEMPT.value: self._counter("send_attempts"),
            AuditKind.RECONCILED.value: self._reconciled,
            AuditKind.CONFLICT.value: self._counter("conflicts", "person_needed"),
            AuditKind.NEEDS_ATTENTION.value: self._counter("person_needed"),
            AuditKind.CONFIRMED.value: self._confirmed,
            AuditKind.DISCARDED.value: self._withdrawn,
        }
        self._handlers = handlers

    def on_audit(self, c: Connection, record: AuditRecord) -> None:
        handler = self._handlers.get(record.event.kind.value)
        if handler is None:
            return
        try:  # each handler reads first and writes once: a failure leaves nothing behind
            handler(c, record.event, record.seq)
        except Exception as exc:  # a measurement must never undo what it measures
            log.warning("kpi: %s not measured (%s)", record.event.kind.value, type(exc).__name__)

    # ------------------------------------------------------------------ per day
    def _sign_in(self, c: Connection, event: AuditEvent, _seq: int) -> None:
        self._kpi.bump_day(c, self._day_of(event.at), DayCounter.SIGN_INS)

    def _chart_opened(self, c: Connection, event: AuditEvent, _seq: int) -> None:
        self._kpi.bump_day(c, self._day_of(event.at), DayCounter.CHARTS_OPENED)

    # ------------------------------------------------------------------ per note
    def _note(self, c: Connection, event: AuditEvent, **change: Any) -> None:
        if event.draft_id is None:
            return
        key = self._kpi.note_key(event.draft_id)
        self._kpi.change_note(c, key, self._day_of(event.at), **change)

    def _started(self, c: Connection, event: AuditEvent, _seq: int) -> None:
        source = NoteSource.parse(event.details.get("source"))
        self._note(c, event, source=source, set_day=True)

    def _closed(self, outcome: NoteOutcome) -> Callable[[Connection, AuditEvent, int], None]:
        def closed(c: Connection, event: AuditEvent, _seq: int) -> None:
            self._note(c, event, outcome=outcome, set_day=True)

        return closed

    def _counter(self, *names: str) -> Callable[[Connection, AuditEvent, int], None]:
        def count(c: Connection, event: AuditEvent, _seq: int) -> None:
            self._note(c, event, add=dict.fromkeys(names, 1))

        return count

    def _approved(self, c: Connection, event: AuditEvent, seq: int) -> None:
        opened = _opened_before(c, event, seq)
        took = None if opened is None else duration_ms(opened, event.at)
        decision = event.details.get("decision")
        source = (
            NoteSource.parse(decision.get("source"))
            if isinstance(decision, Mapping) and _is_source(decision.get("source"))
            else None
        )
        self._note(
            c,
            event,
            outcome=NoteOutcome.APPROVED,
            set_day=True,
            source=source,
            values={"open_to_approve_ms": took, "edits": EditsState.PENDING.value},
            add={"clock_backwards": int(opened is not None and took is None)},
        )

    def _reconciled(self, c: Connection, event: AuditEvent, _seq: int) -> None:
        if event.details.get("event") in _FOUND_ALREADY_THERE:
            self._note(c, event, add={"duplicates_prevented": 1})

    def _confirmed(self, c: Connection, event: AuditEvent, _seq: int) -> None:
        approved = _approved_at(c, event.commit_id)
        took = None if approved is None else duration_ms(approved, event.at)
        self._note(
            c,
            event,
            outcome=NoteOutcome.CONFIRMED,
            values={"approve_to_confirm_ms": took},
            add={"clock_backwards": int(approved is not None and took is None)},
        )

    def _withdrawn(self, c: Connection, event: AuditEvent, _seq: int) -> None:
        self._note(c, event, outcome=NoteOutcome.WITHDRAWN)


def _is_source(value: object) -> bool:
    return value in {s.value for s in NoteSource}


# Each lookup walks the index of one patient, draft or commit ("+kind": not the index of
# every record of a kind, which grows with the whole log).
_LAST_OPENING = (
    "SELECT at FROM audit_log WHERE patient_id = ? AND seq < ? AND +kind = 'chart_opened' "
    "AND encounter_id = ? ORDER BY seq DESC LIMIT 1"
)
_DRAFT_STARTED = "SELECT at FROM audit_log WHERE draft_id = ? AND seq < ? ORDER BY seq LIMIT 1"
_APPROVED_AT = (
    "SELECT at FROM audit_log WHERE commit_id = ? AND +kind = 'approved' ORDER BY seq LIMIT 1"
)


def _first_time(c: Connection, sql: str, params: tuple[object, ...]) -> datetime | None:
    row = c.connection.driver_connection.execute(sql, params).fetchone()  # type: ignore[union-attr]
    return None if row is None else parse_ts(str(row[0]))


def _opened_before(c: Connection, event: AuditEvent, seq: int) -> datetime | None:
    """When the chart of the approved note's encounter was last opened before the approval;
    else when the draft was started (a chart opened before this version was not recorded)."""
    if event.patient_id is not None and event.encounter_id is not None:
        opened = _first_time(c, _LAST_OPENING, (event.patient_id, seq, event.encounter_id))
        if opened is not None:
            return opened
    if event.draft_id is None:
        return None
    return _first_time(c, _DRAFT_STARTED, (event.draft_id, seq))


def _approved_at(c: Connection, commit_id: str | None) -> datetime | None:
    return None if commit_id is None else _first_time(c, _APPROVED_AT, (commit_id,))
