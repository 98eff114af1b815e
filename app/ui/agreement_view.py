"""The workspace's part for agreement and decisions: the agreement panel under the editor and
the "Decline draft…" / "Discard draft…" button with its dialog, wired to the view-model.
Renders and forwards only."""

from __future__ import annotations

from PySide6.QtWidgets import QPushButton, QWidget

from app.domain.consistency import Mismatch
from app.domain.draft import Draft
from app.ui.agreement_model import AgreementViewModel
from app.ui.agreement_panel import AgreementPanel
from app.ui.close_draft_dialog import CloseDraftDialog


class AgreementView:
    def __init__(self, model: AgreementViewModel, parent: QWidget) -> None:
        self.model = model
        self.parent = parent
        self.panel = AgreementPanel(parent)
        self.close_button = QPushButton("Decline draft…", parent)
        self.close_button.hide()
        self.close_dialog: CloseDraftDialog | None = None
        self._mismatches: list[Mismatch] = []
        model.mismatches_changed.connect(self._mismatches_found)
        model.drafts.draft_changed.connect(self._draft_shown)
        self.panel.fix_requested.connect(model.fix)
        self.panel.flag_looked_at.connect(model.look_at)
        self.close_button.clicked.connect(self.ask_close)

    def _mismatches_found(self, mismatches: list[Mismatch]) -> None:
        self._mismatches = mismatches
        self._render()

    def _draft_shown(self, draft: Draft) -> None:
        if not draft.is_editable:
            self._mismatches = []
        declining = self.model.declining(draft)
        self.close_button.setText("Decline draft…" if declining else "Discard draft…")
        self.close_button.setToolTip(
            "Do not approve this imported draft: record why (nothing is sent)."
            if declining
            else "Give up this draft: record why (nothing is sent; it stays readable)."
        )
        self.close_button.setVisible(draft.is_editable)
        self._render()

    def _render(self) -> None:
        draft = self.model.drafts.draft
        if draft is None:
            self.panel.show_state([], None, {}, editable=False)
            return
        titles = {s.key: s.title for s in draft.sections}
        self.panel.show_state(self._mismatches, draft.provenance, titles, draft.is_editable)

    def ask_close(self) -> None:
        draft = self.model.drafts.draft
        if draft is None or not draft.is_editable:
            return
        dialog = CloseDraftDialog(self.model.declining(draft), self.parent)
        dialog.accepted.connect(lambda: self._confirmed(dialog))
        self.close_dialog = dialog
        dialog.open()  # never exec(): the event loop keeps running

    def _confirmed(self, dialog: CloseDraftDialog) -> None:
        reason = dialog.reason()
        if reason is not None:
            self.model.drafts.start("close-draft", self.model.close_draft(reason, dialog.note()))
