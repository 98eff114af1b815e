"""The DEBUG trail of HTTP traffic (app.smart.http_log): shapes without ids or query values,
tags that follow the work through asyncio tasks, and real requests on 127.0.0.1 logged with
method, shape, status and time — or their failure — at DEBUG only."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator

import httpx
import pytest

from app.domain.site import Site
from app.fhir.client import FhirClient
from app.fhir.errors import FhirNetworkError
from app.smart.http import create_http_client
from app.smart.http_log import bundle_shape, current_tag, log_tag, tagged, url_shape
from tests.support.servers import RunningServer, free_port

BASE = "https://ehr.example/fhir/r4"


@pytest.mark.parametrize(
    ("url", "shape"),
    [
        (f"{BASE}", "[base]"),
        (f"{BASE}/", "[base]"),
        (f"{BASE}/metadata", "metadata"),
        (f"{BASE}/Patient/Smith", "Patient/*"),
        (f"{BASE}/Patient/pat-123/_history/7", "Patient/*/_history/*"),
        (f"{BASE}/Patient/pat-123/$everything", "Patient/*/$everything"),
        (f"{BASE}/Patient/Smith/Observation", "Patient/*/Observation"),
        (f"{BASE}/Patient/_search", "Patient/_search"),
        (f"{BASE}/Patient?name=Maria%20Garcia&birthdate=1971-05-02", "Patient?name=*&birthdate=*"),
        (f"{BASE}?_getpages=4f1e&_getpagesoffset=20", "[base]?_getpages=*&_getpagesoffset=*"),
        (f"{BASE}/.well-known/smart-configuration", ".well-known/smart-configuration"),
        (
            "https://login.example/realms/clinic/protocol/openid-connect/token",
            "login.example/*/protocol/openid-connect/token",
        ),
        ("https://login.example/oauth2/v1/token", "login.example/oauth2/*/token"),
        ("https://ehr.example/fhir/r4x/Patient/1", "ehr.example/*"),  # not under the base
        ("https://other.example/fhir/r4/Patient/1", "other.example/*"),
    ],
)
def test_a_url_is_logged_by_its_shape_only(url: str, shape: str) -> None:
    assert url_shape(url, BASE) == shape


def test_a_bundle_is_logged_by_the_method_and_type_of_its_entries() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"request": {"method": "POST", "url": "Observation"}, "resource": {"name": "Maria"}},
            {"request": {"method": "POST", "url": "Observation?identifier=x|1"}},
            {"request": {"method": "PUT", "url": "Composition/comp-9"}},
            {"request": {"method": "GET", "url": "patient-9"}},
        ],
    }
    request = httpx.Request(
        "POST", BASE, content=json.dumps(bundle), headers={"Content-Type": "application/fhir+json"}
    )
    shape = bundle_shape(request)
    assert shape == "transaction: POST Observation x2, PUT Composition, GET *"
    form = httpx.Request("POST", f"{BASE}/token", data={"resourceType": "Bundle"})
    assert bundle_shape(form) is None  # a form (the token endpoint's) is never read


async def test_tags_nest_and_follow_the_work_into_tasks() -> None:
    seen: list[str] = []

    @tagged(lambda n: f"commit {n}")
    async def work(n: int) -> None:
        await asyncio.sleep(0)
        with log_tag("token refresh"):
            seen.append(current_tag())

    await asyncio.gather(work(1), work(2))
    assert sorted(seen) == ["commit 1 / token refresh", "commit 2 / token refresh"]
    assert current_tag() == ""


@pytest.fixture
def debug_records() -> Iterator[list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("app.smart.http_log")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield records
    logger.removeHandler(handler)
    logger.setLevel(level)


def site_of(base: str) -> Site:
    return Site(id="t", display_name="T", fhir_base=base, client_id="c")


async def test_real_requests_are_logged_with_status_and_time(
    sandbox_server: RunningServer, debug_records: list[logging.LogRecord]
) -> None:
    async with create_http_client(site_of(sandbox_server.fhir_base)) as http:
        fhir = FhirClient(http, sandbox_server.fhir_base)
        with log_tag("probe"):
            await fhir.capability()
            search = fhir.search("Patient", [("name", "Zzyzx-not-a-name")])
            with pytest.raises(Exception):  # noqa: B017 - no token: refused, whichever way
                await search
    lines = [r.getMessage() for r in debug_records]
    assert lines[0].startswith("[probe] GET metadata -> 200 in ") and lines[0].endswith(" ms")
    assert lines[1].startswith("[probe] GET Patient?name=* -> 4"), lines
    assert all("Zzyzx" not in line for line in lines)


async def test_a_request_without_answer_is_logged_as_failed(
    debug_records: list[logging.LogRecord],
) -> None:
    base = f"http://127.0.0.1:{free_port()}/fhir"
    async with create_http_client(site_of(base)) as http:
        with pytest.raises(FhirNetworkError):
            await FhirClient(http, base).read("Patient", "pat-1")
    [line] = [r.getMessage() for r in debug_records]
    assert line.startswith("GET Patient/* failed after ") and line.endswith(" ms: ConnectError")


async def test_nothing_is_logged_or_kept_below_debug(sandbox_server: RunningServer) -> None:
    logger = logging.getLogger("app.smart.http_log")
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        records: list[logging.LogRecord] = []
        handler = logging.Handler()
        handler.emit = records.append  # type: ignore[method-assign]
        logger.addHandler(handler)
        async with create_http_client(site_of(sandbox_server.fhir_base)) as http:
            await FhirClient(http, sandbox_server.fhir_base).capability()
        logger.removeHandler(handler)
        assert records == []
    finally:
        logger.setLevel(level)
