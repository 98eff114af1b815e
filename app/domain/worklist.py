"""A clinician's day: the visits of one practitioner on one date, with each note's state.

    Worklist            the day, its visits, when it was read, whether it is live or cached
    └── Visit           one encounter (or an appointment not yet arrived): time, patient,
                        type, status, visit number, the note's state, new results
    NoteState           none / draft / waiting for review / queued / sent / needs attention /
                        conflict — computed from the local store by :func:`note_state`
    apply_events        HL7 v2 triggers (app.domain.visit_events) applied to the list

Pure: no I/O, no clock (callers pass ``now``). The FHIR reading is app.fhir.worklist, the
cache app.store.worklist_cache, the whole of it app.services.worklist.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, tzinfo
from enum import Enum

from app.domain.draft import DraftSource, DraftStatus
from app.domain.outbox import OutboxState
from app.domain.visit_events import VisitEvent, VisitEventKind


class NoteState(Enum):
    """Where the visit's note is, as the local store knows it (most pressing first)."""

    CONFLICT = "conflict"
    NEEDS_ATTENTION = "needs attention"
    WAITING_FOR_REVIEW = "waiting for review"
    DRAFT = "draft"
    QUEUED = "queued"
    SENT = "sent"
    NONE = "none"

    @property
    def words(self) -> str:
        return _NOTE_WORDS[self]


_NOTE_WORDS = {
    NoteState.CONFLICT: "Conflict — open to resolve",
    NoteState.NEEDS_ATTENTION: "Needs attention",
    NoteState.WAITING_FOR_REVIEW: "Waiting for your review",
    NoteState.DRAFT: "Draft",
    NoteState.QUEUED: "Queued to send",
    NoteState.SENT: "Sent",
    NoteState.NONE: "No note",
}


class VisitStatus(Enum):
    """The visit's status: FHIR Encounter.status, with Appointment statuses mapped onto it."""

    PLANNED = "planned"
    ARRIVED = "arrived"
    TRIAGED = "triaged"
    IN_PROGRESS = "in-progress"
    ON_LEAVE = "onleave"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    ENTERED_IN_ERROR = "entered-in-error"
    UNKNOWN = "unknown"

    @classmethod
    def from_encounter(cls, code: object) -> VisitStatus:
        return next((s for s in cls if s.value == code), cls.UNKNOWN)

    @classmethod
    def from_appointment(cls, code: object) -> VisitStatus:
        return _APPOINTMENT_STATUS.get(str(code), cls.UNKNOWN)

    @property
    def words(self) -> str:
        return _STATUS_WORDS[self]

    @property
    def shown(self) -> bool:
        """Entered-in-error visits never were: they are left off the list."""
        return self is not VisitStatus.ENTERED_IN_ERROR


_APPOINTMENT_STATUS = {
    "proposed": VisitStatus.PLANNED,
    "pending": VisitStatus.PLANNED,
    "booked": VisitStatus.PLANNED,
    "waitlist": VisitStatus.PLANNED,
    "arrived": VisitStatus.ARRIVED,
    "checked-in": VisitStatus.ARRIVED,
    "fulfilled": VisitStatus.FINISHED,
    "cancelled": VisitStatus.CANCELLED,
    "noshow": VisitStatus.CANCELLED,
    "entered-in-error": VisitStatus.ENTERED_IN_ERROR,
}
_STATUS_WORDS = {
    VisitStatus.PLANNED: "Booked",
    VisitStatus.ARRIVED: "Arrived",
    VisitStatus.TRIAGED: "Triaged",
    VisitStatus.IN_PROGRESS: "In progress",
    VisitStatus.ON_LEAVE: "On leave",
    VisitStatus.FINISHED: "Finished",
    VisitStatus.CANCELLED: "Cancelled",
    VisitStatus.ENTERED_IN_ERROR: "Entered in error",
    VisitStatus.UNKNOWN: "Unknown",
}
_NOT_LIKELY_OPENED = frozenset({VisitStatus.CANCELLED, VisitStatus.ENTERED_IN_ERROR})
_BEFORE_DISCHARGE = VisitStatus.IN_PROGRESS  # what an A13 (discharge cancelled) goes back to


@dataclass(frozen=True)
class Visit:
    """One row of the worklist. ``encounter_id`` is None for an appointment whose patient has
    not arrived (no encounter to open yet)."""

    key: str  # "Encounter/enc-1" or "Appointment/appt-1": unique on the list
    patient_id: str
    patient_name: str
    start: datetime | None
    type_text: str
    status: VisitStatus
    encounter_id: str | None = None
    birth_date: date | None = None
    mrn: str | None = None
    patient_identifiers: tuple[str, ...] = ()  # every identifier value (HL7 PID-3 matches one)
    visit_number: str | None = None  # Encounter.identifier value (HL7 PV1-19)
    note: NoteState = NoteState.NONE
    new_results: bool = False
    kept_offline: bool = False  # its chart is kept on this computer (opens without the EHR)

    @property
    def can_open(self) -> bool:
        return self.encounter_id is not None

    @property
    def likely_opened(self) -> bool:
        """A chart the clinician is likely to open (kept for offline use): an encounter that
        is not cancelled (or a no-show) and was not entered in error."""
        return self.can_open and self.status not in _NOT_LIKELY_OPENED

    def age_on(self, day: date) -> int | None:
        born = self.birth_date
        if born is None:
            return None
        return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


class WorklistSource(Enum):
    LIVE = "live"  # just read from the EHR
    CACHED = "cached"  # from the local store: the EHR could not be reached


@dataclass(frozen=True)
class Worklist:
    practitioner: str  # "Practitioner/prac-1"
    day: date
    visits: tuple[Visit, ...]
    fetched_at: datetime  # UTC: when the EHR answered
    source: WorklistSource = WorklistSource.LIVE
    round_trips: int = 0

    def age_words(self, zone: tzinfo | None = None) -> str:
        """ "as of 08:12" (local time): how old what is shown is."""
        return f"as of {self.fetched_at.astimezone(zone):%H:%M}"

    def charts_to_keep(self) -> list[tuple[str, str]]:
        """(patient, encounter) of the visits likely opened, in the list's order."""
        return [
            (v.patient_id, v.encounter_id)
            for v in self.visits
            if v.likely_opened and v.encounter_id
        ]

    def visit(self, key: str) -> Visit | None:
        return next((v for v in self.visits if v.key == key), None)

    def with_visits(self, visits: Iterable[Visit]) -> Worklist:
        return replace(self, visits=sort_visits(visits))


def sort_visits(visits: Iterable[Visit]) -> tuple[Visit, ...]:
    """By start time (visits without one last), then name, then key: a stable order."""
    far = datetime.max.replace(tzinfo=None)
    return tuple(
        sorted(
            visits,
            key=lambda v: (
                v.start is None,
                v.start.replace(tzinfo=None) if v.start is not None else far,
                v.patient_name.casefold(),
                v.key,
            ),
        )
    )


def day_bounds(day: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """The day as an interval of instants in ``zone``: [midnight, next midnight)."""
    start = datetime.combine(day, time.min, tzinfo=zone)
    return start, datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)


# ----------------------------------------------------------------------------- note state


@dataclass(frozen=True)
class NoteFacts:
    """What the local store holds about one encounter's notes: each draft's status and source,
    and the state of each outbox commit made from them."""

    drafts: tuple[tuple[DraftStatus, DraftSource], ...] = ()
    commits: tuple[OutboxState, ...] = ()


# What a commit in each outbox state means for the visit's note (complete over the states:
# tests/test_outbox_tables.py). Parked: the app could not check whether it arrived, so the
# clinician must look in the chart (the outbox says the same, in more words).
NOTE_STATE_OF_COMMIT: dict[OutboxState, NoteState] = {
    OutboxState.WAITING_FOR_BASE: NoteState.QUEUED,
    OutboxState.QUEUED: NoteState.QUEUED,
    OutboxState.SENDING: NoteState.QUEUED,
    OutboxState.RETRY_WAIT: NoteState.QUEUED,
    OutboxState.UNKNOWN_OUTCOME: NoteState.QUEUED,
    OutboxState.CHECK_PAUSED_FOR_SIGN_IN: NoteState.QUEUED,
    OutboxState.PAUSED_FOR_SIGN_IN: NoteState.QUEUED,
    OutboxState.PARKED: NoteState.NEEDS_ATTENTION,
    OutboxState.NEEDS_ATTENTION: NoteState.NEEDS_ATTENTION,
    OutboxState.CONFLICT: NoteState.CONFLICT,
    OutboxState.CONFIRMED: NoteState.SENT,
    OutboxState.DISCARDED: NoteState.NONE,
}


def note_state(facts: NoteFacts) -> NoteState:
    """The most pressing state among the encounter's drafts and commits (NoteState's order)."""
    found = {NOTE_STATE_OF_COMMIT[commit] for commit in facts.commits}
    for status, source in facts.drafts:
        if status is DraftStatus.OPEN:
            imported = source is DraftSource.IMPORTED
            found.add(NoteState.WAITING_FOR_REVIEW if imported else NoteState.DRAFT)
    return next((state for state in NoteState if state in found), NoteState.NONE)


# ----------------------------------------------------------------------------- HL7 events


@dataclass(frozen=True)
class EventOutcome:
    """What applying a batch of events did: the new visits, the visit numbers to look up in
    the EHR (not on the list yet), and how many events were about no one on the list."""

    visits: tuple[Visit, ...]
    to_fetch: tuple[str, ...]
    unknown: int
    changed: bool


def apply_events(visits: Sequence[Visit], events: Iterable[VisitEvent]) -> EventOutcome:
    """Apply HL7 triggers in order. Registrations and updates of a visit not on the list ask
    for it to be fetched (``to_fetch``); a fetched visit that is not this clinician's today is
    counted as unknown by the caller. Results for a patient not on the list are counted."""
    rows = {v.key: v for v in visits}
    by_number = {v.visit_number: v.key for v in visits if v.visit_number}
    to_fetch: dict[str, None] = {}
    unknown = 0
    changed = False
    for event in events:
        if event.kind is VisitEventKind.RESULTS:
            keys = [
                k for k, v in rows.items() if set(v.patient_identifiers) & set(event.patient_ids)
            ]
            if not keys:
                unknown += 1
            for key in keys:
                if not rows[key].new_results:
                    rows[key] = replace(rows[key], new_results=True)
                    changed = True
            continue
        number = event.visit_number or ""
        found = by_number.get(number)
        if found is None:
            if event.kind.adds_visit:
                to_fetch[number] = None
            else:
                unknown += 1
            continue
        key = found
        new_status = _status_after(event.kind, rows[key].status)
        if new_status is not None and new_status is not rows[key].status:
            rows[key] = replace(rows[key], status=new_status)
            changed = True
        if event.kind.adds_visit:
            to_fetch[number] = None  # refresh what the EHR now says about it
    return EventOutcome(sort_visits(rows.values()), tuple(to_fetch), unknown, changed)


def _status_after(kind: VisitEventKind, current: VisitStatus) -> VisitStatus | None:
    if kind is VisitEventKind.DISCHARGED:
        return VisitStatus.FINISHED
    if kind is VisitEventKind.ADMISSION_CANCELLED:
        return VisitStatus.CANCELLED
    if kind is VisitEventKind.DISCHARGE_CANCELLED:
        return _BEFORE_DISCHARGE if current is VisitStatus.FINISHED else current
    waiting = (VisitStatus.PLANNED, VisitStatus.CANCELLED, VisitStatus.UNKNOWN)
    if kind in (VisitEventKind.REGISTERED, VisitEventKind.ADMITTED) and current in waiting:
        return VisitStatus.ARRIVED if kind is VisitEventKind.REGISTERED else VisitStatus.IN_PROGRESS
    return None


def merge_fetched(visits: Sequence[Visit], fetched: Iterable[Visit]) -> tuple[Visit, ...]:
    """Visits read again from the EHR replace their rows (keeping the note state and the
    new-results mark) or join the list."""
    rows = {v.key: v for v in visits}
    for visit in fetched:
        old = rows.get(visit.key)
        if old is not None:
            visit = replace(visit, note=old.note, new_results=old.new_results or visit.new_results)
        rows[visit.key] = visit
    return sort_visits(v for v in rows.values() if v.status.shown)
