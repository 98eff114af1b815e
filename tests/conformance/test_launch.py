"""Standalone launch with PKCE (SMART App Launch 2, public native client, loopback redirect)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet

from tests.conformance.conftest import SCOPE
from tests.conformance.helpers import show
from tests.support.launch import (
    AuthorizationDenied,
    LaunchError,
    LaunchResult,
    SmartConfig,
    TokenError,
    authorize,
    exchange_code,
    parse_callback,
)
from tests.support.servers import RunningServer


def test_launch_returns_the_smart_token_response(launch: Callable[..., LaunchResult]) -> None:
    result = launch()
    tok = result.token
    assert tok.get("access_token"), tok
    assert str(tok.get("token_type", "")).lower() == "bearer", tok
    assert isinstance(tok.get("expires_in"), int) and tok["expires_in"] > 0, tok
    granted = set(str(tok.get("scope", "")).split())
    assert {"launch/patient", "offline_access", "openid", "fhirUser"} <= granted, tok.get("scope")
    assert tok.get("patient"), "launch/patient was requested: the token response names the patient"
    assert tok.get("refresh_token"), "offline_access was requested: a refresh token is issued"
    assert tok.get("id_token"), "openid fhirUser was requested: an id_token is issued"
    query = parse_qs(urlsplit(result.callback_url).query)
    assert query["state"] == [result.state]


def _verify_id_token(
    http: httpx.Client, smart: SmartConfig, id_token: str, client_id: str
) -> dict[str, Any]:
    assert smart.jwks_uri and smart.issuer, smart.raw
    keys = KeySet.import_key_set(http.get(smart.jwks_uri).raise_for_status().json())
    decoded = jwt.decode(id_token, keys)  # raises unless the signature verifies
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": smart.issuer},
        aud={"essential": True, "value": client_id},
        sub={"essential": True},
        exp={"essential": True},
    ).validate(decoded.claims)
    return dict(decoded.claims)


def test_id_token_verifies_against_jwks_and_fhir_user_resolves(
    ehr: RunningServer,
    smart: SmartConfig,
    http: httpx.Client,
    token: dict[str, Any],
    fhir: httpx.Client,
) -> None:
    claims = _verify_id_token(http, smart, token["id_token"], ehr.client_id)
    fhir_user = str(claims.get("fhirUser", ""))
    assert fhir_user, claims
    # fhirUser may be absolute (on this server's base) or relative to it.
    if fhir_user.startswith("http"):
        assert fhir_user.startswith(ehr.fhir_base.rstrip("/") + "/"), (fhir_user, ehr.fhir_base)
    r = fhir.get(fhir_user)  # httpx resolves relative references against the base
    assert r.status_code == 200, show(r)
    practitioner = r.json()
    assert practitioner["resourceType"] == "Practitioner"
    assert practitioner["id"] == "prac-1"  # the fixtures sign in automatically as prac-1


def test_tampered_id_token_is_rejected(
    ehr: RunningServer, smart: SmartConfig, http: httpx.Client, token: dict[str, Any]
) -> None:
    header, payload, signature = token["id_token"].split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    with pytest.raises(BadSignatureError):
        _verify_id_token(http, smart, f"{header}.{payload}.{flipped}", ehr.client_id)


def _refusal(http: httpx.Client, smart: SmartConfig, ehr: RunningServer, **kw: Any) -> str:
    """Run a deviating authorization; return where and how it was refused. Fails if a token
    is issued. Refusing at the authorize endpoint (error redirect or error page) or at the
    token endpoint both count; the message says which, for the report."""
    try:
        result = authorize(
            http,
            smart,
            client_id=ehr.client_id,
            scope=SCOPE,
            code_challenge_method=kw.pop("code_challenge_method", "S256"),
            **kw,
        )
        code = parse_callback(result.callback_url, state=result.state, issuer=smart.issuer)
    except AuthorizationDenied as denied:
        return f"authorize redirected back with error={denied.error}"
    except LaunchError as err:
        return f"authorize refused: {str(err)[:300]}"
    try:
        tok = exchange_code(
            http,
            smart,
            code=code,
            client_id=ehr.client_id,
            redirect_uri=result.redirect_uri,
            code_verifier=result.code_verifier,
        )
    except TokenError as err:
        return f"token endpoint refused: {err.status} {err.error}"
    pytest.fail(f"a token was issued despite the deviation {kw}: {sorted(tok)}")


def test_pkce_plain_is_refused(ehr: RunningServer, smart: SmartConfig, http: httpx.Client) -> None:
    where = _refusal(http, smart, ehr, code_challenge_method="plain")
    assert where.startswith("authorize"), f"plain should be refused at authorize; got: {where}"


def test_missing_pkce_is_refused(
    ehr: RunningServer, smart: SmartConfig, http: httpx.Client
) -> None:
    _refusal(http, smart, ehr, omit_code_challenge=True)


def test_wrong_aud_is_refused(ehr: RunningServer, smart: SmartConfig, http: httpx.Client) -> None:
    where = _refusal(http, smart, ehr, aud="http://127.0.0.1:9/not-this-server/fhir")
    assert where.startswith("authorize"), where


def test_wrong_code_verifier_gets_invalid_grant(
    ehr: RunningServer, smart: SmartConfig, http: httpx.Client
) -> None:
    result = authorize(http, smart, client_id=ehr.client_id, scope=SCOPE)
    code = parse_callback(result.callback_url, state=result.state, issuer=smart.issuer)
    with pytest.raises(TokenError) as refused:
        exchange_code(
            http,
            smart,
            code=code,
            client_id=ehr.client_id,
            redirect_uri=result.redirect_uri,
            code_verifier="x" * 64,
        )
    assert (refused.value.status, refused.value.error) == (400, "invalid_grant"), refused.value


def test_authorization_code_is_single_use(
    ehr: RunningServer, smart: SmartConfig, http: httpx.Client
) -> None:
    result = authorize(http, smart, client_id=ehr.client_id, scope=SCOPE)
    code = parse_callback(result.callback_url, state=result.state, issuer=smart.issuer)
    args = {
        "code": code,
        "client_id": ehr.client_id,
        "redirect_uri": result.redirect_uri,
        "code_verifier": result.code_verifier,
    }
    assert exchange_code(http, smart, **args)["access_token"]
    with pytest.raises(TokenError) as reused:
        exchange_code(http, smart, **args)
    assert (reused.value.status, reused.value.error) == (400, "invalid_grant"), reused.value
