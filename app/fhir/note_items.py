"""A chart note as the start of a follow-up: its structured items, found in the chart.

A note this app wrote carries its commit's identifier (``…/sid/commit|<commit>``), and every
record the commit wrote carries ``<commit>.<position>``. :func:`earlier_from_chart_note` finds
those records (one identifier search per item type, positions 1..40 at a time) and reads each
as the item it was written from (``app.fhir.items.item_from_fhir``), at the version the chart
holds now — the version the follow-up's corrections are made against. The same note as a
Composition (the commit's Composition) comes from the chart pane's notes.

A note that replaced an earlier one (an amendment written here) kept the earlier note's
records it did not change: those carry the earlier commit's identifier, so the commits of the
notes it replaces (as the chart pane's notes say) are searched too, newest first; a record
found under several commits (a corrected one carries both identifiers) counts once.

A note another system wrote has no such identifier: it is followed up as text only (the
clinician may add items; nothing of the chart is sent again). An identifier search the server
does not declare is never relied on (some servers answer an unknown parameter with nothing).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from app.domain.clinical import NoteSourceType, PriorNote
from app.domain.commit import IDENTIFIER_SYSTEM, canonical_json, write_identifier_value
from app.domain.context import EncounterContext
from app.domain.draft import ChartItem
from app.domain.followup_drafts import EarlierNote, earlier_from_chart
from app.domain.items import ITEM_KINDS, StructuredItem
from app.domain.note_history import commit_of
from app.fhir.client import FhirClient
from app.fhir.errors import FhirMappingError
from app.fhir.items import item_from_fhir

log = logging.getLogger(__name__)

BATCH = 40  # identifiers per search (OR-ed): a URL well under 8 KB
MAX_BATCHES = 5  # a commit of 200 writes


async def earlier_from_chart_note(
    client: FhirClient, context: EncounterContext, note: PriorNote
) -> EarlierNote:
    """``note`` (a DocumentReference of the chart pane) with its structured items."""
    commit = commit_of(note)
    linked: dict[str, tuple[StructuredItem, ChartItem]] = {}
    for lineage_commit in _lineage(context, note):
        for item, chart in await _records_of(client, lineage_commit):
            linked.setdefault(chart.target, (item, chart))
    composition = _composition_of(context, commit)
    return earlier_from_chart(context, note, list(linked.values()), composition=composition)


def _lineage(context: EncounterContext, note: PriorNote) -> list[uuid.UUID]:
    """The commits of ``note`` and of the notes it replaces (transitively), newest first."""
    by_key = {(n.source_type.value, n.id): n for n in context.notes.items}
    commits: list[uuid.UUID] = []
    todo, seen = [note], set()
    while todo:
        current = todo.pop(0)
        key = (current.source_type.value, current.id)
        if key in seen:
            continue
        seen.add(key)
        commit = commit_of(current)
        if commit is not None and commit not in commits:
            commits.append(commit)
        for target in current.replaces:
            older = by_key.get((target.resource_type, target.id))
            if older is not None:
                todo.append(older)
    return commits


async def _records_of(
    client: FhirClient, commit: uuid.UUID
) -> list[tuple[StructuredItem, ChartItem]]:
    caps = await client.capabilities()
    found: dict[str, tuple[int, StructuredItem, ChartItem]] = {}
    for rtype in sorted({k.resource_type for k in ITEM_KINDS}):
        declared = caps.type(rtype)
        if declared is None or not declared.supports("search-type"):
            continue
        if declared.search_params and "identifier" not in declared.search_params:
            continue
        for first in range(1, BATCH * MAX_BATCHES, BATCH):
            tokens = [
                f"{IDENTIFIER_SYSTEM}|{write_identifier_value(commit, p)}"
                for p in range(first, first + BATCH)
            ]
            result = await client.search(rtype, [("identifier", ",".join(tokens))], limit=BATCH)
            for resource in result.resources:
                position = _position(resource, commit)
                located = _as_chart_item(resource) if position is not None else None
                if located is not None and position is not None:
                    found[f"{rtype}/{resource.get('id')}"] = (position, *located)
            if not result.resources:
                break
    return [(item, chart) for _p, item, chart in sorted(found.values(), key=lambda f: f[0])]


def _position(resource: Mapping[str, Any], commit: uuid.UUID) -> int | None:
    """The position of the write of ``commit`` that ``resource`` carries (a server that
    ignored the search must not make another record count)."""
    prefix = f"{commit}."
    for ident in resource.get("identifier") or []:
        if not isinstance(ident, Mapping) or ident.get("system") != IDENTIFIER_SYSTEM:
            continue
        value = ident.get("value")
        if isinstance(value, str) and value.startswith(prefix) and value[len(prefix) :].isdigit():
            return int(value[len(prefix) :])
    return None


def _as_chart_item(resource: Mapping[str, Any]) -> tuple[StructuredItem, ChartItem] | None:
    if resource.get("status") == "entered-in-error":
        return None
    try:
        item = item_from_fhir(resource)
    except FhirMappingError:
        log.warning("a record of an earlier note could not be read; it is left out")
        return None
    rid = resource.get("id")
    if item is None or not isinstance(rid, str):
        return None
    meta = resource.get("meta")
    version = meta.get("versionId") if isinstance(meta, Mapping) else None
    seen = canonical_json(_plain({k: v for k, v in resource.items() if k != "id"}))
    rtype = str(resource["resourceType"])
    chart = ChartItem(
        item.item_id, rtype, f"{rtype}/{rid}", version if isinstance(version, str) else None, seen
    )
    return item, chart


def _plain(value: Any) -> Any:
    """The client reads fractions as Decimal (no float drift); the record as seen is kept as
    plain JSON numbers, as the EHR sent them (integral ones stay integers)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _composition_of(context: EncounterContext, commit: uuid.UUID | None) -> str | None:
    if commit is None:
        return None
    for other in context.notes.items:
        if other.source_type is NoteSourceType.COMPOSITION and commit_of(other) == commit:
            return f"Composition/{other.id}"
    return None
