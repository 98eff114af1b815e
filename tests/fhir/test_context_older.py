"""The older items of a large chart, paged after the first view (issue 15), over real HTTP
against the sandbox's ``pat-large`` (500 vital signs, 1,500 results, 200 notes): all of them
in the section's order, at most the limit, and a page that fails ends the paging in words
with what was loaded kept."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from app.domain.chart_history import HistoryState, SectionHistory
from app.domain.context import EncounterContext, SectionKind
from app.fhir.client import FhirClient
from app.fhir.context_loader import load_encounter_context
from app.fhir.context_older import older_items
from tests.fhir.conftest import BearerAuth, access_token
from tests.support.fault_proxy import Fault, FaultProxy, ProxyRequest
from tests.support.servers import RunningServer

EXPECTED = {SectionKind.VITALS: 500, SectionKind.LABS: 1500, SectionKind.NOTES: 200}
FIRST_VIEW = {SectionKind.VITALS: 200, SectionKind.LABS: 200, SectionKind.NOTES: 50}


@pytest.fixture
async def fhir(sandbox_server: RunningServer) -> AsyncIterator[FhirClient]:
    async with httpx.AsyncClient(timeout=30) as http:
        yield FhirClient(http, sandbox_server.fhir_base, BearerAuth(access_token(sandbox_server)))


async def _no_wait() -> None:
    return None


async def _histories(
    fhir: FhirClient, context: EncounterContext, kind: SectionKind, limit: int = 2000
) -> list[SectionHistory]:
    return [h async for h in older_items(fhir, context, kind, limit=limit, turn=_no_wait)]


def _newest_first(items: tuple[object, ...]) -> bool:
    dates = [getattr(i, "effective", None) or getattr(i, "date", None) for i in items]
    stamps = [d or datetime.min.replace(tzinfo=UTC) for d in dates]
    return stamps == sorted(stamps, reverse=True)


async def test_every_older_item_of_a_large_chart_is_paged_in(fhir: FhirClient) -> None:
    context = await load_encounter_context(fhir, "pat-large", "enc-large")
    for kind, first in FIRST_VIEW.items():
        section = context.section(kind)
        assert len(section.items) == first and section.truncated and section.more, kind
        histories = await _histories(fhir, context, kind)
        assert [h.state for h in histories[:-1]] == [HistoryState.LOADING] * (len(histories) - 1)
        final = histories[-1]
        assert final.state is HistoryState.COMPLETE, (kind, final.words)
        assert len(final.items) == EXPECTED[kind] == len({i.id for i in final.items})  # type: ignore[attr-defined]
        assert final.items[:first] == section.items  # the first view stays as it was
        assert _newest_first(final.items), kind
        assert final.words == f"All {EXPECTED[kind]:,} shown"
    assert await _histories(fhir, context, SectionKind.PROBLEMS) == []  # complete already


async def test_paging_stops_at_the_sites_limit_and_says_so(fhir: FhirClient) -> None:
    context = await load_encounter_context(fhir, "pat-large", "enc-large")
    final = (await _histories(fhir, context, SectionKind.LABS, limit=500))[-1]
    assert final.state is HistoryState.AT_LIMIT and len(final.items) == 500
    assert final.words.startswith("Showing the newest 500, the most this site loads")


async def test_a_page_that_fails_keeps_what_was_loaded_with_words(
    sandbox_server: RunningServer,
) -> None:
    pages: list[str] = []

    def plan(request: ProxyRequest) -> Fault:
        older_labs = "laboratory" in request.target and "_offset" in request.target
        if request.method == "GET" and older_labs:
            pages.append(request.target)
            if len(pages) == 2:  # the second older page of results
                return Fault.http(500)
        return Fault.pass_through()

    async with (
        FaultProxy(sandbox_server.fhir_base, plan) as proxy,
        httpx.AsyncClient(timeout=30) as http,
    ):
        fhir = FhirClient(http, proxy.base, BearerAuth(access_token(sandbox_server)))
        context = await load_encounter_context(fhir, "pat-large", "enc-large")
        histories = await _histories(fhir, context, SectionKind.LABS)
    final = histories[-1]
    assert len(pages) == 2, pages
    assert final.state is HistoryState.FAILED
    assert final.items[:200] == context.labs.items and len(final.items) == 400
    assert final.problem and final.words.startswith("Older items could not be loaded: ")
    assert "The newest 400 are shown" in final.words
