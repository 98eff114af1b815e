"""ChartService.older_items over real HTTP (the sandbox's ``pat-large``): the older pages wait
while a request of the clinician is in flight, and a kept chart is never paged."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any, cast

import httpx
import pytest

from app.domain.chart_history import HistoryState, SectionHistory
from app.domain.clinical import Reference
from app.domain.clock import utc_now
from app.domain.context import SectionKind
from app.domain.offline import ChartFreshness, ChartSource
from app.fhir.client import FhirClient
from app.services.chart import ChartService
from app.services.session import SessionService
from tests.fhir.conftest import BearerAuth, access_token
from tests.support.servers import RunningServer


class FakeSession:
    approver = Reference("Practitioner", "prac-1", "Dr. Alice Smith")
    working_offline = False
    granted_scopes = None


@pytest.fixture
async def service(sandbox_server: RunningServer) -> AsyncIterator[ChartService]:
    async def record(*_args: Any, **_details: Any) -> None:
        return None

    async with httpx.AsyncClient(timeout=30) as http:
        fhir = FhirClient(http, sandbox_server.fhir_base, BearerAuth(access_token(sandbox_server)))
        yield ChartService(fhir, cast(SessionService, FakeSession()), None, record)


async def test_older_pages_wait_for_the_clinicians_request(service: ChartService) -> None:
    service.history_limit = 300
    chart = await service.open("pat-large", "enc-large")
    seen: list[SectionHistory] = []
    held = asyncio.Event()

    async def clinician() -> None:
        async with service.gate.foreground():  # a request of the clinician in flight
            held.set()
            await asyncio.sleep(0.5)

    async def page() -> None:
        await held.wait()
        async for history in service.older_items(chart):
            seen.append(history)

    clinician_task = asyncio.ensure_future(clinician())
    paging = asyncio.ensure_future(page())
    await asyncio.sleep(0.3)
    # the first history is the first view itself; no page was read while the request ran
    assert [h.state for h in seen] == [HistoryState.LOADING]
    assert len(seen[0].items) == 200
    await clinician_task
    await asyncio.wait_for(paging, 30)
    finals = {h.kind: h for h in seen if h.done}
    assert {k: len(h.items) for k, h in finals.items()} == {
        SectionKind.VITALS: 300,
        SectionKind.LABS: 300,
        SectionKind.NOTES: 200,
    }
    assert finals[SectionKind.LABS].state is HistoryState.AT_LIMIT
    assert finals[SectionKind.NOTES].state is HistoryState.COMPLETE


async def test_a_kept_chart_is_not_paged(service: ChartService) -> None:
    chart = await service.open("pat-large", "enc-large")
    kept = replace(chart, freshness=ChartFreshness(ChartSource.KEPT, utc_now()))
    assert [h async for h in service.older_items(kept)] == []
