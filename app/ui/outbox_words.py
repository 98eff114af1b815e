"""The outbox in plain words: what the panel, its detail area and the status bar say.

Pure functions over the outbox's records and the runner's status (no Qt), so every sentence a
clinician reads is testable on its own. Times are shown in the computer's local time zone;
the store keeps timezone-aware UTC.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from uuid import UUID

# type_label ("Follow-up task") and ordered_types (commit order) come from the catalogue of
# item kinds; re-exported for the outbox views.
from app.domain.items import ordered_types as ordered_types
from app.domain.items import type_label as type_label
from app.domain.outbox import STATE_TEXT, ErrorClass, OutboxItem, OutboxState
from app.services.outbox import Connectivity, OutboxRow, OutboxSummary, ReadBack, RunnerStatus

# the sign-in page's words, kept light for it (it paints before the outbox loads)
from app.ui.waiting_words import local_time as local_time
from app.ui.waiting_words import notes_words as _notes

S = OutboxState


class Severity(Enum):
    """How much a line needs the clinician, for colouring (dot, status bar)."""

    DONE = "done"  # nothing more will happen (sent, discarded)
    OK = "ok"  # all is well, nothing waiting
    BUSY = "busy"  # the app is working on it by itself
    WARNING = "warning"  # waiting on something outside the app (network, sign-in)
    PROBLEM = "problem"  # a person must decide (refused, conflict, stored differently)


SEVERITY_COLOURS: dict[Severity, str] = {
    Severity.DONE: "#2e7d32",
    Severity.OK: "#2e7d32",
    Severity.BUSY: "#1565c0",
    Severity.WARNING: "#b26a00",
    Severity.PROBLEM: "#c62828",
}
DISCARDED_COLOUR = "#9e9e9e"


# The runner marks a commit SENDING before it waits for one of its send slots (it sends a few at
# once: app.sync.due_queue), so the store's SENDING is true only for the commits the runner is
# sending now (``OutboxService.in_flight``); the others wait for their turn.
BeingSent = Set[UUID]
WAITING_TO_SEND = "Waiting to send"
WAITING_TO_SEND_MEANING = (
    "Next in line: the app sends a few notes at a time, and this one as soon as one ahead of it "
    "is done. Nothing to do."
)


def waits_for_its_turn(item: OutboxItem, in_flight: BeingSent | None) -> bool:
    """Stored as SENDING, but its requests have not started (``in_flight`` None: not known)."""
    return item.state is S.SENDING and in_flight is not None and item.commit_id not in in_flight


def state_words(
    item: OutboxItem, now: datetime | None = None, in_flight: BeingSent | None = None
) -> str:
    """The state column: what is happening to this commit, in a few words. ``in_flight``: the
    commits being sent now (None: not known; SENDING is then taken as it is stored)."""
    if item.state is S.RETRY_WAIT:
        when = local_time(item.next_attempt_at, now) or "soon"
        prefix = "at " if item.next_attempt_at is not None else ""
        return f"Will retry {prefix}{when} (attempt {item.attempts + 1})"
    if waits_for_its_turn(item, in_flight):
        return WAITING_TO_SEND
    return STATE_TEXT[item.state].status


def state_meaning(item: OutboxItem, in_flight: BeingSent | None = None) -> str:
    """One or two sentences: what the state means and what, if anything, to do."""
    if waits_for_its_turn(item, in_flight):
        return WAITING_TO_SEND_MEANING
    return STATE_TEXT[item.state].meaning


# How much each state needs the clinician (complete: tests/test_outbox_tables.py).
STATE_SEVERITY: dict[OutboxState, Severity] = {
    S.WAITING_FOR_BASE: Severity.BUSY,
    S.QUEUED: Severity.BUSY,
    S.SENDING: Severity.BUSY,
    S.RETRY_WAIT: Severity.WARNING,
    S.UNKNOWN_OUTCOME: Severity.BUSY,
    S.CHECK_PAUSED_FOR_SIGN_IN: Severity.PROBLEM,
    S.PARKED: Severity.PROBLEM,
    S.PAUSED_FOR_SIGN_IN: Severity.WARNING,
    S.NEEDS_ATTENTION: Severity.PROBLEM,
    S.CONFLICT: Severity.PROBLEM,
    S.CONFIRMED: Severity.DONE,
    S.DISCARDED: Severity.DONE,
}


def state_severity(item: OutboxItem) -> Severity:
    return STATE_SEVERITY[item.state]


def what_words(row: OutboxRow) -> str:
    """``5 records: Note, Observation, Follow-up task, Provenance``."""
    n = row.write_count
    return f"{n} record{'s' if n != 1 else ''}: " + ", ".join(
        type_label(t) for t in ordered_types(row.resource_types)
    )


def read_back_words(row: OutboxRow) -> str:
    if row.read_back is ReadBack.MATCHED:
        return "Matches what was sent"
    if row.read_back is ReadBack.DIFFERS:
        note = f": {row.read_back_note}" if row.read_back_note else ""
        return f"The EHR stored something different{note}"
    if row.read_back is ReadBack.NOT_CHECKED:
        return "Could not be read back"
    return ""


# ---------------------------------------------------------------------------- the last error


@dataclass(frozen=True)
class ErrorWords:
    """The Last error column's sentence for one kind of error: what happened, and what the
    clinician does about it when it is theirs to do."""

    happened: str
    to_do: str


# One entry for each kind of error the sync engine records (``ErrorClass``; complete:
# tests/test_outbox_tables.py). The recorded text, which names requests and HTTP statuses and
# quotes the EHR, is for IT: the cell's tooltip and the detail area show it.
ERROR_WORDS: dict[ErrorClass, ErrorWords] = {
    ErrorClass.NOT_REACHED: ErrorWords(
        "The EHR could not be reached.", "Check the network; the app tries again by itself."
    ),
    ErrorClass.EHR_BUSY: ErrorWords(
        "The EHR was busy and asked the app to wait.", "The app tries again by itself."
    ),
    ErrorClass.NO_ANSWER: ErrorWords(
        "The EHR did not answer completely.",
        "The app checks whether it arrived before sending it again.",
    ),
    ErrorClass.APP_STOPPED: ErrorWords(
        "The app was closed while sending it.",
        "The app checks whether it arrived before sending it again.",
    ),
    ErrorClass.SIGN_IN: ErrorWords("Your sign-in had ended.", "Sign in again; nothing is lost."),
    ErrorClass.REFUSED: ErrorWords(
        "The EHR refused it.",
        "Select it to read the EHR's reason, then retry or discard it; if it happens again, "
        "tell clinic IT.",
    ),
    ErrorClass.CONFLICT: ErrorWords(
        "The chart changed after you approved it.",
        "Select it to compare the chart with your version, and decide.",
    ),
    ErrorClass.CANNOT_SEND: ErrorWords(
        "This EHR cannot take it as it was approved.",
        "Select it to read why, then retry or discard it; if it happens again, tell clinic IT.",
    ),
    ErrorClass.DUPLICATES: ErrorWords(
        "The EHR holds it more than once.",
        "Look in the chart and remove the extra copy, then retry or discard it here.",
    ),
    ErrorClass.BASE_DISCARDED: ErrorWords(
        "The note it amends was discarded, so it cannot be sent.",
        "Discard it, or amend the note in the chart.",
    ),
    ErrorClass.OTHER: ErrorWords(
        "Sending it went wrong earlier.",
        "Select it to read what happened, then retry or discard it.",
    ),
}

# Where the state says what happens next (or what to do) whatever the error was.
_BY_ITSELF = "The app tries again by itself; nothing to do."
_STATE_TO_DO: dict[OutboxState, str] = {
    S.WAITING_FOR_BASE: "It is sent once the note it amends is in the chart; nothing to do.",
    S.QUEUED: _BY_ITSELF,
    S.SENDING: _BY_ITSELF,
    S.RETRY_WAIT: _BY_ITSELF,
    S.UNKNOWN_OUTCOME: "The app checks whether it arrived before sending it again; nothing to do.",
    S.PAUSED_FOR_SIGN_IN: "Sign in again; nothing is lost.",
    S.CHECK_PAUSED_FOR_SIGN_IN: "Sign in again so the app can check whether it arrived.",
    S.PARKED: ("Look in the chart: if it is there, discard it here; if not, choose “Send again…”."),
}
_PARKED = "The app could not check whether the EHR received it."


def _error_shown(item: OutboxItem) -> ErrorClass | None:
    """The kind of the last error while it still matters (a sent or discarded commit has
    none to show); an error recorded before kinds existed is OTHER."""
    if item.state in (S.CONFIRMED, S.DISCARDED):
        return None
    if item.error_class is None and item.last_error:
        return ErrorClass.OTHER
    return item.error_class


def error_words(item: OutboxItem) -> str:
    """The Last error column: what happened and what to do, in a clinician's words."""
    kind = _error_shown(item)
    if kind is None:
        return ""
    said = ERROR_WORDS[kind]
    happened = _PARKED if item.state is S.PARKED else said.happened
    return f"{happened} {_STATE_TO_DO.get(item.state, said.to_do)}"


def error_detail(item: OutboxItem) -> str:
    """The Last error cell's tooltip: the column's sentence in full (a narrow column cuts it),
    then, for IT, the error as recorded (it may quote the EHR), its kind and HTTP status."""
    kind = _error_shown(item)
    if kind is None:
        return ""
    status = f", HTTP {item.last_status}" if item.last_status else ""
    lines = [error_words(item), ""]
    if item.last_error:
        lines.append(f"As recorded: {item.last_error}")
    lines.append(f"For IT: {kind.value}{status}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- status bar


@dataclass(frozen=True)
class StatusSentence:
    text: str
    severity: Severity
    detail: str = ""  # the tooltip: everything the sentence leaves out


def status_sentence(
    summary: OutboxSummary | None,
    status: RunnerStatus | None,
    now: datetime | None = None,
) -> StatusSentence:
    """The status bar in one sentence.

    ``status`` None means no runner yet (nobody signed in to this EHR): the queue waits for a
    sign-in. The counts come from the store, so they survive restarts.
    """
    if summary is None:
        return StatusSentence("Outbox not available", Severity.WARNING)
    waiting = summary.pending + summary.paused_for_sign_in
    attention = summary.needs_attention
    conflicts = summary.conflicts
    differs = summary.read_back_differs
    last = local_time(summary.last_success_at, now) or "never"
    tail: list[str] = []
    if attention:
        tail.append(f"{attention} need{'s' if attention == 1 else ''} attention")
    if conflicts:
        tail.append(f"{conflicts} conflict{'s' if conflicts != 1 else ''}")
    if differs:
        tail.append(f"{differs} stored differently")
    person = attention + conflicts + differs

    paused = summary.paused_for_sign_in > 0 or (status is not None and status.paused_for_sign_in)
    if status is None or paused or not status.running:
        if paused or waiting:
            head = (
                f"Waiting for sign-in — {_notes(waiting)} queued, nothing is lost"
                if waiting
                else "Waiting for sign-in"
            )
            severity = Severity.WARNING
        else:
            head = "Not signed in · nothing waiting to be sent"
            severity = Severity.OK
    elif status.connectivity is Connectivity.OFFLINE:
        since = local_time(status.offline_since, now)
        offline = f"Offline since {since}" if since else "Offline"
        if waiting:
            head = f"{offline} — {_notes(waiting)} will be sent when the EHR is reachable"
        else:
            head = f"{offline} — nothing waiting to be sent"
        if status.problem:
            head = f"Not sending — {status.problem}"
        severity = Severity.WARNING
    else:
        # "Online" only after an answer from the EHR; until then (one probe) "Connecting…"
        online = status.connectivity is Connectivity.ONLINE
        word = "Online" if online else "Connecting…"
        parts = [
            word,
            f"{waiting} queued",
            f"{attention} need{'s' if attention == 1 else ''} attention",
            f"{conflicts} conflict{'s' if conflicts != 1 else ''}",
        ]
        if differs:
            parts.append(f"{differs} stored differently")
        parts.append(f"last sync {last}")
        text = " · ".join(parts)
        severity = Severity.BUSY if waiting or not online else Severity.OK
        if person:
            severity = Severity.PROBLEM
        return StatusSentence(text, severity, _detail(summary, last, status, now))
    text = " · ".join([head, *tail]) if tail else head
    if person:
        severity = Severity.PROBLEM
    if tail or summary.last_success_at is not None:
        text = f"{text} · last sync {last}"
    return StatusSentence(text, severity, _detail(summary, last, status, now))


def _detail(
    summary: OutboxSummary, last: str, status: RunnerStatus | None, now: datetime | None
) -> str:
    lines = [
        f"Waiting to be sent: {summary.pending}",
        f"Waiting for sign-in: {summary.paused_for_sign_in}",
        f"Need your attention: {summary.needs_attention}",
        f"Conflicts with the chart: {summary.conflicts}",
        f"Sent: {summary.confirmed}",
        f"Discarded: {summary.count(S.DISCARDED)}",
        f"Last successful sync: {last}",
    ]
    if summary.read_back_differs:
        lines.append(f"Stored differently than approved: {summary.read_back_differs}")
    if status is not None and status.last_contact_at is not None:
        lines.append(f"Last answer from the EHR: {local_time(status.last_contact_at, now)}")
    if status is not None and status.offline_since is not None:
        lines.append(f"No answer from the EHR since: {local_time(status.offline_since, now)}")
    lines.append("Click to open the outbox.")
    return "\n".join(lines)


_STRATEGY_WORDS = {
    "transaction+ifNoneExist": "one transaction; each record is created only if not already there",
    "transaction": "one transaction",
    "conditional-create": "one request per record, each created only if not already there",
    "put-client-id": "one request per record, at ids chosen by the app",
    "create+read-back": "one request per record, checked by reading it back",
}


def strategy_words(value: str) -> str:
    """How the commit was sent (``WriteStrategy`` values), in words."""
    return _STRATEGY_WORDS.get(value, value)


# ---------------------------------------------------------------------------- the approved note


def approved_notice(
    item: OutboxItem,
    approved_at: datetime,
    now: datetime | None = None,
    in_flight: BeingSent | None = None,
) -> StatusSentence:
    """The editor's line about the note just approved, true for as long as it is shown: queued
    while it is on its way, then where it ended (sent, refused, discarded)."""
    approved = local_time(approved_at, now)
    new_draft = "To change the note: Correct this note, or Add an addendum."
    state = item.state
    if state is S.CONFIRMED:
        sent = local_time(item.updated_at, now) or "just now"
        return StatusSentence(
            f"Sent to the chart at {sent} (approved {approved}). {new_draft}", Severity.DONE
        )
    if state is S.DISCARDED:
        return StatusSentence(
            f"Approved at {approved}, then discarded in the outbox: it was not sent to the chart.",
            Severity.DONE,
        )
    if STATE_SEVERITY[state] is Severity.PROBLEM:  # refused, in conflict, or parked
        return StatusSentence(
            f"Approved at {approved}, not in the chart yet: {state_words(item, now)}. Open the "
            "outbox to decide what to do.",
            Severity.PROBLEM,
        )
    words = state_words(item, now, in_flight).lower()
    return StatusSentence(
        f"Approved and queued at {approved} ({words}). It will be sent "
        f"to the chart exactly once; the outbox shows its progress. {new_draft}",
        Severity.WARNING if state in (S.RETRY_WAIT, S.PAUSED_FOR_SIGN_IN) else Severity.BUSY,
    )
