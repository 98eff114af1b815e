"""Optional companions the EHR refuses: confirm the note without them, remember the site.

A site may declare Provenance (or Composition) ``create`` and refuse it at write time with
403/405. When the note itself was accepted and only such optional companions were refused, the
commit is confirmed *without* them (their writes recorded as "not written: refused by the EHR
(HTTP 403)"; their content stays in the sealed outbox and the approval in the audit trail), the
refusal is remembered for the site (app/store/site_refusals.py) so clinic IT is told once, and
later commits on that site no longer send them. A refused *note* (or anything clinical) is
still a failure that needs a person. Only when requests are sent one by one: a transaction that
holds a refused companion fails as a whole (the note was not accepted).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping, Sequence
from datetime import datetime
from typing import Protocol

from app.domain.commit import ApprovedCommit
from app.domain.items import NOTE, NOTE_WRITES
from app.domain.outbox import SyncEvent
from app.store.outbox_records import NOT_WRITTEN, WriteResult, not_written
from app.store.site_refusals import SiteRefusals
from app.sync.planner import PlannedRequest
from app.sync.writer import Failure

OPTIONAL_COMPANIONS = frozenset(w.resource_type for w in NOTE_WRITES if w.optional)
REFUSAL_STATUSES = frozenset({403, 405})


class RoundResult(Protocol):
    failures: list[Failure]


class Companions:
    def __init__(self, refusals: SiteRefusals | None, clock: Callable[[], datetime]) -> None:
        self._refusals = refusals
        self._clock = clock

    @property
    def remembers(self) -> bool:
        """Refusals are remembered for this site (else there is nothing to skip)."""
        return self._refusals is not None

    def skip_known(
        self, commit: ApprovedCommit, resolved: MutableMapping[str, str]
    ) -> list[WriteResult]:
        """Companions this site refused before: not sent, recorded as not written."""
        known = self._refusals.load() if self._refusals is not None else {}
        results: list[WriteResult] = []
        for w in commit.writes:
            if w.full_url in resolved or w.resource_type not in known:
                continue
            if _skippable(commit, w.position, resolved):
                resolved[w.full_url] = NOT_WRITTEN
                results.append(not_written(w.position, known[w.resource_type].status))
        return results

    def accept_refusals(
        self,
        commit: ApprovedCommit,
        requests: Sequence[PlannedRequest],
        rounds: Sequence[RoundResult],
        resolved: MutableMapping[str, str],
    ) -> list[WriteResult] | None:
        """When every failure of a round is a 403/405 to a single optional companion and the
        note is in the chart: the not-written results (the refusal remembered); else None."""
        failed = [(req, done) for req, done in zip(requests, rounds, strict=True) if done.failures]
        if not failed or not _note_accepted(commit, resolved):
            return None
        for request, done in failed:
            if request.url == "" or not all(_refusal(f) for f in done.failures):
                return None
            if not all(_skippable(commit, p, resolved) for p in request.positions):
                return None
        results: list[WriteResult] = []
        for request, done in failed:
            status = done.failures[0].status
            for position in request.positions:
                write = commit.writes[position]
                if self._refusals is not None:
                    self._refusals.record(write.resource_type, status, self._clock())
                resolved[write.full_url] = NOT_WRITTEN
                results.append(not_written(position, status))
        return results


def _refusal(failure: Failure) -> bool:
    return failure.event is SyncEvent.PERMANENT_REJECTION and failure.status in REFUSAL_STATUSES


def _note_accepted(commit: ApprovedCommit, resolved: Mapping[str, str]) -> bool:
    notes = [w for w in commit.writes if w.resource_type == NOTE.resource_type and not w.is_update]
    return bool(notes) and all(resolved.get(w.full_url, NOT_WRITTEN) != NOT_WRITTEN for w in notes)


def _skippable(commit: ApprovedCommit, position: int, resolved: Mapping[str, str]) -> bool:
    """An optional companion that no other write still to be sent depends on."""
    write = commit.writes[position]
    if write.resource_type not in OPTIONAL_COMPANIONS or write.is_update:
        return False
    return all(
        position not in other.depends_on or resolved.get(other.full_url) == NOT_WRITTEN
        for other in commit.writes
        if other.position != position
    )
