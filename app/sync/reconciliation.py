"""Reconciliation, pure: after an unknown outcome, which checks find out what the EHR holds,
and what their answers mean. No I/O; the runner (app/sync/send.py) performs the checks.

- :func:`plan_reconcile`: one search per created write whose server copy is not known yet
  (:class:`SearchRequest`, by the write identifier), one read per update (:class:`VersionCheck`).
- :func:`reconcile_event`: what the match counts mean. A resend happens only after the checks
  said "absent".
- :func:`update_outcome`: what reading an update's target says. It carries the write's
  identifier (applied), still has the version the app expected (not applied: send it again),
  or neither (someone else changed it: a conflict for the clinician). So a correction whose
  answer was lost is never applied twice.

A search parameter the server does not declare is never relied on (see app/sync/planner.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from app.domain.commit import ApprovedCommit, PlannedWrite
from app.domain.outbox import SyncEvent
from app.fhir.errors import quote_ehr_text
from app.sync.planner import CannotSend, UpdateTarget, WriteCapabilities, update_target


@dataclass(frozen=True)
class SearchRequest:
    """``GET {resource_type}?{params}`` (the runner URL-encodes): the write identifier with
    the patient and what the server requires with it (app/sync/search_values.py). Count the
    entries whose ``search.mode`` is not ``include``, following ``next`` links: no control parameters are
    added because an unknown one may make a server answer "nothing found"."""

    resource_type: str
    params: tuple[tuple[str, str], ...]
    position: int


@dataclass(frozen=True)
class VersionCheck:
    """``GET {target}``: did an update whose answer was lost reach the chart? See
    :func:`update_outcome`. ``expected_version`` is the version the update was sent against."""

    target: UpdateTarget
    position: int


class UpdateOutcome(Enum):
    APPLIED = "applied"  # the target carries the write's identifier: it is in the chart
    NOT_APPLIED = "not_applied"  # still the version the update was sent against: send again
    CHANGED_BY_OTHERS = "changed_by_others"  # neither: someone else changed it (a conflict)


def update_outcome(
    write: PlannedWrite, current: Mapping[str, Any], current_version: str | None, expected: str
) -> UpdateOutcome:
    """What reading an update's target says about the update (pure)."""
    if carries_identifier(current, write):
        return UpdateOutcome.APPLIED
    if current_version == expected:
        return UpdateOutcome.NOT_APPLIED
    return UpdateOutcome.CHANGED_BY_OTHERS


def carries_identifier(resource: Mapping[str, Any], write: PlannedWrite) -> bool:
    """Whether ``resource`` is (a version of) what ``write`` wrote: it carries its identifier."""
    if resource.get("resourceType") != write.resource_type:
        return False
    ident = write.identifier
    if write.match_by.value == "_tag":
        meta = resource.get("meta")
        tags = meta.get("tag") if isinstance(meta, Mapping) else None
        return any(
            isinstance(t, Mapping)
            and t.get("system") == ident.system
            and t.get("code") == ident.value
            for t in (tags if isinstance(tags, list) else [])
        )
    found = resource.get("identifier")
    items = found if isinstance(found, list) else [found]
    return any(
        isinstance(i, Mapping) and i.get("system") == ident.system and i.get("value") == ident.value
        for i in items
    )


def plan_reconcile(
    commit: ApprovedCommit,
    caps: WriteCapabilities,
    resolved: Mapping[str, str] | None = None,
    versions: Mapping[str, str] | None = None,
) -> tuple[SearchRequest | VersionCheck, ...]:
    """One search per created write whose server copy is not known yet, one read per update.
    Raises :class:`CannotSend` when a write cannot be searched reliably (then the clinician
    decides) or an update's target is unknown."""
    known = resolved or {}
    checks: list[SearchRequest | VersionCheck] = []
    for w in commit.writes:
        if w.full_url in known:
            continue
        target = update_target(w, known, versions)
        if target is not None:
            checks.append(VersionCheck(target, w.position))
            continue
        params = caps.search_for(w) if caps.can_find(w) else None
        if params is None:
            raise CannotSend(f"The EHR cannot be searched for {w.resource_type} by identifier.")
        checks.append(SearchRequest(w.resource_type, params, w.position))
    return tuple(checks)


def reconcile_event(
    commit: ApprovedCommit,
    matches: Mapping[int, int],
    resolved: Mapping[str, str] | None = None,
    changed: frozenset[int] = frozenset(),
) -> SyncEvent:
    """What the checks found. ``matches`` maps each checked position to its match count (an
    update: 1 applied, 0 not applied); ``changed`` lists updates whose target someone else
    changed; writes in ``resolved`` count as present once."""
    known = resolved or {}
    counts = {
        w.position: (1 if w.full_url in known else matches.get(w.position, -1))
        for w in commit.writes
    }
    if changed:
        return SyncEvent.CHANGED_BY_OTHERS
    if any(c < 0 for c in counts.values()):
        raise ValueError("every write needs a search result or a resolved server id")
    if any(c > 1 for c in counts.values()):
        return SyncEvent.DUPLICATES_FOUND
    present = sum(counts.values())
    if present == len(counts):
        return SyncEvent.RECONCILED_PRESENT
    return SyncEvent.RECONCILED_ABSENT if present == 0 else SyncEvent.RECONCILED_PARTIAL


def refused_check_words(commit: ApprovedCommit, status: int | None, ehr_text: str | None) -> str:
    """What a person needs when the EHR refused the check after a lost answer (400/422): the
    note may already be in the chart, and how to recognise it there."""
    said = f" The EHR said: {quote_ehr_text(ehr_text)}." if ehr_text else ""
    code = f" (HTTP {status})" if status else ""
    note = next((w for w in commit.writes if w.resource_type == "DocumentReference"), None)
    look = "the records of this commit"
    if note is not None:
        payload = note.payload()
        title, day = payload.get("description"), str(payload.get("date") or "")[:10]
        look = "a note" + (f" dated {day}" if day else "")
        look += f" titled {quote_ehr_text(title)}" if isinstance(title, str) and title else ""
        look += f" (identifier {note.identifier.value})"
    return (
        f"The EHR refused the app's check whether this arrived{code}.{said} The note may "
        f"already be in the chart: look in the patient's chart for {look}. If it is there, "
        "discard this here (it is already in the chart); if not, choose “Send again…”."
    )
