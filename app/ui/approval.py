"""The review gate in the UI: validation next to the fields, and the approval dialog that shows
exactly what will be written before the clinician confirms.

Nothing reaches the outbox without the dialog's explicit "Approve and queue"; the word "queued"
appears only after the store committed the approval and its outbox rows in one transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from html import escape

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.domain.diff import diff_draft
from app.domain.draft import Draft
from app.domain.errors import DomainError
from app.domain.render import render_plain_text
from app.domain.templates import NoteTemplate
from app.domain.validation import ValidationReport
from app.fhir.errors import FhirError
from app.fhir.write_summary import describe_commit
from app.store.errors import StoreError
from app.store.store import Store
from app.sync.approval import ApprovalContext, PreparedApproval, check, prepare, queue
from app.ui.diff_view import inline_html
from app.ui.messages import message_for
from app.ui.style import error_label, heading_label, hint_label

log = logging.getLogger(__name__)


class ApprovalDialog(QDialog):
    """Shows the rendered note, each resource in plain words, the diff, risk flags and warnings.
    ``accepted`` means the clinician confirmed this exact ``prepared`` approval."""

    def __init__(
        self,
        prepared: PreparedApproval,
        patient_label: str,
        parent: QWidget | None = None,
        *,
        patient_warning: str | None = None,
    ) -> None:
        super().__init__(parent)
        self.prepared = prepared
        decision = prepared.decision
        self.setWindowTitle("Review and approve")
        self.setModal(True)
        self.resize(900, 680)
        layout = QVBoxLayout(self)
        layout.addWidget(heading_label(f"Approve this note for {patient_label}?"))
        if patient_warning:  # hidden characters in the name or MRN
            layout.addWidget(error_label(patient_warning))
        layout.addWidget(
            hint_label(
                f"Approving as {decision.approved_by.display or decision.approved_by.relative} "
                f"({decision.approved_by.relative}) from {decision.app.label}. After approval the note "
                "cannot be edited; it is queued and sent to the chart exactly once."
            )
        )

        tabs = QTabWidget(self)
        note = QPlainTextEdit(render_plain_text(prepared.draft))
        note.setReadOnly(True)
        note.setAccessibleName("The note as it will be filed")
        tabs.addTab(note, "Note")
        writes = QTextBrowser()
        writes.setOpenLinks(False)
        writes.setHtml(self._writes_html())
        tabs.addTab(writes, f"What will be written ({len(prepared.commit.writes)})")
        diff = QTextBrowser()
        diff.setOpenLinks(False)
        diff.setHtml(inline_html(diff_draft(prepared.draft)))
        tabs.addTab(diff, "Changes")
        layout.addWidget(tabs, 1)

        self.acknowledge: QCheckBox | None = None
        notes = [f.text for f in decision.risk_flags] + [
            w.message for w in prepared.report.warnings
        ]
        if notes:
            box = QLabel("\n".join(f"• {n}" for n in notes))
            box.setObjectName("warningText")
            box.setWordWrap(True)
            box.setTextFormat(Qt.TextFormat.PlainText)
            layout.addWidget(box)
            self.acknowledge = QCheckBox("I have reviewed the points above")
            layout.addWidget(self.acknowledge)

        self.buttons = QDialogButtonBox(self)
        self.approve_button = self.buttons.addButton(
            "Approve and queue", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        if self.acknowledge is not None:
            self.approve_button.setEnabled(False)
            self.acknowledge.toggled.connect(self.approve_button.setEnabled)

    def _writes_html(self) -> str:
        rows = [
            f"<li><b>{escape(d.heading)}</b>: {escape(d.text)}</li>"
            for d in describe_commit(self.prepared.commit)
        ]
        return "<ol>" + "".join(rows) + "</ol>"


class ReviewGate(QObject):
    """Validates the draft as it changes, shows why approval is not possible, runs the dialog
    and queues the approved commit."""

    report_changed = Signal(object)  # ValidationReport | None
    approval_state = Signal(bool, str)  # can approve, reason when not
    queued = Signal(object)  # ApprovedCommit, after the transaction committed
    error = Signal(str)

    def __init__(
        self,
        templates: list[NoteTemplate],
        store_for_queue: Callable[[], Store | None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._templates = {t.id: t for t in templates}
        self._store = store_for_queue
        self.actx: ApprovalContext | None = None
        self.report: ValidationReport | None = None
        self.dialog: ApprovalDialog | None = None

    def set_context(self, actx: ApprovalContext | None) -> None:
        self.actx = actx
        self.report = None

    def revalidate(self, draft: Draft | None) -> ValidationReport | None:
        if draft is None or self.actx is None:
            self.report = None
            self.approval_state.emit(False, "Open a chart and a draft first.")
            self.report_changed.emit(None)
            return None
        not_allowed = self.actx.can_approve_at_all
        if not draft.is_editable:
            self.report = None
            self.report_changed.emit(None)
            self.approval_state.emit(
                False, "This draft is already approved; start a new draft to change the note."
            )
            return None
        self.report = check(
            draft, self.actx, self._templates.get(draft.template_id), now=datetime.now(UTC)
        )
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

    def open_dialog(self, draft: Draft, parent: QWidget) -> ApprovalDialog | None:
        report = self.revalidate(draft)
        if report is None or self.actx is None or not report.can_approve:
            return None
        try:
            prepared = prepare(draft, report, self.actx)
        except (DomainError, FhirError) as exc:
            self.error.emit(message_for(exc, "The note cannot be approved."))
            return None
        patient = self.actx.context.patient
        label = patient.shown_name + (f" (MRN {patient.shown_mrn})" if patient.mrn else "")
        dialog = ApprovalDialog(prepared, label, parent, patient_warning=patient.identity_warning)
        dialog.accepted.connect(lambda: self.confirm(dialog.prepared))
        self.dialog = dialog
        dialog.open()  # never exec(): the event loop keeps running
        return dialog

    def confirm(self, prepared: PreparedApproval) -> bool:
        store = self._store()
        if store is None:
            self.error.emit("The local store is not open; the note was not approved.")
            return False
        try:
            commit = queue(store, prepared)
        except StoreError as exc:
            self.error.emit(
                message_for(exc, "The approval could not be saved; nothing was queued.")
            )
            return False
        log.info("commit %s queued (%d writes)", commit.commit_id, len(commit.writes))
        self.queued.emit(commit)
        return True
