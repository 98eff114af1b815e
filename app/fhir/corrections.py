"""A follow-up's corrections of records already in the chart, as the bodies of their updates.

Pure. A correction starts from the record as the clinician saw it (``ChartItem.seen_json``: the
chart's copy, or the approved payload of a write still in the outbox) and changes only what the
clinician changed: the elements where the kind's mapping (``app/fhir/items/<kind>.py``) of the
item before and after differ, plus the status (``corrected`` / ``amended`` for observations,
from the mapping's ``corrected_status``) and, where the kind writes one, ``issued``. Everything
else the record holds (other systems' identifiers and extensions, its references) stays. A
retraction is the record as seen with status ``entered-in-error``. Neither carries an ``id``
(the planner adds the target's when it sends) nor the server's ``meta`` version.
"""

from __future__ import annotations

import json
from typing import Any

from app.domain.followup import ItemFate, ItemPlan
from app.domain.items import kind_of
from app.fhir.items import WriteContext, mapping_for

JsonObject = dict[str, Any]

RETRACTED = "entered-in-error"  # a status every type the app writes knows (R4)
_SERVER_META = ("versionId", "lastUpdated", "source")


def update_body(plan: ItemPlan, ctx: WriteContext) -> JsonObject:
    """The body of the update that carries out ``plan`` (CORRECT or RETRACT)."""
    if plan.chart is None or plan.before is None or not plan.fate.updates:
        raise ValueError("only a correction or retraction of a chart record is an update")
    body = _as_seen(plan.chart.seen_json)
    if plan.fate is ItemFate.RETRACT:
        body["status"] = RETRACTED
        return body
    mapping = mapping_for(kind_of(plan.item))
    old, new = mapping.to_fhir(plan.before, ctx), mapping.to_fhir(plan.item, ctx)
    for key in sorted(set(old) | set(new)):
        if old.get(key) == new.get(key):
            continue
        if key in new:
            body[key] = new[key]
        else:
            body.pop(key, None)
    if "issued" in new:  # this version is made available now
        body["issued"] = new["issued"]
    status = mapping.corrected_status(plan.before, plan.item) if mapping.corrected_status else None
    if status is not None:
        body["status"] = status
    return body


def _as_seen(seen_json: str) -> JsonObject:
    seen: JsonObject = json.loads(seen_json)
    body = {k: v for k, v in seen.items() if k not in ("id", "text")}
    meta = body.pop("meta", None)
    if isinstance(meta, dict):
        kept = {k: v for k, v in meta.items() if k not in _SERVER_META}
        if kept:
            body["meta"] = kept
    return body
