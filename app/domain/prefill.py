"""New drafts: prefilled from the encounter context by a template, or opened from a chart note
to amend it. Pure functions; the caller supplies the clock and (optionally) the id.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from typing import Any

from app.domain.clinical import PriorNote
from app.domain.context import ContextSection, EncounterContext
from app.domain.draft import (
    Baseline,
    Draft,
    DraftProvenance,
    DraftSource,
    FollowUpKind,
    NoteSection,
)
from app.domain.followup_drafts import earlier_from_chart, start_follow_up
from app.domain.templates import NoteTemplate, PrefillSource


def prefill_draft(
    context: EncounterContext,
    template: NoteTemplate,
    *,
    now: datetime,
    draft_id: uuid.UUID | None = None,
    display_tz: tzinfo = UTC,
) -> Draft:
    """A new draft for the context's encounter whose sections are prefilled by ``template``.

    The prefilled text is also the baseline, so the diff shows only what the clinician changed.
    """
    _require_utc(now)
    renderers: dict[PrefillSource, Callable[[EncounterContext, tzinfo], str]] = {
        PrefillSource.VITALS: _vitals,
        PrefillSource.LABS: _labs,
        PrefillSource.PROBLEMS: _problems,
        PrefillSource.MEDICATIONS: _medications,
        PrefillSource.ALLERGIES: _allergies,
        PrefillSource.ENCOUNTER: _encounter,
    }
    sections = tuple(
        NoteSection(
            key=s.key,
            title=s.title,
            text="\n\n".join(
                block for block in (renderers[p](context, display_tz) for p in s.prefill) if block
            ),
        )
        for s in template.sections
    )
    title = (
        template.note_type.display
        if template.note_type and template.note_type.display
        else template.name
    )
    return Draft(
        id=draft_id or uuid.uuid4(),
        patient=context.patient.reference,
        encounter=context.encounter.reference,
        template_id=template.id,
        title=title,
        note_type=template.note_type,
        sections=sections,
        baseline=Baseline(sections=sections),
        provenance=DraftProvenance(source=DraftSource.PREFILLED),
        created_at=now,
        updated_at=now,
    )


def amendment_draft(
    context: EncounterContext,
    note: PriorNote,
    *,
    now: datetime,
    draft_id: uuid.UUID | None = None,
) -> Draft:
    """A draft correcting a chart note without linked structured items: its text, verbatim,
    in one section; the baseline is the chart version, so the diff shows exactly the
    amendment. (Follow-ups in general: app.domain.followup_drafts.)"""
    _require_utc(now)
    earlier = earlier_from_chart(context, note)
    return start_follow_up(earlier, FollowUpKind.AMENDMENT, now=now, draft_id=draft_id)


def _require_utc(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("timestamps must be timezone-aware (UTC)")


def _when(ts: datetime | None, tz: tzinfo) -> str:
    return ts.astimezone(tz).strftime("%Y-%m-%d %H:%M") if ts else "date unknown"


def _unavailable(section: ContextSection[Any], what: str) -> str | None:
    if section.error is not None:
        return f"{what}: could not be loaded from the chart; check the chart directly."
    return None


def _vitals(ctx: EncounterContext, tz: tzinfo) -> str:
    failed = _unavailable(ctx.vitals, "Vital signs")
    if failed:
        return failed
    latest = ctx.latest_vitals()
    if not latest:
        return ""
    lines = [f"- {m.name}: {m.display_value} ({_when(m.effective, tz)})" for m in latest]
    return "Vital signs (latest):\n" + "\n".join(lines)


def _labs(ctx: EncounterContext, tz: tzinfo) -> str:
    failed = _unavailable(ctx.labs, "Laboratory results")
    if failed:
        return failed
    latest = ctx.latest_labs()
    if not latest:
        return ""
    lines = [f"- {m.name}: {m.display_value} ({_when(m.effective, tz)})" for m in latest]
    return "Recent results:\n" + "\n".join(lines)


def _problems(ctx: EncounterContext, tz: tzinfo) -> str:
    failed = _unavailable(ctx.problems, "Problems")
    if failed:
        return failed
    active = [p for p in ctx.problems.items if p.status.is_active]
    if not active:
        return ""
    return "Active problems:\n" + "\n".join(f"- {p.display}" for p in active)


def _medications(ctx: EncounterContext, tz: tzinfo) -> str:
    failed = _unavailable(ctx.medications, "Medications")
    if failed:
        return failed
    if not ctx.medications.items:
        return ""
    lines = [
        f"- {m.display}" + (f": {m.dosage}" if m.dosage else "") for m in ctx.medications.items
    ]
    return "Current medications:\n" + "\n".join(lines)


def _allergies(ctx: EncounterContext, tz: tzinfo) -> str:
    failed = _unavailable(ctx.allergies, "Allergies")
    if failed:
        return failed
    if not ctx.allergies.items:
        return "Allergies: none recorded in the chart."
    lines = []
    for a in ctx.allergies.items:
        details = [f"{a.criticality.value} criticality"] if a.criticality.value != "unknown" else []
        details += list(a.reactions)
        lines.append(f"- {a.display}" + (f" ({'; '.join(details)})" if details else ""))
    return "Allergies:\n" + "\n".join(lines)


def _encounter(ctx: EncounterContext, tz: tzinfo) -> str:
    enc = ctx.encounter
    parts = []
    kind = ", ".join(enc.types) or "Encounter"
    cls = enc.class_display
    parts.append(f"{kind}" + (f" ({cls})" if cls else "") + f", {_when(enc.period_start, tz)}")
    if enc.reasons:
        parts.append("Reason: " + "; ".join(enc.reasons))
    return "\n".join(parts)
