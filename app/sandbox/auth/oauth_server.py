"""The Authlib authorization server of the sandbox, wired to its store, clients and key."""

from __future__ import annotations

import secrets
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer

from app.sandbox.auth.clients import ClientRegistry, SandboxClient
from app.sandbox.auth.endpoints import (
    SmartIntrospectionEndpoint,
    SmartIssuerParameter,
    SmartRevocationEndpoint,
)
from app.sandbox.auth.grants import (
    AudienceCheck,
    SmartAuthorizationCodeGrant,
    SmartCodeChallenge,
    SmartRefreshTokenGrant,
)
from app.sandbox.auth.keys import SigningKey
from app.sandbox.auth.oidc import SmartOpenIDCode
from app.sandbox.auth.records import LoginUser, TokenKind
from app.sandbox.auth.scopes import is_offline, wants_encounter, wants_patient
from app.sandbox.auth.storage import AuthStore
from app.sandbox.contracts import SandboxUrls

OFFLINE_REFRESH_LIFETIME_SECONDS = 14 * 24 * 3600  # offline_access: two weeks, like the peer
ONLINE_REFRESH_LIFETIME_SECONDS = 12 * 3600  # online_access: one clinic day


class SmartAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    """Authorization code + PKCE S256 + OpenID Connect, refresh with rotation, revocation,
    introspection, ``iss`` in authorization responses.

    Access and refresh tokens are opaque random strings (256 bits), never JWTs: clients must
    not read them, and the peer EHR's JWT access tokens keep clients honest the other way.
    """

    def __init__(
        self,
        *,
        store: AuthStore,
        clients: ClientRegistry,
        key: SigningKey,
        urls: SandboxUrls,
        token_ttl: int,
        issue_refresh_tokens: bool = True,
    ) -> None:
        super().__init__()  # no Flask app: configured here, not from app.config
        # False: a site that never issues refresh tokens (the no-refresh-token quirk)
        self.issue_refresh_tokens = issue_refresh_tokens
        self.store = store
        self.clients = clients
        self.urls = urls
        self.token_ttl = token_ttl
        self.register_token_generator("default", self._generate_token)
        openid = SmartOpenIDCode(key, urls, store)
        self.register_grant(
            SmartAuthorizationCodeGrant,
            [SmartCodeChallenge(), AudienceCheck(urls.fhir_base), openid],
        )
        # A fresh id_token on refresh too (OpenID Connect Core 12.2), as oidc-provider does.
        self.register_grant(SmartRefreshTokenGrant, [openid])
        self.register_endpoint(SmartRevocationEndpoint)
        self.register_endpoint(SmartIntrospectionEndpoint)
        self.register_extension(SmartIssuerParameter(urls.issuer))

    def query_client(self, client_id: str) -> SandboxClient | None:
        return self.clients.get(client_id)

    def validate_requested_scope(self, scope: str | None) -> None:
        """Scope policy lives in ``SandboxClient.get_allowed_scope`` (unknown scopes dropped)."""

    def _generate_token(
        self,
        grant_type: str,
        client: SandboxClient,
        user: LoginUser | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        token: dict[str, Any] = {
            "access_token": secrets.token_urlsafe(32),
            "token_type": "Bearer",
            "expires_in": self.token_ttl,
            "scope": scope or "",
        }
        if include_refresh_token and self.issue_refresh_tokens:
            token["refresh_token"] = secrets.token_urlsafe(32)
        if user is not None:
            if wants_patient(scope) and user.patient:
                token["patient"] = user.patient
            if wants_encounter(scope) and user.encounter:
                token["encounter"] = user.encounter
        token["need_patient_banner"] = True  # standalone launch: the app shows who is in context
        return token

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        family_id: str = request.family_id
        user: LoginUser = request.user
        client_id = request.client.client_id
        self.store.save_token(
            token["access_token"],
            kind=TokenKind.ACCESS,
            family_id=family_id,
            client_id=client_id,
            scope=token["scope"],
            user=user,
            lifetime=self.token_ttl,
        )
        if "refresh_token" in token:
            previous = request.refresh_token  # set on the refresh grant only
            refresh_scope = previous.scope if previous is not None else token["scope"]
            lifetime = (
                OFFLINE_REFRESH_LIFETIME_SECONDS
                if is_offline(refresh_scope)
                else ONLINE_REFRESH_LIFETIME_SECONDS
            )
            self.store.save_token(
                token["refresh_token"],
                kind=TokenKind.REFRESH,
                family_id=family_id,
                client_id=client_id,
                scope=refresh_scope,
                user=user,
                lifetime=lifetime,
            )
