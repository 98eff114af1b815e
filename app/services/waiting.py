"""Notes approved but not in the chart yet, as the sign-in page and the closing question list
them — readable before anyone signs in (the store of the first site is open from the start).

    patient_label(repo, commit_id) -> str        "Maria Elena Garcia (MRN MRN-1001)"
    waiting_notes(repo)            -> WaitingNotes  how many, and the newest few by patient

The patient is read from each commit's encrypted review decision, never stored in clear; the
labels live in memory only while a view shows them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from app.domain.hidden_text import shown
from app.domain.outbox import OutboxState
from app.domain.review_codec import decision_from_json
from app.store.errors import StoreError

if TYPE_CHECKING:
    from app.store.outbox import OutboxRepository

log = logging.getLogger(__name__)

# Approved, not in the chart, and sent by the app by itself (after a sign-in for some).
WAITING_STATES: tuple[OutboxState, ...] = (
    OutboxState.WAITING_FOR_BASE,
    OutboxState.QUEUED,
    OutboxState.SENDING,
    OutboxState.RETRY_WAIT,
    OutboxState.UNKNOWN_OUTCOME,
    OutboxState.PAUSED_FOR_SIGN_IN,
)
LISTED = 5  # the sign-in page names this many; "and N more" for the rest
UNREADABLE = "(not readable)"


@dataclass(frozen=True)
class WaitingNote:
    commit_id: UUID
    patient: str  # name (and MRN) as approved
    approved_at: datetime  # timezone-aware UTC


@dataclass(frozen=True)
class WaitingNotes:
    count: int
    newest: tuple[WaitingNote, ...]  # at most LISTED, newest first


def patient_label(repo: OutboxRepository, commit_id: UUID) -> str:
    """Who a commit is for, as the approval dialog said it; hidden characters made visible.
    Never raises: a commit whose decision cannot be read says so."""
    return patient_labels(repo, [commit_id]).get(commit_id, "")


def patient_labels(repo: OutboxRepository, commit_ids: Sequence[UUID]) -> dict[UUID, str]:
    """:func:`patient_label` for many commits with one read of the store (a screenful of
    outbox rows costs about a millisecond)."""
    try:
        texts = repo.decision_texts(commit_ids)
    except StoreError as exc:
        log.warning("patients of the outbox not readable: %s", type(exc).__name__)
        return dict.fromkeys(commit_ids, UNREADABLE)
    return {commit_id: _label(commit_id, texts.get(commit_id)) for commit_id in commit_ids}


def _label(commit_id: UUID, text: str | None) -> str:
    if text is None:
        return ""
    try:
        decision = decision_from_json(text)
    except ValueError as exc:
        log.warning("patient of commit %s not readable: %s", commit_id, type(exc).__name__)
        return UNREADABLE
    name = shown(decision.patient.display or decision.patient.relative)
    mrn = decision.patient_mrn
    return f"{name} (MRN {shown(mrn)})" if mrn else name


def waiting_notes(
    repo: OutboxRepository, states: Sequence[OutboxState] = WAITING_STATES
) -> WaitingNotes:
    """How many notes wait to be sent, and the newest few. StoreError when the outbox cannot
    be read (the caller says so)."""
    summary = repo.summary()
    count = summary.count(*states)
    rows = repo.list_items(states=states, limit=LISTED, newest_first=True) if count else []
    labels = patient_labels(repo, [r.commit_id for r in rows])
    newest = tuple(WaitingNote(r.commit_id, labels[r.commit_id], r.created_at) for r in rows)
    return WaitingNotes(count, newest)
