"""Validation before approval: everything that must be right before a note may go to the chart.

Pure and I/O-free. :func:`validate_for_approval` returns a :class:`ValidationReport` with one
:class:`ValidationProblem` per finding; its ``field_path`` names the place the UI shows it next to:

    "draft"                   the note as a whole (wrong patient, empty note, not permitted)
    "draft:title"             the note's title
    "section:<key>"           a narrative section
    "item:<item_id>"          a structured item as a whole (e.g. its write is not permitted)
    "item:<item_id>:<field>"  one field of an item: code, value, unit, effective, note,
                              description, owner, status, recipient, text, medication,
                              decision, severity, onset (an editor column whose ``field`` is
                              the same shows it on its cell)

Each item is checked by its kind (``app.domain.items``: ``check`` and ``check_together``).
Errors block approval; warnings are shown and approval stays possible (values outside the
usual range, unknown LOINC codes). Messages name the place and the problem, never note text or
patient names, and say what to do.

What may be written at all comes from the caller as :class:`WritePermissions`: the resource
types the granted SMART scopes, the server's CapabilityStatement and the vendor profile all allow
(built by ``app.fhir.mapping_out.write_permissions``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from app.domain.clinical import Reference
from app.domain.consistency import ChartValue, check_consistency
from app.domain.draft import Draft, DraftStatus
from app.domain.fingerprint import draft_content_sha256
from app.domain.followup import ItemFate, plan_writes
from app.domain.items import ITEM_KINDS, NOTE, NOTE_WRITES, ItemCheck, kind_of, write_rank
from app.domain.render import render_plain_text
from app.domain.templates import BLANK, NoteTemplate
from app.domain.validation_problems import (
    MAX_ITEM_TEXT_CHARS,
    MAX_NOTE_CHARS,
    ProblemKind,
    Severity,
    ValidationProblem,
    check_text,
    error,
    warning,
)

__all__ = [
    "ProblemKind",
    "Severity",
    "ValidationProblem",
    "ValidationReport",
    "WritePermissions",
    "destinations_for",
    "validate_for_approval",
]

PATIENT_TYPES = frozenset({"Patient"})
ENCOUNTER_TYPES = frozenset({"Encounter"})


@dataclass(frozen=True)
class WritePermissions:
    """The resource types this app may create at this site: granted SMART scopes ∩ what the
    CapabilityStatement declares ∩ the vendor profile. ``refusals`` says why a type is not
    creatable, as a clause: ``"the EHR did not grant Task write"``. ``updatable``: the types
    whose records it may correct in place (a version-aware update: profile, server and scopes
    allow it); a follow-up states other corrections in its note instead."""

    creatable: frozenset[str]
    refusals: Mapping[str, str] = field(default_factory=dict, hash=False)
    updatable: frozenset[str] = frozenset()

    def may_update(self, resource_type: str) -> bool:
        return resource_type in self.updatable

    @classmethod
    def allowing(cls, *resource_types: str) -> WritePermissions:
        return cls(frozenset(resource_types))

    def allows(self, resource_type: str) -> bool:
        return resource_type in self.creatable

    def why_not(self, resource_type: str) -> str:
        return self.refusals.get(
            resource_type, f"the EHR does not accept new {resource_type} resources from this app"
        )


@dataclass(frozen=True)
class ValidationReport:
    problems: tuple[ValidationProblem, ...]
    content_sha256: str  # of the draft that was validated (see app.domain.fingerprint)
    destinations: tuple[str, ...] = ()  # resource types the approval would write, in write order

    @property
    def errors(self) -> tuple[ValidationProblem, ...]:
        return tuple(p for p in self.problems if p.blocking)

    @property
    def warnings(self) -> tuple[ValidationProblem, ...]:
        return tuple(p for p in self.problems if not p.blocking)

    @property
    def can_approve(self) -> bool:
        return not self.errors

    @property
    def blocking_reason(self) -> str | None:
        """One sentence for the disabled Approve button; None when approval is possible."""
        errors = self.errors
        if not errors:
            return None
        if len(errors) == 1:
            return errors[0].message
        return f"{len(errors)} problems must be fixed before approval. First: {errors[0].message}"

    def for_field(self, field_path: str) -> tuple[ValidationProblem, ...]:
        return tuple(p for p in self.problems if p.field_path == field_path)

    def for_item(self, item_id: str) -> tuple[ValidationProblem, ...]:
        """Problems of the item as a whole and of each of its fields."""
        prefix = f"item:{item_id}"
        return tuple(
            p
            for p in self.problems
            if p.field_path == prefix or p.field_path.startswith(prefix + ":")
        )

    def of_kind(self, kind: ProblemKind) -> tuple[ValidationProblem, ...]:
        return tuple(p for p in self.problems if p.kind is kind)


def destinations_for(draft: Draft, permissions: WritePermissions) -> tuple[str, ...]:
    """The resource types an approval of ``draft`` writes, in commit order: the note, the type
    of each item its write plan writes (app.domain.followup: a follow-up never writes the
    earlier note's unchanged items again), and the optional extras (Composition, Provenance)
    where ``permissions`` allow them."""
    plan = plan_writes(draft, permissions.may_update)
    wanted = {NOTE.resource_type} | {p.resource_type for p in plan.written}
    wanted |= {
        w.resource_type for w in NOTE_WRITES if w.optional and permissions.allows(w.resource_type)
    }
    return tuple(sorted(wanted, key=lambda t: (write_rank(t), t)))


def validate_for_approval(
    draft: Draft,
    context_patient: Reference,
    context_encounter: Reference,
    *,
    template: NoteTemplate | None,
    write_permissions: WritePermissions,
    amended_note_patient: Reference | None = None,
    amended_note_encounter: Reference | None = None,
    now: datetime | None = None,
    chart: Mapping[str, ChartValue] | None = None,
) -> ValidationReport:
    """Everything that blocks (or should give pause to) approving ``draft``.

    ``context_patient``/``context_encounter`` are the chart the clinician has open. For an
    amendment, ``amended_note_patient`` is the ``subject`` of the chart note being amended
    (without it the amendment is blocked: the wrong-patient guard fails closed) and
    ``amended_note_encounter`` its encounter, which the amendment may keep. ``now`` (UTC)
    enables the check that observation times are not in the future. ``chart`` (the latest
    charted value per LOINC code, ``app.domain.consistency.chart_values``) is what the
    narrative's values are compared with where the table has none.
    """
    problems: list[ValidationProblem] = []
    problems += _check_status(draft)
    problems += _check_identity(
        draft, context_patient, context_encounter, amended_note_patient, amended_note_encounter
    )
    problems += _check_narrative(draft, template)
    problems += _check_items(draft, ItemCheck(context_patient, now))
    problems += _check_unaccepted(draft)
    problems += _check_agreement(draft, chart)
    problems += _check_permissions(draft, write_permissions)
    return ValidationReport(
        problems=tuple(problems),
        content_sha256=draft_content_sha256(draft),
        destinations=destinations_for(draft, write_permissions),
    )


# ----------------------------------------------------------------------------- the note


def _check_unaccepted(draft: Draft) -> Iterable[ValidationProblem]:
    items = {item.item_id for item in draft.items}
    for kept in draft.unaccepted:
        if kept.item_id in items:  # a removed row takes what was typed in it along
            yield error(
                f"item:{kept.item_id}:{kept.field}",
                ProblemKind.UNACCEPTED_TEXT,
                f"“{kept.text}” was typed here and could not be used; correct it or clear it.",
            )


def _check_status(draft: Draft) -> Iterable[ValidationProblem]:
    if draft.status is not DraftStatus.OPEN:
        yield error(
            "draft",
            ProblemKind.NOT_EDITABLE,
            f"This draft is already {draft.status.value}. To change an approved note: Correct "
            "this note, or Add an addendum.",
        )


def _check_identity(
    draft: Draft,
    patient: Reference,
    encounter: Reference,
    amended_patient: Reference | None,
    amended_encounter: Reference | None,
) -> Iterable[ValidationProblem]:
    if patient.resource_type not in PATIENT_TYPES or not draft.patient.same_target(patient):
        yield error(
            "draft",
            ProblemKind.WRONG_PATIENT,
            "This draft belongs to another patient than the chart that is open "
            f"({draft.patient.relative}, open: {patient.relative}); open the right chart.",
        )
    encounter_ok = draft.encounter.same_target(encounter) or (
        draft.amends is not None
        and amended_encounter is not None
        and draft.encounter.same_target(amended_encounter)
    )
    if encounter.resource_type not in ENCOUNTER_TYPES or not encounter_ok:
        yield error(
            "draft",
            ProblemKind.WRONG_ENCOUNTER,
            "This draft belongs to another encounter than the one that is open "
            f"({draft.encounter.relative}, open: {encounter.relative}); open the right encounter.",
        )
    if draft.amends is None:
        return
    target = draft.amends.document
    if target.resource_type != "DocumentReference":
        yield error(
            "draft",
            ProblemKind.AMENDMENT_TARGET,
            f"Only notes filed as documents can be amended ({target.relative} is a "
            f"{target.resource_type}); write a new note instead.",
        )
    if amended_patient is None:
        yield error(
            "draft",
            ProblemKind.WRONG_PATIENT,
            "The app could not confirm which patient the amended note belongs to; "
            "reopen the note from the chart and amend it again.",
        )
    elif not amended_patient.same_target(draft.patient):
        yield error(
            "draft",
            ProblemKind.WRONG_PATIENT,
            f"The amended note ({target.relative}) belongs to another patient "
            f"({amended_patient.relative}); this amendment cannot be filed in this chart.",
        )


def _check_narrative(draft: Draft, template: NoteTemplate | None) -> Iterable[ValidationProblem]:
    yield from check_text("draft:title", "The title", draft.title, MAX_ITEM_TEXT_CHARS)
    for section in draft.sections:
        yield from check_text(
            f"section:{section.key}", f"The {section.title} section", section.text, MAX_NOTE_CHARS
        )
        blanks = section.text.count(BLANK)
        if blanks:
            yield error(
                f"section:{section.key}",
                ProblemKind.BLANK_LEFT,
                f"The {section.title} section still has {blanks} blank"
                f"{'s' if blanks > 1 else ''} ({BLANK}); press F2 to go to "
                f"{'each' if blanks > 1 else 'it'}, then fill it in or delete it.",
            )
    if template is not None:
        texts = {s.key: s.text for s in draft.sections}
        for ts in template.sections:
            if ts.required and not texts.get(ts.key, "").strip():
                yield error(
                    f"section:{ts.key}",
                    ProblemKind.REQUIRED_SECTION,
                    f"The {ts.title} section is required; write it before approval.",
                )
    note = render_plain_text(draft)
    if not note.strip():
        yield error("draft", ProblemKind.EMPTY_NOTE, "The note is empty; write the note first.")
    elif len(note) > MAX_NOTE_CHARS:
        yield error(
            "draft",
            ProblemKind.TEXT_TOO_LONG,
            f"The note is longer than the EHR accepts ({len(note):,} characters, at most "
            f"{MAX_NOTE_CHARS:,}); shorten it or split it into two notes.",
        )


# ----------------------------------------------------------------------------- items


def _check_items(draft: Draft, ctx: ItemCheck) -> Iterable[ValidationProblem]:
    """Each item by its kind's checks (in the draft's order), then each kind's joint checks.
    Records of an earlier note that a follow-up leaves as they are in the chart are not
    checked one by one: nothing is written for them."""
    untouched = {p.item.item_id for p in plan_writes(draft).items if p.fate is ItemFate.UNCHANGED}
    for item in draft.items:
        if item.item_id in untouched:
            continue
        yield from kind_of(item).check(item, ctx)
    for kind in ITEM_KINDS:
        mine = kind.select(draft.items)
        if mine:
            yield from kind.check_together(mine)


# ----------------------------------------------------------------------------- agreement


def _check_agreement(
    draft: Draft, chart: Mapping[str, ChartValue] | None
) -> Iterable[ValidationProblem]:
    """Narrative against table and chart (warnings the clinician acknowledges), and imported
    uncertainty flags nobody has looked at yet."""
    for mismatch in check_consistency(draft, chart):
        yield warning(
            f"section:{mismatch.section_key}", ProblemKind.NARRATIVE_MISMATCH, mismatch.message
        )
    flags = draft.provenance.uncertainty
    waiting = len(flags) - len(draft.provenance.looked_at_flags)
    if waiting > 0:
        yield warning(
            "draft",
            ProblemKind.UNCERTAINTY_NOT_LOOKED_AT,
            f"{waiting} of the {len(flags)} passages the generator was unsure about "
            f"{'has' if waiting == 1 else 'have'} not been looked at; open each under "
            "“Uncertain passages” and mark it as looked at.",
        )


# ----------------------------------------------------------------------------- permissions


def _check_permissions(draft: Draft, permissions: WritePermissions) -> Iterable[ValidationProblem]:
    if not permissions.allows(NOTE.resource_type):
        yield error(
            "draft",
            ProblemKind.WRITE_NOT_PERMITTED,
            f"{_sentence(permissions.why_not(NOTE.resource_type))}, so the note cannot be "
            "filed; ask IT to give this app permission to write notes.",
        )
    created = {
        p.item.item_id
        for p in plan_writes(draft, permissions.may_update).items
        if p.fate is ItemFate.CREATE
    }
    for item in draft.items:
        if item.item_id not in created:  # corrections the site cannot make are stated in text
            continue
        kind = kind_of(item)
        resource_type = kind.resource_type
        if not permissions.allows(resource_type):
            what = kind.what_fails(item)
            yield error(
                f"item:{item.item_id}",
                ProblemKind.WRITE_NOT_PERMITTED,
                f"{_sentence(permissions.why_not(resource_type))}, so {what}; remove it or ask IT.",
            )


def _sentence(clause: str) -> str:
    return clause[:1].upper() + clause[1:]
