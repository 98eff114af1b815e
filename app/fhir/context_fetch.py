"""Running the chart's searches in as few round trips as the server allows.

With ``batch`` declared in the CapabilityStatement the patient and the encounter go in one
small batch Bundle and every section's search in another, both sent at once: the banner can
show when the small one is back, the chart when the other is, one round trip after the
CapabilityStatement (fetched once per client). Each search asks for its section's first view
in one page (the newest ``limit`` items); paging is followed only when the server answers with
smaller pages. Without batch, the searches run concurrently (or one after the other: the
benchmark's naive baseline). A search that fails becomes its section's error words.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from app.domain.capabilities import ServerCapabilities
from app.fhir.client import FhirClient, JsonObject, SearchResult, next_link, outcome_text
from app.fhir.context_order import read_in_app_order
from app.fhir.context_queries import (
    ContextLoadOptions,
    LoadStrategy,
    Query,
    encounter_query,
    plan_queries,
)
from app.fhir.errors import FhirError, FhirTransportError, FhirUnexpectedResponse, http_error
from app.smart.http_log import prefix

log = logging.getLogger(__name__)
T = TypeVar("T")

# seconds the sections the app orders wait for the header's request to be on the wire (a
# connection still to be opened: they then open theirs this much later, not one handshake)
HEADER_HEAD_START = 0.01

# section key -> its results, or the words of why it could not be searched
SectionResults = dict[str, SearchResult | str]
# called with the patient and the encounter search as soon as both are in (before the
# sections); it may raise to stop the load (a wrong patient)
HeaderReady = Callable[[JsonObject, SearchResult], None]


async def fetch_chart(
    client: FhirClient,
    caps: ServerCapabilities,
    patient_id: str,
    encounter_id: str,
    options: ContextLoadOptions,
    header_ready: HeaderReady,
) -> SectionResults:
    """Every section's search results; ``header_ready`` gets the patient and the encounter
    (with its includes) as soon as they are in."""
    queries, refused = plan_queries(caps, patient_id, options)
    use_batch = options.strategy is LoadStrategy.BATCH or (
        options.strategy is LoadStrategy.AUTO and caps.batch
    )
    if use_batch:
        runner = run_batch
    elif options.strategy is LoadStrategy.SEQUENTIAL:
        runner = run_sequential
    else:
        runner = run_concurrent
    started = time.perf_counter()
    header = Header(patient_id, encounter_id, encounter_query(caps, encounter_id), header_ready)
    results = await runner(client, header, queries)
    took = (time.perf_counter() - started) * 1000
    how, skipped = runner.__name__.removeprefix("run_"), ", ".join(refused) or "none"
    log.debug(
        "%s%s: %d searches in %.0f ms (not offered: %s)", prefix(), how, len(queries), took, skipped
    )
    return {**results, **refused}


@dataclass(frozen=True)
class Header:
    """What the banner needs: the patient and the encounter (a search with includes, or None
    for a plain read), and whom to tell when they are in."""

    patient_id: str
    encounter_id: str
    encounter_query: Query | None
    ready: HeaderReady

    @property
    def urls(self) -> list[str]:
        encounter = self.encounter_query
        return [
            f"Patient/{self.patient_id}",
            encounter.relative_url if encounter else f"Encounter/{self.encounter_id}",
        ]

    async def read(self, client: FhirClient) -> tuple[JsonObject, SearchResult]:
        """The patient and the encounter with two requests at once (servers without batch)."""

        async def encounter() -> SearchResult:
            if self.encounter_query is None:
                return SearchResult(resources=(await client.read("Encounter", self.encounter_id),))
            return await client.search("Encounter", self.encounter_query.params, limit=1)

        return await asyncio.gather(client.read("Patient", self.patient_id), encounter())


def _gets(urls: Sequence[str]) -> list[JsonObject]:
    return [{"request": {"method": "GET", "url": u}} for u in urls]


async def _batch_of(client: FhirClient, queries: Sequence[Query]) -> JsonObject:
    if not queries:  # the server offers none of the sections
        return {"resourceType": "Bundle", "type": "batch-response", "entry": []}
    return await client.batch(_gets([q.relative_url for q in queries]))


def _drop(pending: asyncio.Future[Any]) -> None:
    """Cancel what the load no longer waits for (its failure is not the one to report)."""
    if not pending.done():
        pending.cancel()
    elif not pending.cancelled():
        pending.exception()  # retrieved: asyncio logs no "never retrieved" error


async def run_batch(client: FhirClient, header: Header, queries: Sequence[Query]) -> SectionResults:
    """The header's batch and the sections' batch sent together; a section the app orders
    itself is searched on its own beside them (its answer may be large: the client's size
    limit applies to it alone, and a too-large answer falls back to the server's sort)."""
    alone = [q for q in queries if q.in_app is not None]
    queries = [q for q in queries if q.in_app is None]
    # a server the app orders sections for answers one request at a time: the banner's
    # request goes first, the others once it is on the wire (see _after_the_header)
    first = asyncio.Event() if alone else None
    at_most = asyncio.get_running_loop().call_later(HEADER_HEAD_START, first.set) if first else None
    banner = asyncio.ensure_future(client.batch(_gets(header.urls), sent=first))
    searches = asyncio.ensure_future(_after_the_header(first, lambda: _batch_of(client, queries)))
    ordered = asyncio.ensure_future(_after_the_header(first, lambda: _read_all(client, alone)))
    try:
        await _header_of(client, header, await banner)
        response = await searches
        in_order = {q.key: r for q, r in zip(alone, await ordered, strict=True)}
    finally:
        if at_most is not None:
            at_most.cancel()
        for pending in (banner, searches, ordered):
            _drop(pending)
    entries = response.get("entry") or []

    async def complete(query: Query, entry: object) -> SearchResult | str:
        try:
            bundle = entry_resource(entry, f"searching {query.resource_type}")
            if bundle.get("resourceType") != "Bundle":
                return f"The EHR answered the {query.resource_type} search with something else."
            result = await client.collect(bundle, limit=query.limit)
            total = result.total
            if (
                next_link(bundle) is None
                and total is not None
                and len(result.resources) < min(total, query.limit)
            ):
                # Some servers leave paging links out of bundles nested in a batch: run the
                # search again on its own, where they do give links.
                result = await client.search(query.resource_type, query.params, limit=query.limit)
            elif next_link(bundle) is None and result.truncated and result.next_url is None:
                # the first view is whole; its older items start from the search on its own
                # (read again in the background, where the server gives its links)
                result = replace(result, next_url=client.url(query.relative_url))
            return result
        except FhirError as exc:
            return exc.user_message

    done = await asyncio.gather(*(complete(q, e) for q, e in zip(queries, entries, strict=True)))
    return {**{q.key: r for q, r in zip(queries, done, strict=True)}, **in_order}


async def _header_of(client: FhirClient, header: Header, response: JsonObject) -> None:
    """The patient and the encounter from the header's batch-response, to ``header.ready``."""
    entries = response.get("entry") or []
    patient_raw = entry_resource(entries[0], f"reading Patient/{header.patient_id}")
    enc_raw = entry_resource(entries[1], f"reading Encounter/{header.encounter_id}")
    if enc_raw.get("resourceType") == "Bundle":
        enc_result = await client.collect(enc_raw, limit=1)
    else:
        enc_result = SearchResult(resources=(enc_raw,))
    header.ready(patient_raw, enc_result)


async def _after_the_header(sent: asyncio.Event | None, work: Callable[[], Awaitable[T]]) -> T:
    """``work`` once the header's request is on the wire (``sent``, set then or after
    ``HEADER_HEAD_START``; awaited directly, so the work starts in the loop's next step), or
    at once (None). On a server that answers one request at a time (the peer EHR,
    whose sections the app orders itself) a request that reaches it together with the
    banner's may be taken first; the reads of the results keep it busy for 150–300 ms at
    5,000 Observations, and the banner waited for them (253–384 ms against 110–130 ms:
    docs/performance.md, issue 15, fifth pass). Sent after the banner's, they cost no round
    trip: its answer is not waited for."""
    if sent is not None:
        await sent.wait()
    return await work()


async def _read_all(client: FhirClient, queries: Sequence[Query]) -> list[SearchResult | str]:
    return list(await asyncio.gather(*(_read_ordered(client, q) for q in queries)))


async def _read_ordered(client: FhirClient, query: Query) -> SearchResult | str:
    """A section the app orders, read beside the batches: its HTTP refusal becomes the
    section's words, as a search's in the batch does; a transport failure fails the load, as
    the batch's own would (the chart is not shown, nor kept offline, with a section missing
    for a dropped connection)."""
    try:
        return await read_in_app_order(client, query)
    except FhirTransportError:
        raise
    except FhirError as exc:
        return exc.user_message


async def _search(client: FhirClient, query: Query) -> SearchResult | str:
    try:
        if query.in_app is not None:
            return await read_in_app_order(client, query)
        return await client.search(query.resource_type, query.params, limit=query.limit)
    except FhirError as exc:
        return exc.user_message


async def run_concurrent(
    client: FhirClient, header: Header, queries: Sequence[Query]
) -> SectionResults:
    searches = asyncio.gather(*(_search(client, q) for q in queries))
    try:
        header.ready(*await header.read(client))
        found = await searches
    finally:
        _drop(searches)
    return {q.key: r for q, r in zip(queries, found, strict=True)}


async def run_sequential(
    client: FhirClient, header: Header, queries: Sequence[Query]
) -> SectionResults:
    header.ready(*await header.read(client))
    return {query.key: await _search(client, query) for query in queries}


def entry_resource(entry: object, what: str) -> JsonObject:
    """The resource of a batch-response entry; its HTTP error as a FhirHttpError."""
    if not isinstance(entry, dict):
        raise FhirUnexpectedResponse(f"The EHR's batch answer has an unreadable entry ({what}).")
    raw_response = entry.get("response")
    response: dict[str, Any] = raw_response if isinstance(raw_response, dict) else {}
    status_text = str(response.get("status", "200")).strip()
    try:
        status = int(status_text.split()[0])
    except (ValueError, IndexError):
        status = 200 if isinstance(entry.get("resource"), dict) else 500
    resource = entry.get("resource")
    if status >= 400:
        outcome = response.get("outcome") or resource
        raise http_error(status, what, outcome_text(outcome), None)
    if not isinstance(resource, dict):
        raise FhirUnexpectedResponse(f"The EHR's batch answer has no content ({what}).")
    return resource
