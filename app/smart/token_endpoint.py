"""HTTP calls to the token and revocation endpoints (public client: ``client_id``, no secret).

Token calls never carry ``SmartAuth`` (``auth=NO_AUTH``), so they can use the site's shared
client even while a FHIR request is waiting for the refresh.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import httpx

from app.domain.clock import utc_now
from app.domain.retry import parse_retry_after
from app.smart.discovery import SmartConfiguration
from app.smart.errors import (
    InvalidClient,
    NetworkError,
    SignInRequired,
    SignInServiceUnavailable,
    TokenError,
)
from app.smart.http import NO_AUTH, configured_proxy, network_error
from app.smart.tokens import TokenSet

log = logging.getLogger(__name__)

_CLIENT_ERRORS = {"invalid_client", "unauthorized_client"}


def _oauth_error(response: httpx.Response) -> tuple[str, str]:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return body["error"], str(body.get("error_description") or "")
    return f"http_{response.status_code}", ""


def _what_it_sent(response: httpx.Response) -> str:
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    return "a web page" if kind in ("text/html", "application/xhtml+xml") else "something else"


class TokenEndpoint:
    def __init__(
        self,
        http: httpx.AsyncClient,
        config: SmartConfiguration,
        client_id: str,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._http = http
        self._config = config
        self._client_id = client_id
        self._clock = clock

    @property
    def url(self) -> str:
        return self._config.token_endpoint

    async def _post(self, url: str, form: Mapping[str, str]) -> httpx.Response:
        try:
            return await self._http.post(
                url, data=dict(form), headers={"Accept": "application/json"}, auth=NO_AUTH
            )
        except httpx.TransportError as exc:
            raise network_error(exc, url, proxy=configured_proxy(self._http)) from exc

    def _parse(self, response: httpx.Response, previous: TokenSet | None) -> TokenSet:
        try:
            data: Any = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            data = None
        if not isinstance(data, dict):
            raise TokenError(detail="token endpoint answered without a JSON object")
        previous_rt = previous.refresh_token if previous is not None else None
        return TokenSet.from_response(data, self._clock(), previous_refresh_token=previous_rt)

    async def exchange_code(self, code: str, redirect_uri: str, code_verifier: str) -> TokenSet:
        response = await self._post(
            self.url,
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "client_id": self._client_id,
                "code_verifier": code_verifier,
            },
        )
        if response.status_code == 200:
            return self._parse(response, None)
        error, description = _oauth_error(response)
        detail = f"{error}: {description}" if description else error
        if error in _CLIENT_ERRORS:
            raise InvalidClient(detail=detail)
        if response.status_code >= 500:
            raise NetworkError(
                f"The EHR's sign-in service had a problem (HTTP {response.status_code}). "
                "Try again in a moment.",
                detail=detail,
            )
        raise TokenError(
            "The EHR did not accept the one-time sign-in code, so you are not signed in. "
            "Sign in again; if it repeats, tell clinic IT.",
            detail=detail,
            error=error,
        )

    async def refresh(self, current: TokenSet) -> TokenSet:
        """A new token set. ``SignInRequired`` when the grant is gone; ``NetworkError`` when
        the EHR is unreachable, ``SignInServiceUnavailable`` when its token endpoint fails
        (5xx, 429, an answer that is no token): transient, the old tokens are kept."""
        if current.refresh_token is None:
            raise SignInRequired(detail="no refresh token")
        response = await self._post(
            self.url,
            {
                "grant_type": "refresh_token",
                "refresh_token": current.refresh_token,
                "client_id": self._client_id,
            },
        )
        if response.status_code == 200:
            try:
                return self._parse(response, current)
            except TokenError as exc:
                # e.g. a proxy's or gateway's HTML page with status 200: nothing says the
                # grant is gone, so the session stays and the renewal is tried again later.
                raise SignInServiceUnavailable(
                    f"The EHR's sign-in service answered with {_what_it_sent(response)} instead "
                    "of renewing your session. You are still signed in; the app will try "
                    "again. If this keeps happening, tell clinic IT.",
                    detail=exc.detail,
                ) from None
        error, description = _oauth_error(response)
        detail = f"{error}: {description}" if description else error
        if response.status_code >= 500 or response.status_code == 429:
            wait = parse_retry_after(response.headers.get("retry-after"), self._clock())
            raise SignInServiceUnavailable(
                "The EHR's sign-in service is not available just now "
                f"(HTTP {response.status_code}). You are still signed in; the app will try "
                "again.",
                detail=detail,
                retry_after=None if wait is None else wait.total_seconds(),
            )
        raise SignInRequired(detail=detail)

    async def revoke(self, token: str, hint: str) -> bool:
        """RFC 7009. True when the EHR confirmed; False when there is no endpoint or it failed."""
        url = self._config.revocation_endpoint
        if url is None:
            return False
        try:
            response = await self._post(
                url, {"token": token, "token_type_hint": hint, "client_id": self._client_id}
            )
        except NetworkError as exc:
            log.warning("token revocation failed: %s", exc.message)
            return False
        if response.status_code != 200:
            log.warning("token revocation refused: HTTP %s", response.status_code)
        return response.status_code == 200
