"""Decisions other than "approve": decline an imported draft, discard one's own.

:func:`close_draft` records who decided, when, why (a :class:`CloseReason` and the clinician's
own words) and the fingerprint of the content decided about, and returns the draft closed:
``DraftStatus.DECLINED`` for an imported draft, ``DISCARDED`` for any other. Nothing is sent
and nothing is deleted: a closed draft stays readable (read-only) with its decision. The store
saves it and the audit log records the decision in the same transaction.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from app.domain.clinical import Reference
from app.domain.draft import CloseReason, Draft, DraftDecision, DraftSource, DraftStatus
from app.domain.errors import DraftEditError
from app.domain.fingerprint import draft_content_sha256

MAX_NOTE_CHARS = 300  # the reason in the clinician's words: a sentence, not a note


def decision_status(draft: Draft) -> DraftStatus:
    """What "not approving" ``draft`` is: declining an import, or discarding one's own."""
    return (
        DraftStatus.DECLINED
        if draft.provenance.source is DraftSource.IMPORTED
        else DraftStatus.DISCARDED
    )


def close_draft(
    draft: Draft, reason: CloseReason, note: str, user: Reference, now: datetime
) -> Draft:
    """``draft`` declined or discarded by ``user``, with the decision recorded in it.
    DraftEditError (words for the clinician) when it is not open or the reason is missing."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("decision times must be timezone-aware (UTC)")
    if draft.status is not DraftStatus.OPEN:
        raise DraftEditError(
            f"This draft is already {draft.status.value}; there is nothing left to decide."
        )
    words = " ".join(note.split())
    if reason is CloseReason.OTHER and not words:
        raise DraftEditError("Write the reason in a few words, then confirm.")
    if len(words) > MAX_NOTE_CHARS:
        raise DraftEditError(
            f"The reason is {len(words)} characters long; keep it under {MAX_NOTE_CHARS}."
        )
    status = decision_status(draft)
    decision = DraftDecision(
        status=status,
        reason=reason,
        note=words,
        by=user,
        at=now.astimezone(UTC),
        content_sha256=draft_content_sha256(draft),
        import_sha256=draft.provenance.import_sha256,
    )
    return replace(draft, status=status, decision=decision)
