"""Draft content <-> the JSON body stored in ``drafts.body`` (format 1).

Only the store reads this format. Ids, status, revision and times live in their own columns
and are authoritative; the body holds everything else. Decimals are strings (no float drift),
instants are ISO-8601 UTC, enums are their values.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from typing import Any

from app.domain.clinical import Coding, Reference
from app.domain.clock import format_ts, parse_ts
from app.domain.draft import (
    AmendmentRef,
    Baseline,
    ChartItem,
    CloseReason,
    Draft,
    DraftDecision,
    DraftProvenance,
    DraftSource,
    DraftStatus,
    FlagLook,
    FlagTarget,
    FollowUpKind,
    Generator,
    NoteSection,
    UnacceptedText,
    UncertaintyFlag,
)
from app.domain.items import StructuredItem, kind_named, kind_of

BODY_VERSION = 1


def encode_body(draft: Draft) -> bytes:
    body = {
        "v": BODY_VERSION,
        "patient": _ref(draft.patient),
        "encounter": _ref(draft.encounter),
        "title": draft.title,
        "note_type": _coding(draft.note_type),
        "sections": [_section(s) for s in draft.sections],
        "items": [_item(i) for i in draft.items],
        "baseline": {
            "sections": [_section(s) for s in draft.baseline.sections],
            "items": [_item(i) for i in draft.baseline.items],
        },
        "provenance": _provenance(draft.provenance),
        "amends": None if draft.amends is None else _follow_up(draft.amends),
        "extra": dict(draft.extra),
        "decision": _decision(draft.decision),
        "unaccepted": [
            {"item": u.item_id, "field": u.field, "text": u.text} for u in draft.unaccepted
        ],
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def decode_body(
    body: bytes,
    *,
    draft_id: str,
    template_id: str,
    status: str,
    revision: int,
    created_at: str,
    updated_at: str,
) -> Draft:
    data = json.loads(body)
    if data.get("v") != BODY_VERSION:
        raise ValueError(f"unknown draft body version {data.get('v')!r}")
    amends = data.get("amends")
    return Draft(
        id=uuid.UUID(draft_id),
        patient=_unref(data["patient"]),
        encounter=_unref(data["encounter"]),
        template_id=template_id,
        title=data["title"],
        note_type=_uncoding(data.get("note_type")),
        sections=tuple(_unsection(s) for s in data["sections"]),
        items=tuple(_unitem(i) for i in data["items"]),
        baseline=Baseline(
            sections=tuple(_unsection(s) for s in data["baseline"]["sections"]),
            items=tuple(_unitem(i) for i in data["baseline"]["items"]),
        ),
        provenance=_unprovenance(data["provenance"]),
        amends=None if amends is None else _unfollow_up(amends),
        status=DraftStatus(status),
        revision=revision,
        created_at=parse_ts(created_at),
        updated_at=parse_ts(updated_at),
        extra=dict(data.get("extra") or {}),
        decision=_undecision(data.get("decision")),
        unaccepted=tuple(
            UnacceptedText(u["item"], u["field"], u["text"]) for u in data.get("unaccepted") or ()
        ),
    )


# ---- pieces


def _follow_up(a: AmendmentRef) -> dict[str, Any]:
    """The earlier note a follow-up corrects or adds to (older bodies hold only the first two
    keys: an amendment of a chart note)."""
    return {
        "document": _ref(a.document),
        "version_id": a.version_id,
        "kind": a.kind.value,
        "note_date": _opt_iso(a.note_date),
        "pending_commit": None if a.pending_commit is None else str(a.pending_commit),
        "composition": a.composition,
        "subject": _ref(a.subject),
        "chart_items": [
            {
                "item_id": c.item_id,
                "resource_type": c.resource_type,
                "target": c.target,
                "version_id": c.version_id,
                "seen": c.seen_json,
            }
            for c in a.chart_items
        ],
        "retract": list(a.retract),
    }


def _unfollow_up(d: dict[str, Any]) -> AmendmentRef:
    pending = d.get("pending_commit")
    subject = d.get("subject")
    return AmendmentRef(
        document=_unref(d["document"]),
        version_id=d.get("version_id"),
        kind=FollowUpKind(d.get("kind", FollowUpKind.AMENDMENT.value)),
        note_date=None if d.get("note_date") is None else parse_ts(d["note_date"]),
        pending_commit=None if pending is None else uuid.UUID(pending),
        composition=d.get("composition"),
        subject=None if subject is None else _unref(subject),
        chart_items=tuple(
            ChartItem(c["item_id"], c["resource_type"], c["target"], c.get("version_id"), c["seen"])
            for c in d.get("chart_items", [])
        ),
        retract=tuple(d.get("retract", [])),
    )


def _ref(r: Reference | None) -> dict[str, Any] | None:
    return None if r is None else {"type": r.resource_type, "id": r.id, "display": r.display}


def _unref(d: dict[str, Any]) -> Reference:
    return Reference(d["type"], d["id"], d.get("display"))


def _coding(c: Coding | None) -> dict[str, Any] | None:
    return None if c is None else {"system": c.system, "code": c.code, "display": c.display}


def _uncoding(d: dict[str, Any] | None) -> Coding | None:
    return None if d is None else Coding(d.get("system"), d.get("code"), d.get("display"))


def _section(s: NoteSection) -> dict[str, Any]:
    return {"key": s.key, "title": s.title, "text": s.text}


def _unsection(d: dict[str, Any]) -> NoteSection:
    return NoteSection(d["key"], d["title"], d["text"])


def _opt_iso(v: date | datetime | None) -> str | None:
    if v is None:
        return None
    if isinstance(v, datetime):
        return format_ts(v)
    return v.isoformat()


def _item(i: StructuredItem) -> dict[str, Any]:
    kind = kind_of(i)
    return {"kind": kind.key, **kind.codec.encode(i)}


def _unitem(d: dict[str, Any]) -> StructuredItem:
    try:
        kind = kind_named(d["kind"])
    except LookupError:
        raise ValueError(f"unknown item kind {d['kind']!r}") from None
    item: StructuredItem = kind.codec.decode(d)
    return item


def _decision(d: DraftDecision | None) -> dict[str, Any] | None:
    if d is None:
        return None
    return {
        "status": d.status.value,
        "reason": d.reason.value,
        "note": d.note,
        "by": _ref(d.by),
        "at": format_ts(d.at),
        "content_sha256": d.content_sha256,
        "import_sha256": d.import_sha256,
    }


def _undecision(d: dict[str, Any] | None) -> DraftDecision | None:
    if d is None:
        return None
    return DraftDecision(
        status=DraftStatus(d["status"]),
        reason=CloseReason(d["reason"]),
        note=str(d.get("note") or ""),
        by=_unref(d["by"]),
        at=parse_ts(d["at"]),
        content_sha256=str(d["content_sha256"]),
        import_sha256=d.get("import_sha256"),
    )


def _provenance(p: DraftProvenance) -> dict[str, Any]:
    return {
        "source": p.source.value,
        "generator": None
        if p.generator is None
        else {"name": p.generator.name, "version": p.generator.version},
        "generated_at": _opt_iso(p.generated_at),
        "uncertainty": [
            {"kind": f.target_kind.value, "target": f.target, "reason": f.reason, "quote": f.quote}
            for f in p.uncertainty
        ],
        "import_sha256": p.import_sha256,
        "looked_at": [
            {"index": look.index, "by": look.by, "at": format_ts(look.at)} for look in p.looked_at
        ],
    }


def _unprovenance(d: dict[str, Any]) -> DraftProvenance:
    gen = d.get("generator")
    return DraftProvenance(
        source=DraftSource(d["source"]),
        generator=None if gen is None else Generator(gen["name"], gen["version"]),
        generated_at=None if d.get("generated_at") is None else parse_ts(d["generated_at"]),
        uncertainty=tuple(
            UncertaintyFlag(FlagTarget(f["kind"]), f["target"], f["reason"], f.get("quote"))
            for f in d.get("uncertainty", [])
        ),
        import_sha256=d.get("import_sha256"),
        looked_at=tuple(
            FlagLook(int(look["index"]), str(look["by"]), parse_ts(look["at"]))
            for look in d.get("looked_at", [])
        ),
    )
