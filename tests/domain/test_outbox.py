"""The outbox item state machine and response classification (app.domain.outbox)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from app.domain.commit import DraftWrite, build_commit
from app.domain.outbox import (
    RUNNER_STATES,
    STATE_TEXT,
    TERMINAL_STATES,
    TRANSITIONS,
    UNKNOWN_STATES,
    IllegalTransition,
    NetworkErrorKind,
    OutboxItem,
    OutboxState,
    SyncEvent,
    advance,
    allowed_events,
    classify_response,
    new_item,
    next_state,
    recover_after_restart,
)
from app.domain.retry import BackoffPolicy

S, E, N = OutboxState, SyncEvent, NetworkErrorKind
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class FixedRandom:
    def random(self) -> float:
        return 0.5


RNG = FixedRandom()


def item(state: OutboxState, **kwargs: object) -> OutboxItem:
    return OutboxItem(uuid4(), 1, state, **kwargs)  # type: ignore[arg-type]


def test_happy_path() -> None:
    commit = build_commit([DraftWrite({"resourceType": "Task"})], sequence=3)
    it = new_item(commit, base_pending=False, now=NOW)
    assert (it.state, it.sequence, it.commit_id) == (S.QUEUED, 3, commit.commit_id)
    it = advance(it, E.SEND_STARTED, now=NOW, rng=RNG)
    it = advance(it, E.SERVER_ACCEPTED, now=NOW, rng=RNG, status=201)
    assert it.state is S.CONFIRMED and it.attempts == 0 and it.next_attempt_at is None


def test_amendment_waits_for_its_base() -> None:
    commit = build_commit([DraftWrite({"resourceType": "DocumentReference"})], sequence=2)
    it = new_item(commit, base_pending=True, now=NOW)
    assert it.state is S.WAITING_FOR_BASE
    with pytest.raises(IllegalTransition):
        advance(it, E.SEND_STARTED, now=NOW, rng=RNG)
    assert next_state(S.WAITING_FOR_BASE, E.BASE_CONFIRMED) is S.QUEUED
    assert next_state(S.WAITING_FOR_BASE, E.BASE_DISCARDED) is S.NEEDS_ATTENTION


@pytest.mark.parametrize(
    ("status", "network", "sent", "refreshed", "event"),
    [
        (None, N.CONNECT_FAILED, False, False, E.NOT_SENT),
        (None, N.TLS_FAILED, False, False, E.NOT_SENT),
        (None, N.CONNECTION_DROPPED, False, False, E.NOT_SENT),  # dropped before the request left
        (None, N.CONNECTION_DROPPED, True, False, E.OUTCOME_UNKNOWN),  # committed, response lost
        (None, N.READ_TIMEOUT, True, False, E.OUTCOME_UNKNOWN),
        (201, N.TRUNCATED_BODY, True, False, E.OUTCOME_UNKNOWN),  # ids were in the lost body
        (200, None, True, False, E.SERVER_ACCEPTED),
        (201, None, True, False, E.SERVER_ACCEPTED),
        (401, None, True, False, E.AUTH_REFRESH_NEEDED),
        (401, None, True, True, E.SIGN_IN_REQUIRED),
        (408, None, True, False, E.RETRYABLE_REJECTION),
        (429, None, True, False, E.RETRYABLE_REJECTION),
        (503, None, True, False, E.RETRYABLE_REJECTION),
        (500, None, True, False, E.OUTCOME_UNKNOWN),  # may have committed before failing
        (502, None, True, False, E.OUTCOME_UNKNOWN),  # the gateway may have forwarded it
        (504, None, True, False, E.OUTCOME_UNKNOWN),
        (400, None, True, False, E.PERMANENT_REJECTION),
        (403, None, True, False, E.PERMANENT_REJECTION),
        (404, None, True, False, E.PERMANENT_REJECTION),
        (405, None, True, False, E.PERMANENT_REJECTION),
        (410, None, True, False, E.PERMANENT_REJECTION),
        (422, None, True, False, E.PERMANENT_REJECTION),
        (501, None, True, False, E.PERMANENT_REJECTION),
        (307, None, True, False, E.PERMANENT_REJECTION),  # never re-POST to a redirect target
        (409, None, True, False, E.CONFLICT_DETECTED),
        (412, None, True, False, E.CONFLICT_DETECTED),
    ],
)
def test_classify_response(
    status: int | None,
    network: NetworkErrorKind | None,
    sent: bool,
    refreshed: bool,
    event: SyncEvent,
) -> None:
    assert classify_response(status, network, sent, auth_refreshed=refreshed) is event


def test_classify_needs_something() -> None:
    with pytest.raises(ValueError):
        classify_response(None, None, True)


@pytest.mark.parametrize(
    ("event", "state"),
    [
        (E.SERVER_ACCEPTED, S.CONFIRMED),
        (E.NOT_SENT, S.RETRY_WAIT),
        (E.RETRYABLE_REJECTION, S.RETRY_WAIT),
        (E.OUTCOME_UNKNOWN, S.UNKNOWN_OUTCOME),
        (E.CRASH_RECOVERED, S.UNKNOWN_OUTCOME),
        (E.AUTH_REFRESH_NEEDED, S.QUEUED),
        (E.SIGN_IN_REQUIRED, S.PAUSED_FOR_SIGN_IN),
        (E.PERMANENT_REJECTION, S.NEEDS_ATTENTION),
        (E.CONFLICT_DETECTED, S.CONFLICT),
    ],
)
def test_outcomes_of_a_send(event: SyncEvent, state: OutboxState) -> None:
    assert next_state(S.SENDING, event) is state


def test_unknown_outcome_is_left_only_by_reconciliation_or_the_clinician() -> None:
    """Checking, Sign in to check and Could not check: the outcome is unknown in all three, and
    nothing but a search or the clinician leads out of them."""
    exits = {
        (st, e): s
        for (st, e), s in TRANSITIONS.items()
        if st in UNKNOWN_STATES and s not in UNKNOWN_STATES
    }
    assert exits == {
        (S.UNKNOWN_OUTCOME, E.RECONCILED_PRESENT): S.CONFIRMED,
        (S.UNKNOWN_OUTCOME, E.RECONCILED_PARTIAL): S.QUEUED,
        (S.UNKNOWN_OUTCOME, E.RECONCILED_ABSENT): S.QUEUED,
        (S.UNKNOWN_OUTCOME, E.DUPLICATES_FOUND): S.NEEDS_ATTENTION,
        # a lost update's check found its target changed by someone else: the clinician decides
        (S.UNKNOWN_OUTCOME, E.CHANGED_BY_OTHERS): S.CONFLICT,
        **{(st, E.USER_RESEND): S.QUEUED for st in UNKNOWN_STATES},
        **{(st, E.USER_DISCARD): S.DISCARDED for st in UNKNOWN_STATES},
    }
    # in particular: no failure of the reconciliation search can lead to a resend
    for event in (
        E.NOT_SENT,
        E.OUTCOME_UNKNOWN,
        E.PERMANENT_REJECTION,
        E.SIGN_IN_REQUIRED,
        E.RETRYABLE_REJECTION,
    ):
        assert next_state(S.UNKNOWN_OUTCOME, event) in UNKNOWN_STATES
    # the check stops (and the runner leaves it) after a 401 past the refresh or a refusal
    assert next_state(S.UNKNOWN_OUTCOME, E.SIGN_IN_REQUIRED) is S.CHECK_PAUSED_FOR_SIGN_IN
    assert next_state(S.UNKNOWN_OUTCOME, E.PERMANENT_REJECTION) is S.PARKED
    assert not {S.CHECK_PAUSED_FOR_SIGN_IN, S.PARKED} & RUNNER_STATES
    assert next_state(S.CHECK_PAUSED_FOR_SIGN_IN, E.SIGNED_IN) is S.UNKNOWN_OUTCOME
    assert next_state(S.PARKED, E.USER_RETRY) is S.UNKNOWN_OUTCOME
    with pytest.raises(IllegalTransition):
        next_state(S.PARKED, E.SIGNED_IN)  # a sign-in does not answer a refusal


def test_a_parked_check_waits_without_a_next_attempt() -> None:
    it = advance(item(S.UNKNOWN_OUTCOME), E.PERMANENT_REJECTION, now=NOW, rng=RNG, status=400)
    assert it.state is S.PARKED and it.next_attempt_at is None and it.attempts == 1
    again = advance(it, E.USER_RETRY, now=NOW, rng=RNG)
    assert again.state is S.UNKNOWN_OUTCOME and again.next_attempt_at == NOW  # checked at once


def test_a_request_is_only_sent_from_queued_or_retry_wait() -> None:
    assert {st for (st, e) in TRANSITIONS if e is E.SEND_STARTED} == {S.QUEUED, S.RETRY_WAIT}


def test_terminal_states_accept_nothing() -> None:
    for state in TERMINAL_STATES:
        assert allowed_events(state) == frozenset()
        for event in E:
            with pytest.raises(IllegalTransition) as info:
                next_state(state, event)
            assert info.value.state is state and info.value.event is event


def test_discard_is_possible_except_while_in_flight_and_after_the_end() -> None:
    can_discard = {st for st in S if E.USER_DISCARD in allowed_events(st)}
    assert can_discard == set(S) - {S.SENDING, S.CONFIRMED, S.DISCARDED}
    assert all(next_state(st, E.USER_DISCARD) is S.DISCARDED for st in can_discard)


def test_confirmed_is_reached_only_with_evidence_from_the_server() -> None:
    assert {e for (st, e), s in TRANSITIONS.items() if s is S.CONFIRMED} == {
        E.SERVER_ACCEPTED,
        E.RECONCILED_PRESENT,
    }


def test_every_state_is_reachable_and_described() -> None:
    reached = {S.QUEUED, S.WAITING_FOR_BASE}
    frontier = list(reached)
    while frontier:
        state = frontier.pop()
        for (st, _), nxt in TRANSITIONS.items():
            if st is state and nxt not in reached:
                reached.add(nxt)
                frontier.append(nxt)
    assert reached == set(S)
    assert set(STATE_TEXT) == set(S)


def test_retry_wait_honours_retry_after_and_counts_attempts() -> None:
    it = item(S.SENDING)
    it = advance(
        it,
        E.RETRYABLE_REJECTION,
        now=NOW,
        rng=RNG,
        retry_after=timedelta(seconds=30),
        status=503,
        error="EHR busy (503)",
    )
    assert (it.state, it.attempts, it.next_attempt_at) == (
        S.RETRY_WAIT,
        1,
        NOW + timedelta(seconds=30),
    )
    assert (it.last_status, it.last_error, it.last_event) == (
        503,
        "EHR busy (503)",
        E.RETRYABLE_REJECTION,
    )
    it = advance(it, E.SEND_STARTED, now=NOW, rng=RNG)
    policy = BackoffPolicy(base=timedelta(seconds=10), floor=timedelta(0))
    it = advance(it, E.NOT_SENT, now=NOW, rng=RNG, policy=policy)
    assert it.attempts == 2
    assert it.next_attempt_at == NOW + timedelta(seconds=10)  # ceiling 20 s, jitter draw 0.5
    assert it.last_error == "EHR busy (503)"  # kept until a new error is known


def test_unknown_outcome_schedules_the_check() -> None:
    it = advance(item(S.SENDING), E.OUTCOME_UNKNOWN, now=NOW, rng=RNG)
    assert (
        it.state is S.UNKNOWN_OUTCOME
        and it.next_attempt_at is not None
        and it.next_attempt_at > NOW
    )
    later = NOW + timedelta(minutes=1)
    assert advance(it, E.USER_RETRY, now=later, rng=RNG).next_attempt_at == later
    failed_search = advance(
        it, E.RETRYABLE_REJECTION, now=later, rng=RNG, retry_after=timedelta(seconds=7)
    )
    assert (
        failed_search.state is S.UNKNOWN_OUTCOME
        and failed_search.next_attempt_at == later + timedelta(seconds=7)
    )
    confirmed = advance(it, E.RECONCILED_PRESENT, now=later, rng=RNG)
    assert (
        confirmed.state is S.CONFIRMED
        and confirmed.last_error is None
        and confirmed.next_attempt_at is None
    )


def test_recover_after_restart_only_touches_sending() -> None:
    sending = item(S.SENDING, attempts=2)
    recovered = recover_after_restart(sending, now=NOW, rng=RNG)
    assert recovered.state is S.UNKNOWN_OUTCOME and recovered.next_attempt_at == NOW
    assert recovered.last_event is E.CRASH_RECOVERED and recovered.attempts == 2
    for state in set(S) - {S.SENDING}:
        untouched = item(state)
        assert recover_after_restart(untouched, now=NOW, rng=RNG) is untouched


def test_illegal_event_leaves_the_item_alone() -> None:
    it = item(S.CONFIRMED)
    with pytest.raises(IllegalTransition, match=r"SEND_STARTED.*CONFIRMED"):
        advance(it, E.SEND_STARTED, now=NOW, rng=RNG)
    assert it.state is S.CONFIRMED


def test_paused_for_sign_in_resumes_after_sign_in() -> None:
    it = advance(item(S.SENDING), E.SIGN_IN_REQUIRED, now=NOW, rng=RNG, status=401)
    assert it.state is S.PAUSED_FOR_SIGN_IN and it.next_attempt_at is None
    assert E.USER_RETRY not in allowed_events(S.PAUSED_FOR_SIGN_IN)
    assert advance(it, E.SIGNED_IN, now=NOW, rng=RNG).state is S.QUEUED
