"""What the scribe's watched folder did, shown in the workspace: the latest outcomes (a draft
waiting for review, a file set aside and why, a file left for later), and a folder that cannot
be read. Renders only; the site flow feeds it from the site's DraftInboxService."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

from app.domain.draft_inbox import InboxOutcome, InboxOutcomeKind

SHOWN = 5  # the latest outcomes listed


class InboxNotices(QLabel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("hint")
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.PlainText)  # file names are never markup
        self.setAccessibleName("Drafts from the scribe's folder")
        self.outcomes: list[InboxOutcome] = []
        self.problem: str | None = None
        self.hide()

    def add(self, outcomes: Sequence[InboxOutcome]) -> None:
        self.outcomes = [*outcomes, *self.outcomes][:SHOWN]
        self._render()

    def set_problem(self, problem: str | None) -> None:
        self.problem = problem
        self._render()

    def clear_all(self) -> None:
        self.outcomes, self.problem = [], None
        self._render()

    def _render(self) -> None:
        lines = []
        if self.problem:
            lines.append(f"⚠ {self.problem}")
        for outcome in self.outcomes:
            when = outcome.at.astimezone().strftime("%H:%M")
            mark = {
                InboxOutcomeKind.IMPORTED: "✉",
                InboxOutcomeKind.REJECTED: "✖",
                InboxOutcomeKind.WAITING: "…",
            }[outcome.kind]
            lines.append(f"{mark} {when} Scribe folder: {outcome.words}")
        self.setText("\n".join(lines))
        self.setObjectName("warningText" if self.problem else "hint")
        self.style().unpolish(self)
        self.style().polish(self)
        self.setVisible(bool(lines))
