"""Reading due dates the app's own rules (``app.domain.due_dates``) leave: month names and
phrases in the clinician's language ("12 March", "12. März", "end of next week"), through
dateparser, in the clinician's date order, preferring dates ahead (a due date is ahead).

``DateReader`` is what ``EntryContext.read_date`` expects. dateparser loads its language data on
the first call (about half a second): ``warm_up`` does that off the GUI thread at start-up.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, time

import dateparser

from app.domain.entry import DateOrder


class DateReader:
    def __init__(
        self, languages: tuple[str, ...] = ("en",), order: DateOrder = DateOrder.MONTH_FIRST
    ) -> None:
        self.languages = list(dict.fromkeys((*languages, "en")))
        self.order = order

    def __call__(self, text: str, today: date) -> date | None:
        settings = {
            "RELATIVE_BASE": datetime.combine(today, time(12, 0)),
            "PREFER_DATES_FROM": "future",
            "DATE_ORDER": self.order.value,
            "RETURN_AS_TIMEZONE_AWARE": False,
        }
        try:
            found = dateparser.parse(text, languages=self.languages, settings=settings)
        except (ValueError, OverflowError):  # dateparser raises on some odd inputs
            return None
        return found.date() if found is not None else None

    async def warm_up(self) -> None:
        try:
            await asyncio.to_thread(self, "tomorrow", date(2000, 1, 1))
        except Exception:
            return
