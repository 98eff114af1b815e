"""``ReviewService``: the review gate's model side — check a draft against the open chart,
propose exactly what approving will write, and queue an approved commit.

    check(draft, chart)        -> ValidationReport   (pure, fast: runs as the clinician types)
    propose(draft, report, ..) -> ApprovalProposal   (the decision and the commit, not stored,
                                                      with every write in plain words)
    queue(proposal)            -> ApprovedCommit     (ONE transaction on the store thread:
                                                      decision, outbox rows, draft APPROVED)

Nothing reaches the outbox without ``queue``, and the UI calls it only from the approval
dialog's explicit "Approve and queue".
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.domain.clock import Clock, utc_now
from app.domain.commit import ApprovedCommit
from app.domain.diff import DraftDiff
from app.domain.draft import Draft
from app.domain.followup import written_changes, written_text
from app.domain.offline import ChartBasis, offline_approval_words
from app.domain.review import ReviewDecision
from app.domain.templates import NoteTemplate
from app.domain.validation import ValidationReport
from app.fhir.write_summary import describe_commit
from app.services.chart import OpenChart
from app.services.errors import user_errors
from app.sync.approval import PreparedApproval, check, prepare, queue
from app.sync.store_thread import StoreThread

if TYPE_CHECKING:
    from app.store.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WriteLine:
    """One record the commit writes, in words: "Follow-up task: Recheck blood pressure ..."."""

    heading: str
    text: str
    detail: str = ""  # for IT: the FHIR resource type and what is sent (the "FHIR detail" view)


@dataclass(frozen=True)
class ApprovalProposal:
    """What confirming will record and write, shown in the approval dialog first."""

    prepared: PreparedApproval  # opaque to the UI: handed back to ``queue``
    patient_label: str  # "Maria Elena Garcia (MRN MRN-1001)", hidden characters made visible
    writes: tuple[WriteLine, ...]
    patient_warning: str | None = None  # hidden characters in the name or MRN
    offline_words: str = ""  # approved on the chart kept while offline: what that means

    @property
    def what_happens(self) -> tuple[str, ...]:
        """The note and each item in words ("Replaces the note of 16 Nov 09:12 …", "Heart
        rate: 96 /min — not sent: already in the chart", "Corrects Heart rate 96 → 92")."""
        return self.prepared.plan.lines

    @property
    def note_text(self) -> str:
        """The note's text as it is written (with any correction it states)."""
        return written_text(self.prepared.draft, self.prepared.plan)

    @property
    def changes(self) -> DraftDiff:
        """What approving changes in the chart, from the planned writes (the "Changes" tab)."""
        return written_changes(self.prepared.draft, self.prepared.plan)

    @property
    def draft(self) -> Draft:
        return self.prepared.draft

    @property
    def report(self) -> ValidationReport:
        return self.prepared.report

    @property
    def decision(self) -> ReviewDecision:
        return self.prepared.decision

    @property
    def commit(self) -> ApprovedCommit:
        return self.prepared.commit

    @property
    def notes(self) -> list[str]:
        """Risk flags and warnings the clinician must acknowledge before approving."""
        return [f.text for f in self.decision.risk_flags] + [
            w.message for w in self.report.warnings
        ]


def _fhir_detail(technical: str, payload: object) -> str:
    return f"{technical}\n{json.dumps(payload, indent=2, ensure_ascii=False, default=str)}"


class ReviewService:
    def __init__(
        self,
        store: Store,
        worker: StoreThread,
        on_queued: Callable[[], None] = lambda: None,
        clock: Clock = utc_now,
    ) -> None:
        self._store = store
        self._worker = worker
        self._on_queued = on_queued
        self._clock = clock

    @staticmethod
    def blocked(chart: OpenChart) -> str | None:
        """None when this user may approve in this chart at all; else why not, in words."""
        return chart.approval.can_approve_at_all

    def check(
        self, draft: Draft, chart: OpenChart, template: NoteTemplate | None
    ) -> ValidationReport:
        return check(draft, chart.approval, template, now=self._clock())

    def propose(self, draft: Draft, report: ValidationReport, chart: OpenChart) -> ApprovalProposal:
        """The decision and the commit, built but not stored. ServiceError (with the words of
        the refusal) when the note cannot be approved."""
        with user_errors("The note cannot be approved."):
            basis = ChartBasis.of(chart.freshness)
            prepared = prepare(draft, report, chart.approval, now=self._clock(), basis=basis)
            writes = tuple(
                WriteLine(d.heading, d.text, _fhir_detail(d.technical, w.payload()))
                for d, w in zip(
                    describe_commit(prepared.commit), prepared.commit.writes, strict=True
                )
            )
        patient = chart.context.patient
        label = patient.shown_name + (f" (MRN {patient.shown_mrn})" if patient.mrn else "")
        offline = offline_approval_words(basis, draft.amends is not None)
        return ApprovalProposal(prepared, label, writes, patient.identity_warning, offline)

    async def queue(self, proposal: ApprovalProposal) -> ApprovedCommit:
        """Record the approval and queue its commit in one transaction, then wake the sender.
        Only after this returns may the UI say "queued"."""
        with user_errors("The approval could not be saved; nothing was queued."):
            commit = await self._worker.run(queue, self._store, proposal.prepared)
        log.info("commit %s queued (%d writes)", commit.commit_id, len(commit.writes))
        self._on_queued()
        return commit
