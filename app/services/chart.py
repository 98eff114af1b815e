"""``ChartService``: reading the chart of the signed-in site — patients, encounters, the open
chart with what the EHR allows writing for it.

Network I/O only (async httpx); returns domain objects. Opening a chart is recorded in the
audit log here, so every way of opening one is audited; re-reading the open chart (after a
note the clinician approved was confirmed) is part of having it open, and is not recorded again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from app.domain.audit import AuditKind
from app.domain.clinical import EncounterSummary, PatientSummary
from app.domain.context import EncounterContext
from app.fhir.context_loader import load_encounter_context
from app.fhir.patient_search import list_encounters, search_patients
from app.fhir.profiles import choose_profile
from app.services.errors import user_errors
from app.services.session import SessionService
from app.sync.approval import ApprovalContext

if TYPE_CHECKING:
    from app.fhir.client import FhirClient

LOAD_FAILED = "The chart could not be loaded. Check the connection and try again."

AuditRecorder = Callable[..., Awaitable[None]]


@dataclass(frozen=True)
class OpenChart:
    """A chart that is open: its content, and (opaque to the UI) who approves there and what
    the EHR allows writing — what the ReviewService needs to check and approve a note."""

    context: EncounterContext
    approval: ApprovalContext


class ChartService:
    def __init__(
        self,
        fhir: FhirClient,
        session: SessionService,
        vendor_profile: str | None,
        record: AuditRecorder,
        refused: Callable[[], Collection[str]] = tuple,
    ) -> None:
        """``refused``: the optional companions the site refused before (read at each open)."""
        self._refused = refused
        self._fhir = fhir
        self._session = session
        self._vendor_profile = vendor_profile
        self._record = record

    async def search_patients(
        self, name: str | None, birthdate: str | None, mrn: str | None
    ) -> list[PatientSummary]:
        with user_errors("The patient search failed. Check the connection and try again."):
            found = await search_patients(self._fhir, name=name, birthdate=birthdate, mrn=mrn)
        return list(found.items)

    async def list_encounters(self, patient_id: str) -> list[EncounterSummary]:
        with user_errors("The encounters could not be listed. Check the connection and try again."):
            found = await list_encounters(self._fhir, patient_id)
        return list(found.items)

    async def open(
        self,
        patient_id: str,
        encounter_id: str,
        on_header: Callable[[PatientSummary, EncounterSummary], None] | None = None,
    ) -> OpenChart:
        """Load the encounter's context and what the EHR allows writing for it; ``on_header``
        gets the patient and the encounter a round trip before the rest (the banner)."""
        with user_errors(LOAD_FAILED):
            context = await load_encounter_context(
                self._fhir, patient_id, encounter_id, on_header=on_header
            )
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
        return OpenChart(context, approval)

    async def reload(self, chart: OpenChart) -> OpenChart:
        """The open chart as the EHR holds it now (the same searches as opening it: the same
        round-trip budget, docs/performance.md); what the EHR allows writing stays as read."""
        patient, encounter = chart.context.patient.id, chart.context.encounter.id
        with user_errors(LOAD_FAILED):
            context = await load_encounter_context(self._fhir, patient, encounter)
        return OpenChart(context, replace(chart.approval, context=context))
