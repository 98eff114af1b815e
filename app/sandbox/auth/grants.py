"""Authlib grants, specialised for SMART App Launch.

Authlib does the protocol (parameter checks, client authentication, code/redirect binding,
PKCE comparison, error shapes); these subclasses add what SMART asks for and Authlib leaves
open: PKCE S256 required for every request, ``aud`` checked against the FHIR base, codes kept
after use so a replay is recognised, and refresh tokens rotated with reuse detection.

Grants are created by Authlib per request as ``cls(request, server)``; their dependencies come
from the server (``SmartAuthorizationServer``), which was built with them.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, ClassVar

from authlib.oauth2.rfc6749 import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
)
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant, RefreshTokenGrant
from authlib.oauth2.rfc7636 import CodeChallenge

from app.sandbox.auth.records import (
    CodeRecord,
    LoginUser,
    TokenKind,
    TokenRecord,
    UserKind,
    token_hash,
)
from app.sandbox.auth.scopes import grantable_scope, wants_refresh_token

if TYPE_CHECKING:
    from app.sandbox.auth.oauth_server import SmartAuthorizationServer

CODE_LIFETIME_SECONDS = 120
TOKEN_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]


class SmartCodeChallenge(CodeChallenge):  # type: ignore[misc]
    """PKCE (RFC 7636) as SMART App Launch 2 requires it: S256, on every request.

    Authlib's ``CodeChallenge(required=True)`` only insists on a ``code_verifier`` at the token
    endpoint; it lets an authorization request without ``code_challenge`` through and accepts
    ``plain``. Both are refused here, before the login page, with ``invalid_request``.
    """

    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def __init__(self) -> None:
        super().__init__(required=True)

    def validate_code_challenge(self, grant: Any, redirect_uri: str | None) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError(
                "code_challenge is required: this server requires PKCE with S256 (RFC 7636)"
            )
        method = data.get("code_challenge_method")
        if method != "S256":
            shown = method or "missing, which means plain"
            raise InvalidRequestError(
                f"code_challenge_method must be S256 (got {shown}); plain is not accepted"
            )
        super().validate_code_challenge(grant, redirect_uri)


class AudienceCheck:
    """SMART's ``aud``: the FHIR base the token is for. Required; a mismatch is refused.

    Authlib has no notion of ``aud`` on the authorization request, so this hooks the same
    validation step as PKCE; an error there is redirected to the (already trusted) client.
    """

    def __init__(self, fhir_base: str) -> None:
        self.fhir_base = fhir_base.rstrip("/")

    def __call__(self, grant: Any) -> None:
        grant.register_hook("after_validate_authorization_request_payload", self.validate)

    def validate(self, grant: Any, redirect_uri: str | None) -> None:
        aud = grant.request.payload.data.get("aud")
        if not aud:
            raise InvalidRequestError(f"aud is required: the FHIR base URL {self.fhir_base}")
        if aud.rstrip("/") != self.fhir_base:
            raise InvalidRequestError(
                f"aud {aud} is not this server's FHIR base URL {self.fhir_base}"
            )


def scope_for_user(scope: str | None, user: LoginUser) -> str:
    return grantable_scope(scope, patient_login=user.kind is UserKind.PATIENT)


class SmartAuthorizationCodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = TOKEN_AUTH_METHODS
    server: SmartAuthorizationServer

    def create_authorization_response(self, redirect_uri: str, grant_user: Any) -> Any:
        if grant_user is not None and not scope_for_user(self.request.scope, grant_user):
            raise InvalidScopeError(
                "none of the requested scopes can be granted to this user",
                redirect_uri=redirect_uri,
            )
        return super().create_authorization_response(redirect_uri, grant_user)

    def save_authorization_code(self, code: str, request: Any) -> None:
        user: LoginUser = request.user
        data = request.payload.data
        now = self.server.store.now()
        self.server.store.save_code(
            CodeRecord(
                key=token_hash(code),
                client_id=request.client.client_id,
                redirect_uri=request.payload.redirect_uri,
                scope=scope_for_user(request.scope, user),
                user=user,
                code_challenge=data["code_challenge"],
                code_challenge_method=data["code_challenge_method"],
                nonce=data.get("nonce") or None,
                auth_time=int(now),
                expires_at=now + CODE_LIFETIME_SECONDS,
            )
        )

    def query_authorization_code(self, code: str, client: Any) -> CodeRecord | None:
        store = self.server.store
        record = store.find_code(code)
        if record is None or record.client_id != client.client_id:
            return None  # Authlib answers invalid_grant "Invalid 'code'"
        if record.used_at is not None:
            # RFC 6749 4.1.2: a code used twice is refused and what it issued is revoked.
            if record.family_id:
                store.revoke_family(record.family_id)
            raise InvalidGrantError(
                "authorization code was already used; the tokens issued for it are now revoked"
            )
        if record.expires_at <= store.now():
            raise InvalidGrantError(
                f"authorization code expired (codes are valid {CODE_LIFETIME_SECONDS} s);"
                " start the sign-in again"
            )
        return record

    def authenticate_user(self, authorization_code: CodeRecord) -> LoginUser:
        # Claim the code atomically before issuing anything: of two concurrent redemptions
        # exactly one wins, the other gets invalid_grant.
        family_id = uuid.uuid4().hex
        if not self.server.store.claim_code(authorization_code, family_id):
            raise InvalidGrantError("authorization code was already used")
        self.request.family_id = family_id
        return authorization_code.user

    def delete_authorization_code(self, authorization_code: CodeRecord) -> None:
        """Kept (marked used) instead, so that a replay is recognised; pruned after expiry."""

    def generate_token(
        self,
        user: Any = None,
        scope: str | None = None,
        grant_type: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        # A refresh token only for offline_access / online_access (SMART), not for every
        # client that may use the refresh_token grant (Authlib's default).
        return super().generate_token(  # type: ignore[no-any-return]
            user=user,
            scope=scope,
            grant_type=grant_type,
            expires_in=expires_in,
            include_refresh_token=include_refresh_token and wants_refresh_token(scope),
        )


class SmartRefreshTokenGrant(RefreshTokenGrant):  # type: ignore[misc]
    """Refresh with rotation: every refresh returns a new refresh token and retires the old.

    Presenting a retired refresh token again revokes the whole sign-in (its token family), as
    oidc-provider does and OAuth 2.1 recommends for public clients: one of the two holders is
    not the legitimate client.
    """

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = TOKEN_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True
    server: SmartAuthorizationServer

    def authenticate_refresh_token(self, refresh_token: str) -> TokenRecord | None:
        store = self.server.store
        record = store.find_token(refresh_token, TokenKind.REFRESH)
        if record is None:
            raise InvalidGrantError("refresh token is unknown")
        if record.rotated_at is not None:
            store.revoke_family(record.family_id)
            raise InvalidGrantError(
                "refresh token was already used and has been replaced; for safety the whole"
                " session is now revoked, sign in again"
            )
        if record.is_revoked():
            raise InvalidGrantError("refresh token was revoked; sign in again")
        if record.is_expired():
            raise InvalidGrantError("refresh token expired; sign in again")
        return record

    def authenticate_user(self, refresh_token: TokenRecord) -> LoginUser:
        if not self.server.store.claim_refresh_token(refresh_token):
            self.server.store.revoke_family(refresh_token.family_id)
            raise InvalidGrantError("refresh token was already used; sign in again")
        self.request.family_id = refresh_token.family_id
        return refresh_token.user

    def issue_token(self, user: LoginUser, refresh_token: TokenRecord) -> dict[str, Any]:
        # The new access token may have a narrower scope (checked by Authlib against the
        # refresh token's); the new refresh token keeps the refresh token's scope (RFC 6749 6).
        scope = self.request.payload.scope or refresh_token.get_scope()
        return self.generate_token(user=user, scope=scope, include_refresh_token=True)  # type: ignore[no-any-return]

    def revoke_old_credential(self, refresh_token: TokenRecord) -> None:
        """Already retired atomically in ``authenticate_user``."""
