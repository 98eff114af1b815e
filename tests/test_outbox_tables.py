"""Every table over the outbox's states and events is complete and agrees with the transition
table — checked here, not found out at run time by a KeyError in front of a clinician."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from app.cli_outbox import ORDER
from app.domain.audit import AuditEvent, AuditKind, describe
from app.domain.commit import DraftWrite, build_commit
from app.domain.outbox import (
    ERROR_CLASS_OF_EVENT,
    FAILURE_EVENTS,
    RUNNER_STATES,
    SIGN_IN_STATES,
    STATE_TEXT,
    TERMINAL_STATES,
    TRANSITIONS,
    UNKNOWN_STATES,
    ErrorClass,
    OutboxItem,
    OutboxState,
    SyncEvent,
    allowed_events,
)
from app.domain.worklist import NOTE_STATE_OF_COMMIT, NoteState
from app.fhir.profiles import load_profile
from app.sync.planner import ACTION_RULES, ActionKind, capabilities_from, next_action
from app.sync.runner import AFTER_UNEXPECTED
from app.ui.outbox_panel import FILTERS
from app.ui.outbox_words import (
    ERROR_WORDS,
    STATE_SEVERITY,
    error_detail,
    error_words,
    state_meaning,
    state_words,
)

S, E = OutboxState, SyncEvent
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_every_state_has_its_words() -> None:
    assert set(STATE_TEXT) == set(S)
    for state, text in STATE_TEXT.items():
        assert text.label and text.status and text.meaning, state
    labels = [t.label for t in STATE_TEXT.values()]
    statuses = [t.status for t in STATE_TEXT.values()]
    assert len(set(labels)) == len(labels) and len(set(statuses)) == len(statuses)
    assert max(len(label) for label in labels) <= 17  # the column of ``outbox list``


def test_every_state_has_a_rule_a_severity_and_a_place_in_the_lists() -> None:
    assert set(ACTION_RULES) == set(S)
    assert set(STATE_SEVERITY) == set(S)
    assert set(NOTE_STATE_OF_COMMIT) == set(S)  # the worklist's note column
    assert sorted(ORDER, key=list(S).index) == list(S)  # each state once
    shown: list[OutboxState] = []
    for _label, states in FILTERS.values():
        shown += states or ()
    assert sorted(shown, key=list(S).index) == [s for s in S if s is not S.DISCARDED]


@pytest.mark.parametrize("state", list(S))
def test_the_panel_and_the_planner_speak_about_every_state(state: OutboxState) -> None:
    item = OutboxItem(uuid4(), 1, state, attempts=1, next_attempt_at=NOW)
    assert state_words(item, NOW) and state_meaning(item)
    commit = build_commit([DraftWrite({"resourceType": "DocumentReference"})], sequence=1)
    item = OutboxItem(commit.commit_id, 1, state, attempts=1, next_attempt_at=NOW)
    statement = {
        "resourceType": "CapabilityStatement",
        "rest": [{"mode": "server", "resource": [{"type": "DocumentReference"}]}],
    }
    caps = capabilities_from(statement, load_profile("generic-r4"))
    action = next_action(item, commit, caps, NOW)
    assert action.reason
    # the planner acts only on what the runner claims (app.store.outbox._active)
    if state not in RUNNER_STATES:
        assert action.kind in (ActionKind.ASK_USER, ActionKind.NOTHING), state


def test_every_event_and_state_takes_part_in_the_table() -> None:
    assert {e for (_, e) in TRANSITIONS} == set(E)
    for state in set(S) - TERMINAL_STATES:
        assert allowed_events(state), state
    assert {s for (s, _) in TRANSITIONS} | TERMINAL_STATES == set(S)


def test_the_groups_of_states_agree_with_the_table() -> None:
    assert {s for (s, e) in TRANSITIONS if e is E.SEND_STARTED} <= RUNNER_STATES
    assert {s for (s, e) in TRANSITIONS if e is E.SIGNED_IN} - {S.UNKNOWN_OUTCOME} == (
        SIGN_IN_STATES
    )
    assert all(TRANSITIONS[(s, E.SIGNED_IN)] not in SIGN_IN_STATES for s in SIGN_IN_STATES)
    assert {s for (_, e), s in TRANSITIONS.items() if e is E.OUTCOME_UNKNOWN} | {
        TRANSITIONS[(S.UNKNOWN_OUTCOME, E.SIGN_IN_REQUIRED)],
        TRANSITIONS[(S.UNKNOWN_OUTCOME, E.PERMANENT_REJECTION)],
    } == UNKNOWN_STATES


def test_every_failure_has_a_class_with_words() -> None:
    assert set(ERROR_CLASS_OF_EVENT) >= FAILURE_EVENTS
    assert all(cls.words for cls in ErrorClass)


def test_an_unexpected_error_has_a_way_out_of_every_state_the_runner_works_in() -> None:
    assert set(AFTER_UNEXPECTED) == RUNNER_STATES | {S.SENDING}
    assert all((s, e) in TRANSITIONS for s, e in AFTER_UNEXPECTED.items())


def test_every_audit_kind_has_words() -> None:
    for kind in AuditKind:
        assert describe(AuditEvent(kind, NOW)), kind


def test_the_worklist_and_the_outbox_agree_on_what_needs_the_clinician() -> None:
    """A commit the outbox marks as a problem is never "queued" on the worklist, and one the
    worklist calls sent is one the EHR has stored."""
    for state, note in NOTE_STATE_OF_COMMIT.items():
        if state in (S.NEEDS_ATTENTION, S.CONFLICT, S.PARKED):
            assert note in (NoteState.NEEDS_ATTENTION, NoteState.CONFLICT), state
        assert (note is NoteState.SENT) == (state is S.CONFIRMED), state


# What the sync engine records for a refusal (app.fhir.errors.http_error): a request, a status
# and the EHR's own text — for IT, not for the Last error column.
RECORDED = (
    "The EHR refused the content as invalid (POST Composition, HTTP 422). The EHR said: "
    "“Composition.subject: minimum required = 1”. If this keeps happening, tell clinic IT."
)
TECHNICAL = ("HTTP", "422", "POST", "Composition", "The EHR said", "minimum required")


def test_every_kind_of_error_the_engine_records_has_words_for_the_column() -> None:
    assert set(ERROR_WORDS) == set(ErrorClass)
    assert set(ERROR_CLASS_OF_EVENT.values()) <= set(ERROR_WORDS)
    for kind, words in ERROR_WORDS.items():
        assert words.happened.endswith(".") and words.to_do.endswith("."), kind


SHOWN = [s for s in S if s not in (S.CONFIRMED, S.DISCARDED)]


@pytest.mark.parametrize("state", SHOWN)
@pytest.mark.parametrize("kind", [*ErrorClass, None])
def test_the_last_error_column_says_it_in_words_and_keeps_the_detail_for_it(
    state: OutboxState, kind: ErrorClass | None
) -> None:
    """Every kind (None: an error recorded before kinds existed) in every state that shows one:
    a clinician's sentence in the column; the recorded text, kind and status in the tooltip."""
    item = OutboxItem(
        uuid4(), 1, state, attempts=1, last_status=422, last_error=RECORDED, error_class=kind
    )
    words = error_words(item)
    assert words and not [t for t in TECHNICAL if t in words], words
    tip = error_detail(item)
    assert tip.startswith(words)  # the whole sentence: a narrow column cuts it
    assert f"As recorded: {RECORDED}" in tip
    assert f"For IT: {(kind or ErrorClass.OTHER).value}, HTTP 422" in tip


@pytest.mark.parametrize("state", [S.CONFIRMED, S.DISCARDED])
def test_a_sent_or_discarded_commit_shows_no_error(state: OutboxState) -> None:
    item = OutboxItem(uuid4(), 1, state, last_error=RECORDED, error_class=ErrorClass.REFUSED)
    assert error_words(item) == "" and error_detail(item) == ""
    assert error_words(OutboxItem(uuid4(), 1, S.QUEUED)) == ""  # nothing went wrong
