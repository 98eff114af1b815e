"""The review gate in the UI: validation next to the fields, and the approval dialog that shows
exactly what will be written before the clinician confirms.

``ReviewGate`` is the view-model (no widgets): it checks the draft through the site's
``ReviewService`` as it changes, and proposes an approval; the workspace (the view) opens
``ApprovalDialog`` over the proposal. Nothing reaches the outbox without the dialog's explicit
"Approve and queue"; the word "queued" appears only after the store committed the approval and
its outbox rows in one transaction.
"""

from __future__ import annotations

import logging
from html import escape

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.domain.draft import Draft
from app.domain.review import RiskKind
from app.domain.templates import NoteTemplate
from app.domain.validation import ProblemKind, ValidationReport
from app.services.chart import OpenChart
from app.services.errors import ServiceError
from app.services.review import ApprovalProposal, ReviewService
from app.ui.diff_view import inline_html
from app.ui.shortcuts import shortcut, tooltip
from app.ui.style import error_label, heading_label, hint_label
from app.ui.waiting_words import decision_words

log = logging.getLogger(__name__)


def _warning(text: str) -> QLabel:
    box = QLabel(text)
    box.setObjectName("warningText")
    box.setWordWrap(True)
    box.setTextFormat(Qt.TextFormat.PlainText)  # note text is never markup
    return box


def _warnings(proposal: ApprovalProposal) -> list[QLabel]:
    """Above the note: hidden characters in the name or MRN; an approval made offline."""
    shown = []
    if proposal.patient_warning:
        shown.append(error_label(proposal.patient_warning))
    if proposal.offline_words:
        offline = hint_label(proposal.offline_words)
        offline.setObjectName("offlineApproval")
        shown.append(offline)
    return shown


class ApprovalDialog(QDialog):
    """Shows the rendered note, each resource in plain words, the diff, risk flags and warnings.
    ``accepted`` means the clinician confirmed this exact ``proposal``."""

    def __init__(self, proposal: ApprovalProposal, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.proposal = proposal
        decision = proposal.decision
        self.setWindowTitle("Review and approve")
        self.setModal(True)
        self.resize(900, 680)
        layout = QVBoxLayout(self)
        layout.addWidget(heading_label(f"Approve this note for {proposal.patient_label}?"))
        for warning in _warnings(proposal):
            layout.addWidget(warning)
        layout.addWidget(
            hint_label(
                f"Approving as {decision.approved_by.display or decision.approved_by.relative} "
                f"from {decision.app.label}. After approval the note "
                "cannot be edited; it is queued and sent to the chart exactly once."
            )
        )

        tabs = QTabWidget(self)
        note = QPlainTextEdit(proposal.note_text)
        note.setReadOnly(True)
        note.setAccessibleName("The note as it will be filed")
        tabs.addTab(note, "Note")
        writes_page = QWidget()
        writes_box = QVBoxLayout(writes_page)
        writes = QTextBrowser()
        writes.setOpenLinks(False)
        writes.setHtml(self._writes_html())
        writes_box.addWidget(writes, 1)
        self.detail_button = QPushButton("Show the FHIR detail (for IT)")
        self.detail_button.setCheckable(True)
        self.detail_button.setAutoDefault(False)
        self.detail_button.setToolTip(
            "The records exactly as the EHR will receive them, for IT and support."
        )
        self.fhir_detail = QPlainTextEdit("\n\n".join(w.detail for w in proposal.writes))
        self.fhir_detail.setObjectName("fhirDetail")  # IT words: allowed FHIR names (tests)
        self.fhir_detail.setReadOnly(True)
        self.fhir_detail.setAccessibleName("FHIR detail for IT")
        self.fhir_detail.hide()
        self.detail_button.toggled.connect(self.fhir_detail.setVisible)
        writes_box.addWidget(self.detail_button, 0, Qt.AlignmentFlag.AlignLeft)
        writes_box.addWidget(self.fhir_detail, 1)
        tabs.addTab(writes_page, f"What will be written ({len(proposal.writes)})")
        diff = QTextBrowser()
        diff.setOpenLinks(False)
        diff.setHtml(inline_html(proposal.changes))  # from the planned writes, not the draft
        tabs.addTab(diff, "Changes")
        self.tabs, self.writes_view, self.changes_view = tabs, writes, diff
        self.writes_page = writes_page  # the tab: the words, and the FHIR detail under them
        layout.addWidget(tabs, 1)

        self.acknowledge: QCheckBox | None = None
        self.mismatch_box: QLabel | None = None
        self._add_points(layout)

        self.buttons = QDialogButtonBox(self)
        self.approve_button = self.buttons.addButton(
            "Approve and queue", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.approve_button.setToolTip(tooltip("approve", "Approve and queue the note"))
        for keys in shortcut("approve").keys:
            QShortcut(QKeySequence(keys), self, self._approve_by_key)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        if self.acknowledge is not None:
            self.approve_button.setEnabled(False)
            self.acknowledge.toggled.connect(self.approve_button.setEnabled)
            self.acknowledge.setFocus()  # Space ticks it, Ctrl+Shift+Enter approves

    def _add_points(self, layout: QVBoxLayout) -> None:
        """What the clinician confirms before approving: the disagreements between the note's
        text and its recorded values first, apart; then the other points; one box to tick."""
        proposal = self.proposal
        disagree = [p.message for p in proposal.report.of_kind(ProblemKind.NARRATIVE_MISMATCH)]
        counted = {
            f.text for f in proposal.decision.risk_flags if f.kind is RiskKind.NARRATIVE_MISMATCH
        }
        notes = [n for n in proposal.notes if n not in disagree and n not in counted]
        if disagree:
            self.mismatch_box = _warning(
                "The note's text and its recorded values disagree (Cancel to fix them in the "
                "editor, or confirm that what is written is right):\n"
                + "\n".join(f"• {m}" for m in disagree)
            )
            layout.addWidget(self.mismatch_box)
        if notes:
            layout.addWidget(_warning("\n".join(f"• {n}" for n in notes)))
        if notes or disagree:
            words = "I have reviewed the points above"
            if disagree:
                others = " and the points above" if notes else " above"
                words = f"I have checked each disagreement{others}"
            self.acknowledge = QCheckBox(words)
            layout.addWidget(self.acknowledge)

    def _approve_by_key(self) -> None:
        """Ctrl+Shift+Enter: the same as the button, and only when the button may be pressed
        (points to acknowledge are ticked first: Tab to the box, Space)."""
        if self.approve_button.isEnabled():
            self.approve_button.click()

    def _writes_html(self) -> str:
        """What happens to the note and to each item, then each record written."""
        happens = "".join(f"<li>{escape(line)}</li>" for line in self.proposal.what_happens)
        rows = [
            f"<li><b>{escape(w.heading)}</b>: {escape(w.text)}</li>" for w in self.proposal.writes
        ]
        return (
            f"<p><b>What happens</b></p><ul>{happens}</ul>"
            f"<p><b>Records written ({len(rows)})</b></p><ol>{''.join(rows)}</ol>"
        )


def _closed_words(draft: Draft) -> str:
    """Why a draft that is not open cannot be approved, in words."""
    if draft.decision is not None:
        return f"{decision_words(draft.decision)}. Nothing was sent; the draft is kept, read-only."
    return (
        "This draft is already approved. To change the note: Correct this note, or Add an addendum."
    )


class ReviewGate(QObject):
    """Validates the draft as it changes, says why approval is not possible, proposes the
    approval (the view shows it) and queues the confirmed one."""

    report_changed = Signal(object)  # ValidationReport | None
    approval_state = Signal(bool, str)  # can approve, reason when not
    proposal_ready = Signal(object)  # ApprovalProposal: the view opens the dialog over it
    queued = Signal(object)  # ApprovedCommit, after the transaction committed
    error = Signal(str)

    def __init__(self, templates: list[NoteTemplate], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._templates = {t.id: t for t in templates}
        self.review: ReviewService | None = None
        self.chart: OpenChart | None = None
        self.report: ValidationReport | None = None

    def set_review(self, review: ReviewService | None) -> None:
        """The signed-in site's review service (None: signed out)."""
        self.review = review
        self.set_chart(None)

    def set_chart(self, chart: OpenChart | None) -> None:
        self.chart = chart
        self.report = None
        if chart is None:  # another chart is loading (or none is open): nothing to approve yet
            self.approval_state.emit(False, "Open a chart and a draft first.")

    def revalidate(self, draft: Draft | None) -> ValidationReport | None:
        if draft is None or self.chart is None or self.review is None:
            self.report = None
            self.approval_state.emit(False, "Open a chart and a draft first.")
            self.report_changed.emit(None)
            return None
        not_allowed = self.review.blocked(self.chart)
        if not draft.is_editable:
            self.report = None
            self.report_changed.emit(None)
            self.approval_state.emit(False, _closed_words(draft))
            return None
        self.report = self.review.check(draft, self.chart, self._templates.get(draft.template_id))
        self.report_changed.emit(self.report)
        if not_allowed:
            self.approval_state.emit(False, not_allowed)
        elif not self.report.can_approve:
            self.approval_state.emit(
                False, self.report.blocking_reason or "Fix the marked problems first."
            )
        else:
            self.approval_state.emit(True, "")
        return self.report

    def propose(self, draft: Draft) -> ApprovalProposal | None:
        """Check once more and build what approving would write; ``proposal_ready`` tells the
        view to show it."""
        report = self.revalidate(draft)
        if report is None or self.chart is None or self.review is None or not report.can_approve:
            return None
        try:
            proposal = self.review.propose(draft, report, self.chart)
        except ServiceError as exc:
            self.error.emit(exc.words)
            return None
        self.proposal_ready.emit(proposal)
        return proposal

    async def confirm(self, proposal: ApprovalProposal) -> bool:
        """The clinician confirmed ``proposal`` in the dialog: record it and queue its commit."""
        if self.review is None:
            self.error.emit("The local store is not open; the note was not approved.")
            return False
        try:
            commit = await self.review.queue(proposal)
        except ServiceError as exc:
            self.error.emit(exc.words)
            return False
        self.queued.emit(commit)
        return True
