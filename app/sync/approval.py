"""The review gate's write side: validate, record the decision, build the commit, queue it.

    check(draft)  -> ValidationReport            (pure domain validation, shown next to fields)
    approve(...)  -> (ReviewDecision, commit)    (one SQLite transaction: decision + outbox rows
                                                   + draft marked APPROVED, before "queued")

Everything the server declares (CapabilityStatement, granted scopes) and the site's vendor
profile decide what may be written; nothing here assumes one EHR.
"""

from __future__ import annotations

import logging
import socket
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from app import __version__
from app.domain.capabilities import ServerCapabilities
from app.domain.clinical import Reference
from app.domain.clock import utc_now
from app.domain.commit import ApprovedCommit
from app.domain.consistency import chart_values
from app.domain.context import EncounterContext
from app.domain.draft import Draft, DraftStatus, FollowUpKind
from app.domain.followup import WritePlan, plan_writes
from app.domain.offline import ChartBasis
from app.domain.review import AppIdentity, ReviewDecision, decide
from app.domain.review_codec import decision_to_json
from app.domain.templates import NoteTemplate
from app.domain.validation import ValidationReport, WritePermissions, validate_for_approval
from app.fhir.mapping_out import app_device_reference, build_commit
from app.fhir.permissions import write_permissions
from app.fhir.profiles import VendorProfile

if TYPE_CHECKING:
    from app.store.store import Store

APP_NAME = "fhir-writeback"
log = logging.getLogger(__name__)


def this_app() -> AppIdentity:
    return AppIdentity(name=APP_NAME, version=__version__, host=socket.gethostname())


@dataclass(frozen=True)
class ApprovalContext:
    """Who approves, where, and what the EHR allows — fixed for one open chart."""

    context: EncounterContext
    user: Reference  # the signed-in fhirUser, display = their name
    profile: VendorProfile
    capabilities: ServerCapabilities
    permissions: WritePermissions
    app: AppIdentity

    @classmethod
    def build(
        cls,
        context: EncounterContext,
        user: Reference,
        profile: VendorProfile,
        capabilities: ServerCapabilities,
        granted_scopes: Iterable[str] | None,
        app: AppIdentity | None = None,
        refused: Collection[str] = (),
    ) -> ApprovalContext:
        """``refused``: optional companions this site refused before (not planned again)."""
        return cls(
            context,
            user,
            profile,
            capabilities,
            write_permissions(profile, capabilities, granted_scopes, refused),
            app or this_app(),
        )

    @property
    def can_approve_at_all(self) -> str | None:
        """None when this user may approve; else why not (shown instead of the button)."""
        if self.user.resource_type not in ("Practitioner", "PractitionerRole"):
            return (
                f"You are signed in as a {self.user.resource_type}: you can write drafts, but "
                "only a practitioner can approve notes for the chart."
            )
        if not self.permissions.allows("DocumentReference"):
            return (
                "Notes cannot be filed: "
                + self.permissions.why_not("DocumentReference")
                + ". You can keep drafting; ask IT to grant the app note-writing access."
            )
        return None


def check(
    draft: Draft, actx: ApprovalContext, template: NoteTemplate | None, now: datetime | None = None
) -> ValidationReport:
    amended_patient = amended_encounter = None
    follow_up = draft.amends
    if follow_up is not None:
        note = next((n for n in actx.context.notes.items if n.id == follow_up.document.id), None)
        if note is not None:
            # the context loader keeps only notes whose subject is the open patient
            amended_patient = actx.context.patient.reference
            amended_encounter = note.encounter
        elif follow_up.subject is not None:
            # a note approved in this app (in the outbox, or confirmed since the chart was
            # read): its patient as this app's store recorded it at that approval
            amended_patient = follow_up.subject
    return validate_for_approval(
        draft,
        actx.context.patient.reference,
        actx.context.encounter.reference,
        template=template,
        write_permissions=actx.permissions,
        amended_note_patient=amended_patient,
        amended_note_encounter=amended_encounter,
        now=now or utc_now(),
        chart=chart_values((*actx.context.latest_vitals(), *actx.context.latest_labs())),
    )


@dataclass(frozen=True)
class PreparedApproval:
    """Exactly what confirming will record and write: shown in the approval dialog first."""

    draft: Draft
    report: ValidationReport
    decision: ReviewDecision
    commit: ApprovedCommit
    plan: WritePlan  # what happens to each item, in words: "What will be written", "Changes"

    @property
    def preconditions(self) -> dict[str, str]:
        """An amendment replaces the version of the chart note the clinician saw (checked
        before sending); an addendum leaves it as it is, whatever its version."""
        amends = self.draft.amends
        if (
            amends is not None
            and amends.kind is FollowUpKind.AMENDMENT
            and amends.pending_commit is None
            and amends.version_id
        ):
            return {amends.document.relative: amends.version_id}
        return {}


def prepare(
    draft: Draft,
    report: ValidationReport,
    actx: ApprovalContext,
    now: datetime | None = None,
    basis: ChartBasis | None = None,
) -> PreparedApproval:
    """The decision and the commit, built but not stored. Raises ApprovalRefused (domain) or
    CommitInvalid / FhirUnsupported (mapping) with a message for the clinician. ``basis``: the
    chart approved from (live, or kept while offline), recorded in the decision."""
    decision = decide(draft, report, actx.user, now or utc_now(), actx.app)
    decision = replace(decision, patient_mrn=actx.context.patient.mrn, chart_basis=basis)
    enc = actx.context.encounter
    plan = plan_writes(draft, actx.permissions.may_update)
    commit = build_commit(
        draft,
        decision,
        actx.profile,
        actx.capabilities,
        app_device=app_device_reference(actx.app),
        encounter_period=(enc.period_start, enc.period_end),
        plan=plan,
    )
    return PreparedApproval(draft, report, decision, commit, plan)


def queue(store: Store, prepared: PreparedApproval) -> ApprovedCommit:
    """Record the approval and queue its commit in ONE transaction (decision, outbox rows, draft
    marked APPROVED). Only after this returns may the UI say "queued"."""
    commit = prepared.commit
    kinds = Counter(w.resource_type for w in commit.writes)
    listed = ", ".join(t if n == 1 else f"{t} x{n}" for t, n in sorted(kinds.items()))
    log.debug(
        "commit %s: approved with %d writes (%s)", commit.commit_id, len(commit.writes), listed
    )
    with store.db.write() as conn:
        queued = store.outbox.enqueue_approval(
            prepared.commit,
            decision_to_json(prepared.decision),
            draft_id=prepared.draft.id,
            preconditions=prepared.preconditions,
            conn=conn,
        )
        store.drafts.set_status(prepared.draft.id, DraftStatus.APPROVED, conn=conn)
    return queued


def approve(
    store: Store,
    draft: Draft,
    report: ValidationReport,
    actx: ApprovalContext,
    now: datetime | None = None,
) -> tuple[ReviewDecision, ApprovedCommit]:
    """prepare + queue, for callers that show nothing in between (CLI, self-test, tests)."""
    prepared = prepare(draft, report, actx, now)
    return prepared.decision, queue(store, prepared)
