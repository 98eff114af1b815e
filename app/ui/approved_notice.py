"""Follows the note just approved until it is in the chart, so the editor's line about it is
never stale: "Approved and queued…" while it is on its way, "Sent to the chart at…" after,
"not in the chart yet…" when the EHR refused it (app.ui.outbox_words.approved_notice).

The outbox tells its listeners on whichever thread stored a change (the sender's); a signal
carries it onto the GUI thread. The runner's turns (``OutboxService.in_flight``) say whether a
note marked for sending is being sent ("sending…") or waits for its turn ("waiting to send").
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from PySide6.QtCore import QObject, Signal

from app.domain.outbox import OutboxItem, OutboxState
from app.services.errors import ServiceError
from app.services.outbox import OutboxChange, OutboxService
from app.ui.outbox_words import StatusSentence, approved_notice

NoticeSink = Callable[[StatusSentence], None]


class ApprovedNoteWatch(QObject):
    _changed = Signal(object)  # OutboxChange, on the GUI thread
    _turn = Signal()  # the runner's turns changed ("waiting to send" / "sending…")

    def __init__(
        self,
        outbox: OutboxService,
        commit_id: UUID,
        approved_at: datetime,
        show: NoticeSink,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.commit_id = commit_id
        self._approved_at = approved_at
        self._show = show
        self._outbox = outbox
        self._item: OutboxItem | None = None
        self._changed.connect(self._on_change)
        self._turn.connect(self._on_turn)
        changed, turn = self._changed, self._turn

        def listener(change: OutboxChange) -> None:
            if change.commit_id == commit_id:
                with contextlib.suppress(RuntimeError):  # the watch is gone
                    changed.emit(change)

        def turn_listener() -> None:
            with contextlib.suppress(RuntimeError):
                turn.emit()

        self._unsubscribe_store = outbox.subscribe(listener)
        self._unsubscribe_turns = outbox.subscribe_in_flight(turn_listener)
        with contextlib.suppress(ServiceError):  # it may have moved on already
            self._render(outbox.item(commit_id))

    def _on_change(self, change: OutboxChange) -> None:
        self._render(change.item)

    def _on_turn(self) -> None:
        if self._item is None or self._item.state is not OutboxState.SENDING:
            return
        # Read again: a turn ends once the outcome is stored, maybe before its notice arrived
        # here (it comes from the store's thread), and the line must not go back to waiting.
        with contextlib.suppress(ServiceError):
            self._render(self._outbox.item(self.commit_id))

    def _render(self, item: OutboxItem) -> None:
        self._item = item
        self._show(approved_notice(item, self._approved_at, in_flight=self._outbox.in_flight))

    def stop(self) -> None:
        self._unsubscribe_store()
        self._unsubscribe_turns()
