"""The review gate: the decision a clinician records when approving a note for the chart.

:func:`decide` turns a draft that passed validation into a :class:`ReviewDecision`: who approved
(fhirUser), when (UTC), for which patient and encounter, what will be written (resource types),
what deserved a second look (risk flags), where the content came from (generator or clinician,
edited or not), from which app and machine, and the SHA-256 of the approved content. The
decision is what the audit trail records and what the write-back mapping writes as Provenance.

Approved content is immutable: :func:`approved_draft` freezes the draft (``DraftStatus.APPROVED``
makes every edit method raise). Further changes are a follow-up of the approved note — an
amendment that replaces it or an addendum to it (app.domain.followup_drafts) — never a second,
unlinked copy of it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import Enum

from app.domain.clinical import Reference
from app.domain.diff import diff_draft
from app.domain.draft import Draft, DraftSource, DraftStatus, FollowUpKind
from app.domain.errors import DomainError, DraftEditError
from app.domain.fingerprint import draft_content_sha256
from app.domain.followup import ItemFate, plan_writes
from app.domain.offline import ChartBasis
from app.domain.validation import ProblemKind, ValidationReport

APPROVER_TYPES = frozenset({"Practitioner", "PractitionerRole"})


class ApprovalRefused(DomainError):
    """Approval is not possible (the report blocks, the content changed since it was checked,
    or the user may not approve). ``user_message`` says why and what to do.

    Belongs in app.domain.errors (under DomainError); kept here until that module takes it.
    """


class ReviewStatus(Enum):
    APPROVED = "approved"


class RiskKind(Enum):
    IMPORTED_UNCERTAINTY = "imported_uncertainty"
    EDITED_AFTER_IMPORT = "edited_after_import"
    AMENDMENT = "amendment"
    UNUSUAL_VALUES = "unusual_values"
    UNCHECKED_CODES = "unchecked_codes"
    INCONSISTENT_VALUES = "inconsistent_values"
    NARRATIVE_MISMATCH = "narrative_mismatch"  # the text and the recorded values disagree


@dataclass(frozen=True)
class RiskFlag:
    kind: RiskKind
    text: str  # for people; counts and kinds, never note text


@dataclass(frozen=True)
class AppIdentity:
    """From where an approval was made: the app and the machine it ran on."""

    name: str
    version: str
    host: str

    @property
    def label(self) -> str:
        return f"{self.name} {self.version} on {self.host}"


@dataclass(frozen=True)
class ReviewProvenance:
    generated_by: str  # "<generator name> <version>" for imported drafts, else "clinician"
    human_edited: bool  # the clinician changed the text or items relative to the baseline
    source: DraftSource
    import_sha256: str | None = None  # the imported file, when the draft came from one


@dataclass(frozen=True)
class ReviewDecision:
    decision_id: uuid.UUID  # also the write-back's commit id: one approval, one commit
    draft_id: uuid.UUID
    status: ReviewStatus
    approved_by: Reference  # the signed-in user's fhirUser, with their name as display
    approved_at: datetime  # UTC
    patient: Reference
    source_encounter: Reference
    destination_types: tuple[str, ...]  # resource types that will be written, in write order
    risk_flags: tuple[RiskFlag, ...]
    provenance: ReviewProvenance
    app: AppIdentity
    content_sha256: str  # app.domain.fingerprint of the approved content
    amends: Reference | None = None
    acknowledged_warnings: tuple[str, ...] = ()  # the warnings shown when approving
    patient_mrn: str | None = None  # the MRN shown when approving (the outbox lists it)
    chart_basis: ChartBasis | None = None  # the chart approved from: live or kept (offline)


def decide(
    draft: Draft,
    report: ValidationReport,
    user: Reference,
    now: datetime,
    app_identity: AppIdentity,
    *,
    decision_id: uuid.UUID | None = None,
) -> ReviewDecision:
    """Record the clinician's approval of ``draft``. Raises :class:`ApprovalRefused` when the
    report blocks, when the draft is not the content the report checked, when the draft is not
    open, or when ``user`` is not a practitioner."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("the approval time must be timezone-aware (UTC)")
    if not report.can_approve:
        raise ApprovalRefused(report.blocking_reason or "The note cannot be approved yet.")
    if report.content_sha256 != draft_content_sha256(draft):
        raise ApprovalRefused(
            "The note changed after it was checked; review it again before approving."
        )
    if draft.status is not DraftStatus.OPEN:
        raise ApprovalRefused(
            f"This draft is already {draft.status.value}. To change an approved note: Correct "
            "this note, or Add an addendum."
        )
    if user.resource_type not in APPROVER_TYPES:
        raise ApprovalRefused(
            "Only a practitioner can approve notes for the chart; you are signed in as a "
            f"{user.resource_type}. Ask the responsible clinician to approve it."
        )
    human_edited = diff_draft(draft).has_changes
    return ReviewDecision(
        decision_id=decision_id or uuid.uuid4(),
        draft_id=draft.id,
        status=ReviewStatus.APPROVED,
        approved_by=user,
        approved_at=now.astimezone(UTC),
        patient=draft.patient,
        source_encounter=draft.encounter,
        destination_types=report.destinations,
        risk_flags=risk_flags(draft, report, human_edited=human_edited),
        provenance=ReviewProvenance(
            generated_by=_generated_by(draft),
            human_edited=human_edited,
            source=draft.provenance.source,
            import_sha256=draft.provenance.import_sha256,
        ),
        app=app_identity,
        content_sha256=report.content_sha256,
        amends=draft.amends.document if draft.amends else None,
        acknowledged_warnings=tuple(w.message for w in report.warnings),
    )


def risk_flags(
    draft: Draft, report: ValidationReport, *, human_edited: bool
) -> tuple[RiskFlag, ...]:
    """What the approval dialog highlights and the decision records."""
    flags: list[RiskFlag] = []
    prov = draft.provenance
    if prov.source is DraftSource.IMPORTED:
        n = len(prov.uncertainty)
        if n:
            looked = len(prov.looked_at_flags)
            seen = (
                ""
                if not looked
                else (", each looked at" if looked == n else f", {looked} looked at")
            )
            flags.append(
                RiskFlag(
                    RiskKind.IMPORTED_UNCERTAINTY,
                    f"Imported draft with {n} uncertainty flag{'s' if n != 1 else ''}{seen}",
                )
            )
        if human_edited:
            flags.append(RiskFlag(RiskKind.EDITED_AFTER_IMPORT, "Edited after import"))
    if draft.amends is not None:
        flags.append(RiskFlag(RiskKind.AMENDMENT, _follow_up_flag(draft)))
    for kind, risk, words in (
        (
            ProblemKind.VALUE_UNUSUAL,
            RiskKind.UNUSUAL_VALUES,
            "outside the usual range but within plausible limits",
        ),
        (ProblemKind.UNKNOWN_CODE, RiskKind.UNCHECKED_CODES, "with a code the app could not check"),
        (
            ProblemKind.INCONSISTENT_VALUES,
            RiskKind.INCONSISTENT_VALUES,
            "inconsistent with another",
        ),
    ):
        n = len(report.of_kind(kind))
        if n:
            flags.append(RiskFlag(risk, f"{n} value{'s' if n != 1 else ''} {words}"))
    n = len(report.of_kind(ProblemKind.NARRATIVE_MISMATCH))
    if n:
        flags.append(
            RiskFlag(
                RiskKind.NARRATIVE_MISMATCH,
                f"{n} place{'s' if n != 1 else ''} where the note's text and its recorded "
                "values disagree",
            )
        )
    return tuple(flags)


def _follow_up_flag(draft: Draft) -> str:
    """The follow-up risk flag: what it does to the earlier note and to its records (counts,
    never values)."""
    follow_up = draft.amends
    assert follow_up is not None
    where = "still in the outbox" if follow_up.pending_commit is not None else "in the chart"
    if follow_up.kind is FollowUpKind.AMENDMENT:
        text = f"Correction of a note {where}; it will replace that note"
    else:
        text = f"Addendum to a note {where}; that note stays as it is"
    plan = plan_writes(draft)
    fixes = (ItemFate.CORRECT, ItemFate.CORRECT_IN_NOTE)
    changed = sum(1 for p in plan.items if p.fate in fixes)
    retracted = len(follow_up.retract)
    if changed:
        text += f"; {changed} of its records corrected"
    if retracted:
        text += f"; {retracted} marked entered in error"
    return text


def _generated_by(draft: Draft) -> str:
    gen = draft.provenance.generator
    if draft.provenance.source is DraftSource.IMPORTED and gen is not None:
        return f"{gen.name} {gen.version}".strip()
    return "clinician"


def approved_draft(draft: Draft, decision: ReviewDecision | None = None) -> Draft:
    """``draft`` with status APPROVED: its content can no longer be edited. With ``decision``,
    refuses a draft whose content is not the approved content."""
    if decision is not None and (
        decision.draft_id != draft.id or decision.content_sha256 != draft_content_sha256(draft)
    ):
        raise ApprovalRefused(
            "The note changed after it was approved; review and approve it again."
        )
    if draft.status is DraftStatus.APPROVED:
        return draft
    if draft.status is not DraftStatus.OPEN:
        raise DraftEditError(f"A {draft.status.value} draft cannot be approved.")
    return replace(draft, status=DraftStatus.APPROVED)
