"""PKCE (RFC 7636, S256 only) and the random values of one authorization request."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

STATE_BYTES = 32  # 256 bits, well above SMART's 122-bit minimum


@dataclass(frozen=True)
class Pkce:
    verifier: str = field(repr=False)
    challenge: str
    method: str = "S256"


def new_pkce() -> Pkce:
    """A 86-character verifier (RFC 7636 allows 43..128) and its S256 challenge."""
    # authlib loads when the clinician signs in, not at start-up (issue 15)
    from authlib.oauth2.rfc7636 import create_s256_code_challenge

    verifier = secrets.token_urlsafe(64)
    return Pkce(verifier=verifier, challenge=create_s256_code_challenge(verifier))


def new_state() -> str:
    return secrets.token_urlsafe(STATE_BYTES)


def new_nonce() -> str:
    return secrets.token_urlsafe(STATE_BYTES)
