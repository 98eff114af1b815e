"""The write-back mapping: an approved draft and its review decision as FHIR R4 resources, frozen
into an :class:`~app.domain.commit.ApprovedCommit` for the outbox. Pure: no I/O, no clock.

One commit holds, in this order (later writes refer to earlier ones by ``urn:uuid``):

1. the note as a DocumentReference (US Core "Writing Clinical Notes"): the commit's business
   identifier, status ``current``, ``docStatus`` from the vendor profile, LOINC type (the
   draft's note type, else the profile's), category ``clinical-note``, subject, context
   (encounter, period), author and authenticator (the approving clinician), date, one
   attachment (text/plain UTF-8 base64, or sanitized XHTML where the profile wants it) and, for
   a follow-up, ``relatesTo`` the earlier note: ``replaces`` (an amendment: US Core's
   supersession — the earlier note is not changed in place; the EHR may mark it superseded) or
   ``appends`` (an addendum);
2. the structured items as the draft's write plan (app.domain.followup) says, kinds in their
   catalogue ``write_rank`` order (observations, symptoms, then (3.), then tasks, messages,
   medication statements): a new record for each new item, by its kind's mapping
   (``app/fhir/items/<kind>.py``); for a follow-up, an update of each record of the earlier
   note the clinician corrected or confirmed as entered in error (app.fhir.corrections) and
   nothing for those left as they are. Corrections the site cannot make in place are stated
   in the note's text instead;
3. the note as a Composition, when the review decision lists it (the server declares Composition
   create and the profile allows it), with the same ``relatesTo`` as the note where the earlier
   note has a Composition;
4. a Provenance when the decision lists it: every write above as target, the clinician as
   author, the app as an assembler Device acting for the clinician, the source encounter, the
   amended note and the imported draft file (by its SHA-256) as entities.

What is written is exactly what the review decision lists in ``destination_types``: a type the
profile or the server cannot take raises :class:`~app.fhir.errors.FhirUnsupported` (validation
blocks such drafts before approval); a decision made for other content raises
:class:`~app.domain.commit.CommitInvalid`. Every identity is derived from the decision id, so
building the same decision twice gives the same commit: identifiers, ``urn:uuid`` full URLs and
payload hashes are stable across retries and restarts.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import Any

from app.domain.capabilities import ServerCapabilities
from app.domain.clinical import Coding, Reference
from app.domain.commit import (
    IDENTIFIER_SYSTEM,
    URN_UUID_PREFIX,
    ApprovedCommit,
    CommitInvalid,
    DraftWrite,
    WriteOperation,
)
from app.domain.commit import build_commit as freeze_commit
from app.domain.draft import Draft
from app.domain.fingerprint import draft_content_sha256
from app.domain.followup import ItemFate, WritePlan, note_addition, plan_writes, written_text
from app.domain.items import COMPOSITION, ITEM_KINDS, PROVENANCE, ItemKind, kind_of
from app.domain.render import render_plain_text
from app.domain.review import AppIdentity, ReviewDecision, ReviewStatus
from app.fhir.corrections import update_body
from app.fhir.errors import FhirUnsupported
from app.fhir.items import WriteContext, mapping_for
from app.fhir.items.base import concept as _concept
from app.fhir.items.base import instant as _instant
from app.fhir.items.base import ref as _ref
from app.fhir.narrative import plain_text_to_xhtml_div, sections_to_xhtml_div
from app.fhir.profiles import VendorProfile

JsonObject = dict[str, Any]

LOINC = "http://loinc.org"
DOC_CATEGORY_SYSTEM = "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category"
PROVENANCE_AGENT_SYSTEM = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
DATA_OPERATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
APP_DEVICE_SYSTEM = "https://fhir-writeback.example/sid/app-instance"
DRAFT_SHA256_SYSTEM = "https://fhir-writeback.example/sid/draft-sha256"
XHTML = "application/xhtml+xml"
NOTE_TYPE_DISPLAY = {"11506-3": "Progress note", "34117-2": "History and physical note"}
CATEGORY_DISPLAY = {"clinical-note": "Clinical Note"}
COMPOSITION_STATUS = {"preliminary": "preliminary", "final": "final", "amended": "amended"}


def write_id_for(decision_id: uuid.UUID, role: str) -> uuid.UUID:
    """The write id of one part of the commit of ``decision_id``: ``"note"``,
    ``"composition"``, ``"provenance"`` or ``"item:<item id>"``. Derived, so rebuilding gives
    the same commit and a follow-up can find the write of each item of an earlier note."""
    return uuid.uuid5(decision_id, role)


def app_device_reference(app: AppIdentity) -> JsonObject:
    """A logical reference to the app instance as a Device (for EHRs without a Device record)."""
    return {
        "identifier": {
            "system": APP_DEVICE_SYSTEM,
            "value": f"{app.name}/{app.version}@{app.host}",
        },
        "display": app.label,
    }


def build_commit(
    draft: Draft,
    decision: ReviewDecision,
    profile: VendorProfile,
    capabilities: ServerCapabilities,
    *,
    app_device: Reference | Mapping[str, Any],
    sequence: int = 1,
    encounter_period: tuple[datetime | None, datetime | None] | None = None,
    depends_on: Sequence[uuid.UUID] = (),
    plan: WritePlan | None = None,
) -> ApprovedCommit:
    """The approved commit for ``draft``. ``sequence`` is a placeholder: the outbox assigns the
    real one when it stores the commit. ``encounter_period`` (start, end) fills
    ``DocumentReference.context.period``; ``depends_on`` lists commits that must be confirmed
    first (a follow-up of a note still in the outbox waits for it without being told).
    ``plan`` is the draft's write plan as the approval showed it (default: made here with what
    the profile and server allow updating)."""
    _check_decision(draft, decision)
    if plan is None:
        plan = plan_writes(draft, lambda t: _may_update(t, profile, capabilities))
    _check_writable(decision.destination_types, plan, profile, capabilities)
    follow_up = draft.amends
    if follow_up is not None and follow_up.pending_commit is not None:
        depends_on = (*depends_on, follow_up.pending_commit)
    m = _Mapper(draft, decision, profile, app_device, encounter_period, plan)
    writes = [m.document_reference()]
    steps: list[tuple[int, Callable[[], list[DraftWrite]]]] = [
        (kind.write_rank, partial(m.items_of, kind)) for kind in ITEM_KINDS
    ]
    if COMPOSITION.resource_type in decision.destination_types:
        steps.append((COMPOSITION.write_rank, lambda: [m.composition()]))
    for _rank, step in sorted(steps, key=lambda s: s[0]):
        writes += step()
    if PROVENANCE.resource_type in decision.destination_types:
        writes.append(m.provenance(writes))
    built = {str(w.payload["resourceType"]) for w in writes}
    if built != set(decision.destination_types):
        raise CommitInvalid(
            f"the decision lists {sorted(decision.destination_types)} but the draft needs "
            f"{sorted(built)}"
        )
    return freeze_commit(
        writes, sequence=sequence, depends_on=depends_on, commit_id=decision.decision_id
    )


def _check_decision(draft: Draft, decision: ReviewDecision) -> None:
    if decision.status is not ReviewStatus.APPROVED:
        raise CommitInvalid("only an approved decision can be written")
    if decision.draft_id != draft.id or decision.content_sha256 != draft_content_sha256(draft):
        raise CommitInvalid("the review decision was made for other content than this draft")
    if not render_plain_text(draft).strip():
        raise CommitInvalid("the note is empty")


def _may_update(resource_type: str, profile: VendorProfile, caps: ServerCapabilities) -> bool:
    declared = caps.type(resource_type)
    return (
        profile.if_match_update
        and profile.may_write(resource_type)
        and declared is not None
        and declared.supports("update")
        and declared.versioning != "no-version"
    )


def _check_writable(
    types: Sequence[str],
    plan: WritePlan,
    profile: VendorProfile,
    capabilities: ServerCapabilities,
) -> None:
    only_updated = plan.updated_types - plan.created_types
    for resource_type in types:
        if not profile.may_write(resource_type):
            raise FhirUnsupported(
                f"The {profile.display_name} profile does not allow writing {resource_type}; "
                "remove that part of the note and approve it again, or ask IT.",
                detail=f"profile {profile.name} excludes {resource_type}",
            )
        if resource_type in only_updated:
            if not _may_update(resource_type, profile, capabilities):
                raise FhirUnsupported(
                    f"The EHR does not let this app correct {resource_type} records in place; "
                    "review the note again.",
                    detail=f"no versioned update for {resource_type}",
                )
            continue
        if not capabilities.can_create(resource_type):
            raise FhirUnsupported(
                f"The EHR does not declare that it accepts new {resource_type} resources; "
                "remove that part of the note and approve it again, or ask IT.",
                detail=f"no create interaction for {resource_type}",
            )


class _Mapper:
    def __init__(
        self,
        draft: Draft,
        decision: ReviewDecision,
        profile: VendorProfile,
        app_device: Reference | Mapping[str, Any],
        encounter_period: tuple[datetime | None, datetime | None] | None,
        plan: WritePlan,
    ) -> None:
        self.draft = draft
        self.plan = plan
        self.decision = decision
        self.profile = profile
        self.app_device = (
            _ref(app_device) if isinstance(app_device, Reference) else dict(app_device)
        )
        self.period = encounter_period
        self.when = _instant(decision.approved_at)
        self.note_id = self._write_id("note")

    # ---- identities: derived from the decision id, so rebuilding gives the same commit
    def _write_id(self, role: str) -> uuid.UUID:
        return write_id_for(self.decision.decision_id, role)

    @property
    def note_urn(self) -> JsonObject:
        return {"reference": f"{URN_UUID_PREFIX}{self.note_id}"}

    @property
    def clinician(self) -> JsonObject:
        return _ref(self.decision.approved_by)

    # ---- the note
    def document_reference(self) -> DraftWrite:
        d, p = self.draft, self.profile
        context: JsonObject = {"encounter": [_ref(d.encounter, display=False)]}
        period = _period(self.period)
        if period:
            context["period"] = period
        doc: JsonObject = {
            "resourceType": "DocumentReference",
            "identifier": [{"system": IDENTIFIER_SYSTEM, "value": str(self.decision.decision_id)}],
            "status": "current",
            "docStatus": p.note.doc_status,
            "type": _concept(self._note_type()),
            "category": [
                _concept(
                    Coding(
                        DOC_CATEGORY_SYSTEM,
                        p.note.category,
                        CATEGORY_DISPLAY.get(p.note.category),
                    )
                )
            ],
            "subject": _ref(d.patient, display=False),
            "date": self.when,
            "author": [self.clinician],
            "content": [{"attachment": self._attachment()}],
            "context": context,
        }
        if p.note.doc_status == "final":
            doc["authenticator"] = self.clinician
        if d.title.strip():
            doc["description"] = d.title.strip()
        if d.amends is not None:
            doc["relatesTo"] = [
                {"code": d.amends.kind.relation, "target": {"reference": d.amends.target}}
            ]
        return DraftWrite(doc, self.note_id)

    def text(self) -> str:
        """The note's plain text, with the corrections it states (app.domain.followup)."""
        return written_text(self.draft, self.plan)

    def _note_type(self) -> Coding:
        t = self.draft.note_type
        if t is not None and t.code:
            return t
        code = self.profile.note.type_loinc
        return Coding(LOINC, code, NOTE_TYPE_DISPLAY.get(code))

    def _attachment(self) -> JsonObject:
        if self.profile.note.attachment_content_type == XHTML:
            content_type, data = XHTML, self._xhtml().encode("utf-8")
        else:
            content_type = "text/plain; charset=utf-8"
            data = self.text().encode("utf-8", "replace")
        attachment: JsonObject = {
            "contentType": content_type,
            "data": base64.b64encode(data).decode("ascii"),
            "size": len(data),
            # FHIR R4 Attachment.hash is SHA-1 (base64); it lets a read-back prove the bytes
            "hash": base64.b64encode(hashlib.sha1(data).digest()).decode("ascii"),
            "creation": self.when,
        }
        if self.draft.title.strip():
            attachment["title"] = self.draft.title.strip()
        return attachment

    def _sections(self) -> list[tuple[str, str]]:
        parts = [(s.title, s.text) for s in self.draft.sections]
        addition = note_addition(self.plan)
        if addition:
            parts.append(("Corrections", addition))
        return parts

    def _xhtml(self) -> str:
        if len(self.draft.sections) == 1:  # an amendment keeps the chart note's own layout
            return plain_text_to_xhtml_div(self.text())
        return sections_to_xhtml_div(self._sections())

    def composition(self) -> DraftWrite:
        d = self.draft
        sections = [
            {
                "title": title,
                "text": {"status": "generated", "div": plain_text_to_xhtml_div(text)},
            }
            for title, text in self._sections()
            if text.strip()
        ]
        comp: JsonObject = {
            "resourceType": "Composition",
            "status": COMPOSITION_STATUS[self.profile.note.doc_status],
            "type": _concept(self._note_type()),
            "category": [_concept(Coding(DOC_CATEGORY_SYSTEM, self.profile.note.category))],
            "subject": _ref(d.patient, display=False),
            "encounter": _ref(d.encounter, display=False),
            "date": self.when,
            "author": [self.clinician],
            "title": d.title.strip() or (self._note_type().display or "Clinical note"),
            "attester": [{"mode": "legal", "time": self.when, "party": self.clinician}],
            "section": sections,
        }
        if d.amends is not None and d.amends.composition is not None:
            comp["relatesTo"] = [
                {
                    "code": d.amends.kind.relation,
                    "targetReference": {"reference": d.amends.composition},
                }
            ]
        return DraftWrite(comp, self._write_id("composition"))

    # ---- structured items: each by its kind's mapping (app/fhir/items/<kind>.py)
    def items_of(self, kind: ItemKind[Any]) -> list[DraftWrite]:
        """The writes of the plan's items of ``kind``: new records, and updates of the earlier
        note's records (corrections, entered in error), in the draft's order."""
        mapping = mapping_for(kind)
        ctx = WriteContext(
            patient=self.draft.patient,
            encounter=self.draft.encounter,
            clinician=self.clinician,
            note_id=str(self.note_id),
            approved_at=self.decision.approved_at,
        )
        writes = []
        for plan in self.plan.written:
            if kind_of(plan.item) is not kind:
                continue
            write_id = self._write_id(f"item:{plan.item.item_id}")
            if plan.fate is ItemFate.CREATE:
                writes.append(DraftWrite(mapping.to_fhir(plan.item, ctx), write_id))
                continue
            assert plan.chart is not None
            writes.append(
                DraftWrite(
                    update_body(plan, ctx),
                    write_id,
                    operation=WriteOperation.UPDATE,
                    target=plan.chart.target,
                    if_match=plan.chart.version_id,
                )
            )
        return writes

    # ---- provenance
    def provenance(self, writes: Sequence[DraftWrite]) -> DraftWrite:
        d, dec = self.draft, self.decision
        entities: list[JsonObject] = [
            {"role": "source", "what": _ref(dec.source_encounter, display=False)}
        ]
        if d.amends is not None:
            entities.append({"role": "revision", "what": {"reference": d.amends.target}})
        sha = d.provenance.import_sha256
        if sha:
            gen = d.provenance.generator
            what: JsonObject = {"identifier": {"system": DRAFT_SHA256_SYSTEM, "value": sha}}
            what["display"] = (
                f"Draft imported from {gen.name} {gen.version}".strip() if gen else "Imported draft"
            )
            entities.append({"role": "derivation", "what": what})
        activity = "UPDATE" if d.amends is not None else "CREATE"
        prov: JsonObject = {
            "resourceType": "Provenance",
            # an update's own fullUrl names no resource: its target does
            "target": [{"reference": w.target or f"{URN_UUID_PREFIX}{w.write_id}"} for w in writes],
            "recorded": self.when,
            "activity": _concept(Coding(DATA_OPERATION_SYSTEM, activity, activity.title())),
            "agent": [
                {
                    "type": _concept(Coding(PROVENANCE_AGENT_SYSTEM, "author", "Author")),
                    "who": self.clinician,
                },
                {
                    "type": _concept(Coding(PROVENANCE_AGENT_SYSTEM, "assembler", "Assembler")),
                    "who": self.app_device,
                    "onBehalfOf": self.clinician,
                },
            ],
            "entity": entities,
        }
        return DraftWrite(prov, self._write_id("provenance"))


# ----------------------------------------------------------------------------- small helpers


def _period(period: tuple[datetime | None, datetime | None] | None) -> JsonObject:
    if period is None:
        return {}
    start, end = period
    out: JsonObject = {}
    if start is not None:
        out["start"] = _instant(start)
    if end is not None:
        out["end"] = _instant(end)
    return out
