"""The state machine of one outbox item (one approved commit on its way to the EHR).

I/O-free and table-driven in the manner of h11's ``_state.py``: :data:`TRANSITIONS` maps
``(state, event)`` to the next state, and anything not in the table raises
:class:`IllegalTransition`. The runner (app.sync) performs requests, turns their outcome into a
:class:`SyncEvent` with :func:`classify_response`, and applies it with :func:`advance`, which also
does the bookkeeping (attempts, next attempt, last error). The store persists the resulting
:class:`OutboxItem`; a state is written *before* the request it announces (``SENDING``), so a
crash leaves a trace that :func:`recover_after_restart` turns into ``UNKNOWN_OUTCOME``.

The one rule that keeps writes exactly-once: once a request may have reached the server and no
complete answer came back, the item is ``UNKNOWN_OUTCOME`` and leaves it only through
reconciliation (a search for the write identifiers) or an explicit decision of the clinician —
never by resending blindly. A 500/502/504 counts as "may have reached the server": a gateway may
have forwarded the request and a server may fail after its database commit. When the check
itself cannot go on, the item waits in one of two states the runner leaves alone:
``CHECK_PAUSED_FOR_SIGN_IN`` (the search met a 401 after the refresh: signing in resumes the
check) and ``PARKED`` (the EHR refused the search or cannot be searched: a person looks in the
chart, then checks again, sends again or discards).

Every table over the states and events here (and ``ACTION_RULES`` in app.sync.planner, the
words in app.ui.outbox_words) is complete: tests/test_outbox_tables.py checks it.

State diagram and plain-language meanings: docs/sync.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum
from uuid import UUID

from app.domain.commit import ApprovedCommit
from app.domain.retry import DEFAULT_BACKOFF, BackoffPolicy, RandomSource


class OutboxState(Enum):
    WAITING_FOR_BASE = "waiting_for_base"
    QUEUED = "queued"
    SENDING = "sending"
    RETRY_WAIT = "retry_wait"
    UNKNOWN_OUTCOME = "unknown_outcome"
    CHECK_PAUSED_FOR_SIGN_IN = "check_paused_for_sign_in"  # the check met a 401: sign in
    PARKED = "parked"  # the outcome cannot be checked by the app: a person decides
    PAUSED_FOR_SIGN_IN = "paused_for_sign_in"
    NEEDS_ATTENTION = "needs_attention"
    CONFLICT = "conflict"
    CONFIRMED = "confirmed"
    DISCARDED = "discarded"


class SyncEvent(Enum):
    # dependencies
    BASE_CONFIRMED = "base_confirmed"
    BASE_DISCARDED = "base_discarded"
    # sending
    SEND_STARTED = "send_started"
    SEND_WITHHELD = "send_withheld"  # marked sending, but the pass stopped before any request
    SERVER_ACCEPTED = "server_accepted"  # 2xx with a complete answer
    NOT_SENT = "not_sent"  # nothing reached the server (refused, DNS, connect timeout, TLS)
    RETRYABLE_REJECTION = "retryable_rejection"  # 408/429/503: answered, not processed
    OUTCOME_UNKNOWN = "outcome_unknown"  # sent, no complete answer; or 500/502/504
    AUTH_REFRESH_NEEDED = "auth_refresh_needed"  # first 401: refresh once, then send again
    SIGN_IN_REQUIRED = "sign_in_required"  # 401 again after the refresh
    PERMANENT_REJECTION = "permanent_rejection"  # 400/403/404/405/410/422 ...
    CONFLICT_DETECTED = "conflict_detected"  # 409/412, or the chart changed under an amendment
    CANNOT_SEND = "cannot_send"  # refused locally: the profile/server does not allow this write
    # reconciliation (search by write identifier)
    RECONCILED_PRESENT = "reconciled_present"  # every write found exactly once
    RECONCILED_PARTIAL = "reconciled_partial"  # some found: send only the missing ones
    RECONCILED_ABSENT = "reconciled_absent"  # none found: safe to send again
    DUPLICATES_FOUND = "duplicates_found"  # a write found more than once: a person must look
    # an update's target was changed by someone else (neither ours nor the version expected)
    CHANGED_BY_OTHERS = "changed_by_others"
    # lifecycle
    CRASH_RECOVERED = "crash_recovered"  # SENDING found at start-up
    SIGNED_IN = "signed_in"
    # the clinician (audited by the caller)
    USER_RETRY = "user_retry"
    USER_RESEND = "user_resend"  # "send again" although the outcome could not be checked
    USER_DISCARD = "user_discard"


class IllegalTransition(Exception):
    """An event that the state machine does not allow in the current state (a bug in the caller)."""

    def __init__(self, state: OutboxState, event: SyncEvent) -> None:
        self.state = state
        self.event = event
        super().__init__(f"event {event.name} is not allowed in state {state.name}")


S = OutboxState
E = SyncEvent

# While the outcome is unknown, a failure of the reconciliation search keeps it unknown (it is
# checked again after the backoff) — except a 401 after the refresh (CHECK_PAUSED_FOR_SIGN_IN)
# and a refusal (PARKED), after which the app cannot check by itself.
_STAY_UNKNOWN = (
    E.NOT_SENT,
    E.RETRYABLE_REJECTION,
    E.OUTCOME_UNKNOWN,
    E.AUTH_REFRESH_NEEDED,
    E.CONFLICT_DETECTED,
    E.SIGNED_IN,
    E.USER_RETRY,
)

TRANSITIONS: dict[tuple[OutboxState, SyncEvent], OutboxState] = {
    (S.WAITING_FOR_BASE, E.BASE_CONFIRMED): S.QUEUED,
    (S.WAITING_FOR_BASE, E.BASE_DISCARDED): S.NEEDS_ATTENTION,
    (S.WAITING_FOR_BASE, E.USER_DISCARD): S.DISCARDED,
    (S.QUEUED, E.SEND_STARTED): S.SENDING,
    (S.QUEUED, E.CANNOT_SEND): S.NEEDS_ATTENTION,
    (S.QUEUED, E.CONFLICT_DETECTED): S.CONFLICT,  # precondition checked before sending
    (S.QUEUED, E.USER_RETRY): S.QUEUED,  # "Sync now" on a queued commit: harmless
    (S.QUEUED, E.USER_DISCARD): S.DISCARDED,
    (S.SENDING, E.SERVER_ACCEPTED): S.CONFIRMED,
    (S.SENDING, E.NOT_SENT): S.RETRY_WAIT,
    (S.SENDING, E.RETRYABLE_REJECTION): S.RETRY_WAIT,
    (S.SENDING, E.OUTCOME_UNKNOWN): S.UNKNOWN_OUTCOME,
    (S.SENDING, E.CRASH_RECOVERED): S.UNKNOWN_OUTCOME,
    (S.SENDING, E.AUTH_REFRESH_NEEDED): S.QUEUED,  # a 401 was not processed: send again
    (S.SENDING, E.SEND_WITHHELD): S.QUEUED,  # no request went out (app.sync.due_queue.SendSlot)
    (S.SENDING, E.SIGN_IN_REQUIRED): S.PAUSED_FOR_SIGN_IN,
    (S.SENDING, E.PERMANENT_REJECTION): S.NEEDS_ATTENTION,
    (S.SENDING, E.CONFLICT_DETECTED): S.CONFLICT,
    (S.SENDING, E.CANNOT_SEND): S.NEEDS_ATTENTION,
    (S.RETRY_WAIT, E.SEND_STARTED): S.SENDING,
    (S.RETRY_WAIT, E.CANNOT_SEND): S.NEEDS_ATTENTION,
    (S.RETRY_WAIT, E.CONFLICT_DETECTED): S.CONFLICT,
    (S.RETRY_WAIT, E.USER_RETRY): S.QUEUED,
    (S.RETRY_WAIT, E.USER_DISCARD): S.DISCARDED,
    (S.UNKNOWN_OUTCOME, E.RECONCILED_PRESENT): S.CONFIRMED,
    (S.UNKNOWN_OUTCOME, E.RECONCILED_PARTIAL): S.QUEUED,
    (S.UNKNOWN_OUTCOME, E.RECONCILED_ABSENT): S.QUEUED,
    (S.UNKNOWN_OUTCOME, E.DUPLICATES_FOUND): S.NEEDS_ATTENTION,
    (S.UNKNOWN_OUTCOME, E.CHANGED_BY_OTHERS): S.CONFLICT,
    **{(S.UNKNOWN_OUTCOME, event): S.UNKNOWN_OUTCOME for event in _STAY_UNKNOWN},
    (S.UNKNOWN_OUTCOME, E.SIGN_IN_REQUIRED): S.CHECK_PAUSED_FOR_SIGN_IN,
    (S.UNKNOWN_OUTCOME, E.PERMANENT_REJECTION): S.PARKED,
    (S.UNKNOWN_OUTCOME, E.USER_RESEND): S.QUEUED,
    (S.UNKNOWN_OUTCOME, E.USER_DISCARD): S.DISCARDED,
    (S.CHECK_PAUSED_FOR_SIGN_IN, E.SIGNED_IN): S.UNKNOWN_OUTCOME,  # check again at once
    (S.CHECK_PAUSED_FOR_SIGN_IN, E.USER_RETRY): S.UNKNOWN_OUTCOME,
    (S.CHECK_PAUSED_FOR_SIGN_IN, E.USER_RESEND): S.QUEUED,  # they looked in the chart
    (S.CHECK_PAUSED_FOR_SIGN_IN, E.USER_DISCARD): S.DISCARDED,
    (S.PARKED, E.USER_RETRY): S.UNKNOWN_OUTCOME,  # "Check again now"
    (S.PARKED, E.USER_RESEND): S.QUEUED,  # "Send again…": they looked in the chart
    (S.PARKED, E.USER_DISCARD): S.DISCARDED,
    (S.PAUSED_FOR_SIGN_IN, E.SIGNED_IN): S.QUEUED,
    (S.PAUSED_FOR_SIGN_IN, E.USER_DISCARD): S.DISCARDED,
    (S.NEEDS_ATTENTION, E.USER_RETRY): S.QUEUED,
    (S.NEEDS_ATTENTION, E.USER_DISCARD): S.DISCARDED,
    (S.CONFLICT, E.USER_RETRY): S.QUEUED,
    (S.CONFLICT, E.USER_DISCARD): S.DISCARDED,
}

TERMINAL_STATES = frozenset({S.CONFIRMED, S.DISCARDED})

# What the runner acts on by itself (claims from the store, plans for): everything else waits
# for a base, a sign-in or a person, is in flight, or is done.
RUNNER_STATES = frozenset({S.QUEUED, S.RETRY_WAIT, S.UNKNOWN_OUTCOME})

# Wait for a new sign-in: signing in queues the first again and resumes the check of the second.
SIGN_IN_STATES = frozenset({S.PAUSED_FOR_SIGN_IN, S.CHECK_PAUSED_FOR_SIGN_IN})

# The outcome is not known; only a check or the clinician moves it to Queued (never a failure).
UNKNOWN_STATES = frozenset({S.UNKNOWN_OUTCOME, S.CHECK_PAUSED_FOR_SIGN_IN, S.PARKED})

# Events that record a failed attempt (counted, shown as the last error, drive the backoff).
FAILURE_EVENTS = frozenset(
    {
        E.NOT_SENT,
        E.RETRYABLE_REJECTION,
        E.OUTCOME_UNKNOWN,
        E.SIGN_IN_REQUIRED,
        E.PERMANENT_REJECTION,
        E.CONFLICT_DETECTED,
        E.CANNOT_SEND,
        E.DUPLICATES_FOUND,
        E.CHANGED_BY_OTHERS,
        E.BASE_DISCARDED,
    }
)


def next_state(state: OutboxState, event: SyncEvent) -> OutboxState:
    """The state after ``event``; raises :class:`IllegalTransition` when not allowed."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise IllegalTransition(state, event) from None


def allowed_events(state: OutboxState) -> frozenset[SyncEvent]:
    """Events accepted in ``state`` (the UI enables "Retry now" / "Discard" from this)."""
    return frozenset(event for (s, event) in TRANSITIONS if s is state)


class NetworkErrorKind(Enum):
    """What went wrong on the wire, as far as the client can tell."""

    CONNECT_FAILED = "connect_failed"  # refused, DNS, connect timeout: nothing was sent
    TLS_FAILED = "tls_failed"  # certificate not verified: nothing was sent
    CONNECTION_DROPPED = "connection_dropped"  # closed while sending or waiting
    READ_TIMEOUT = "read_timeout"  # request sent, no answer in time
    TRUNCATED_BODY = "truncated_body"  # the answer stopped before its end


# Statuses that say "answered but not processed, come back later".
RETRYABLE_STATUSES = frozenset({408, 425, 429, 503})
# Statuses after which the request may have been processed (gateway forwarded it, or the server
# failed after committing): reconcile before anything is resent.
AMBIGUOUS_STATUSES = frozenset({500, 502, 504})
CONFLICT_STATUSES = frozenset({409, 412})
# Server errors that will not go away by retrying the same request.
PERMANENT_SERVER_STATUSES = frozenset({501, 505})


def classify_response(
    status: int | None,
    network_error: NetworkErrorKind | None,
    sent: bool,
    *,
    auth_refreshed: bool = False,
) -> SyncEvent:
    """Turn the outcome of one request into an event.

    ``sent`` is True as soon as any byte of the request may have reached the server. A network
    error after that point means the outcome is unknown even if a 2xx status line arrived (the
    ids are in the body we did not get). ``auth_refreshed`` tells whether the token was already
    refreshed once for this attempt.
    """
    if network_error is not None:
        if not sent or network_error in (
            NetworkErrorKind.CONNECT_FAILED,
            NetworkErrorKind.TLS_FAILED,
        ):
            return E.NOT_SENT
        return E.OUTCOME_UNKNOWN
    if status is None:
        raise ValueError("either a status or a network error is needed")
    if 200 <= status < 300:
        return E.SERVER_ACCEPTED
    if status == 401:
        return E.SIGN_IN_REQUIRED if auth_refreshed else E.AUTH_REFRESH_NEEDED
    if status in RETRYABLE_STATUSES:
        return E.RETRYABLE_REJECTION
    if status in CONFLICT_STATUSES:
        return E.CONFLICT_DETECTED
    if status in PERMANENT_SERVER_STATUSES:
        return E.PERMANENT_REJECTION
    if status >= 500:
        return E.OUTCOME_UNKNOWN  # 500, 502, 504 and anything unexpected: assume it may be in
    # 400, 403, 404, 405, 410, 422 and the other 4xx; 1xx/3xx (we never follow a redirect with a
    # write: a 307 would silently re-POST elsewhere) — all permanent for this request.
    return E.PERMANENT_REJECTION


class ErrorClass(Enum):
    """What kind of problem the last error was: a short code without the EHR's words, so it can
    be listed, logged and kept in the clear (the EHR's text can echo a patient's name and is
    stored sealed)."""

    NOT_REACHED = "not_reached"
    EHR_BUSY = "ehr_busy"
    NO_ANSWER = "no_answer"
    APP_STOPPED = "app_stopped"
    SIGN_IN = "sign_in"
    REFUSED = "refused"
    CONFLICT = "conflict"
    CANNOT_SEND = "cannot_send"
    DUPLICATES = "duplicates"
    BASE_DISCARDED = "base_discarded"
    OTHER = "other"  # an error recorded before error classes existed

    @property
    def words(self) -> str:
        return _ERROR_CLASS_WORDS[self]


_ERROR_CLASS_WORDS = {
    ErrorClass.NOT_REACHED: "the EHR could not be reached",
    ErrorClass.EHR_BUSY: "the EHR was busy and asked to try later",
    ErrorClass.NO_ANSWER: "the EHR gave no complete answer",
    ErrorClass.APP_STOPPED: "the app stopped while sending",
    ErrorClass.SIGN_IN: "the sign-in had ended",
    ErrorClass.REFUSED: "the EHR refused it",
    ErrorClass.CONFLICT: "the chart changed since it was approved",
    ErrorClass.CANNOT_SEND: "it cannot be sent as approved",
    ErrorClass.DUPLICATES: "it was found more than once in the EHR",
    ErrorClass.BASE_DISCARDED: "the note it amends was discarded",
    ErrorClass.OTHER: "an earlier problem",
}

# The class of the error an event records (events not listed record none).
ERROR_CLASS_OF_EVENT: dict[SyncEvent, ErrorClass] = {
    E.NOT_SENT: ErrorClass.NOT_REACHED,
    E.RETRYABLE_REJECTION: ErrorClass.EHR_BUSY,
    E.OUTCOME_UNKNOWN: ErrorClass.NO_ANSWER,
    E.CRASH_RECOVERED: ErrorClass.APP_STOPPED,
    E.SIGN_IN_REQUIRED: ErrorClass.SIGN_IN,
    E.PERMANENT_REJECTION: ErrorClass.REFUSED,
    E.CONFLICT_DETECTED: ErrorClass.CONFLICT,
    E.CANNOT_SEND: ErrorClass.CANNOT_SEND,
    E.DUPLICATES_FOUND: ErrorClass.DUPLICATES,
    E.CHANGED_BY_OTHERS: ErrorClass.CONFLICT,
    E.BASE_DISCARDED: ErrorClass.BASE_DISCARDED,
}


@dataclass(frozen=True)
class OutboxItem:
    """Where one commit stands. Persisted by the store; replaced, never mutated."""

    commit_id: UUID
    sequence: int
    state: OutboxState
    attempts: int = 0  # failed attempts so far (drives the backoff; shown to the clinician)
    next_attempt_at: datetime | None = None  # RETRY_WAIT / UNKNOWN_OUTCOME: not before this
    last_event: SyncEvent | None = None
    last_status: int | None = None
    last_error: str | None = None  # words for the clinician; may quote the EHR (stored sealed)
    updated_at: datetime | None = None  # wall clock, for display only — never for ordering
    error_class: ErrorClass | None = None  # the kind of the last error (no PHI: listable)


def new_item(commit: ApprovedCommit, *, base_pending: bool, now: datetime) -> OutboxItem:
    """The item created in the approval transaction."""
    state = S.WAITING_FOR_BASE if base_pending else S.QUEUED
    return OutboxItem(commit.commit_id, commit.sequence, state, updated_at=now)


def advance(
    item: OutboxItem,
    event: SyncEvent,
    *,
    now: datetime,
    rng: RandomSource,
    policy: BackoffPolicy = DEFAULT_BACKOFF,
    retry_after: timedelta | None = None,
    status: int | None = None,
    error: str | None = None,
) -> OutboxItem:
    """Apply ``event``: the next state plus attempts, next attempt time, last error and its
    class (``ERROR_CLASS_OF_EVENT``).

    ``retry_after`` is the server's ``Retry-After`` (see app.domain.retry.parse_retry_after); it
    replaces the jittered backoff for this wait. Raises :class:`IllegalTransition`.
    """
    state = next_state(item.state, event)
    failed = event in FAILURE_EVENTS
    attempts = item.attempts + 1 if failed else item.attempts
    next_attempt_at: datetime | None = None
    if state is S.RETRY_WAIT or (state is S.UNKNOWN_OUTCOME and failed):
        next_attempt_at = policy.next_attempt_at(now, attempts, rng, retry_after)
    elif state is S.UNKNOWN_OUTCOME:
        next_attempt_at = now  # crash recovery, fresh token, sign-in, "retry now": check at once
    confirmed = state is S.CONFIRMED
    return replace(
        item,
        state=state,
        attempts=attempts,
        next_attempt_at=next_attempt_at,
        last_event=event,
        last_status=status if status is not None else item.last_status,
        last_error=None if confirmed else (error if error is not None else item.last_error),
        error_class=None if confirmed else ERROR_CLASS_OF_EVENT.get(event, item.error_class),
        updated_at=now,
    )


def recover_after_restart(item: OutboxItem, *, now: datetime, rng: RandomSource) -> OutboxItem:
    """At start-up: an item left ``SENDING`` may have reached the server. Check before resending."""
    if item.state is not S.SENDING:
        return item
    return advance(
        item, E.CRASH_RECOVERED, now=now, rng=rng, error="The app stopped while sending."
    )


def discard_words(already_written: Sequence[str]) -> str:
    """What discarding meant, true to what reached the EHR: ``already_written`` lists the
    ``Type/id`` of writes the EHR holds (a discard does not remove them)."""
    if not already_written:
        return STATE_TEXT[S.DISCARDED].meaning
    return (
        "You chose not to send the rest. Already in the EHR, and not removed by discarding: "
        f"{', '.join(already_written)}. Remove it there if it should not stay."
    )


@dataclass(frozen=True)
class StateText:
    """Every word about one state: the outbox panel, its detail, the command line, the docs."""

    label: str  # a word or two ("Checking"): lists, summaries, ``outbox list``
    status: str  # what is happening to it, in a few words: the outbox panel's state column
    meaning: str  # what it means for the clinician, and what (if anything) they should do


STATE_TEXT: dict[OutboxState, StateText] = {
    S.WAITING_FOR_BASE: StateText(
        "Waiting",
        "Waiting for the note it amends",
        "Waits until the note it amends has reached the EHR; then it is sent.",
    ),
    S.QUEUED: StateText(
        "Queued", "Queued", "Will be sent when the EHR is reachable. Nothing to do."
    ),
    S.SENDING: StateText("Sending", "Sending…", "Being sent to the EHR now."),
    S.RETRY_WAIT: StateText(
        "Retrying",
        "Will retry",
        "The EHR could not take it just now; the app will try again by itself.",
    ),
    S.UNKNOWN_OUTCOME: StateText(
        "Checking",
        "Checking whether the EHR received it",
        "The EHR did not confirm it. The app checks whether it arrived before sending it again, "
        "so it is never written twice.",
    ),
    S.CHECK_PAUSED_FOR_SIGN_IN: StateText(
        "Sign in to check",
        "Waiting for sign-in to check whether the EHR received it",
        "The app sent it but got no answer, and needs you to sign in again to check "
        "whether the EHR stored it. Nothing is sent twice.",
    ),
    S.PARKED: StateText(
        "Could not check",
        "Could not check whether the EHR received it",
        "The app sent it but got no answer, and the EHR refused the check. Look in the "
        "chart: if it is there, discard it here; if not, choose “Send again…”.",
    ),
    S.PAUSED_FOR_SIGN_IN: StateText(
        "Paused — sign in",
        "Waiting for sign-in",
        "Your sign-in has expired. Sign in again; nothing is lost.",
    ),
    S.NEEDS_ATTENTION: StateText(
        "Needs attention",
        "Needs your attention",
        "The EHR refused it. Read the reason, then retry or discard. Other notes are not held up.",
    ),
    S.CONFLICT: StateText(
        "Conflict",
        "Conflict with the chart",
        "The chart changed since you started. Compare the chart and your version and decide.",
    ),
    S.CONFIRMED: StateText("Confirmed", "Sent ✓", "The EHR has stored it."),
    S.DISCARDED: StateText(
        "Discarded",
        "Discarded",
        "You chose not to send it. It was not written to the EHR.",
    ),
}

# SENDING as another process reads it from the store (``fhir-writeback outbox``): the sender
# marks a commit SENDING when it claims it, before it waits for one of its send slots, and only
# the sending app knows which of its commits are on the wire now (it says "Sending…" or
# "Waiting to send": app.ui.outbox_words). Read from the store alone, it is either.
SENDING_SEEN_FROM_THE_STORE = StateText(
    "Sending or waiting",
    "Being sent or waiting to send",
    "Claimed by the app that sends this outbox: it sends a few notes at a time, so this one "
    "is being sent now or is next in line (only that app knows which). Nothing to do. If no "
    "copy of the app is running, it stopped while sending: its next start checks whether the "
    "EHR received it.",
)


def state_text_from_the_store(state: OutboxState) -> StateText:
    """A state's words for a reader of the store that is not its sender (the command line)."""
    return SENDING_SEEN_FROM_THE_STORE if state is S.SENDING else STATE_TEXT[state]
