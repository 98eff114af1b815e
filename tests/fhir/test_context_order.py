"""A large chart's first view and older items where the app orders the results itself (issue
15, the peer EHR at any chart size), over real HTTP against both EHRs with ``pat-large``
(500 vital signs, 1,500 results, 200 notes): the newest first, none lost, none twice; which
server gets which search (what it declares), and the fall-backs to the server's sort."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from app.domain.capabilities import ServerCapabilities
from app.domain.chart_history import HistoryState, SectionHistory
from app.domain.context import EncounterContext, SectionKind
from app.fhir import client as client_module
from app.fhir import context_order
from app.fhir.client import FhirClient, SearchResult
from app.fhir.context_loader import ContextLoadOptions, load_encounter_context
from app.fhir.context_older import older_items
from app.fhir.context_queries import ResultOrder, app_orders, plan_queries
from app.fhir.mapping_in import observation_effective
from app.sandbox.large_chart import large_chart
from tests.fhir.conftest import BearerAuth, RequestLog, access_token
from tests.support.servers import RunningServer, require_peer, start_peer

PATIENT, ENCOUNTER = "pat-large", "enc-large"
SECTIONS = {SectionKind.VITALS: "vital-signs", SectionKind.LABS: "laboratory"}


@pytest.fixture(scope="module")
def large_peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A peer EHR of its own holding ``pat-large`` (the session's peer stays small: its
    searches scan every stored resource)."""
    require_peer()
    server = start_peer(tmp_path_factory.mktemp("large-peer"), auto_login="prac-1")
    try:
        entries = large_chart(2000)["entry"]
        headers = {"Authorization": f"Bearer {access_token(server)}"}
        with httpx.Client(timeout=120, headers=headers) as http:
            for start in range(0, len(entries), 1000):
                batch = {"resourceType": "Bundle", "type": "batch"}
                batch["entry"] = entries[start : start + 1000]
                http.post(server.fhir_base, json=batch).raise_for_status()
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sandbox", pytest.param("peer", marks=pytest.mark.peer)])
def large_ehr(request: pytest.FixtureRequest) -> RunningServer:
    name = "sandbox_server" if request.param == "sandbox" else "large_peer"
    server: RunningServer = request.getfixturevalue(name)
    return server


@pytest.fixture
async def fhir(large_ehr: RunningServer, requests_log: RequestLog) -> AsyncIterator[FhirClient]:
    hooks = {"request": [requests_log]}
    async with httpx.AsyncClient(timeout=60, event_hooks=hooks) as http:
        yield FhirClient(http, large_ehr.fhir_base, BearerAuth(access_token(large_ehr)))


def newest_first(category: str) -> list[str]:
    """The chart's Observations of a category, the newest first (from the generated chart)."""
    chart = [e["resource"] for e in large_chart(2000)["entry"]]
    observations = [
        r
        for r in chart
        if r["resourceType"] == "Observation" and r["category"][0]["coding"][0]["code"] == category
    ]
    observations.sort(key=lambda r: observation_effective(r), reverse=True)
    return [r["id"] for r in observations]


async def _now() -> None:
    return None


async def _all_older(fhir: FhirClient, ctx: EncounterContext, kind: SectionKind) -> SectionHistory:
    histories = [h async for h in older_items(fhir, ctx, kind, limit=20_000, turn=_now)]
    return histories[-1]


def _ids(items: tuple[Any, ...]) -> list[str]:
    return [item.id for item in items]


async def test_newest_first_then_every_older_item_once(fhir: FhirClient) -> None:
    ctx = await load_encounter_context(fhir, PATIENT, ENCOUNTER)
    for kind, category in SECTIONS.items():
        expected = newest_first(category)
        section = ctx.section(kind)
        assert _ids(section.items) == expected[:200], kind
        assert section.truncated and section.more, kind  # the pane says older items load
        final = await _all_older(fhir, ctx, kind)
        assert final.state is HistoryState.COMPLETE, (kind, final.words)
        assert _ids(final.items) == expected, kind  # newest first, none lost, none twice


async def test_the_peers_older_items_come_without_asking_it_again(
    fhir: FhirClient, large_ehr: RunningServer, requests_log: RequestLog
) -> None:
    """The peer sorts every match per search (seconds for a large chart, while it answers
    nobody else): there, the results read for the first view are paged from memory."""
    ctx = await load_encounter_context(fhir, PATIENT, ENCOUNTER)
    requests_log.clear()
    final = await _all_older(fhir, ctx, SectionKind.LABS)
    assert final.state is HistoryState.COMPLETE and len(final.items) == 1500
    observation_requests = [u for u in requests_log.urls if "/Observation" in u]
    if large_ehr.name == "peer":
        assert observation_requests == []
    else:  # the sandbox's sort uses an index: it pages as before
        assert observation_requests and all("_sort=-date" in u for u in observation_requests)


async def test_the_order_follows_what_the_server_declares(
    fhir: FhirClient, large_ehr: RunningServer
) -> None:
    caps = await fhir.capabilities()
    queries, _ = plan_queries(caps, PATIENT, ContextLoadOptions())
    by_key = {q.key: q for q in queries}
    for key in ("vitals", "labs"):
        params = dict(by_key[key].params)
        if large_ehr.name == "peer":  # its software: Medplum's MemoryRepository
            assert by_key[key].in_app is not None and "_sort" not in params
            assert params["_count"] == "5000" and params["category"]
            assert ("_sort", "-date") in by_key[key].in_app.sorted_params  # type: ignore[union-attr]
        else:
            assert by_key[key].in_app is None and params["_sort"] == "-date"
    assert by_key["notes"].in_app is None  # notes are few: the server sorts them everywhere


def test_only_software_that_sorts_without_an_index_is_ordered_by_the_app() -> None:
    def caps(software: str | None) -> ServerCapabilities:
        return ServerCapabilities(
            "4.0.1", software, batch=True, transaction=True, search_system=False
        )

    auto = ContextLoadOptions()
    assert app_orders(caps("smart-fhir-harness (@medplum/fhir-router MemoryRepository)"), auto)
    assert not app_orders(caps("FHIR Write-back sandbox EHR"), auto)
    assert not app_orders(caps("Medplum"), auto)  # the real server sorts in PostgreSQL
    assert not app_orders(caps(None), auto)
    assert app_orders(caps(None), replace(auto, observation_order=ResultOrder.APP))
    server = replace(auto, observation_order=ResultOrder.SERVER)
    assert not app_orders(caps("MemoryRepository"), server)


@pytest.mark.peer
async def test_read_in_pages_or_left_to_the_servers_sort_the_chart_is_the_same(
    large_peer: RunningServer,
) -> None:
    """Read in several pages, the first view and the older items are the same; over the cap,
    or an answer too large for the client, only the server's sort can say which are the
    newest: it sorts, and they are still right."""
    log = RequestLog()
    async with httpx.AsyncClient(timeout=60, event_hooks={"request": [log]}) as http:
        auth = BearerAuth(access_token(large_peer))
        for client, options, sorted_by in (
            (
                FhirClient(http, large_peer.fhir_base, auth),
                ContextLoadOptions(app_order_page=200),
                "the app",
            ),
            (
                FhirClient(http, large_peer.fhir_base, auth),
                ContextLoadOptions(app_order_cap=300),
                "the server",
            ),
            (
                FhirClient(http, large_peer.fhir_base, auth, max_response_bytes=600_000),
                None,
                "the server",
            ),
        ):
            log.clear()
            ctx = await load_encounter_context(client, PATIENT, ENCOUNTER, options=options)
            vitals = [u for u in log.urls if "vital-signs" in u]
            assert any("_sort" in u for u in vitals) is (sorted_by == "the server"), vitals
            assert options is None or options.app_order_page != 200 or len(vitals) == 3
            expected = newest_first("vital-signs")
            assert ctx.vitals.error is None and _ids(ctx.vitals.items) == expected[:200]
            final = await _all_older(client, ctx, SectionKind.VITALS)
            assert final.state is HistoryState.COMPLETE and _ids(final.items) == expected
    assert len(vitals) == 2  # too large: the read refused, then the server's sort


class _SendOrder(httpx.AsyncBaseTransport):
    """A real transport that notes when each request of a load starts and when the banner's
    batch has been written."""

    def __init__(self, events: list[str]) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.events = events

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        kind = "banner" if b'"Encounter' in body else "sections" if body else request.url.path
        self.events.append(f"{kind.rsplit('/', 1)[-1]} started")
        if kind == "banner":
            request.stream = _Written(body, lambda: self.events.append("banner written"))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


class _Written(httpx.AsyncByteStream):
    def __init__(self, body: bytes, written: Callable[[], None]) -> None:
        self.body, self.written = body, written

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.body
        self.written()


@pytest.mark.peer
async def test_the_peers_large_reads_go_once_the_banners_request_is_written(
    large_peer: RunningServer,
) -> None:
    """The peer answers one request at a time and takes requests that reach it together in
    no set order: the results' read, taken first, kept it busy for a few hundred ms at 5,000
    Observations and the banner waited (253–384 ms at 100 ms latency, against 110–130 ms).
    Every other request of the load now starts once the banner's is written: with no
    connection open yet, one (as after sign-in), or one for each request."""
    auth = BearerAuth(access_token(large_peer))
    events: list[str] = []
    async with httpx.AsyncClient(timeout=60, transport=_SendOrder(events)) as each:
        statement = await FhirClient(each, large_peer.fhir_base, auth).capability()
        await load_encounter_context(
            FhirClient(each, large_peer.fhir_base, auth), PATIENT, ENCOUNTER
        )
        for pool in ("none", "one", "each", "none", "one", "each"):
            async with contextlib.AsyncExitStack() as stack:
                http = each
                if pool != "each":
                    own = httpx.AsyncClient(timeout=60, transport=_SendOrder(events))
                    http = await stack.enter_async_context(own)
                fhir = FhirClient(http, large_peer.fhir_base, auth)
                if pool == "one":
                    await fhir.capabilities()
                else:
                    fhir.adopt_capability(statement)
                events.clear()
                await load_encounter_context(fhir, PATIENT, ENCOUNTER)
            assert events.count("Observation started") == 2, events
            written = events.index("banner written")
            others = [e for e in events if e.endswith("started") and e != "banner started"]
            assert all(events.index(e) > written for e in others), (pool, events)


@pytest.mark.peer
async def test_waiting_for_the_banners_request_costs_no_round_trip(
    peer_server: RunningServer,
) -> None:
    """The session's peer answers the banner in a few ms on this machine: the requests that
    wait for it to be written must be on their way before its answer is back (a round trip
    is a request sent while none is in flight). A wait through ``asyncio.wait_for`` took
    several steps of the loop to end, and 58 of 150 loads took three round trips."""
    auth = BearerAuth(access_token(peer_server))
    in_flight = [0, 0]  # requests in flight, round trips

    async def sent(request: httpx.Request) -> None:
        in_flight[1] += in_flight[0] == 0
        in_flight[0] += 1

    async def answered(response: httpx.Response) -> None:
        in_flight[0] -= 1

    hooks = {"request": [sent], "response": [answered]}
    for _ in range(30):
        in_flight[:] = [0, 0]
        async with httpx.AsyncClient(timeout=30, event_hooks=hooks) as http:
            fhir = FhirClient(http, peer_server.fhir_base, auth)
            await load_encounter_context(fhir, "pat-1", "enc-1")
        assert in_flight == [0, 2]  # the CapabilityStatement, then everything at once


@pytest.mark.peer
async def test_older_items_past_those_held_are_asked_of_the_server(
    large_peer: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client holds a bounded number of older records per search; the pages after them
    come from the server's sorted search, continuing where the held ones end."""
    monkeypatch.setattr(context_order, "HELD_PER_SEARCH", 500)
    log = RequestLog()
    async with httpx.AsyncClient(timeout=60, event_hooks={"request": [log]}) as http:
        fhir = FhirClient(http, large_peer.fhir_base, BearerAuth(access_token(large_peer)))
        ctx = await load_encounter_context(fhir, PATIENT, ENCOUNTER)
        log.clear()
        final = await _all_older(fhir, ctx, SectionKind.LABS)
    assert final.state is HistoryState.COMPLETE
    assert _ids(final.items) == newest_first("laboratory")
    asked = [u for u in log.urls if "/Observation" in u]
    assert asked and all("_offset=" in u and "_sort=-date" in u for u in asked)
    assert "_offset=700" in asked[0]  # 200 shown, 500 held


async def test_held_pages_are_given_once_and_the_oldest_go_first(
    sandbox_server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_module, "MAX_HELD_RECORDS", 3)
    async with httpx.AsyncClient(timeout=30) as http:
        fhir = FhirClient(http, sandbox_server.fhir_base, BearerAuth(access_token(sandbox_server)))
        url = fhir.url("Observation?subject=Patient/pat-1&_sort=-date&_count=2&_offset={}")
        held = SearchResult(resources=({"resourceType": "Observation", "id": "held"},) * 2)
        fhir.hold([(url.format(0), held), (url.format(2), held)])  # 4 records: the first goes
        assert await fhir.page(url.format(2), what="a page") is held
        again = await fhir.page(url.format(2), what="a page")  # given once: now the server's
        first = await fhir.page(url.format(0), what="a page")
    assert again is not held and first is not held
    assert all(r["id"] != "held" for r in (*again.resources, *first.resources))
