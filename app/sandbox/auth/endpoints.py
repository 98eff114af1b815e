"""Token revocation (RFC 7009), introspection (RFC 7662) and the ``iss`` response parameter
(RFC 9207), as Authlib endpoints/extensions over the sandbox's token store."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc9207 import IssuerParameter

from app.sandbox.auth.grants import TOKEN_AUTH_METHODS
from app.sandbox.auth.records import TokenKind, TokenRecord

if TYPE_CHECKING:
    from app.sandbox.auth.oauth_server import SmartAuthorizationServer


def _find_token(
    server: SmartAuthorizationServer, value: str, hint: str | None
) -> TokenRecord | None:
    kinds = [TokenKind.ACCESS, TokenKind.REFRESH]
    if hint == "refresh_token":
        kinds.reverse()
    for kind in kinds:  # RFC 7009 2.1: a wrong hint only changes the search order
        record = server.store.find_token(value, kind)
        if record is not None:
            return record
    return None


class SmartRevocationEndpoint(RevocationEndpoint):  # type: ignore[misc]
    """Revoking a refresh token ends the whole sign-in (its access tokens too, as RFC 7009
    section 2.1 recommends); revoking an access token ends only that access token."""

    CLIENT_AUTH_METHODS: ClassVar[list[str]] = TOKEN_AUTH_METHODS
    server: SmartAuthorizationServer

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenRecord | None:
        return _find_token(self.server, token_string, token_type_hint)

    def revoke_token(self, token: TokenRecord, request: Any) -> None:
        if token.kind is TokenKind.REFRESH:
            self.server.store.revoke_family(token.family_id)
        else:
            self.server.store.revoke_token(token)


class SmartIntrospectionEndpoint(IntrospectionEndpoint):  # type: ignore[misc]
    """A client may introspect the tokens issued to it (there is no separate resource server)."""

    CLIENT_AUTH_METHODS: ClassVar[list[str]] = TOKEN_AUTH_METHODS
    server: SmartAuthorizationServer

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenRecord | None:
        return _find_token(self.server, token_string, token_type_hint)

    def check_permission(self, token: TokenRecord, client: Any, request: Any) -> bool:
        return token.check_client(client)

    def create_introspection_payload(self, token: TokenRecord | None) -> dict[str, Any]:
        # A rotated refresh token is as dead as a revoked one; Authlib only asks the latter.
        if token is None or not token.is_live:
            return {"active": False}
        return self.introspect_token(token)

    def introspect_token(self, token: TokenRecord) -> dict[str, Any]:
        urls = self.server.urls
        payload: dict[str, Any] = {
            "active": True,
            "token_type": "Bearer" if token.kind is TokenKind.ACCESS else "refresh_token",
            "client_id": token.client_id,
            "scope": token.scope,
            "sub": token.user.id,
            "fhirUser": f"{urls.fhir_base}/{token.user.fhir_user}",
            "iss": urls.issuer,
            "aud": urls.fhir_base,
            "iat": int(token.issued_at),
            "exp": int(token.expires_at),
        }
        if token.user.patient:
            payload["patient"] = token.user.patient
        if token.user.encounter:
            payload["encounter"] = token.user.encounter
        return payload


class SmartIssuerParameter(IssuerParameter):  # type: ignore[misc]
    """RFC 9207: ``iss`` on every authorization response, errors included."""

    def __init__(self, issuer: str) -> None:
        self._issuer = issuer

    def get_issuer(self) -> str:
        return self._issuer
