"""The entry view-model: what the editor's pickers offer and how a typed cell will be read.

It knows the clinician's locale (decimal mark, date order, language), the bundled terminology's
type-ahead, and the task-owner candidates of the open chart (the site's ``OwnerService``: the
encounter's participants, the care team, a directory search by name). Widgets ask it for
matches and for a preview of what a typed text becomes ("Thursday 15 May 2025 (tomorrow)",
"98.6 °F = 37.0 °C"), or the words saying what to type instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import date
from typing import Any

from PySide6.QtCore import QLocale, QObject, QTimer, Signal

from app.domain.context import EncounterContext
from app.domain.due_dates import due_words
from app.domain.entry import DateOrder, DecimalMark, EntryContext, EntryRefused
from app.domain.items import Column, ItemKind, Picker
from app.domain.items.observation import ObservationItem, value_words
from app.domain.owners import OwnerCandidate, candidates_matching, merge_candidates
from app.domain.terminology import terminology
from app.services.dates import DateReader
from app.services.owners import OwnerService
from app.services.terminology import ConceptMatch, TerminologySearch
from app.ui.tasks import TaskTracker

log = logging.getLogger(__name__)
DIRECTORY_DELAY_MS = 300  # a directory search waits for a pause in typing


def locale_entry(locale: QLocale) -> tuple[DecimalMark, DateOrder, tuple[str, ...]]:
    """How ``locale`` writes 37.5 and 3/12, and its language for reading month names."""
    mark = DecimalMark.COMMA if locale.decimalPoint() == "," else DecimalMark.POINT
    pattern = locale.dateFormat(QLocale.FormatType.ShortFormat).lower()
    positions = {part: pattern.find(part) for part in ("d", "m", "y")}
    if positions["y"] == 0:
        order = DateOrder.YEAR_FIRST
    elif 0 <= positions["d"] < positions["m"]:
        order = DateOrder.DAY_FIRST
    else:
        order = DateOrder.MONTH_FIRST
    language = locale.name().split("_")[0] or "en"
    return mark, order, (language,)


class EntryViewModel(QObject):
    owners_changed = Signal()  # the chart's candidates (or the directory's) changed
    offline_changed = Signal(bool)  # owners come from what was kept, not the EHR

    def __init__(
        self,
        search: TerminologySearch,
        tasks: TaskTracker,
        locale: QLocale | None = None,
        today: Callable[[], date] = date.today,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.search = search
        self.tasks = tasks
        self._today = today
        self.decimal_mark, self.date_order, languages = locale_entry(locale or QLocale.system())
        self.read_date = DateReader(languages, self.date_order)
        self.service: OwnerService | None = None
        self.owners: tuple[OwnerCandidate, ...] = ()
        self._found: tuple[OwnerCandidate, ...] = ()
        self._pending_search = ""
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(DIRECTORY_DELAY_MS)
        self._search_timer.timeout.connect(self._search_now)

    # ------------------------------------------------------------------ the chart
    def set_service(self, service: OwnerService | None) -> None:
        self._search_timer.stop()
        self.service = service
        self.owners, self._found = (), ()

    async def open_chart(self, context: EncounterContext) -> None:
        """The owners of this chart: participants and care team (fetched, else kept)."""
        if self.service is None:
            return
        service = self.service
        try:
            owners = await service.for_chart(context)
        except Exception as exc:  # a helper: the picker then offers typed references only
            log.info("owner candidates unavailable: %s", type(exc).__name__)
            return
        if service is not self.service:
            return
        self.owners = owners
        self.offline_changed.emit(service.offline)
        self.owners_changed.emit()

    def context(self) -> EntryContext:
        return EntryContext(
            today=self._today(),
            decimal_mark=self.decimal_mark,
            date_order=self.date_order,
            read_date=self.read_date,
            owners=merge_candidates(self.owners, self._found),
        )

    # ------------------------------------------------------------------ pickers
    def observations(self, text: str) -> list[ConceptMatch]:
        return self.search.search(text)

    def owner_matches(self, text: str, *, search: bool = True) -> list[OwnerCandidate]:
        """Candidates matching ``text`` now; a directory search follows a pause in typing
        (``search`` False: what is known now only, as when the directory has just answered)."""
        everyone = merge_candidates(self.owners, self._found)
        found = candidates_matching(text, everyone) if text.strip() else list(self.owners)
        if search and self.service is not None and len(text.strip()) >= 2:
            self._pending_search = text
            self._search_timer.start()
        return found

    def _search_now(self) -> None:
        text = self._pending_search
        if self.service is None or not text:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # the app is closing: its loop has stopped
            return
        self.tasks.start("owner-search", self._search(self.service, text))

    async def _search(self, service: OwnerService, text: str) -> None:
        """A helper, never an error dialog: without an answer the picker offers what it has."""
        try:
            found = await service.search(text)
        except Exception as exc:  # the client closed, the store closed: nothing to offer
            log.info("directory search failed: %s", type(exc).__name__)
            return
        if service is not self.service:  # signed out (or another site) meanwhile
            return
        self._found = merge_candidates(self._found, found)
        self.offline_changed.emit(service.offline)
        self.owners_changed.emit()

    # ------------------------------------------------------------------ previews
    def preview(
        self, kind: ItemKind[Any], column: Column[Any], row: Any, text: str
    ) -> tuple[str, bool]:
        """What ``text`` in ``column`` will become, in words, and whether it can be accepted."""
        if not text.strip():
            return "", True
        ctx = self.context()
        try:
            after = column.apply(row, text, ctx)
        except EntryRefused as refused:
            return refused.words, False
        return _preview_words(column, after, ctx), True


def _preview_words(column: Column[Any], after: Any, ctx: EntryContext) -> str:
    if column.picker is Picker.DUE_DATE and getattr(after, "due", None) is not None:
        return f"Due {due_words(after.due, ctx.today)} — press Enter to accept"
    if isinstance(after, ObservationItem):
        return _observation_words(after)
    shown = column.get(after)
    return f"{column.header}: {shown} — press Enter to accept" if shown else ""


def _observation_words(item: ObservationItem) -> str:
    concept = item.concept
    if concept is None:
        return f"LOINC {item.loinc_code}" if item.loinc_code else ""
    words = f"{concept.name} ({concept.code})"
    value = value_words(item)
    if value:
        words += f": {value}"
    terms = terminology()
    if item.value is not None and item.unit and item.unit != concept.default_unit:
        try:
            exact = terms.convert(item.value, item.unit, concept.default_unit, concept)
        except ValueError:
            return words
        shown = terms.rounded(exact, concept.decimals)
        words += f" = {format(shown, 'f')} {terms.shown_unit(concept.default_unit, concept)}"
    return words
