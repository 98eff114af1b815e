"""Fixtures for the conformance suite: every check runs against each server of ``ehr``.

``token`` is one standalone launch per server per session (checks that need their own launch,
such as refresh and revocation, call ``launch()``); ``fhir`` is an httpx client on the FHIR base
carrying that token.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.support.launch import LaunchResult, SmartConfig, discover, standalone_launch
from tests.support.servers import RunningServer

# launch/patient: patient in context; offline_access: refresh token; openid fhirUser: id_token.
SCOPE = "openid fhirUser launch/patient offline_access user/*.cruds"
TIMEOUT = httpx.Timeout(15.0)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """A fresh client (own cookie jar) for the authorization server and unauthenticated calls."""
    with httpx.Client(timeout=TIMEOUT) as client:
        yield client


@pytest.fixture(scope="session")
def _per_server() -> dict[tuple[str, str, str], Any]:
    return {}


@pytest.fixture
def smart(ehr: RunningServer, http: httpx.Client, _per_server: dict[Any, Any]) -> SmartConfig:
    key = ("smart", ehr.name, ehr.fhir_base)
    if key not in _per_server:
        _per_server[key] = discover(http, ehr.fhir_base)
    cfg: SmartConfig = _per_server[key]
    return cfg


@pytest.fixture
def launch(
    ehr: RunningServer, smart: SmartConfig, http: httpx.Client
) -> Callable[..., LaunchResult]:
    """``launch(scope=SCOPE, **kw)``: a complete standalone launch as ``ehr.client_id``."""

    def run(scope: str = SCOPE, **kw: Any) -> LaunchResult:
        with httpx.Client(timeout=TIMEOUT) as fresh:  # no session cookie from earlier launches
            return standalone_launch(fresh, smart, client_id=ehr.client_id, scope=scope, **kw)

    return run


@pytest.fixture
def token(
    ehr: RunningServer, launch: Callable[..., LaunchResult], _per_server: dict[Any, Any]
) -> dict[str, Any]:
    key = ("token", ehr.name, ehr.fhir_base)
    if key not in _per_server:
        _per_server[key] = launch().token
    tok: dict[str, Any] = _per_server[key]
    return tok


@pytest.fixture
def fhir(ehr: RunningServer, token: dict[str, Any]) -> Iterator[httpx.Client]:
    headers = {
        "Authorization": f"Bearer {token['access_token']}",
        "Accept": "application/fhir+json",
    }
    with httpx.Client(
        base_url=ehr.fhir_base.rstrip("/") + "/", headers=headers, timeout=TIMEOUT
    ) as client:
        yield client
