"""PKCE, state and the checks on the authorization answer (unit level)."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest

from app.smart.authorize import build_authorization_request, code_from_callback
from app.smart.discovery import DiscoverySource, SmartConfiguration
from app.smart.errors import (
    AccessDenied,
    AuthorizationError,
    InvalidClient,
    IssuerMismatch,
    StateMismatch,
)
from app.smart.pkce import new_pkce, new_state

CONFIG = SmartConfiguration("https://ehr/fhir", "https://auth/authorize?tenant=7", "https://auth/token",
                            DiscoverySource.WELL_KNOWN, issuer="https://auth")  # fmt: skip


def test_pkce_is_s256_of_a_long_verifier() -> None:
    pkce = new_pkce()
    assert 43 <= len(pkce.verifier) <= 128
    digest = base64.urlsafe_b64encode(hashlib.sha256(pkce.verifier.encode()).digest()).rstrip(b"=")
    assert pkce.challenge == digest.decode() and pkce.method == "S256"
    assert pkce.verifier not in repr(pkce)


def test_state_has_at_least_122_bits() -> None:
    states = {new_state() for _ in range(100)}
    assert len(states) == 100
    assert all(len(base64.urlsafe_b64decode(s + "==")) * 8 >= 122 for s in states)


def test_request_carries_aud_pkce_state_and_keeps_existing_query() -> None:
    request = build_authorization_request(
        CONFIG,
        client_id="app",
        redirect_uri="http://127.0.0.1:5000/callback",
        scopes=["openid", "user/*.rs"],
    )
    query = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
    assert query["aud"] == "https://ehr/fhir"
    assert (
        query["code_challenge_method"] == "S256"
        and query["code_challenge"] == request.pkce.challenge
    )
    assert query["state"] == request.state and query["nonce"] == request.nonce
    assert query["scope"] == "openid user/*.rs" and query["tenant"] == "7"
    assert query["response_type"] == "code" and query["client_id"] == "app"
    assert request.state not in repr(request)


def answer(request_state: str, **params: str) -> dict[str, str]:
    return {"state": request_state, **params}


def test_callback_checks() -> None:
    request = build_authorization_request(
        CONFIG, client_id="a", redirect_uri="http://127.0.0.1/cb", scopes=[]
    )
    assert (
        code_from_callback(
            request, answer(request.state, code="c1"), expected_issuer="https://auth"
        )
        == "c1"
    )
    assert code_from_callback(request, answer(request.state, code="c2", iss="https://auth/"),
                              expected_issuer="https://auth") == "c2"  # fmt: skip
    with pytest.raises(StateMismatch):
        code_from_callback(request, {"state": "other", "code": "c"}, expected_issuer=None)
    with pytest.raises(StateMismatch):  # even an error answer must belong to this sign-in
        code_from_callback(request, {"error": "access_denied"}, expected_issuer=None)
    with pytest.raises(IssuerMismatch):
        code_from_callback(
            request,
            answer(request.state, code="c", iss="https://evil"),
            expected_issuer="https://auth",
        )
    with pytest.raises(AccessDenied):
        code_from_callback(
            request, answer(request.state, error="access_denied"), expected_issuer=None
        )
    with pytest.raises(InvalidClient):
        code_from_callback(
            request, answer(request.state, error="unauthorized_client"), expected_issuer=None
        )
    with pytest.raises(AuthorizationError, match="permissions"):
        code_from_callback(
            request, answer(request.state, error="invalid_scope"), expected_issuer=None
        )
    with pytest.raises(AuthorizationError):
        code_from_callback(request, answer(request.state), expected_issuer=None)
