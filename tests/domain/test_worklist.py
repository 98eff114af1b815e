"""The worklist's pure parts: note state from the store's facts, HL7 events applied to rows."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from app.domain.draft import DraftSource, DraftStatus
from app.domain.outbox import OutboxState
from app.domain.visit_events import VisitEvent, VisitEventKind
from app.domain.worklist import (
    NoteFacts,
    NoteState,
    Visit,
    VisitStatus,
    Worklist,
    apply_events,
    merge_fetched,
    note_state,
)

OPEN, APPROVED = DraftStatus.OPEN, DraftStatus.APPROVED
PREFILLED, IMPORTED = DraftSource.PREFILLED, DraftSource.IMPORTED


@pytest.mark.parametrize(
    ("drafts", "commits", "expected"),
    [
        ((), (), NoteState.NONE),
        (((OPEN, PREFILLED),), (), NoteState.DRAFT),
        (((OPEN, IMPORTED),), (), NoteState.WAITING_FOR_REVIEW),
        (((APPROVED, PREFILLED),), (OutboxState.QUEUED,), NoteState.QUEUED),
        (((APPROVED, PREFILLED),), (OutboxState.RETRY_WAIT,), NoteState.QUEUED),
        (((APPROVED, PREFILLED),), (OutboxState.CONFIRMED,), NoteState.SENT),
        (((APPROVED, PREFILLED),), (OutboxState.NEEDS_ATTENTION,), NoteState.NEEDS_ATTENTION),
        (((APPROVED, PREFILLED),), (OutboxState.CONFLICT,), NoteState.CONFLICT),
        (((APPROVED, PREFILLED),), (OutboxState.DISCARDED,), NoteState.NONE),
        # the app could not check whether it arrived: the clinician looks in the chart
        (((APPROVED, PREFILLED),), (OutboxState.PARKED,), NoteState.NEEDS_ATTENTION),
        # a sign-in lets the app check by itself (as for a paused send)
        (((APPROVED, PREFILLED),), (OutboxState.CHECK_PAUSED_FOR_SIGN_IN,), NoteState.QUEUED),
        (((APPROVED, PREFILLED),), (OutboxState.PAUSED_FOR_SIGN_IN,), NoteState.QUEUED),
        # a sent note and a new draft (an addendum): the draft is what is left to do
        (((APPROVED, PREFILLED), (OPEN, PREFILLED)), (OutboxState.CONFIRMED,), NoteState.DRAFT),
        # the most pressing wins
        (((OPEN, IMPORTED),), (OutboxState.CONFLICT, OutboxState.CONFIRMED), NoteState.CONFLICT),
        (((DraftStatus.DISCARDED, PREFILLED),), (), NoteState.NONE),
    ],
)
def test_note_state(drafts: tuple, commits: tuple, expected: NoteState) -> None:
    assert note_state(NoteFacts(drafts, commits)) is expected


def visit(n: int, status: VisitStatus = VisitStatus.ARRIVED, **more: object) -> Visit:
    return Visit(
        key=f"Encounter/e{n}",
        encounter_id=f"e{n}",
        patient_id=f"p{n}",
        patient_name=f"Patient {n}",
        start=datetime(2026, 12, 7, 8 + n, tzinfo=UTC),
        type_text="Check up",
        status=status,
        visit_number=f"V{n}",
        patient_identifiers=(f"MRN-{n}",),
        **more,  # type: ignore[arg-type]
    )


def event(kind: VisitEventKind, number: str | None = None, *ids: str, cid: str = "1") -> VisitEvent:
    return VisitEvent(kind, cid, number, ids)


def test_discharge_finishes_and_cancelling_it_undoes() -> None:
    rows = [visit(1), visit(2)]
    done = apply_events(rows, [event(VisitEventKind.DISCHARGED, "V1")])
    assert done.changed and done.visits[0].status is VisitStatus.FINISHED
    undone = apply_events(done.visits, [event(VisitEventKind.DISCHARGE_CANCELLED, "V1")])
    assert undone.visits[0].status is VisitStatus.IN_PROGRESS
    assert undone.visits[1] == rows[1]


def test_registration_cancelled() -> None:
    out = apply_events(
        [visit(1, VisitStatus.ARRIVED)], [event(VisitEventKind.ADMISSION_CANCELLED, "V1")]
    )
    assert out.visits[0].status is VisitStatus.CANCELLED


def test_registration_of_a_booked_visit_marks_it_arrived_and_asks_for_a_refresh() -> None:
    out = apply_events([visit(1, VisitStatus.PLANNED)], [event(VisitEventKind.REGISTERED, "V1")])
    assert out.visits[0].status is VisitStatus.ARRIVED and out.to_fetch == ("V1",)


def test_unknown_visits_are_fetched_or_counted() -> None:
    out = apply_events(
        [visit(1)],
        [
            event(VisitEventKind.REGISTERED, "V9"),
            event(VisitEventKind.UPDATED, "V9"),
            event(VisitEventKind.DISCHARGED, "V8"),  # not on the list: counted
            event(VisitEventKind.RESULTS, None, "MRN-404"),  # nobody: counted
        ],
    )
    assert out.to_fetch == ("V9",) and out.unknown == 2 and not out.changed


def test_results_mark_the_patients_rows_once() -> None:
    rows = [visit(1), visit(2)]
    out = apply_events(rows, [event(VisitEventKind.RESULTS, None, "X", "MRN-2")] * 3)
    assert [v.new_results for v in out.visits] == [False, True] and out.unknown == 0
    again = apply_events(out.visits, [event(VisitEventKind.RESULTS, None, "MRN-2")])
    assert not again.changed


def test_the_same_events_twice_give_the_same_list() -> None:
    events = [event(VisitEventKind.DISCHARGED, "V1"), event(VisitEventKind.RESULTS, None, "MRN-2")]
    once = apply_events([visit(1), visit(2)], events).visits
    assert apply_events(once, events).visits == once


def test_fetched_visits_keep_note_state_and_results() -> None:
    rows = [visit(1, note=NoteState.DRAFT, new_results=True)]
    fresh = visit(1, VisitStatus.IN_PROGRESS)
    merged = merge_fetched(rows, [fresh, visit(0), visit(3, VisitStatus.ENTERED_IN_ERROR)])
    assert [v.key for v in merged] == ["Encounter/e0", "Encounter/e1"]
    assert merged[1].status is VisitStatus.IN_PROGRESS and merged[1].note is NoteState.DRAFT
    assert merged[1].new_results


def test_age_and_age_words() -> None:
    born = visit(1, birth_date=date(1984, 2, 29))
    assert born.age_on(date(2026, 2, 28)) == 41 and born.age_on(date(2026, 3, 1)) == 42
    wl = Worklist("Practitioner/p", date(2026, 12, 7), (), datetime(2026, 12, 7, 8, 12, tzinfo=UTC))
    assert wl.age_words(UTC) == "as of 08:12"


def test_appointment_statuses() -> None:
    assert VisitStatus.from_appointment("booked") is VisitStatus.PLANNED
    assert VisitStatus.from_appointment("checked-in") is VisitStatus.ARRIVED
    assert VisitStatus.from_appointment("noshow") is VisitStatus.CANCELLED
    assert VisitStatus.from_encounter("nonsense") is VisitStatus.UNKNOWN


def test_cancelled_and_entered_in_error_visits_are_not_charts_to_keep() -> None:
    day = Worklist(
        "Practitioner/prac-1",
        date(2026, 12, 7),
        (
            visit(1, VisitStatus.FINISHED),
            visit(2, VisitStatus.CANCELLED),
            visit(3, VisitStatus.ENTERED_IN_ERROR),
            visit(4, VisitStatus.PLANNED),
            replace(visit(5, VisitStatus.PLANNED), encounter_id=None),  # an appointment
        ),
        datetime(2026, 12, 7, 7, tzinfo=UTC),
    )
    assert day.charts_to_keep() == [("p1", "e1"), ("p4", "e4")]
    assert not visit(2, VisitStatus.CANCELLED).likely_opened
