"""What the authorization server remembers: who signed in, codes, and tokens.

Codes and tokens are stored by their SHA-256 hash, never in clear, so a copy of the database
does not hand out live sessions. Every code redemption starts a token *family*; refreshing
keeps the family, and revoking a family (code reuse, refresh token reuse, revocation of a
refresh token) ends every token in it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import Enum

from authlib.oauth2.rfc6749 import TokenMixin
from authlib.oidc.core import AuthorizationCodeMixin


def token_hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


class UserKind(Enum):
    PRACTITIONER = "Practitioner"
    PATIENT = "Patient"


@dataclass(frozen=True)
class LoginUser:
    """The person who approved the request, and the launch context they chose."""

    kind: UserKind
    id: str
    display: str
    patient: str | None = None  # context (for a Patient login: always themselves)
    encounter: str | None = None

    @property
    def fhir_user(self) -> str:
        return f"{self.kind.value}/{self.id}"


@dataclass(frozen=True)
class CodeRecord(AuthorizationCodeMixin):  # type: ignore[misc]
    key: str  # token_hash(code)
    client_id: str
    redirect_uri: str
    scope: str
    user: LoginUser
    code_challenge: str
    code_challenge_method: str
    nonce: str | None
    auth_time: int
    expires_at: float
    used_at: float | None = None
    family_id: str | None = None

    # -- Authlib / OIDC AuthorizationCodeMixin
    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time


class TokenKind(Enum):
    ACCESS = "access"
    REFRESH = "refresh"


@dataclass(frozen=True)
class TokenRecord(TokenMixin):  # type: ignore[misc]
    key: str  # token_hash(token)
    kind: TokenKind
    family_id: str
    client_id: str
    scope: str
    user: LoginUser
    issued_at: float
    expires_at: float
    revoked_at: float | None = None
    rotated_at: float | None = None  # refresh tokens: when exchanged for a new one
    now: float = 0.0  # when this record was read; Authlib's is_expired() takes no clock

    @property
    def is_live(self) -> bool:
        return not self.is_revoked() and not self.is_expired() and self.rotated_at is None

    # -- Authlib TokenMixin
    def check_client(self, client: object) -> bool:
        return getattr(client, "client_id", None) == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return int(self.expires_at - self.issued_at)

    def is_expired(self) -> bool:
        return self.expires_at <= self.now

    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def get_user(self) -> LoginUser:
        return self.user
