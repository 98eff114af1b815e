"""``ChartService``: reading the chart of the signed-in site — patients, encounters, the open
chart with what the EHR allows writing for it.

Network I/O only (async httpx); returns domain objects. Opening a chart is recorded in the
audit log here, so every way of opening one is audited; re-reading the open chart (after a
note the clinician approved was confirmed) is part of having it open, and is not recorded again.

With ``offline`` (app.services.offline) a chart read from the EHR is kept on this computer, and
when the EHR does not answer the kept one is opened instead, marked as such
(``OpenChart.freshness``: the banner says "chart as of 08:12, offline"); a chart not kept says
so plainly. The clinician's requests hold the prefetch back (``offline.gate``).

``older_items(chart)`` pages the older vital signs, results and notes of an open chart in the
background (after its first view is shown), up to the site's ``chart_history_limit`` per
section: each page waits until no request of the clinician is in flight (the same gate), and
is mapped off the caller's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING

from app.domain.audit import AuditKind
from app.domain.chart_history import DEFAULT_HISTORY_LIMIT, PAGED_SECTIONS, SectionHistory
from app.domain.clinical import EncounterSummary, PatientSummary
from app.domain.clock import utc_now
from app.domain.context import EncounterContext
from app.domain.offline import NOT_KEPT, ChartFreshness, ChartSource
from app.fhir.context_loader import load_encounter_context
from app.fhir.context_older import older_items
from app.fhir.patient_search import list_encounters, search_patients
from app.fhir.profiles import choose_profile
from app.services.errors import ServiceError, user_errors
from app.services.offline import ForegroundGate, OfflineCharts, no_answer
from app.services.session import SessionService
from app.sync.approval import ApprovalContext

if TYPE_CHECKING:
    from app.fhir.client import FhirClient

log = logging.getLogger(__name__)

SEARCH_OFFLINE = (
    "You are working offline: searching needs the EHR. Open a visit marked Kept on the "
    "worklist; searching works again once the EHR can be reached."
)
LOAD_FAILED = "The chart could not be loaded. Check the connection and try again."

AuditRecorder = Callable[..., Awaitable[None]]
PAGE_PAUSE = 0.05  # seconds between two background pages: the GUI and the EHR breathe


@dataclass(frozen=True)
class OpenChart:
    """A chart that is open: its content, and (opaque to the UI) who approves there and what
    the EHR allows writing — what the ReviewService needs to check and approve a note."""

    context: EncounterContext
    approval: ApprovalContext
    freshness: ChartFreshness = field(
        default_factory=lambda: ChartFreshness(ChartSource.LIVE, utc_now())
    )


class ChartService:
    def __init__(
        self,
        fhir: FhirClient,
        session: SessionService,
        vendor_profile: str | None,
        record: AuditRecorder,
        offline: OfflineCharts | None = None,
        refused: Callable[[], Collection[str]] = tuple,
        history_limit: int = DEFAULT_HISTORY_LIMIT,
    ) -> None:
        """``refused``: the optional companions the site refused before (read at each open);
        ``history_limit``: the most items per section paged in the background."""
        self._refused = refused
        self.history_limit = history_limit
        self.page_pause = PAGE_PAUSE
        self.gate = offline.gate if offline is not None else ForegroundGate()  # the clinician first
        self._fhir = fhir
        self._session = session
        self._vendor_profile = vendor_profile
        self._record = record
        self._offline = offline

    def _refuse_while_working_offline(self) -> None:
        if self._offline is not None and self._session.working_offline:
            raise ServiceError(SEARCH_OFFLINE)

    def _foreground(self) -> contextlib.AbstractAsyncContextManager[None]:
        return self.gate.foreground()

    async def search_patients(
        self, name: str | None, birthdate: str | None, mrn: str | None
    ) -> list[PatientSummary]:
        self._refuse_while_working_offline()
        async with self._foreground():
            with user_errors("The patient search failed. Check the connection and try again."):
                found = await search_patients(self._fhir, name=name, birthdate=birthdate, mrn=mrn)
        return list(found.items)

    async def list_encounters(self, patient_id: str) -> list[EncounterSummary]:
        self._refuse_while_working_offline()
        async with self._foreground():
            with user_errors(
                "The encounters could not be listed. Check the connection and try again."
            ):
                found = await list_encounters(self._fhir, patient_id)
        return list(found.items)

    async def open(
        self,
        patient_id: str,
        encounter_id: str,
        on_header: Callable[[PatientSummary, EncounterSummary], None] | None = None,
    ) -> OpenChart:
        """Load the encounter's context and what the EHR allows writing for it; ``on_header``
        gets the patient and the encounter a round trip before the rest (the banner). The kept
        chart when the EHR does not answer (ServiceError NOT_KEPT when there is none)."""
        if self._offline is not None and self._session.working_offline:
            return await self._open_kept(patient_id, encounter_id)  # no session: kept only
        if self._offline is not None and self._offline.known_offline:
            kept = await self._offline.kept(patient_id, encounter_id)
            if kept is not None:  # no connect timeout first: the sender knows it is offline
                return await self._approvable(kept.context, _kept(kept.stamp.fetched_at))
        session = self._offline.session if self._offline is not None else None
        async with self._foreground():
            try:
                with user_errors(LOAD_FAILED):
                    context = await load_encounter_context(
                        self._fhir, patient_id, encounter_id, on_header=on_header
                    )
            except ServiceError as exc:
                if self._offline is None or not no_answer(exc.__cause__ or exc):
                    raise
                return await self._open_kept(patient_id, encounter_id)
            chart = await self._approvable(context, ChartFreshness(ChartSource.LIVE, utc_now()))
        if self._offline is not None:
            try:  # in the session the read began in: not after a sign-out meanwhile
                await self._offline.keep(context, session)
            except ServiceError as exc:  # the chart is open; only the offline copy is missing
                log.warning("the chart could not be kept for offline use: %s", exc.words)
        return chart

    async def _open_kept(self, patient_id: str, encounter_id: str) -> OpenChart:
        assert self._offline is not None
        kept = await self._offline.kept(patient_id, encounter_id)
        if kept is None:
            raise ServiceError(NOT_KEPT)
        return await self._approvable(kept.context, _kept(kept.stamp.fetched_at))

    async def _approvable(self, context: EncounterContext, freshness: ChartFreshness) -> OpenChart:
        patient_id, encounter_id = context.patient.id, context.encounter.id
        with user_errors(LOAD_FAILED):
            await self._record(
                AuditKind.CHART_OPENED, patient_id=patient_id, encounter_id=encounter_id
            )
            statement = await self._fhir.capability()
            profile = choose_profile(self._vendor_profile, statement)
            approval = ApprovalContext.build(
                context,
                self._session.approver,
                profile,
                await self._fhir.capabilities(),
                self._session.granted_scopes,
                refused=self._refused(),
            )
        return OpenChart(context, approval, freshness)

    async def reload(self, chart: OpenChart) -> OpenChart:
        """The open chart as the EHR holds it now (the same searches as opening it: the same
        round-trip budget, docs/performance.md); what the EHR allows writing stays as read."""
        patient, encounter = chart.context.patient.id, chart.context.encounter.id
        session = self._offline.session if self._offline is not None else None
        with user_errors(LOAD_FAILED):
            context = await load_encounter_context(self._fhir, patient, encounter)
        if self._offline is not None:
            with contextlib.suppress(ServiceError):
                await self._offline.keep(context, session)
        fresh = ChartFreshness(ChartSource.LIVE, utc_now())
        return OpenChart(context, replace(chart.approval, context=context), fresh)

    async def older_items(self, chart: OpenChart) -> AsyncIterator[SectionHistory]:
        """The older items of the chart's long sections, section by section, as each page
        comes in (nothing for a kept chart: the EHR is not asked while offline)."""
        if chart.freshness.source is not ChartSource.LIVE:
            return
        first = True

        async def turn() -> None:
            nonlocal first
            if not first:
                await asyncio.sleep(self.page_pause)
            first = False
            await self.gate.idle()  # the clinician's requests first

        for kind in PAGED_SECTIONS:
            async for history in older_items(
                self._fhir, chart.context, kind, limit=self.history_limit, turn=turn
            ):
                yield history


def _kept(fetched_at: datetime) -> ChartFreshness:
    return ChartFreshness(ChartSource.KEPT, fetched_at)
