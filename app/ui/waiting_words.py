"""The notes waiting to be sent, in words: the sign-in page's list and the question on closing.

Apart from the rest of the outbox's words (app.ui.outbox_words) because the sign-in page shows
them and paints before the outbox's modules load (docs/performance.md, "Start-up").
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.domain.draft import DraftDecision
    from app.services.waiting import WaitingNotes


def local_time(ts: datetime | None, now: datetime | None = None) -> str:
    """In the computer's time zone, to the second (everything in the outbox is about sync):
    ``14:05:07`` today, ``2025-03-09 14:05:07`` on another day, ``""`` for no time."""
    if ts is None:
        return ""
    local = ts.astimezone()
    today = (now or datetime.now().astimezone()).astimezone().date()
    if local.date() == today:
        return local.strftime("%H:%M:%S")
    return local.strftime("%Y-%m-%d %H:%M:%S")


def local_minute(ts: datetime) -> str:
    """``2025-03-10 10:14`` in the computer's time zone: when a person decided something."""
    return ts.astimezone().strftime("%Y-%m-%d %H:%M")


def decision_words(decision: DraftDecision) -> str:
    """ "Declined by Dr. Smith on 2025-03-10 10:14: The content is wrong", in local time."""
    return decision.words_at(local_minute(decision.at))


def notes_words(n: int) -> str:
    """ "1 note", "3 notes"."""
    return f"{n} note{'s' if n != 1 else ''}"


def waiting_words(notes: WaitingNotes | None, now: datetime | None = None) -> str:
    """The sign-in page's list of notes approved earlier and not in the chart yet."""
    if notes is None or notes.count == 0:
        return ""
    lines = [
        f"{notes_words(notes.count)} approved earlier {'wait' if notes.count != 1 else 'waits'} "
        "to be sent to this EHR; the app sends "
        f"{'them' if notes.count != 1 else 'it'} after you sign in:"
    ]
    lines += [
        f"• {n.patient or 'a patient'}, approved {local_time(n.approved_at, now)}"
        for n in notes.newest
    ]
    more = notes.count - len(notes.newest)
    if more > 0:
        lines.append(f"• and {notes_words(more)} more (see the outbox after signing in)")
    return "\n".join(lines)


def unsent_question(count: int) -> str:
    """Closing the app with notes not sent yet: how many, and what happens to them."""
    were = "has" if count == 1 else "have"
    return (
        f"{notes_words(count)} {were} not been sent to the EHR yet. "
        f"{'It is' if count == 1 else 'They are'} kept safely on this computer and will be "
        "sent the next time you start the app and sign in."
    )
