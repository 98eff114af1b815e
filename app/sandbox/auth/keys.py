"""The RS256 key that signs id_tokens, kept in the sandbox database and published as a JWKS."""

from __future__ import annotations

from typing import Any

from joserfc.jwk import KeySet, RSAKey

from app.sandbox.auth.storage import AuthStore

ALGORITHM = "RS256"


class SigningKey:
    """Loads the newest signing key from the store, creating one on first start."""

    def __init__(self, store: AuthStore) -> None:
        stored = store.load_signing_key()
        if stored is None:
            key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": ALGORITHM})
            kid = key.thumbprint()
            key = RSAKey.import_key({**key.as_dict(private=True), "kid": kid})
            store.save_signing_key(kid, key.as_dict(private=True))
        else:
            key = RSAKey.import_key(stored)
        self._key = key

    @property
    def kid(self) -> str:
        return str(self._key.kid)

    @property
    def private_key(self) -> RSAKey:
        return self._key

    def jwks(self) -> dict[str, Any]:
        """The public JWK Set (never the private parts)."""
        return dict(KeySet([self._key]).as_dict(private=False))
