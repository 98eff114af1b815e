"""Draft view-model: the draft being edited, autosave, diff, and the list of drafts.

Edits arrive from the editor widget; each one replaces ``self.draft`` with a new immutable
``Draft``; the first unsaved edit starts the autosave timer (every keystroke is saved within
``AUTOSAVE_DELAY_MS``, well inside the 2 s promise, even while typing never pauses) and each
edit restarts the diff timer. ``flush()`` saves at once (on close,
on switching drafts). The store is SQLite with small writes, fast enough for the GUI thread
(measured in benchmarks/bench_autosave.py); errors are shown, never swallowed.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from app.domain.clinical import PriorNote
from app.domain.context import EncounterContext
from app.domain.diff import DraftDiff, diff_draft
from app.domain.draft import Draft, StructuredItem
from app.domain.draft_import import import_draft
from app.domain.errors import DomainError
from app.domain.prefill import amendment_draft, prefill_draft
from app.domain.review import new_draft_from
from app.domain.templates import NoteTemplate
from app.store.drafts import DraftRepository
from app.store.errors import StoreError
from app.store.files import read_draft_file
from app.ui.messages import message_for

log = logging.getLogger(__name__)

AUTOSAVE_DELAY_MS = 1000
DIFF_DELAY_MS = 250


class DraftViewModel(QObject):
    draft_changed = Signal(object)  # Draft (content or status)
    drafts_listed = Signal(list)  # list[Draft] of this encounter
    diff_ready = Signal(object)  # DraftDiff
    saved = Signal(str)  # "Saved 14:02:11"
    notice = Signal(str)  # restore/import notices ("" clears)
    error = Signal(str)  # what happened and what to do

    def __init__(
        self,
        repo: DraftRepository,
        templates: list[NoteTemplate],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.repo = repo
        self.templates = templates
        self._clock = clock
        self.context: EncounterContext | None = None
        self.draft: Draft | None = None
        self.dirty = False
        self.save_durations: list[float] = []
        self._autosave = QTimer(self)
        self._autosave.setSingleShot(True)
        self._autosave.setInterval(AUTOSAVE_DELAY_MS)
        self._autosave.timeout.connect(self.flush)
        self._diff_timer = QTimer(self)
        self._diff_timer.setSingleShot(True)
        self._diff_timer.setInterval(DIFF_DELAY_MS)
        self._diff_timer.timeout.connect(self._diff_due)

    def set_repository(self, repo: DraftRepository) -> None:
        """The signed-in site's store (one store per site)."""
        self.flush()
        self.repo = repo
        self.context = None
        self.draft = None

    def reload(self) -> None:
        """Re-read the shown draft (after the review gate changed its status)."""
        if self.draft is not None:
            fresh = self.repo.find(self.draft.id)
            if fresh is not None:
                self._list()
                self._show(fresh)

    def new_draft_from_current(self) -> Draft | None:
        """Approved content is immutable: further edits start a new draft from it."""
        if self.draft is None or self.draft.is_editable:
            return None
        return self._save_and_show(new_draft_from(self.draft, self._clock()))

    # ------------------------------------------------------------------ opening
    def open_context(self, context: EncounterContext, restored_notice: bool = False) -> None:
        """Show the newest open draft of this encounter, or prefill a new one."""
        self.flush()
        self.context = context
        drafts = self._list()
        if drafts:
            self._show(drafts[0])
            if restored_notice:
                when = drafts[0].updated_at.astimezone().strftime("%H:%M:%S on %d %b")
                self.notice.emit(
                    f"Your draft was restored (last saved {when}). Nothing you typed "
                    "before that was lost."
                )
        else:
            self.new_draft()

    def _list(self) -> list[Draft]:
        assert self.context is not None
        drafts = self.repo.list_for_encounter(
            self.context.patient.id, self.context.encounter.id, include_closed=True
        )
        self.drafts_listed.emit(drafts)
        return [d for d in drafts if d.is_editable] or drafts

    def new_draft(self, template: NoteTemplate | None = None) -> Draft | None:
        if self.context is None:
            return None
        self.flush()
        template = template or next((t for t in self.templates if t.default), self.templates[0])
        draft = prefill_draft(self.context, template, now=self._clock())
        return self._save_and_show(draft)

    def amend(self, note: PriorNote) -> Draft | None:
        if self.context is None:
            return None
        self.flush()
        if note.plain_text() is None:
            self.error.emit("This note has no text the app can read, so it cannot be amended here.")
            return None
        draft = amendment_draft(self.context, note, now=self._clock())
        shown = self._save_and_show(draft)
        self.notice.emit(
            f"Amending the chart note of {note.date.date().isoformat() if note.date else 'unknown date'}: "
            "the diff compares your text with the chart version."
        )
        return shown

    def import_file(self, path: str) -> Draft | None:
        if self.context is None:
            return None
        self.flush()
        try:
            data = read_draft_file(Path(path))
            draft = import_draft(data, self.context, now=self._clock())
        except (DomainError, StoreError, OSError) as exc:
            self.error.emit(message_for(exc, "The draft file could not be imported."))
            return None
        shown = self._save_and_show(draft)
        gen = draft.provenance.generator
        flags = len(draft.provenance.uncertainty)
        self.notice.emit(
            f"Imported draft from {gen.name} {gen.version}".strip()
            if gen
            else "Imported draft"
            + (
                f" — {flags} passage(s) flagged as uncertain; review them before approving."
                if flags
                else " — review it before approving; importing never approves anything."
            )
        )
        return shown

    def switch_to(self, draft_id: uuid.UUID) -> None:
        self.flush()
        draft = self.repo.find(draft_id)
        if draft is not None:
            self._show(draft)

    def _save_and_show(self, draft: Draft) -> Draft | None:
        try:
            saved = self.repo.save(draft)
        except StoreError as exc:
            self.error.emit(message_for(exc, "The draft could not be saved."))
            return None
        self._list()
        self._show(saved)
        return saved

    def _show(self, draft: Draft) -> None:
        self.draft = draft
        self.dirty = False
        self.notice.emit("")
        self.draft_changed.emit(draft)
        self.refresh_diff()

    # ------------------------------------------------------------------ editing
    def _edit(self, change: Callable[[Draft], Draft]) -> None:
        if self.draft is None or not self.draft.is_editable:
            return
        try:
            self.draft = change(self.draft)
        except DomainError as exc:
            self.error.emit(message_for(exc, "That change could not be made."))
            return
        self.dirty = True
        # Throttle, not debounce: the first unsaved edit starts the timer and later keystrokes
        # do not push it back, so even non-stop typing is saved at least once a second.
        if not self._autosave.isActive():
            self._autosave.start()
        self._diff_timer.start()

    def edit_section(self, key: str, text: str) -> None:
        self._edit(lambda d: d.with_section_text(key, text))

    def edit_item(self, item: StructuredItem) -> None:
        self._edit(lambda d: d.with_item(item))
        if self.draft is not None:
            self.draft_changed.emit(self.draft)

    def remove_item(self, item_id: str) -> None:
        self._edit(lambda d: d.without_item(item_id))
        if self.draft is not None:
            self.draft_changed.emit(self.draft)

    # ------------------------------------------------------------------ saving, diffing
    def flush(self) -> bool:
        """Save now if anything changed. True when nothing is left unsaved."""
        self._autosave.stop()
        if self.draft is None or not self.dirty:
            return True
        started = time.perf_counter()
        try:
            saved = self.repo.save(self.draft, expected_revision=self.draft.revision, durable=False)
        except StoreError as exc:
            self.error.emit(
                message_for(
                    exc,
                    "Your draft could not be saved. Keep the app open and "
                    "check the disk; the app will try again.",
                )
            )
            self._autosave.start()
            return False
        self.save_durations.append(time.perf_counter() - started)
        self.draft = saved  # saving is synchronous: nothing was typed in between
        self.dirty = False
        self.saved.emit(f"Draft saved {saved.updated_at.astimezone().strftime('%H:%M:%S')}")
        return True

    def _diff_due(self) -> None:
        """Diff in a worker thread (pure function; tens of ms on long notes) so typing never
        waits for it; render when it is done, if the draft has not changed since."""
        draft = self.draft
        if draft is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no asyncio loop (plain Qt): diff here
            self.refresh_diff()
            return
        future = loop.run_in_executor(None, diff_draft, draft)

        def done(f: asyncio.Future[DraftDiff]) -> None:
            if f.cancelled() or f.exception() is not None:
                self.refresh_diff()
            elif self.draft is draft:
                self.diff_ready.emit(f.result())

        future.add_done_callback(done)

    def refresh_diff(self) -> DraftDiff | None:
        self._diff_timer.stop()
        if self.draft is None:
            return None
        diff = diff_draft(self.draft)
        self.diff_ready.emit(diff)
        return diff
