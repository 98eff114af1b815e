"""Agreement view-model: keeps the note's text and its recorded values in agreement, records
that the clinician looked at each uncertain passage, and records decisions other than approve.

- After each check of the draft (the review gate's), the mismatches between the narrative, the
  table and the chart are found (``app.domain.consistency``) and emitted for the panel.
- A one-click fix is applied to the draft like any edit (saved, diffed, checked again).
- "I have looked at it" marks an uncertainty flag, with who and when, in the draft.
- Decline (an imported draft) or discard (one's own) goes to the site's DraftService, which
  stores the decision and audits it in one transaction; the draft is then shown read-only.

No widgets here: the workspace (the view) renders and forwards.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal

from app.domain.consistency import Fix, Mismatch, apply_fix, chart_values, check_consistency
from app.domain.draft import CloseReason, Draft, DraftSource
from app.services.errors import ServiceError
from app.ui.approval import ReviewGate
from app.ui.draft_model import DraftViewModel
from app.ui.waiting_words import decision_words

log = logging.getLogger(__name__)


class AgreementViewModel(QObject):
    mismatches_changed = Signal(list)  # list[Mismatch] of the draft shown
    closed = Signal(object)  # Draft, declined or discarded (read-only from now on)

    def __init__(
        self, drafts: DraftViewModel, gate: ReviewGate, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.drafts = drafts
        self.gate = gate
        self.mismatches: list[Mismatch] = []
        gate.report_changed.connect(lambda _report: self.check())

    def check(self) -> list[Mismatch]:
        """The mismatches of the draft shown, against its table and the open chart."""
        draft = self.drafts.draft
        chart = self.gate.chart
        if draft is None or not draft.is_editable:
            found: list[Mismatch] = []
        else:
            context = chart.context if chart is not None else None
            latest = (*context.latest_vitals(), *context.latest_labs()) if context else ()
            found = list(check_consistency(draft, chart_values(latest)))
        self.mismatches = found
        self.mismatches_changed.emit(found)
        return found

    def fix(self, mismatch: Mismatch, fix: Fix) -> None:
        """Apply one of the mismatch's fixes (an error in words if the text changed since)."""
        self.drafts.apply(lambda d: apply_fix(d, mismatch, fix))
        self.drafts.refresh_diff()  # check again at once: the fixed mismatch disappears

    def look_at(self, index: int) -> None:
        service = self.drafts.service
        if service is None:
            return
        who, now = service.user.relative, self.drafts.current_time()
        self.drafts.apply(lambda d: d.with_flag_looked_at(index, who, now))

    @staticmethod
    def declining(draft: Draft) -> bool:
        """Not approving an imported draft is declining it; one's own is discarding it."""
        return draft.provenance.source is DraftSource.IMPORTED

    async def close_draft(self, reason: CloseReason, note: str) -> Draft | None:
        """Decline or discard the draft shown, with the reason: nothing is sent, the draft is
        kept read-only with the decision. Returns the closed draft (None: not done, and the
        error was shown)."""
        draft, service = self.drafts.draft, self.drafts.service
        if draft is None or service is None or not draft.is_editable:
            return None
        if not await self.drafts.flush():  # the decision is about what was typed, saved
            return None
        try:
            closed = await service.close(draft.id, reason, note)
        except ServiceError as exc:
            self.drafts.error.emit(exc.words)
            return None
        await self.drafts.reload()
        if closed.decision is not None:
            self.drafts.notice.emit(
                decision_words(closed.decision) + ". Nothing was sent to the chart."
            )
        self.closed.emit(closed)
        return closed
