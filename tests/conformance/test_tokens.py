"""Refresh (with rotation) and revocation of refresh tokens."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.conformance.helpers import show
from tests.support.launch import LaunchResult, SmartConfig, TokenError, refresh, revoke
from tests.support.servers import RunningServer


def _read_patient(ehr: RunningServer, access_token: str, patient: str) -> httpx.Response:
    return httpx.get(
        f"{ehr.fhir_base}/Patient/{patient}",
        timeout=15,
        headers={"Authorization": f"Bearer {access_token}", "Accept": "application/fhir+json"},
    )


def test_refresh_gives_a_working_access_token(
    ehr: RunningServer, smart: SmartConfig, http: httpx.Client, launch: Callable[..., LaunchResult]
) -> None:
    first = launch().token
    renewed = refresh(http, smart, refresh_token=first["refresh_token"], client_id=ehr.client_id)
    assert renewed.get("access_token") and renewed["access_token"] != first["access_token"], renewed
    assert isinstance(renewed.get("expires_in"), int) and renewed["expires_in"] > 0, renewed
    r = _read_patient(ehr, renewed["access_token"], first["patient"])
    assert r.status_code == 200, show(r)


def test_refresh_token_rotates_and_the_old_one_is_rejected(
    ehr: RunningServer, smart: SmartConfig, http: httpx.Client, launch: Callable[..., LaunchResult]
) -> None:
    old = launch().token["refresh_token"]
    renewed = refresh(http, smart, refresh_token=old, client_id=ehr.client_id)
    new = renewed.get("refresh_token")
    assert new and new != old, f"refresh must rotate the refresh token: {renewed}"
    with pytest.raises(TokenError) as reused:
        refresh(http, smart, refresh_token=old, client_id=ehr.client_id)
    assert (reused.value.status, reused.value.error) == (400, "invalid_grant"), reused.value


def test_revoked_refresh_token_cannot_refresh(
    ehr: RunningServer, smart: SmartConfig, http: httpx.Client, launch: Callable[..., LaunchResult]
) -> None:
    rt = launch().token["refresh_token"]
    r = revoke(http, smart, token=rt, client_id=ehr.client_id)
    assert r.status_code == 200, show(r)  # RFC 7009 section 2.2
    with pytest.raises(TokenError) as refused:
        refresh(http, smart, refresh_token=rt, client_id=ehr.client_id)
    assert (refused.value.status, refused.value.error) == (400, "invalid_grant"), refused.value
