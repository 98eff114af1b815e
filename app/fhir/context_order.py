"""A section the app puts in date order itself, where the server's own sort costs too much
(issue 15: the chart at any size, on the peer EHR).

Medplum's in-memory repository (the peer EHR) sorts every match of a search by evaluating the
sort parameter's FHIRPath twice per comparison, with no index; for Observation ``date`` that
is a union over twenty resource types, about 0.7 ms a match, and a ``date`` filter costs
0.3–0.45 ms a candidate: a window of the last 7 days (21 results) still takes 1.2 s when the
patient has 3,750. Reading the same 3,750 unsorted takes 85–220 ms. On such a server
(``app_orders`` in app.fhir.context_queries says which) a section's search reads every match
unsorted (pages of 5,000 by default, up to ``ContextLoadOptions.app_order_cap``: 20,000),
and the app picks the newest itself
(one read per section: the vital signs' answer is read while the server works on the
results; one read of every Observation of the patient was not faster, and reads categories
no section shows). The older ones are held by the client as the pages the sorted search
would answer (``FhirClient.hold``, ``_offset`` URLs of that search): the background paging
(app.fhir.context_older) reads them without a request, and a page no longer held is asked of
the server, which answers the same.

When the server does not give every match in one answer (more than the cap, a page limit of
its own, an answer over the client's size limit), only its sort can say which are the newest:
the sorted search is run as before.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from urllib.parse import urlencode

from app.fhir.client import FhirClient, JsonObject, SearchResult
from app.fhir.context_queries import InAppOrder, Query
from app.fhir.context_sections import newest_first_key
from app.fhir.errors import FhirResponseTooLarge
from app.fhir.mapping_in import observation_effective

log = logging.getLogger(__name__)

# older records held per search (about 3–4 KB each in memory); the pages past them are asked
# of the server when the paging gets there (the site's limit is 2,000 a section by default)
HELD_PER_SEARCH = 5_000


async def read_in_app_order(client: FhirClient, query: Query) -> SearchResult:
    """The section's first view (its newest ``query.limit`` matches, newest first); the older
    matches held as the sorted search's next pages."""
    assert query.in_app is not None
    order = query.in_app
    try:
        everything: SearchResult | None = await client.search(
            query.resource_type, query.params, limit=max(order.read_cap, 1)
        )
    except FhirResponseTooLarge:
        everything = None
    if everything is None or not _whole(everything):
        log.debug("%s: not every match in one answer; the server sorts", query.key)
        return await _sorted_by_server(client, query, order)
    ranked = sorted(
        everything.resources,
        key=lambda raw: newest_first_key(observation_effective(raw)),  # the section's order
        reverse=True,
    )
    first, older = ranked[: query.limit], ranked[query.limit :]
    if not older:
        return replace(everything, resources=tuple(first), truncated=False, next_url=None)
    pages = _held_pages(client, query.resource_type, order, query.limit, older)
    client.hold(pages[: math.ceil(HELD_PER_SEARCH / max(1, order.page_size))])
    return replace(everything, resources=tuple(first), truncated=True, next_url=pages[0][0])


def _whole(result: SearchResult) -> bool:
    """Every match is in: nothing cut, and no more than the server counted."""
    if result.truncated or result.next_url is not None:
        return False
    return result.total is None or result.total <= len(result.resources)


async def _sorted_by_server(client: FhirClient, query: Query, order: InAppOrder) -> SearchResult:
    result = await client.search(query.resource_type, order.sorted_params, limit=query.limit)
    if result.truncated and result.next_url is None:  # its rest has no link: read it again
        url = client.url(f"{query.resource_type}?{urlencode(order.sorted_params)}")
        result = replace(result, next_url=url)
    return result


def _held_pages(
    client: FhirClient, rtype: str, order: InAppOrder, offset: int, older: list[JsonObject]
) -> list[tuple[str, SearchResult]]:
    """The older matches as the sorted search's pages from ``offset`` on, each with its URL
    (``_count`` = the page size, ``_offset``) and the next one's."""
    size = max(1, order.page_size)
    base = [(name, value) for name, value in order.sorted_params if name != "_count"]

    def url(at: int) -> str:
        params = [*base, ("_count", str(size)), ("_offset", str(offset + at))]
        return client.url(f"{rtype}?{urlencode(params)}")

    starts = range(0, len(older), size)
    return [
        (
            url(start),
            SearchResult(
                resources=tuple(older[start : start + size]),
                truncated=start + size < len(older),
                next_url=url(start + size) if start + size < len(older) else None,
            ),
        )
        for start in starts
    ]
