"""Draft view-model: the draft being edited, autosave, diff, and the list of drafts.

Edits arrive from the editor widget; each one replaces ``self.draft`` with a new immutable
``Draft``; the first unsaved edit starts the autosave timer (every keystroke is saved within
``AUTOSAVE_DELAY_MS``, well inside the 2 s promise, even while typing never pauses) and each
edit restarts the diff timer. ``flush()`` saves at once (on close, on switching drafts).

Saving and reading go through the site's ``DraftService``, which runs them on the store thread:
the GUI loop never waits for SQLite. Typing goes on while a save is under way; the saved
revision is carried over to what was typed meanwhile, which the next save stores. Errors are
shown, never swallowed.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import QObject, QTimer, Signal

from app.domain.clinical import PriorNote
from app.domain.clock import Clock, utc_now
from app.domain.context import EncounterContext
from app.domain.diff import DraftDiff, diff_draft
from app.domain.draft import Draft, FollowUpKind, StructuredItem, UnacceptedText
from app.domain.errors import DomainError, words_for
from app.domain.followup import note_date_words
from app.domain.narrative_block import sync_blocks
from app.domain.prefill import prefill_draft
from app.domain.templates import NoteTemplate
from app.services.chart import OpenChart
from app.services.drafts import DraftService
from app.services.errors import ServiceError
from app.services.followups import EarlierNote, FollowUpService
from app.ui.editing_time import EditingTime
from app.ui.tasks import TaskTracker
from app.ui.waiting_words import local_time

log = logging.getLogger(__name__)
T = TypeVar("T")

AUTOSAVE_DELAY_MS = 1000
DIFF_DELAY_MS = 250
AUTOSAVE_FAILED = (
    "Your draft could not be saved. Keep the app open and check the disk; the app will try again."
)


def saved_words(draft: Draft) -> str:
    """ "Draft saved 14:02:11" (today) or with the date (another day), in local time."""
    return f"Draft saved {local_time(draft.updated_at)}"


class DraftViewModel(QObject):
    draft_changed = Signal(object)  # Draft (content or status)
    drafts_listed = Signal(list)  # list[Draft] of this encounter
    diff_ready = Signal(object)  # DraftDiff
    saved = Signal(str)  # "Saved 14:02:11"
    notice = Signal(str)  # restore/import notices ("" clears)
    error = Signal(str)  # what happened and what to do

    def __init__(
        self,
        service: DraftService | None,
        templates: list[NoteTemplate],
        clock: Clock = utc_now,
        tasks: TaskTracker | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.service = service
        self.templates = templates
        self._clock = clock
        self.tasks = tasks or TaskTracker()
        self.editing = EditingTime()  # active editing time, for the site's measurements
        self.followups: FollowUpService | None = None
        self._open_chart: Callable[[], OpenChart | None] = lambda: None
        self.context: EncounterContext | None = None
        self.draft: Draft | None = None
        self.dirty = False
        self.save_durations: list[float] = []
        self._saving = asyncio.Lock()
        self._flushes: set[asyncio.Future[bool]] = set()
        self._autosave = QTimer(self)
        self._autosave.setSingleShot(True)
        self._autosave.setInterval(AUTOSAVE_DELAY_MS)
        self._autosave.timeout.connect(self.autosave)
        self._diff_timer = QTimer(self)
        self._diff_timer.setSingleShot(True)
        self._diff_timer.setInterval(DIFF_DELAY_MS)
        self._diff_timer.timeout.connect(self._diff_due)

    def current_time(self) -> datetime:
        return self._clock()

    def start(self, name: str, work: Coroutine[Any, Any, Any]) -> None:
        """A button's trampoline into a tracked task (refused while one of that name runs)."""
        self.tasks.start(name, work)

    async def set_service(self, service: DraftService | None) -> None:
        """The signed-in site's drafts (one store per site); None after signing out."""
        await self.flush()
        self.service = service
        self.context = None
        self.draft = None

    async def refresh_drafts(self) -> None:
        """List the encounter's drafts again (a draft arrived from the watched folder)."""
        await self._list()

    async def reload(self) -> None:
        """Re-read the shown draft (after the review gate changed its status)."""
        if self.draft is not None and self.service is not None:
            shown = self.draft.id
            fresh = await self._call(self.service.find(shown), "The draft could not be read.")
            if fresh is not None:
                await self._list()
                if self.draft is not None and self.draft.id == shown:
                    self._show(fresh)  # not when another draft was opened meanwhile

    def set_followups(
        self, followups: FollowUpService | None, open_chart: Callable[[], OpenChart | None]
    ) -> None:
        """Where follow-ups of earlier notes start from (the site's), and the chart open."""
        self.followups = followups
        self._open_chart = open_chart

    def set_context(self, context: EncounterContext) -> None:
        """The open chart was read again: new drafts and follow-ups start from it (the draft
        shown stays as it is)."""
        if self.context is not None and self.context.encounter.id == context.encounter.id:
            self.context = context

    # ------------------------------------------------------------------ follow-ups
    async def follow_up_note(self, note: PriorNote, kind: FollowUpKind) -> Draft | None:
        """ "Correct this note" / "Add an addendum" on a note of the chart pane."""
        chart = self._open_chart()
        if chart is None or self.followups is None:
            return None
        await self.flush()
        earlier = await self._call(
            self.followups.from_chart(chart, note), "The note could not be opened."
        )
        return await self._start_follow_up(earlier, kind)

    async def follow_up_current(self, kind: FollowUpKind) -> Draft | None:
        """The same two choices for the approved note shown (queued or confirmed): never a
        second, unlinked copy of it."""
        draft = self.draft
        if draft is not None and draft.is_editable and self.service is not None:
            # approved a moment ago, shown before the re-read: the store's status is the truth
            stored = await self._call(self.service.find(draft.id), "The draft could not be read.")
            draft = stored or draft
        if draft is None or draft.is_editable or self.followups is None:
            return None
        earlier = await self._call(
            self.followups.from_draft(draft), "The approved note could not be opened."
        )
        return await self._start_follow_up(earlier, kind)

    async def _start_follow_up(
        self, earlier: EarlierNote | None, kind: FollowUpKind
    ) -> Draft | None:
        if earlier is None or self.followups is None:
            return None
        shown = await self._save_and_show(self.followups.start(earlier, kind))
        if shown is not None:
            self.notice.emit(follow_up_notice(earlier, kind))
        return shown

    # ------------------------------------------------------------------ opening
    async def open_context(self, context: EncounterContext, restored_notice: bool = False) -> None:
        """Show the newest open draft of this encounter, or prefill a new one."""
        await self.flush()
        self.context = context
        drafts = await self._list()
        if drafts:
            listed = drafts[0]
            if not self._newer_than(listed):
                await self.flush()  # typed into another draft meanwhile: saved before it goes
            if self._newer_than(listed) and self.draft is not None:
                # typed into this very draft while its chart was read again (saved since, or
                # to be saved like any edit): what was typed stays, not the copy listed before
                self.draft_changed.emit(self.draft)
            else:
                self._show(listed)
            if restored_notice:
                when = drafts[0].updated_at.astimezone().strftime("%H:%M:%S on %d %b")
                self.notice.emit(
                    f"Your draft was restored (last saved {when}). Nothing you typed "
                    "before that was lost."
                )
        else:
            await self.new_draft()

    def _newer_than(self, listed: Draft) -> bool:
        """Whether the draft shown is ``listed`` with edits the listing does not have."""
        shown = self.draft
        return (
            shown is not None
            and shown.id == listed.id
            and (self.dirty or shown.revision > listed.revision)
        )

    async def _list(self) -> list[Draft]:
        """The encounter's drafts (emitted); the editable ones first choice."""
        if self.context is None or self.service is None:
            return []
        drafts = await self._call(
            self.service.list_for_encounter(self.context.patient.id, self.context.encounter.id),
            "The drafts could not be read.",
        )
        if drafts is None:
            return []
        self.drafts_listed.emit(drafts)
        return [d for d in drafts if d.is_editable] or drafts

    async def new_draft(self, template: NoteTemplate | None = None) -> Draft | None:
        if self.context is None:
            return None
        await self.flush()
        template = template or next((t for t in self.templates if t.default), self.templates[0])
        draft = prefill_draft(self.context, template, now=self._clock())
        return await self._save_and_show(draft)

    async def import_file(self, path: str) -> Draft | None:
        if self.context is None or self.service is None:
            return None
        await self.flush()
        draft = await self._call(
            self.service.import_file(Path(path), self.context, self._clock()),
            "The draft file could not be imported.",
        )
        if draft is None:
            return None
        shown = await self._save_and_show(draft)
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

    async def switch_to(self, draft_id: uuid.UUID) -> None:
        await self.flush()
        if self.service is None:
            return
        draft = await self._call(self.service.find(draft_id), "The draft could not be read.")
        if draft is not None:
            self._show(draft)

    async def _save_and_show(self, draft: Draft) -> Draft | None:
        if self.service is None:
            return None
        saved = await self._call(self.service.save(draft), "The draft could not be saved.")
        if saved is None:
            return None
        await self._list()
        self._show(saved)
        return saved

    async def _call(self, work: Coroutine[Any, Any, T], fallback: str) -> T | None:
        """Await a service call; its failure is shown (None is returned)."""
        try:
            return await work
        except ServiceError as exc:
            self.error.emit(words_for(exc, fallback))
            return None

    def _show(self, draft: Draft) -> None:
        self.editing.showing(draft.id)
        self.draft = draft
        self.dirty = False
        self.notice.emit("")
        self.saved.emit(saved_words(draft))  # this draft's own time, not the last one shown
        self.draft_changed.emit(draft)
        self.refresh_diff()

    def keep_unaccepted(self, texts: tuple[UnacceptedText, ...]) -> None:
        """Texts typed into cells and not accepted are saved with the draft (a restart or a
        crash keeps them; approval waits for them to be corrected or cleared)."""
        draft = self.draft
        if draft is None or not draft.is_editable or set(texts) == set(draft.unaccepted):
            return
        self._edit(lambda d: replace(d, unaccepted=texts))

    # ------------------------------------------------------------------ editing
    def _edit(self, change: Callable[[Draft], Draft]) -> None:
        if self.draft is None or not self.draft.is_editable:
            return
        try:
            self.draft = change(self.draft)
        except DomainError as exc:
            self.error.emit(words_for(exc, "That change could not be made."))
            return
        self.editing.typed()
        self.dirty = True
        # Throttle, not debounce: the first unsaved edit starts the timer and later keystrokes
        # do not push it back, so even non-stop typing is saved at least once a second.
        if not self._autosave.isActive():
            self._autosave.start()
        self._diff_timer.start()

    def edit_section(self, key: str, text: str) -> None:
        self._edit(lambda d: d.with_section_text(key, text))

    def edit_item(self, item: StructuredItem) -> None:
        # the section's app-maintained block follows the table
        self.apply(lambda d: sync_blocks(d.with_item(item)))

    def apply(self, change: Callable[[Draft], Draft]) -> None:
        """A change made for the clinician (a table edit, a one-click fix): applied to the
        draft, saved like typing, and shown (the editor re-renders the sections it changed)."""
        self._edit(change)
        if self.draft is not None:
            self.draft_changed.emit(self.draft)

    def remove_item(self, item_id: str, *, entered_in_error: bool = False) -> None:
        """Take an item out of the note. A record of the earlier note is marked entered in
        error in the chart only with ``entered_in_error`` (the clinician confirmed it);
        otherwise the chart keeps it as it is."""

        def change(d: Draft) -> Draft:
            d = d.without_item(item_id)
            if d.amends is not None and d.amends.chart_item(item_id) is not None:
                d = d.with_retraction(item_id, confirmed=entered_in_error)
            return sync_blocks(d)

        self.apply(change)

    def is_chart_record(self, item_id: str) -> bool:
        """Whether ``item_id`` is a record of the earlier note (removing it needs a choice)."""
        d = self.draft
        return d is not None and d.amends is not None and d.amends.chart_item(item_id) is not None

    # ------------------------------------------------------------------ saving, diffing
    def autosave(self) -> None:
        """The autosave timer (and closing, locking): save in the background."""
        self._autosave.stop()
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # no event loop (the app is gone): nothing can be saved now
            log.warning("autosave without an event loop: the draft stays unsaved")
            return
        self._start_flush()

    async def flush(self) -> bool:
        """Save now if anything changed. True when nothing is left unsaved.

        The save runs to its end even when the caller is cancelled (signing out, closing):
        a save handed to the store thread always lands, and its revision is kept."""
        self._autosave.stop()
        return await asyncio.shield(self._start_flush())

    def _start_flush(self) -> asyncio.Future[bool]:
        flush = asyncio.ensure_future(self._flush())
        self._flushes.add(flush)
        flush.add_done_callback(self._flushes.discard)
        return flush

    async def _flush(self) -> bool:
        async with self._saving:  # one save at a time: revisions follow each other
            await self.editing.report()
            draft = self.draft
            if draft is None or not self.dirty or self.service is None:
                return True
            started = time.perf_counter()
            self.dirty = False  # edits from here on make it dirty again
            try:
                saved = await self.service.save(
                    draft,
                    expected_revision=draft.revision,
                    durable=False,
                    fallback=AUTOSAVE_FAILED,
                )
            except ServiceError as exc:
                self.dirty = True
                self.error.emit(exc.words)
                self._autosave.start()
                return False
            self.save_durations.append(time.perf_counter() - started)
            current = self.draft
            if current is draft:
                self.draft = saved
            elif current is not None and current.id == saved.id:
                # typed while saving: keep the new text, take the stored revision
                self.draft = replace(current, revision=saved.revision, updated_at=saved.updated_at)
            self.saved.emit(saved_words(saved))
            return not self.dirty

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


def follow_up_notice(earlier: EarlierNote, kind: FollowUpKind) -> str:
    """What the clinician is doing, in words, above the editor."""
    when = note_date_words(earlier.reference.note_date)
    queued = (
        " That note is still in the outbox: this one is sent after it."
        if earlier.reference.pending_commit is not None
        else ""
    )
    records = len(earlier.items)
    kept = (
        f" Its {records} structured item{'s are' if records != 1 else ' is'} not sent again: "
        "change one to correct it in the chart."
        if records
        else ""
    )
    if kind is FollowUpKind.AMENDMENT:
        return (
            f"Correcting the note of {when}: it will replace that note; the diff compares your "
            f"text with it.{kept}{queued}"
        )
    return f"Adding an addendum to the note of {when}; that note stays as it is.{kept}{queued}"
