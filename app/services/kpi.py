"""``KpiService``: the site's measurements as the UI uses them — "My week", and the editor's
active editing time. Store work runs on the site's store thread.

Everything else is measured without being asked: the store's KPI recorder listens to the audit
log (app.store.kpi_hooks). A measurement that cannot be stored is logged and dropped: it never
stands in the way of what the clinician is doing.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from app.domain.kpi_report import WEEK_DAYS, WeekReport, week_report
from app.services.errors import user_errors
from app.sync.store_thread import StoreThread

if TYPE_CHECKING:
    from app.store.kpi import KpiRepository

log = logging.getLogger(__name__)


def today() -> date:
    """The workstation's calendar day."""
    return datetime.now().astimezone().date()


class KpiService:
    def __init__(
        self, kpi: KpiRepository, worker: StoreThread, today: Callable[[], date] = today
    ) -> None:
        self._kpi = kpi
        self._worker = worker
        self._today = today

    async def add_editing_time(self, draft_id: uuid.UUID, ms: int) -> None:
        """Add the editor's active time to a note (after an autosave; never raises)."""
        if ms <= 0:
            return
        try:
            await self._worker.run(self._kpi.add_active_time, draft_id, ms, self._today())
        except Exception as exc:  # a measurement must not disturb the clinician
            log.warning("kpi: editing time not stored (%s)", type(exc).__name__)

    async def my_week(self) -> WeekReport:
        """The last seven days up to today, with the edit rates of notes approved since the
        last look measured first."""
        with user_errors("Your week's figures could not be read."):
            return await self._worker.run(self._week, self._today())

    def _week(self, last: date) -> WeekReport:
        self._kpi.measure_pending()
        first = last - timedelta(days=WEEK_DAYS - 1)
        return week_report(self._kpi.notes(first, last), self._kpi.days(first, last), last)
