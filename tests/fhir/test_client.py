"""FhirClient over real HTTP: against both EHRs, and against small local servers that
misbehave in ways real EHRs sometimes do."""

from __future__ import annotations

import asyncio
import contextvars
import json
from collections.abc import Iterator

import httpx
import pytest
import sniffio

from app.fhir.client import FhirClient
from app.fhir.errors import (
    FhirHttpError,
    FhirNetworkError,
    FhirNotFound,
    FhirParseError,
    FhirResponseTooLarge,
    FhirServerError,
    FhirTimeout,
    FhirUnauthorized,
    FhirUnexpectedResponse,
)
from tests.fhir.conftest import BearerAuth, RequestLog
from tests.fhir.fake_server import fake_server, silent_server
from tests.support.servers import RunningServer, free_port


async def test_read_search_and_capabilities(fhir: FhirClient, requests_log: RequestLog) -> None:
    patient = await fhir.read("Patient", "pat-1")
    assert patient["id"] == "pat-1"
    caps = await fhir.capabilities()
    await fhir.capabilities()
    assert caps.fhir_version is not None and caps.fhir_version.startswith("4.")
    assert caps.can_search("Observation")
    assert sum("/metadata" in u for u in requests_log.urls) == 1  # cached
    response = await fhir.read_response("Patient", "pat-1")
    assert response.etag is not None and response.version_id


async def test_a_request_tells_httpcore_and_anyio_it_runs_on_asyncio(fhir: FhirClient) -> None:
    """Issue 15: sniffio answers from the task's context instead of looking for the current
    asyncio task each of the ~19 times httpcore and anyio ask during a request."""

    async def read_in_a_fresh_context() -> str | None:
        assert sniffio.current_async_library_cvar.get() is None
        await fhir.read("Patient", "pat-1")
        return sniffio.current_async_library_cvar.get()

    task = asyncio.create_task(read_in_a_fresh_context(), context=contextvars.Context())
    assert await task == "asyncio"
    assert sniffio.current_async_library() == "asyncio"


async def test_search_follows_next_links(fhir: FhirClient, requests_log: RequestLog) -> None:
    requests_log.clear()
    result = await fhir.search(
        "Observation", [("patient", "Patient/pat-1"), ("_count", "2")], limit=5
    )
    assert len(result.resources) == 5
    assert result.pages == 3 and len(requests_log) == 3
    assert result.truncated
    assert all(r["resourceType"] == "Observation" for r in result.resources)


async def test_missing_resource_is_not_found(fhir: FhirClient) -> None:
    with pytest.raises(FhirNotFound) as exc:
        await fhir.read("Patient", "does-not-exist-42")
    assert exc.value.status == 404
    assert "reading Patient/does-not-exist-42" in exc.value.user_message


async def test_bad_token_is_unauthorized(ehr: RunningServer) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        client = FhirClient(http, ehr.fhir_base, BearerAuth("not-a-token"))
        with pytest.raises(FhirUnauthorized) as exc:
            await client.read("Patient", "pat-1")
    assert "Sign in again" in exc.value.user_message


async def test_response_size_cap(ehr: RunningServer) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        client = FhirClient(http, ehr.fhir_base, max_response_bytes=2000)
        with pytest.raises(FhirResponseTooLarge) as exc:
            await client.capability()
    assert "larger than" in exc.value.user_message


async def test_connection_refused_is_a_network_error() -> None:
    async with httpx.AsyncClient(timeout=5) as http:
        client = FhirClient(http, f"http://127.0.0.1:{free_port()}/fhir")
        with pytest.raises(FhirNetworkError) as exc:
            await client.read("Patient", "p")
    assert exc.value.maybe_delivered is False
    assert "cannot be reached" in exc.value.user_message


async def test_silence_is_a_timeout_that_may_have_been_delivered() -> None:
    with silent_server() as base:
        async with httpx.AsyncClient(timeout=httpx.Timeout(0.5)) as http:
            with pytest.raises(FhirTimeout) as exc:
                await FhirClient(http, base).read("Patient", "p")
    assert exc.value.maybe_delivered is True


def _chunks(total: int) -> Iterator[bytes]:
    yield b'{"resourceType": "Bundle", "entry": ['
    sent = 0
    while sent < total:
        yield b'{"resource": {"resourceType": "Basic", "id": "x"}},' * 1000
        sent += 50_000
    yield b"]}"


@pytest.mark.parametrize(
    ("route", "error"),
    [
        ((200, {"Content-Type": "text/html"}, b"<html>login page</html>"), FhirParseError),
        ((200, {"Content-Type": "application/fhir+json"}, b"\xff\xfe{}"), FhirParseError),
        (
            (200, {"Content-Type": "application/fhir+json"}, b"[" * 50_000 + b"]" * 50_000),
            FhirParseError,
        ),
        (
            (200, {"Content-Type": "application/fhir+json"}, b'{"resourceType": "Bundle"}'),
            FhirUnexpectedResponse,
        ),
        (
            (200, {"Content-Type": "application/fhir+json"}, lambda: _chunks(3_000_000)),
            FhirResponseTooLarge,
        ),
        (
            (503, {"Retry-After": "7", "Content-Type": "text/html"}, b"<h1>down</h1>"),
            FhirServerError,
        ),
    ],
)
async def test_misbehaving_servers(
    route: tuple[int, dict[str, str], object], error: type[Exception]
) -> None:
    with fake_server({"/Patient/p": route}) as base:  # type: ignore[dict-item]
        async with httpx.AsyncClient(timeout=10) as http:
            with pytest.raises(error) as exc:
                await FhirClient(http, base, max_response_bytes=1_000_000).read("Patient", "p")
    if isinstance(exc.value, FhirServerError):
        assert exc.value.retry_after == 7.0 and exc.value.retryable


def _raw_header(text: str) -> str:
    """``text`` sent as its UTF-8 bytes (http.server writes header values as latin-1)."""
    return text.encode("utf-8").decode("latin-1")


@pytest.mark.parametrize(
    "value",
    ["²", "³", _raw_header("٣"), _raw_header("１２"), "1²", "7 s", "-1", "1e3", "0x10"],
)
async def test_retry_after_that_is_no_http_value_is_ignored(value: str) -> None:
    """Issue 10 item 3: ``Retry-After: ²`` (a digit to ``str.isdigit()``, not to HTTP) raised
    ValueError out of the client; anything but ASCII digits or an HTTP-date is ignored."""
    route = (503, {"Retry-After": value, "Content-Type": "text/html"}, b"<h1>down</h1>")
    with fake_server({"/Patient/p": route}) as base:
        async with httpx.AsyncClient(timeout=10) as http:
            with pytest.raises(FhirServerError) as exc:
                await FhirClient(http, base).read("Patient", "p")
    assert exc.value.retry_after is None and exc.value.retryable


async def test_operation_outcome_text_reaches_the_user() -> None:
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "invalid", "diagnostics": "subject is required"}],
    }
    with fake_server(
        {
            "/Patient/p": (
                422,
                {"Content-Type": "application/fhir+json"},
                json.dumps(outcome).encode(),
            )
        }
    ) as base:
        async with httpx.AsyncClient(timeout=10) as http:
            with pytest.raises(Exception) as exc:
                await FhirClient(http, base).read("Patient", "p")
    assert getattr(exc.value, "outcome_text", None) == "subject is required"
    assert "subject is required" in exc.value.user_message  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("status", "said", "advice"),
    [
        (503, "injected by the test proxy: 503 Service Unavailable", "The app will try again"),
        (422, "Subject is required.\n  Check   the form.", "If this keeps happening"),
    ],
)
async def test_the_ehrs_words_are_quoted_not_run_together(
    status: int, said: str, advice: str
) -> None:
    """Issue 10 item 9: "The EHR said: … 503 The app will try again" ran two sentences
    together; the EHR's text is a quoted, punctuated clause."""
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "transient", "diagnostics": said}],
    }
    body = json.dumps(outcome).encode()
    with fake_server(
        {"/Patient/p": (status, {"Content-Type": "application/fhir+json"}, body)}
    ) as base:
        async with httpx.AsyncClient(timeout=10) as http:
            with pytest.raises(FhirHttpError) as exc:
                await FhirClient(http, base).read("Patient", "p")
    quoted = " ".join(said.split()).rstrip(".")
    assert f"The EHR said: “{quoted}”. {advice}" in exc.value.user_message


async def test_next_link_to_another_server_is_not_followed() -> None:
    page = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": {"resourceType": "Patient", "id": "a"}}],
        "link": [{"relation": "next", "url": "http://evil.example/fhir/Patient?page=2"}],
    }
    with fake_server(
        {"/Patient": (200, {"Content-Type": "application/fhir+json"}, json.dumps(page).encode())}
    ) as base:
        async with httpx.AsyncClient(timeout=10) as http:
            with pytest.raises(FhirUnexpectedResponse, match="another server"):
                await FhirClient(http, base, BearerAuth("secret")).search("Patient", {"name": "x"})
