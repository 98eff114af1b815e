"""Did the chart change since the copy a note was approved on offline? Asked before its first send.

A note approved on a chart kept on this computer (the decision's ``chart_basis`` is KEPT) was
approved on the chart as it was at ``as_of``. Before anything of the commit is sent, the EHR is
asked what was updated since that time (``_lastUpdated=ge…`` to the whole second, so a change
in that same second counts too; only with parameters the CapabilityStatement declares): the
visit's notes and observations (by encounter and patient), and the patient's problems,
medications and allergies (by patient: they belong to the patient, not to the visit) — in one
batch when the EHR declares batch, else side by side — leaving out this commit's own resources
(by their write identifiers). Anything found: the commit goes to CONFLICT with words saying what
changed and what to do; nothing is written. A note approved on a live chart, a commit already
partly in the EHR, or one the clinician chose to send again after a conflict, costs no request.

An EHR that cannot answer the check (the parameters are not declared) or refuses it (4xx) is a
CONFLICT too, saying the chart could not be checked: a person looks and decides (send again or
discard), as for an outcome the app cannot check. A check without an answer (the EHR not
reached, 5xx, 401) fails like any request of the send: retried later, or sign-in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from enum import Enum
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from app.domain.commit import ApprovedCommit
from app.domain.offline import ChartBasis, ChartFreshness
from app.domain.outbox import SyncEvent
from app.domain.review_codec import chart_basis_from_json
from app.fhir.client import JsonObject, SearchResult, next_link
from app.fhir.context_fetch import entry_resource
from app.fhir.errors import FhirError, FhirUnexpectedResponse
from app.smart.errors import SmartError
from app.store.outbox_records import ConflictDetail, OutboxEntry
from app.sync.planner import WriteCapabilities
from app.sync.reconciliation import carries_identifier
from app.sync.store_thread import StoreThread
from app.sync.writer import Failure, FhirWriter, classify_error

if TYPE_CHECKING:  # the store stack loads after the sign-in window (issue 15)
    from app.store.outbox import OutboxRepository


class CheckScope(Enum):
    """What a checked type is tied to: the parameters its search needs."""

    VISIT = ("encounter", "patient", "_lastUpdated")  # the note's encounter (and patient)
    PATIENT = ("patient", "_lastUpdated")  # the patient, whatever the visit


@dataclass(frozen=True)
class CheckedType:
    resource_type: str
    scope: CheckScope
    one: str  # how the conflict's words count it
    many: str


CHECKED = (
    CheckedType("DocumentReference", CheckScope.VISIT, "note", "notes"),
    CheckedType("Observation", CheckScope.VISIT, "observation", "observations"),
    CheckedType("Condition", CheckScope.PATIENT, "problem", "problems"),
    CheckedType("MedicationRequest", CheckScope.PATIENT, "medication", "medications"),
    CheckedType("AllergyIntolerance", CheckScope.PATIENT, "allergy", "allergies"),
)
_BY_TYPE = {c.resource_type: c for c in CHECKED}
Search = tuple[str, list[tuple[str, str]]]  # resource type, parameters


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
        if encounter is None or patient is None:
            return _cannot_check(basis, note)
        since = "ge" + basis.as_of.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        values = {"encounter": encounter, "patient": patient, "_lastUpdated": since}
        searches = [
            (c.resource_type, [(name, values[name]) for name in c.scope.value])
            for c in CHECKED
            if self._can_ask(c)
        ]
        if not searches:
            return _cannot_check(basis, note)
        try:
            found = await self._search(searches)
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

    def _can_ask(self, checked: CheckedType) -> bool:
        caps = self._caps.of(checked.resource_type)
        declared = caps.search_params
        needed = checked.scope.value
        return caps.search and declared is not None and all(p in declared for p in needed)

    async def _search(self, searches: Sequence[Search]) -> list[SearchResult]:
        """Every search's first page: one batch when the EHR declares batch (one request,
        however many types), else side by side."""
        if not self._caps.batch or len(searches) == 1:
            return list(await asyncio.gather(*(self._writer.search(t, p) for t, p in searches)))
        gets = [{"request": {"method": "GET", "url": f"{t}?{urlencode(p)}"}} for t, p in searches]
        response = await self._writer.request(
            "POST",
            "",
            json_body={"resourceType": "Bundle", "type": "batch", "entry": gets},
            what="checking the chart since the offline approval",
        )
        entries = (response.body or {}).get("entry")
        if not isinstance(entries, list) or len(entries) != len(searches):
            raise FhirUnexpectedResponse(
                "The EHR answered a batch with the wrong number of results. Tell clinic IT."
            )
        return [
            _first_page(entry_resource(entry, f"searching {resource_type}"))
            for (resource_type, _params), entry in zip(searches, entries, strict=True)
        ]


def _reference(value: object) -> str | None:
    ref = value.get("reference") if isinstance(value, Mapping) else None
    return ref if isinstance(ref, str) and "/" in ref else None


def _encounter_of(note: Mapping[str, Any]) -> str | None:
    context = note.get("context")
    encounters = context.get("encounter") if isinstance(context, Mapping) else None
    if isinstance(encounters, list) and encounters:
        return _reference(encounters[0])
    return None


def _first_page(bundle: JsonObject) -> SearchResult:
    """A searchset's matches; ``truncated`` when it has more pages (counted as a change)."""
    if bundle.get("resourceType") != "Bundle":
        raise FhirUnexpectedResponse("The EHR answered a search with something else.")
    matches = tuple(
        e["resource"]
        for e in bundle.get("entry") or []
        if isinstance(e, Mapping)
        and isinstance(e.get("resource"), dict)
        and (e.get("search") or {}).get("mode", "match") == "match"
    )
    return SearchResult(resources=matches, truncated=next_link(bundle) is not None)


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
    counts: dict[CheckedType | None, int] = {}
    for resource in changed:
        kind = _BY_TYPE.get(str(resource.get("resourceType")))
        counts[kind] = counts.get(kind, 0) + 1
    what = _and([_counted(n, kind) for kind, n in counts.items()])
    visit_only = all(k is not None and k.scope is CheckScope.VISIT for k in counts)
    return ConflictDetail(
        f"You approved this note offline, on the chart as kept at {_as_of(basis)}. Since then "
        f"the EHR has {what or 'more records'} for this {'visit' if visit_only else 'patient'} "
        "that you did not see (added or "
        "changed by someone else). Nothing was written. Look at the chart, then send your note "
        "again as it is, or discard it and write it again on the current chart.",
        resource=f"{changed[0].get('resourceType')}/{changed[0].get('id')}" if changed else None,
        chart=changed[0] if changed else None,
        mine=note,
    )


def _counted(n: int, kind: CheckedType | None) -> str:
    if kind is None:
        return f"{n} record{'' if n == 1 else 's'}"
    return f"{n} {kind.one if n == 1 else kind.many}"


def _and(items: list[str]) -> str:
    """ "1 note", "1 note and 2 allergies", "1 note, 1 problem and 2 allergies"."""
    if len(items) < 2:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def _cannot_check(basis: ChartBasis, note: dict[str, Any]) -> ConflictDetail:
    return ConflictDetail(
        f"You approved this note offline, on the chart as kept at {_as_of(basis)}, and this EHR "
        "cannot tell the app whether the visit's chart changed since. Nothing was written. "
        "Look at the chart, then send your note again as it is, or discard it.",
        mine=note,
    )
