"""The per-site client: TLS always verified (clinic CA added, never disabled), proxy used,
certificate failures in plain words. Real TLS on 127.0.0.1 with a throw-away CA."""

from __future__ import annotations

import asyncio
import http.cookiejar
import inspect
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from app.domain.site import Site
from app.smart.discovery import discover
from app.smart.errors import CertificateError, NetworkError
from app.smart.http import SiteHttpClient, create_http_client, network_error
from tests.smart.tls import Pki, make_pki
from tests.support.servers import free_port

BODY = b'{"authorization_endpoint": "/auth/authorize", "token_endpoint": "/auth/token"}'


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


@pytest.fixture
async def https_base(pki: Pki) -> AsyncIterator[str]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.cert_pem, pki.key_pem)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                         + str(len(BODY)).encode() + b"\r\nConnection: close\r\n\r\n" + BODY)  # fmt: skip
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    yield f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}/fhir"
    server.close()


def site(base: str, **kw: object) -> Site:
    return Site(id="tls", display_name="TLS", fhir_base=base, client_id="c", **kw)  # type: ignore[arg-type]


async def test_unknown_ca_is_refused_in_plain_words(https_base: str) -> None:
    async with create_http_client(site(https_base)) as http:
        with pytest.raises(CertificateError) as info:
            await discover(http, https_base)
    assert "could not be verified" in info.value.message
    assert "ca_bundle" in info.value.message
    assert "127.0.0.1" in info.value.message


async def test_clinic_ca_bundle_is_trusted(https_base: str, pki: Pki) -> None:
    async with create_http_client(site(https_base, ca_bundle=pki.ca_pem)) as http:
        config = await discover(http, https_base)
    assert config.token_endpoint.endswith("/auth/token")


def test_there_is_no_way_to_turn_verification_off() -> None:
    assert "verify" not in inspect.signature(create_http_client).parameters


async def test_the_site_proxy_is_used(https_base: str, pki: Pki) -> None:
    dead_proxy = f"http://127.0.0.1:{free_port()}"
    async with create_http_client(site(https_base, ca_bundle=pki.ca_pem, proxy=dead_proxy)) as http:
        with pytest.raises(NetworkError) as info:
            await discover(http, https_base)
    # issue 10 item 9: it is the proxy that cannot be reached, not the EHR
    port = dead_proxy.rsplit(":", 1)[1]
    assert info.value.message.startswith(f"The proxy 127.0.0.1:{port} cannot be reached")
    assert "proxy setting" in info.value.message


def test_proxy_words_never_show_the_proxy_password() -> None:
    import httpx

    error = network_error(
        httpx.ConnectError("refused"),
        "https://ehr.example/fhir",
        proxy="http://clinic:s3cret@proxy.clinic.example:3128",
    )
    assert "The proxy proxy.clinic.example:3128 cannot be reached" in error.message
    assert "ehr.example" in error.message and "s3cret" not in str(error)
    refused = network_error(
        httpx.ProxyError("403"), "https://ehr.example/fhir", proxy="proxy.clinic.example:3128"
    )
    assert "The proxy proxy.clinic.example:3128 refused the connection" in refused.message


def test_network_error_words() -> None:
    import httpx

    assert (
        "did not answer in time"
        in network_error(httpx.ReadTimeout("x"), "https://ehr/fhir").message
    )
    assert (
        "cannot be reached"
        in network_error(httpx.ConnectError("refused"), "https://ehr/fhir").message
    )


async def test_cookies_are_kept_and_only_responses_that_set_one_are_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 15: the jar reads only responses with Set-Cookie (urllib's cookie machinery cost
    ≈ 5 % of a request's CPU for every answer); a cookie set is still sent back."""
    reads = []
    original = http.cookiejar.CookieJar.extract_cookies

    def counted(jar: http.cookiejar.CookieJar, response: object, request: object) -> None:
        reads.append(1)
        original(jar, response, request)

    monkeypatch.setattr(http.cookiejar.CookieJar, "extract_cookies", counted)
    seen: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("cookie"))
        if request.url.path == "/pin":
            return httpx.Response(200, headers={"Set-Cookie": "lb=node-2; Path=/"})
        return httpx.Response(200, json={})

    async with SiteHttpClient(site_proxy=None, transport=httpx.MockTransport(answer)) as client:
        await client.get("https://ehr.example/fhir/metadata")
        assert reads == []
        await client.get("https://ehr.example/pin")
        assert reads == [1]
        await client.get("https://ehr.example/fhir/Patient")
        assert reads == [1]
        client.cookies = {"other": "1"}
        await client.get("https://ehr.example/fhir/metadata")
    assert seen == [None, None, "lb=node-2", "other=1"]
