"""Tokens in memory, single-flight refresh, and ``SmartAuth`` for httpx.

The access token is opaque: it is never decoded (many EHRs do not issue JWTs). Expiry comes
from ``expires_in`` only. Refresh is

- proactive: shortly before expiry (``RefreshPolicy``: 60 s or 10% of the lifetime,
  whichever is less), and
- reactive: on a 401, once, then the request is retried exactly once,

and single-flight: an ``asyncio.Lock`` plus a re-check under the lock means N concurrent
requests cause one call to the token endpoint. A refresh response without a refresh token
keeps the old one; a rotated one is handed to ``on_tokens_changed`` (which saves it to the
keyring) *before* it replaces the old set in memory.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx

from app.domain.clock import utc_now
from app.smart.errors import NetworkError, SignInRequired, TokenError
from app.smart.http_log import log_tag, prefix

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RefreshPolicy:
    skew_seconds: float = 60.0
    skew_fraction: float = 0.1

    def margin(self, lifetime: timedelta) -> timedelta:
        seconds = min(self.skew_seconds, self.skew_fraction * lifetime.total_seconds())
        return timedelta(seconds=max(seconds, 0.0))


@dataclass(frozen=True)
class TokenSet:
    """One token response. Secrets are kept out of ``repr``."""

    access_token: str = field(repr=False)
    token_type: str
    issued_at: datetime
    expires_at: datetime | None
    scope: str | None
    refresh_token: str | None = field(default=None, repr=False)
    id_token: str | None = field(default=None, repr=False)
    patient: str | None = None
    encounter: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_response(
        cls, data: Mapping[str, Any], now: datetime, *, previous_refresh_token: str | None = None
    ) -> TokenSet:
        access = data.get("access_token")
        if not isinstance(access, str) or not access:
            raise TokenError(detail="token response has no access_token")
        token_type = data.get("token_type")
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise TokenError(detail=f"unsupported token_type {token_type!r}")
        expires_in = data.get("expires_in")
        expires_at = None
        if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
            expires_at = now + timedelta(seconds=max(float(expires_in), 0.0))
        refresh = data.get("refresh_token")
        known = {"access_token", "token_type", "expires_in", "scope", "refresh_token",
                 "id_token", "patient", "encounter"}  # fmt: skip
        return cls(
            access_token=access,
            token_type="Bearer",
            issued_at=now,
            expires_at=expires_at,
            scope=_opt_str(data.get("scope")),
            refresh_token=refresh
            if isinstance(refresh, str) and refresh
            else previous_refresh_token,
            id_token=_opt_str(data.get("id_token")),
            patient=_opt_str(data.get("patient")),
            encounter=_opt_str(data.get("encounter")),
            extra={k: v for k, v in data.items() if k not in known},
        )

    @property
    def lifetime(self) -> timedelta | None:
        return None if self.expires_at is None else self.expires_at - self.issued_at

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def needs_refresh(self, now: datetime, policy: RefreshPolicy) -> bool:
        if self.expires_at is None or self.lifetime is None:
            return False  # no declared expiry: rely on the 401
        return now >= self.expires_at - policy.margin(self.lifetime)


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


class Refresher(Protocol):
    async def refresh(self, current: TokenSet) -> TokenSet: ...


class TokenManager:
    """Holds the current ``TokenSet`` and refreshes it, single-flight."""

    def __init__(
        self,
        refresher: Refresher,
        *,
        clock: Callable[[], datetime] = utc_now,
        policy: RefreshPolicy | None = None,
        on_tokens_changed: Callable[[TokenSet, TokenSet], Awaitable[None]] | None = None,
        on_sign_in_required: Callable[[SignInRequired], Awaitable[None]] | None = None,
    ) -> None:
        self._refresher = refresher
        self._clock = clock
        self._policy = policy or RefreshPolicy()
        self._on_changed = on_tokens_changed
        self._on_sign_in_required = on_sign_in_required
        self._tokens: TokenSet | None = None
        self._lock = asyncio.Lock()

    @property
    def current(self) -> TokenSet | None:
        return self._tokens

    def set(self, tokens: TokenSet) -> None:
        self._tokens = tokens

    def clear(self) -> None:
        self._tokens = None

    async def discard(self) -> TokenSet | None:
        """Forget the tokens once no refresh is running (sign-out); returns what was held."""
        async with self._lock:
            tokens, self._tokens = self._tokens, None
            return tokens

    async def access_token(self) -> str:
        """A usable access token, refreshed first when it is about to expire."""
        tokens = self._tokens
        if tokens is None:
            raise SignInRequired(detail="not signed in")
        if not tokens.needs_refresh(self._clock(), self._policy):
            return tokens.access_token
        try:
            # refresh the set we saw expiring, unless another request already replaced it
            seen = tokens
            tokens = await self._refresh_if(lambda t: t is seen, "about to expire")
        except NetworkError:
            current = self._tokens
            if current is not None and not current.is_expired(self._clock()):
                return current.access_token  # still valid: try the request anyway
            raise
        return tokens.access_token

    async def refresh_after_rejection(self, rejected_access_token: str) -> str:
        """After a 401: refresh unless another request already replaced the rejected token."""
        tokens = await self._refresh_if(
            lambda t: hmac.compare_digest(t.access_token, rejected_access_token), "after a 401"
        )
        return tokens.access_token

    async def refresh_now(self) -> TokenSet:
        """Refresh unconditionally (but still single-flight with any running refresh)."""
        before = self._tokens
        return await self._refresh_if(lambda t: t is before, "asked for")

    async def _refresh_if(
        self, still_needed: Callable[[TokenSet], bool], reason: str = "asked for"
    ) -> TokenSet:
        async with self._lock:
            current = self._tokens
            if current is None:
                raise SignInRequired(detail="signed out")
            if not still_needed(current):
                return current  # another request refreshed while we waited
            try:
                fresh = await self._logged_refresh(current, reason)
            except SignInRequired as exc:
                self._tokens = None
                if self._on_sign_in_required is not None:
                    await self._on_sign_in_required(exc)
                raise
            if self._on_changed is not None:
                await self._on_changed(current, fresh)
            self._tokens = fresh
            return fresh

    async def _logged_refresh(self, current: TokenSet, reason: str) -> TokenSet:
        """The refresher's call with its DEBUG trail: started, succeeded or failed (error class
        only; never a token)."""
        with log_tag("token refresh"):
            log.debug("%sstarted (%s)", prefix(), reason)
            try:
                fresh = await self._refresher.refresh(current)
            except BaseException as exc:
                log.debug("%sfailed: %s", prefix(), type(exc).__name__)
                raise
            rotated = fresh.refresh_token != current.refresh_token
            lifetime = fresh.lifetime
            log.debug(
                "%ssucceeded: access token valid %s, refresh token %s",
                prefix(),
                "(no expiry given)" if lifetime is None else f"{lifetime.total_seconds():.0f} s",
                "rotated" if rotated else "kept",
            )
            return fresh


class SmartAuth(httpx.Auth):
    """``Authorization: Bearer`` with proactive and reactive (one retry) refresh.

    Raises ``SignInRequired`` (not an HTTP error) when no token can be had: callers such as
    the sync engine treat that as "wait for sign-in", never as a failed item.
    """

    requires_request_body = True  # the body is needed again for the one retry

    def __init__(self, tokens: TokenManager) -> None:
        self._tokens = tokens

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("SmartAuth works with httpx.AsyncClient only")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self._tokens.access_token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != 401:
            return
        fresh = await self._tokens.refresh_after_rejection(token)
        request.headers["Authorization"] = f"Bearer {fresh}"
        yield request
