"""Running the chart's searches in as few round trips as the server allows.

With ``batch`` declared in the CapabilityStatement everything goes in one batch Bundle (plus
the CapabilityStatement itself, fetched once per client): two round trips for a normal chart.
Without it, the searches run concurrently (or one after the other: the benchmark's naive
baseline). Either way paging is followed, bounded per section; a search that fails becomes its
section's error words.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from app.domain.capabilities import ServerCapabilities
from app.fhir.client import FhirClient, JsonObject, SearchResult, next_link, outcome_text
from app.fhir.context_queries import (
    ContextLoadOptions,
    LoadStrategy,
    Query,
    encounter_query,
    plan_queries,
)
from app.fhir.errors import FhirError, FhirUnexpectedResponse, http_error
from app.smart.http_log import prefix

log = logging.getLogger(__name__)

# section key -> its results, or the words of why it could not be searched
SectionResults = dict[str, SearchResult | str]


async def fetch_chart(
    client: FhirClient,
    caps: ServerCapabilities,
    patient_id: str,
    encounter_id: str,
    options: ContextLoadOptions,
) -> tuple[JsonObject, SearchResult, SectionResults]:
    """The patient, the encounter (with its includes) and every section's search results."""
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
    patient_raw, encounter_bundle, results = await runner(
        client, patient_id, encounter_id, encounter_query(caps, encounter_id), queries
    )
    took = (time.perf_counter() - started) * 1000
    how, skipped = runner.__name__.removeprefix("run_"), ", ".join(refused) or "none"
    log.debug(
        "%s%s: %d searches in %.0f ms (not offered: %s)", prefix(), how, len(queries), took, skipped
    )
    return patient_raw, encounter_bundle, {**results, **refused}


RunResult = tuple[JsonObject, SearchResult, dict[str, SearchResult | str]]


async def run_batch(
    client: FhirClient,
    patient_id: str,
    encounter_id: str,
    encounter_query: Query | None,
    queries: Sequence[Query],
) -> RunResult:
    urls = [f"Patient/{patient_id}"]
    urls.append(encounter_query.relative_url if encounter_query else f"Encounter/{encounter_id}")
    urls += [q.relative_url for q in queries]
    response = await client.batch([{"request": {"method": "GET", "url": u}} for u in urls])
    entries = response.get("entry") or []

    patient_raw = entry_resource(entries[0], f"reading Patient/{patient_id}")
    enc_raw = entry_resource(entries[1], f"reading Encounter/{encounter_id}")
    if enc_raw.get("resourceType") == "Bundle":
        enc_result = await client.collect(enc_raw, limit=1)
    else:
        enc_result = SearchResult(resources=(enc_raw,))

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
            return result
        except FhirError as exc:
            return exc.user_message

    done = await asyncio.gather(
        *(complete(q, e) for q, e in zip(queries, entries[2:], strict=True))
    )
    return patient_raw, enc_result, {q.key: r for q, r in zip(queries, done, strict=True)}


async def run_concurrent(
    client: FhirClient,
    patient_id: str,
    encounter_id: str,
    encounter_query: Query | None,
    queries: Sequence[Query],
) -> RunResult:
    async def encounter() -> SearchResult:
        if encounter_query is None:
            return SearchResult(resources=(await client.read("Encounter", encounter_id),))
        return await client.search("Encounter", encounter_query.params, limit=1)

    async def search(query: Query) -> SearchResult | str:
        try:
            return await client.search(query.resource_type, query.params, limit=query.limit)
        except FhirError as exc:
            return exc.user_message

    patient_task = client.read("Patient", patient_id)
    gathered = await asyncio.gather(
        patient_task, encounter(), *(search(q) for q in queries), return_exceptions=True
    )
    for outcome in gathered:
        if isinstance(outcome, BaseException):
            raise outcome
    patient_raw, enc_result, *rest = gathered
    assert isinstance(patient_raw, dict) and isinstance(enc_result, SearchResult)
    results: dict[str, SearchResult | str] = {}
    for q, r in zip(queries, rest, strict=True):
        assert isinstance(r, SearchResult | str)
        results[q.key] = r
    return patient_raw, enc_result, results


async def run_sequential(
    client: FhirClient,
    patient_id: str,
    encounter_id: str,
    encounter_query: Query | None,
    queries: Sequence[Query],
) -> RunResult:
    patient_raw = await client.read("Patient", patient_id)
    if encounter_query is None:
        enc_result = SearchResult(resources=(await client.read("Encounter", encounter_id),))
    else:
        enc_result = await client.search("Encounter", encounter_query.params, limit=1)
    results: dict[str, SearchResult | str] = {}
    for query in queries:
        try:
            results[query.key] = await client.search(
                query.resource_type, query.params, limit=query.limit
            )
        except FhirError as exc:
            results[query.key] = exc.user_message
    return patient_raw, enc_result, results


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
