"""The workspace: patient banner always on top; chart context beside the note editor
(narrative sections | structured items); the diff under the editor."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from uuid import UUID

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.domain.chart_history import SectionHistory
from app.domain.clinical import EncounterSummary, PatientSummary
from app.domain.clock import utc_now
from app.domain.commit import ApprovedCommit
from app.domain.context import EncounterContext
from app.domain.diff import DraftDiff
from app.domain.draft import Draft, DraftStatus, FollowUpKind
from app.domain.errors import words_for
from app.domain.items import render_item
from app.domain.note_history import NoteThread
from app.services.chart import OpenChart
from app.services.outbox import OutboxService
from app.services.review import ApprovalProposal
from app.ui.agreement_model import AgreementViewModel
from app.ui.agreement_view import AgreementView
from app.ui.approval import ApprovalDialog, ReviewGate
from app.ui.approved_notice import ApprovedNoteWatch
from app.ui.banner import PatientBanner
from app.ui.context_pane import ContextPane
from app.ui.diff_view import DiffView
from app.ui.draft_model import DraftViewModel
from app.ui.editing_time import watch_focus
from app.ui.entry_model import EntryViewModel
from app.ui.inbox_view import InboxNotices
from app.ui.layout_memory import LayoutMemory
from app.ui.note_editor import NoteEditor
from app.ui.outbox_words import Severity, StatusSentence
from app.ui.shortcuts import tooltip
from app.ui.style import error_label, hint_label

log = logging.getLogger(__name__)

ContextLoader = Callable[[], Awaitable[EncounterContext]]
NOTICE_TONES = {
    Severity.DONE: "okText",
    Severity.OK: "okText",
    Severity.BUSY: "warningText",
    Severity.WARNING: "warningText",
    Severity.PROBLEM: "errorText",
}


class WorkspacePage(QWidget):
    sign_out_requested = Signal()
    change_patient_requested = Signal()

    def __init__(
        self,
        drafts: DraftViewModel,
        gate: ReviewGate | None = None,
        parent: QWidget | None = None,
        agreement: AgreementViewModel | None = None,
        entry: EntryViewModel | None = None,
        *,
        memory: LayoutMemory | None = None,
    ) -> None:
        super().__init__(parent)
        self.drafts = drafts
        self.gate = gate
        if agreement is None and gate is not None:
            agreement = AgreementViewModel(drafts, gate, self)
        self.agreement = AgreementView(agreement, self) if agreement is not None else None
        self.entry = entry
        self.context: EncounterContext | None = None
        self.approval_dialog: ApprovalDialog | None = None
        self._outbox: OutboxService | None = None
        self._following: ApprovedNoteWatch | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.banner = PatientBanner(self)
        layout.addWidget(self.banner)

        self._build_bar(layout, drafts)

        self.error_label = error_label("")
        self.error_label.hide()
        layout.addWidget(self.error_label)
        self.grants_label = hint_label("")
        self.grants_label.setObjectName("warningText")
        self.grants_label.hide()
        layout.addWidget(self.grants_label)
        self.inbox_notices = InboxNotices(self)
        layout.addWidget(self.inbox_notices)

        self._build_panes(layout, memory)

        watch_focus(self.editor, drafts.editing)
        self.editor.section_edited.connect(drafts.edit_section)
        self.editor.item_edited.connect(drafts.edit_item)
        self.editor.item_removed.connect(self._remove_item)
        self.editor.unaccepted_changed.connect(drafts.keep_unaccepted)
        self.context_pane.follow_up_requested.connect(
            lambda note, kind: drafts.start("new-draft", drafts.follow_up_note(note, kind))
        )
        drafts.draft_changed.connect(self._show_draft)
        drafts.drafts_listed.connect(self._list_drafts)
        drafts.diff_ready.connect(self._show_diff)
        drafts.saved.connect(self.saved_label.setText)
        drafts.notice.connect(self.editor.show_notice)
        drafts.error.connect(self.show_error)
        if gate is not None:
            drafts.diff_ready.connect(lambda _diff: gate.revalidate(drafts.draft))
            gate.report_changed.connect(self.editor.show_problems)
            gate.approval_state.connect(self._approval_state)
            gate.error.connect(self.show_error)
            gate.queued.connect(self._queued)
            gate.proposal_ready.connect(self._show_approval)
        self._set_enabled(False)

    def _build_bar(self, layout: QVBoxLayout, drafts: DraftViewModel) -> None:
        """The draft's row: choose, start, import, follow up, change patient, sign out, and
        approve — one row, so the note's sections keep the room."""
        bar = QHBoxLayout()
        bar.setContentsMargins(8, 4, 8, 0)
        bar.addWidget(QLabel("Draft:"))
        self.draft_combo = QComboBox(self)
        self.draft_combo.setMinimumWidth(280)
        self.draft_combo.activated.connect(self._draft_chosen)
        bar.addWidget(self.draft_combo)
        self.new_button = QPushButton("New draft")
        self.new_button.clicked.connect(
            lambda: drafts.start("new-draft", self._ready_to_type(drafts.new_draft()))
        )
        self.import_button = QPushButton("Import draft…")
        self.import_button.clicked.connect(self._import)
        self.patient_button = QPushButton("Change patient…")
        self.patient_button.setToolTip(tooltip("change-patient", "Open another patient's chart"))
        self.patient_button.clicked.connect(self.change_patient_requested)
        self.sign_out_button = QPushButton("Sign out")
        self.sign_out_button.clicked.connect(self.sign_out_requested)
        # an approved note is followed up, never copied: the clinician's two choices
        self.follow_up_buttons: dict[FollowUpKind, QPushButton] = {}
        for kind in FollowUpKind:
            button = QPushButton(kind.choice)
            button.clicked.connect(
                lambda _c=False, k=kind: drafts.start(
                    "new-draft", self._ready_to_type(drafts.follow_up_current(k))
                )
            )
            button.hide()
            self.follow_up_buttons[kind] = button
        for b in (self.new_button, self.import_button, *self.follow_up_buttons.values()):
            bar.addWidget(b)
        if self.agreement is not None:  # "Decline draft…" / "Discard draft…"
            bar.addWidget(self.agreement.close_button)
        self.removal_question: QMessageBox | None = None
        bar.addStretch(1)
        self.saved_label = QLabel("")
        bar.addWidget(self.saved_label)
        bar.addWidget(self.patient_button)
        bar.addWidget(self.sign_out_button)
        # one row for the draft's controls and the approval: room for the note's sections
        self.approve_reason = hint_label("")
        self.approve_reason.setWordWrap(False)
        self.approve_button = QPushButton("Review and approve…")
        self.approve_button.setToolTip(tooltip("review", "Review and approve the note"))
        self.approve_button.setEnabled(False)
        self.approve_button.clicked.connect(self._open_approval)
        bar.addWidget(self.approve_button)
        layout.addLayout(bar)
        reason_row = QHBoxLayout()
        reason_row.setContentsMargins(8, 0, 8, 0)
        reason_row.addStretch(1)
        reason_row.addWidget(self.approve_reason)
        self.approve_reason.hide()
        layout.addLayout(reason_row)

    def _build_panes(self, layout: QVBoxLayout, memory: LayoutMemory | None) -> None:
        """Chart | note (sections | items) over its changes; every divider remembered."""
        split = QSplitter(Qt.Orientation.Horizontal, self)
        self.context_pane = ContextPane(split)
        right = QSplitter(Qt.Orientation.Vertical, split)
        self.editor = NoteEditor(right, self.entry)
        if self.agreement is not None:  # mismatches and uncertain passages, under the editor
            right.addWidget(self.agreement.panel)
        self.diff_view = DiffView(right)
        # the note first: the changes below take a quarter and can be dragged away entirely
        # (the agreement panel, where there is one, between them: shown only while it has
        # something to say)
        right.setStretchFactor(0, 3)
        for index in range(1, right.count()):
            right.setStretchFactor(index, 1)
        right.setCollapsible(0, False)
        right.setSizes([540, *([140] * (right.count() - 2)), 180])
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 3)
        split.setSizes([300, 1000])
        layout.addWidget(split, 1)
        self.chart_split, self.note_split = split, right
        if memory is not None:
            memory.remember(split, "workspace/chart")
            memory.remember(right, "workspace/note-changes")
            memory.remember(self.editor.split, "editor/sections-items")
            self.editor.on_sections_built = lambda s: memory.remember(
                s, f"editor/sections-{s.count()}"
            )

    def _set_enabled(self, enabled: bool) -> None:
        for w in (self.draft_combo, self.new_button, self.import_button):
            w.setEnabled(enabled)

    async def load(self, loader: ContextLoader, restored_notice: bool = False) -> None:
        self.context_pane.show_loading()
        self.show_error("")
        try:
            context = await loader()
        except Exception as exc:  # every failure is shown in the pane, never a traceback
            message = words_for(
                exc, "The chart could not be loaded. Check the connection and try again."
            )
            log.warning("context load failed: %s", type(exc).__name__)
            self.banner.clear()  # no patient shown over a chart that did not load
            self.context_pane.show_error(str(message))
            self.show_error(str(message))
            return
        self.context = context
        self.banner.show_context(context.patient, context.encounter)
        self.context_pane.show_context(context)
        self._set_enabled(True)
        if self.entry is not None:
            self.drafts.start("owners", self.entry.open_chart(context))
        await self.drafts.open_context(context, restored_notice=restored_notice)
        self.editor.focus_first_section()  # ready to type: the note comes first

    async def _ready_to_type(self, started: Awaitable[Draft | None]) -> None:
        """A new draft, an addendum or a correction: the cursor goes to its first section (the
        button clicked to start it kept the keyboard)."""
        if await started is not None:
            self.editor.focus_first_section()

    def show_header(self, patient: PatientSummary, encounter: EncounterSummary) -> None:
        """The patient and the encounter are in (checked to belong together): the banner need
        not wait for the rest of the chart."""
        self.banner.show_context(patient, encounter)

    def show_chart(self, chart: OpenChart) -> None:
        """The open chart was (re-)read: show it, check the draft against it."""
        if self.context is None or self.context.encounter.id != chart.context.encounter.id:
            return
        self.context = chart.context
        self.banner.show_freshness(chart.freshness)
        self.context_pane.show_context(chart.context)
        self.drafts.set_context(chart.context)
        if self.gate is not None:
            self.gate.set_chart(chart)
            self.gate.revalidate(self.drafts.draft)

    def show_notes(self, threads: tuple[NoteThread, ...]) -> None:
        if self.context is not None:
            self.context_pane.show_threads(threads)

    def show_history(self, history: SectionHistory) -> None:
        """A section's older items, paged in the background, as far as they are loaded."""
        if self.context is not None:
            self.context_pane.show_history(history)

    def show_grant_warnings(self, lines: list[str]) -> None:
        """What the EHR did not grant and which features that turns off, in plain words."""
        text = "\n".join(f"• {line[0].upper()}{line[1:]}." for line in lines if line)
        self.grants_label.setText(text)
        self.grants_label.setVisible(bool(text))

    def show_error(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.setVisible(bool(text))

    def _approval_state(self, allowed: bool, reason: str) -> None:
        self.approve_button.setEnabled(allowed)
        self.approve_reason.setText(reason)
        self.approve_reason.setVisible(bool(reason))

    def _open_approval(self) -> None:
        self.drafts.start("approve", self.review_and_approve())

    def review_shortcut(self) -> None:
        """Ctrl+Enter: review and approve, or say why not (in words, next to the button)."""
        if not self.isVisible():
            return
        waiting = self.editor.pending_entries()
        if waiting:
            self.show_error("Some entries were not accepted yet:\n" + "\n".join(waiting))
            return
        if self.approve_button.isEnabled():
            self._open_approval()
        elif self.approve_reason.text():
            self.show_error(self.approve_reason.text())

    def change_patient_shortcut(self) -> None:
        if self.isVisible():
            self.change_patient_requested.emit()

    def save_now(self) -> None:
        if self.isVisible():
            self.drafts.start("save-now", self.drafts.flush())

    def add_row(self, kind_key: str) -> None:
        if self.isVisible() and self.drafts.draft is not None and self.drafts.draft.is_editable:
            self.editor.add_row(kind_key)

    async def review_and_approve(self) -> None:
        """Save what was typed, then propose the approval (the dialog opens over it)."""
        waiting = self.editor.pending_entries()
        if waiting:
            self.show_error("Some entries were not accepted yet:\n" + "\n".join(waiting))
            return
        if self.gate is not None and self.drafts.draft is not None and await self.drafts.flush():
            self.gate.propose(self.drafts.draft)

    def _show_approval(self, proposal: ApprovalProposal) -> None:
        gate = self.gate
        assert gate is not None
        dialog = ApprovalDialog(proposal, self)
        dialog.accepted.connect(lambda: self.drafts.start("confirm", gate.confirm(proposal)))
        self.approval_dialog = dialog
        dialog.open()  # never exec(): the event loop keeps running

    def set_outbox(self, outbox: OutboxService | None) -> None:
        """The signed-in site's outbox: the note just approved is followed there."""
        self._outbox = outbox
        self._stop_following()

    def _queued(self, commit: ApprovedCommit) -> None:
        approved = self.drafts.draft  # the draft on screen when the approval was stored
        if approved is not None:
            self.drafts.start("reload", self._show_queued(commit, approved.id))

    async def _show_queued(self, commit: ApprovedCommit, draft_id: UUID) -> None:
        approved_at = utc_now()
        await self.drafts.reload()  # approved now: read-only
        self._stop_following()
        draft = self.drafts.draft
        if self._outbox is None or draft is None or draft.id != draft_id:
            return  # another draft is shown by now (a follow-up was started): its words rule

        def show(notice: StatusSentence) -> None:
            current = self.drafts.draft
            if current is not None and current.id == draft_id:
                self.editor.show_notice(notice.text, NOTICE_TONES[notice.severity])
            elif self._following is not None:
                self._stop_following()  # another draft is shown: its own notices rule

        self._following = ApprovedNoteWatch(
            self._outbox, commit.commit_id, approved_at, show, parent=self
        )

    def _stop_following(self) -> None:
        watch, self._following = self._following, None
        if watch is not None:
            watch.stop()
            watch.deleteLater()

    def _show_draft(self, draft: Draft) -> None:
        placeholders = {}
        template = next((t for t in self.drafts.templates if t.id == draft.template_id), None)
        if template is not None:
            placeholders = {s.key: s.placeholder for s in template.sections}
        self.editor.show_draft(draft, placeholders, self.context)
        for button in self.follow_up_buttons.values():
            button.setVisible(draft.status is DraftStatus.APPROVED)

    def _list_drafts(self, drafts: list[Draft]) -> None:
        self.draft_combo.clear()
        for d in drafts:
            when = d.updated_at.astimezone().strftime("%d %b %H:%M")
            state = "" if d.is_editable else f" [{d.status.value}]"
            self.draft_combo.addItem(
                f"{d.title} — {d.provenance.source.value}, {when}{state}", d.id
            )
        current = self.drafts.draft
        if current is not None:
            index = self.draft_combo.findData(current.id)
            if index >= 0:
                self.draft_combo.setCurrentIndex(index)

    def _draft_chosen(self, index: int) -> None:
        draft_id = self.draft_combo.itemData(index)
        if draft_id is not None:
            self.drafts.start("switch-draft", self.drafts.switch_to(draft_id))

    def _show_diff(self, diff: DraftDiff) -> None:
        self.diff_view.show_diff(diff)

    def _remove_item(self, item_id: str) -> None:
        """Removing a record of the earlier note needs the clinician's choice: mark it entered
        in error in the chart, or only leave it out of this note (the chart keeps it)."""
        draft = self.drafts.draft
        if draft is None or not self.drafts.is_chart_record(item_id):
            self.drafts.remove_item(item_id)
            return
        line = render_item(draft.item(item_id))
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Remove a record of the earlier note",
            f"“{line}” is in the chart as part of the earlier note. Was it entered in error?",
            QMessageBox.StandardButton.Cancel,
            self,
        )
        box.setInformativeText(
            "Mark it as entered in error: the chart keeps it, marked as an error, when this "
            "note is approved. Remove from this note only: the chart keeps it as it is."
        )
        mark = box.addButton("Mark as entered in error", QMessageBox.ButtonRole.DestructiveRole)
        only = box.addButton("Remove from this note only", QMessageBox.ButtonRole.AcceptRole)

        def answered(_button: object) -> None:
            clicked = box.clickedButton()
            if clicked is mark:
                self.drafts.remove_item(item_id, entered_in_error=True)
            elif clicked is only:
                self.drafts.remove_item(item_id)
            else:  # cancelled: the row comes back
                current = self.drafts.draft
                if current is not None:
                    self._show_draft(current)

        box.buttonClicked.connect(answered)
        self.removal_question = box
        box.open()  # never exec(): the event loop keeps running

    def _import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import a draft", "", "Draft files (*.json)")
        if path:
            self.drafts.start("import", self.drafts.import_file(path))
