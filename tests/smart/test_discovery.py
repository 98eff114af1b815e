"""Discovery: smart-configuration (relative URLs), the CapabilityStatement fallback, failures."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from app.smart.discovery import (
    DiscoverySource,
    discover,
    parse_capability_statement,
    parse_smart_configuration,
)
from app.smart.errors import DiscoveryError, NetworkError
from tests.support.servers import RunningServer, free_port


def test_relative_urls_are_resolved_against_the_fhir_base() -> None:
    config = parse_smart_configuration(
        "https://ehr.example.org/fhir/r4/",
        {
            "authorization_endpoint": "/oauth/authorize",
            "token_endpoint": "oauth/token",
            "revocation_endpoint": "https://auth.example.org/revoke",
            "capabilities": ["permission-v2", "launch-standalone", 7],
            "code_challenge_methods_supported": ["S256"],
        },
    )
    assert config.fhir_base == "https://ehr.example.org/fhir/r4"
    assert config.authorization_endpoint == "https://ehr.example.org/oauth/authorize"
    assert config.token_endpoint == "https://ehr.example.org/fhir/r4/oauth/token"
    assert config.revocation_endpoint == "https://auth.example.org/revoke"
    assert config.capabilities == {"permission-v2", "launch-standalone"}
    assert config.permission_v2 and config.pkce_s256_declared
    assert config.source is DiscoverySource.WELL_KNOWN


def test_configuration_without_endpoints_is_refused() -> None:
    with pytest.raises(DiscoveryError):
        parse_smart_configuration("https://x/fhir", {"authorization_endpoint": "https://x/a"})


def test_capability_statement_oauth_uris() -> None:
    cs = {
        "resourceType": "CapabilityStatement",
        "rest": [{"security": {"extension": [{
            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
            "extension": [{"url": "authorize", "valueUri": "https://a/authorize"},
                          {"url": "token", "valueUri": "https://a/token"},
                          {"url": "revoke", "valueUri": "https://a/revoke"}],
        }]}}],
    }  # fmt: skip
    config = parse_capability_statement("https://x/fhir", cs)
    assert config.source is DiscoverySource.CAPABILITY_STATEMENT
    assert (config.authorization_endpoint, config.token_endpoint) == (
        "https://a/authorize",
        "https://a/token",
    )
    assert config.revocation_endpoint == "https://a/revoke"
    assert config.issuer is None and not config.permission_v2


async def test_discovery_of_both_ehrs(ehr: RunningServer) -> None:
    async with httpx.AsyncClient() as http:
        config = await discover(http, ehr.fhir_base + "/")
    assert config.source is DiscoverySource.WELL_KNOWN
    assert config.fhir_base == ehr.fhir_base
    assert config.issuer and config.jwks_uri and config.revocation_endpoint
    assert config.supports("launch-standalone") and config.supports("client-public")
    assert config.pkce_s256_declared


class MetadataOnlyServer:
    """An older server: no smart-configuration (404), only /metadata — the CapabilityStatement
    is the real one of the EHR under test, fetched over HTTP."""

    def __init__(self, capability_statement: bytes) -> None:
        self.body = capability_statement
        self.port = free_port()
        self.server: asyncio.Server | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        path = head.split(b" ")[1].decode()
        status, body = (
            (b"200 OK", self.body)
            if path.startswith("/fhir/metadata")
            else (b"404 Not Found", b"{}")
        )
        writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: application/fhir+json\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)  # fmt: skip
        await writer.drain()
        writer.close()


@pytest.fixture
async def metadata_only(ehr: RunningServer) -> AsyncIterator[MetadataOnlyServer]:
    async with httpx.AsyncClient() as http:
        cs = (
            await http.get(f"{ehr.fhir_base}/metadata", headers={"Accept": "application/fhir+json"})
        ).json()
    if not any("oauth-uris" in json.dumps(rest.get("security", {})) for rest in cs.get("rest", [])):
        pytest.fail(f"{ehr.name} CapabilityStatement lacks the oauth-uris extension")
    stub = MetadataOnlyServer(json.dumps(cs).encode())
    stub.server = await asyncio.start_server(stub.handle, "127.0.0.1", stub.port)
    yield stub
    stub.server.close()


async def test_falls_back_to_capability_statement(
    metadata_only: MetadataOnlyServer, ehr: RunningServer
) -> None:
    async with httpx.AsyncClient() as http:
        config = await discover(http, metadata_only.base)
        real = await discover(http, ehr.fhir_base)
    assert config.source is DiscoverySource.CAPABILITY_STATEMENT
    assert config.authorization_endpoint == real.authorization_endpoint
    assert config.token_endpoint == real.token_endpoint


async def test_closed_port_is_a_network_error() -> None:
    async with httpx.AsyncClient() as http:
        with pytest.raises(NetworkError) as info:
            await discover(http, f"http://127.0.0.1:{free_port()}/fhir")
    assert "cannot be reached" in info.value.message


async def test_not_a_fhir_server(ehr: RunningServer) -> None:
    async with httpx.AsyncClient() as http:
        with pytest.raises(DiscoveryError) as info:
            await discover(http, ehr.fhir_base + "/not-here")
    assert "FHIR base URL" in info.value.message
