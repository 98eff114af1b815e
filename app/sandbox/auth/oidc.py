"""OpenID Connect on the code grant: a signed id_token with SMART's ``fhirUser`` claim."""

from __future__ import annotations

from typing import Any

from authlib.oidc.core import OpenIDCode

from app.sandbox.auth.keys import ALGORITHM, SigningKey
from app.sandbox.auth.records import LoginUser
from app.sandbox.auth.storage import AuthStore
from app.sandbox.contracts import SandboxUrls

ID_TOKEN_LIFETIME_SECONDS = 3600


def user_claims(user: LoginUser, urls: SandboxUrls) -> dict[str, Any]:
    """Claims about the signed-in user, for the id_token and the userinfo endpoint."""
    return {
        "sub": user.id,
        "fhirUser": f"{urls.fhir_base}/{user.fhir_user}",
        "name": user.display,
    }


class SmartOpenIDCode(OpenIDCode):  # type: ignore[misc]
    """Authlib's OpenIDCode with the sandbox's persisted RS256 key.

    Claims: ``iss`` (the issuer), ``aud`` (the client_id), ``sub``, ``iat``, ``exp``,
    ``auth_time``, ``nonce`` when the request had one, ``at_hash``, ``fhirUser`` (absolute URL)
    and ``name``. The header carries ``kid`` so clients pick the key from the JWKS.
    """

    DEFAULT_EXPIRES_IN = ID_TOKEN_LIFETIME_SECONDS

    def __init__(self, key: SigningKey, urls: SandboxUrls, store: AuthStore) -> None:
        super().__init__(require_nonce=False)
        self._key = key
        self._urls = urls
        self._store = store

    def resolve_client_private_key(self, client: Any) -> Any:
        return self._key.private_key

    def get_client_algorithm(self, client: Any) -> str:
        return ALGORITHM

    def get_encode_header(self, client: Any) -> dict[str, str]:
        return {"alg": ALGORITHM, "kid": self._key.kid, "typ": "JWT"}

    def get_client_claims(self, client: Any) -> dict[str, Any]:
        return {"iss": self._urls.issuer, "aud": client.client_id}

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        return self._store.nonce_seen(request.payload.client_id, nonce)

    def generate_user_info(self, user: LoginUser, scope: str) -> dict[str, Any]:
        return user_claims(user, self._urls)
