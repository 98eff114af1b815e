"""Did the chart change since the copy a note was approved on offline? Asked before its first send.

A note approved on a chart kept on this computer (the decision's ``chart_basis`` is KEPT) was
approved on the chart as it was at ``as_of``. Before anything of the commit is sent, the EHR is
asked for the notes and observations of the note's encounter and patient updated since that
time (``_lastUpdated=ge…`` to the whole second, so a change in that same second counts too;
only with parameters the CapabilityStatement declares; two searches side by side), leaving out
this commit's own resources (by their write identifiers). Anything found: the commit goes to
CONFLICT with words saying what changed and what to do; nothing is written. A note approved on
a live chart, a commit already partly in the EHR, or one the clinician chose to send again after
a conflict, costs no request.

An EHR that cannot answer the check (the parameters are not declared) or refuses it (4xx) is a
CONFLICT too, saying the chart could not be checked: a person looks and decides (send again or
discard), as for an outcome the app cannot check. A check without an answer (the EHR not
reached, 5xx, 401) fails like any request of the send: retried later, or sign-in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import UTC
from typing import TYPE_CHECKING, Any

from app.domain.commit import ApprovedCommit
from app.domain.offline import ChartBasis, ChartFreshness
from app.domain.outbox import SyncEvent
from app.domain.review_codec import chart_basis_from_json
from app.fhir.client import SearchResult
from app.fhir.errors import FhirError
from app.smart.errors import SmartError
from app.store.outbox_records import ConflictDetail, OutboxEntry
from app.sync.planner import WriteCapabilities
from app.sync.reconciliation import carries_identifier
from app.sync.store_thread import StoreThread
from app.sync.writer import Failure, FhirWriter, classify_error

if TYPE_CHECKING:  # the store stack loads after the sign-in window (issue 15)
    from app.store.outbox import OutboxRepository

CHECKED_TYPES = {"DocumentReference": "note", "Observation": "observation"}
_PARAMS = ("encounter", "patient", "_lastUpdated")


class ChartBasisCheck:
    """The check before the first send of a note approved on a kept chart (one per sender)."""

    def __init__(
        self,
        store: OutboxRepository,
        writer: FhirWriter,
        caps: WriteCapabilities,
        db: StoreThread,
        on_contact: Callable[[bool], None],
    ) -> None:
        self._store = store
        self._writer = writer
        self._caps = caps
        self._db = db
        self._on_contact = on_contact

    async def check(self, entry: OutboxEntry) -> Failure | ConflictDetail | None:
        """None: send as usual; a Failure: the check had no answer; a ConflictDetail: the chart
        changed since the approval (or cannot be checked), nothing is to be written."""
        if entry.resolved() or entry.conflict is not None:
            return None  # already partly in the EHR, or sent again after a conflict was shown
        basis = await self._basis(entry)
        if basis is None or not basis.offline:
            return None
        note = entry.commit.writes[0].payload()
        encounter, patient = _encounter_of(note), _reference(note.get("subject"))
        types = [t for t in CHECKED_TYPES if self._can_ask(t)]
        if encounter is None or patient is None or not types:
            return _cannot_check(basis, note)
        since = "ge" + basis.as_of.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        params = [("encounter", encounter), ("patient", patient), ("_lastUpdated", since)]
        try:
            found = await asyncio.gather(*(self._writer.search(t, params) for t in types))
        except (FhirError, SmartError) as exc:
            failure = classify_error(exc)
            self._on_contact(failure.reached_server)
            if failure.event is SyncEvent.PERMANENT_REJECTION:
                return _cannot_check(basis, note)
            return failure
        self._on_contact(True)
        changed = _others(found, entry.commit)
        if not changed and not any(r.truncated for r in found):
            return None
        return _changed(basis, note, changed)

    async def _basis(self, entry: OutboxEntry) -> ChartBasis | None:
        text = entry.decision_json  # claimed with its decision: no store call (issue 15)
        if text is None:
            texts = await self._db.run(self._store.decision_texts, [entry.commit_id])
            text = texts.get(entry.commit_id)
        return None if text is None else chart_basis_from_json(text)

    def _can_ask(self, resource_type: str) -> bool:
        caps = self._caps.of(resource_type)
        declared = caps.search_params
        return caps.search and declared is not None and all(p in declared for p in _PARAMS)


def _reference(value: object) -> str | None:
    ref = value.get("reference") if isinstance(value, Mapping) else None
    return ref if isinstance(ref, str) and "/" in ref else None


def _encounter_of(note: Mapping[str, Any]) -> str | None:
    context = note.get("context")
    encounters = context.get("encounter") if isinstance(context, Mapping) else None
    if isinstance(encounters, list) and encounters:
        return _reference(encounters[0])
    return None


def _others(found: list[SearchResult], commit: ApprovedCommit) -> list[dict[str, Any]]:
    """The resources found that are not this commit's own."""
    return [
        r
        for result in found
        for r in result.resources
        if not any(carries_identifier(r, w) for w in commit.writes)
    ]


def _as_of(basis: ChartBasis) -> str:
    words = ChartFreshness(basis.source, basis.as_of).banner_words()
    return words.removeprefix("chart as of ").removesuffix(", offline")


def _changed(
    basis: ChartBasis, note: dict[str, Any], changed: list[dict[str, Any]]
) -> ConflictDetail:
    counts: dict[str, int] = {}
    for resource in changed:
        kind = CHECKED_TYPES.get(str(resource.get("resourceType")), "record")
        counts[kind] = counts.get(kind, 0) + 1
    what = " and ".join(f"{n} {kind}{'' if n == 1 else 's'}" for kind, n in counts.items())
    return ConflictDetail(
        f"You approved this note offline, on the chart as kept at {_as_of(basis)}. Since then "
        f"the EHR has {what or 'more records'} for this visit that you did not see (added or "
        "changed by someone else). Nothing was written. Look at the chart, then send your note "
        "again as it is, or discard it and write it again on the current chart.",
        resource=f"{changed[0].get('resourceType')}/{changed[0].get('id')}" if changed else None,
        chart=changed[0] if changed else None,
        mine=note,
    )


def _cannot_check(basis: ChartBasis, note: dict[str, Any]) -> ConflictDetail:
    return ConflictDetail(
        f"You approved this note offline, on the chart as kept at {_as_of(basis)}, and this EHR "
        "cannot tell the app whether the visit's chart changed since. Nothing was written. "
        "Look at the chart, then send your note again as it is, or discard it.",
        mine=note,
    )
