"""FHIR-layer fixtures: a real SMART launch per server (tests/support/launch.py), and a
``FhirClient`` on the shared httpx.AsyncClient that counts the HTTP requests it makes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator
from typing import Any

import httpx
import pytest

from app.fhir.client import FhirClient
from tests.support.launch import discover, standalone_launch
from tests.support.servers import RunningServer

SCOPE = "openid fhirUser launch/patient user/*.cruds"
_tokens: dict[tuple[str, str], str] = {}


class BearerAuth(httpx.Auth):
    """Stands in for app.smart's SmartAuth: a fixed bearer token from a real launch."""

    def __init__(self, token: str) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request


def access_token(server: RunningServer) -> str:
    key = (server.name, server.fhir_base)
    if key not in _tokens:
        with httpx.Client(timeout=15) as http:
            cfg = discover(http, server.fhir_base)
            result = standalone_launch(http, cfg, client_id=server.client_id, scope=SCOPE)
        _tokens[key] = str(result.token["access_token"])
    return _tokens[key]


class RequestLog:
    def __init__(self) -> None:
        self.urls: list[str] = []

    async def __call__(self, request: httpx.Request) -> None:
        self.urls.append(f"{request.method} {request.url}")

    def clear(self) -> None:
        self.urls.clear()

    def __len__(self) -> int:
        return len(self.urls)


@pytest.fixture
def requests_log() -> RequestLog:
    return RequestLog()


@pytest.fixture
async def fhir(ehr: RunningServer, requests_log: RequestLog) -> AsyncIterator[FhirClient]:
    token = access_token(ehr)
    async with httpx.AsyncClient(timeout=30, event_hooks={"request": [requests_log]}) as http:
        yield FhirClient(http, ehr.fhir_base, BearerAuth(token))


def bearer(ehr: RunningServer) -> dict[str, Any]:
    return {"Authorization": f"Bearer {access_token(ehr)}", "Content-Type": "application/fhir+json"}
