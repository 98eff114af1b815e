"""The authorization request (code + PKCE S256 + state + aud) and checking its answer."""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import httpx

from app.smart.discovery import SmartConfiguration
from app.smart.errors import (
    AccessDenied,
    AuthorizationError,
    InvalidClient,
    IssuerMismatch,
    StateMismatch,
)
from app.smart.pkce import Pkce, new_nonce, new_pkce, new_state


@dataclass(frozen=True)
class AuthorizationRequest:
    url: str = field(repr=False)
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str = field(repr=False)
    pkce: Pkce = field(repr=False)
    nonce: str | None = field(default=None, repr=False)


def build_authorization_request(
    config: SmartConfiguration,
    *,
    client_id: str,
    redirect_uri: str,
    scopes: Iterable[str],
    use_nonce: bool = True,
) -> AuthorizationRequest:
    pkce = new_pkce()
    state = new_state()
    nonce = new_nonce() if use_nonce else None
    scope_list = tuple(scopes)
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(scope_list),
        "state": state,
        "aud": config.fhir_base,
        "code_challenge": pkce.challenge,
        "code_challenge_method": pkce.method,
    }
    if nonce is not None:
        params["nonce"] = nonce
    url = httpx.URL(config.authorization_endpoint).copy_merge_params(params)
    return AuthorizationRequest(
        url=str(url),
        redirect_uri=redirect_uri,
        scopes=scope_list,
        state=state,
        pkce=pkce,
        nonce=nonce,
    )


def code_from_callback(
    request: AuthorizationRequest,
    params: Mapping[str, str],
    *,
    expected_issuer: str | None,
) -> str:
    """The authorization code, after checking ``state`` and (when sent) ``iss``."""
    state = params.get("state", "")
    if not hmac.compare_digest(state.encode(), request.state.encode()):
        raise StateMismatch(detail="state differs from the one sent")
    iss = params.get("iss")
    if (
        iss is not None
        and expected_issuer is not None
        and iss.rstrip("/") != expected_issuer.rstrip("/")
    ):
        raise IssuerMismatch(detail=f"iss {iss!r} is not the discovered issuer")
    error = params.get("error")
    if error:
        description = params.get("error_description", "")
        detail = f"{error}: {description}" if description else error
        if error == "access_denied":
            raise AccessDenied(detail=detail)
        if error in ("unauthorized_client", "invalid_client"):
            raise InvalidClient(detail=detail)
        if error == "invalid_scope":
            raise AuthorizationError(
                "The EHR refused the permissions this app asks for. Ask clinic IT to check the "
                "scopes of this site.",
                detail=detail,
            )
        if error in ("temporarily_unavailable", "server_error"):
            raise AuthorizationError(
                "The EHR's sign-in service is not available right now. Try again in a moment.",
                detail=detail,
            )
        raise AuthorizationError(detail=detail)
    code = params.get("code")
    if not code:
        raise AuthorizationError(detail="the redirect carried no code")
    return code
