"""Active editing time, measured in the draft view-model: focus and keystrokes, not wall time.

:class:`EditingTime` keeps an ``ActiveTimeMeter`` (app.domain.kpi) for the draft shown. The
view-model tells it each edit (``typed``) and each change of draft (``showing``); the editor's
focus comes from Qt (``watch_focus``: the application's focus moved into or out of the editor).
What was counted is handed to the site's ``KpiService`` when the view-model saves
(``report``), so measuring costs a keystroke a few microseconds and a save one small write.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QApplication, QWidget

from app.domain.kpi import ActiveTimeMeter
from app.services.kpi import KpiService


class EditingTime:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._meter = ActiveTimeMeter()
        self._draft: uuid.UUID | None = None
        self._unreported: dict[uuid.UUID, int] = {}
        self.service: KpiService | None = None

    def set_service(self, service: KpiService | None) -> None:
        """The signed-in site's measurements (None after signing out)."""
        self.service = service

    def focus(self, focused: bool) -> None:
        self._meter.focus(focused, self._clock())

    def typed(self) -> None:
        self._meter.keystroke(self._clock())

    def showing(self, draft_id: uuid.UUID | None) -> None:
        """Another draft is shown: what was counted belongs to the one shown until now."""
        if draft_id != self._draft:
            self._settle()
            self._draft = draft_id

    async def report(self) -> None:
        """Hand what was counted to the site's measurements."""
        self._settle()
        pending, self._unreported = self._unreported, {}
        if self.service is None:
            return
        for draft_id, ms in pending.items():
            await self.service.add_editing_time(draft_id, ms)

    def _settle(self) -> None:
        ms = self._meter.take(self._clock())
        if ms and self._draft is not None:
            self._unreported[self._draft] = self._unreported.get(self._draft, 0) + ms


class _FocusWatch(QObject):
    """Tells ``editing`` whether the keyboard focus is inside ``editor`` (a child of the editor,
    so Qt disconnects it when the editor goes)."""

    def __init__(self, editor: QWidget, editing: EditingTime) -> None:
        super().__init__(editor)
        self._editor = editor
        self._editing = editing
        app = QApplication.instance()
        if isinstance(app, QApplication):
            app.focusChanged.connect(self.moved)

    def moved(self, _old: QWidget | None, new: QWidget | None) -> None:
        inside = new is not None and (new is self._editor or self._editor.isAncestorOf(new))
        self._editing.focus(inside)


def watch_focus(editor: QWidget, editing: EditingTime) -> QObject:
    return _FocusWatch(editor, editing)
