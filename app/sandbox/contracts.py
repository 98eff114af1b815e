"""The seams between the sandbox's parts.

The sandbox is one Flask application on one port:

    /fhir/...                              FHIR R4 REST API          (app.sandbox.fhir)
    /fhir/.well-known/smart-configuration  SMART discovery           (app.sandbox.auth)
    /auth/...                              SMART authorization server (app.sandbox.auth)

The FHIR side asks the authorization side "who holds this bearer token?" through
``TokenVerifier``; the authorization side asks the FHIR side "who can log in, and which
encounter is current for this patient?" through ``Directory``. Neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class SandboxUrls:
    """Absolute URLs of one running sandbox (known once the port is bound)."""

    base: str  # http://127.0.0.1:PORT

    @property
    def fhir_base(self) -> str:
        return f"{self.base}/fhir"

    @property
    def issuer(self) -> str:
        return f"{self.base}/auth"

    @property
    def authorize(self) -> str:
        return f"{self.issuer}/authorize"

    @property
    def token(self) -> str:
        return f"{self.issuer}/token"

    @property
    def revoke(self) -> str:
        return f"{self.issuer}/revoke"

    @property
    def introspect(self) -> str:
        return f"{self.issuer}/introspect"

    @property
    def jwks(self) -> str:
        return f"{self.issuer}/jwks"

    @property
    def userinfo(self) -> str:
        return f"{self.issuer}/userinfo"


@dataclass(frozen=True)
class TokenClaims:
    """What the authorization server knows about a valid access token."""

    client_id: str
    scope: str  # granted scopes, space separated, SMART v1 and/or v2 syntax
    subject: str  # login id, for example "prac-1"
    fhir_user: str  # relative reference, for example "Practitioner/prac-1"
    patient: str | None  # launch context patient id
    encounter: str | None  # launch context encounter id
    expires_at: float  # epoch seconds


class TokenVerifier(Protocol):
    def verify_access_token(self, token: str) -> TokenClaims | None:
        """Claims of a live access token, or None when unknown, expired or revoked."""


@dataclass(frozen=True)
class DirectoryEntry:
    resource_type: str  # "Practitioner" | "Patient"
    id: str
    display: str  # human name, for the login page
    detail: str = ""  # for example birth date and MRN of a patient


class Directory(Protocol):
    def practitioners(self) -> list[DirectoryEntry]: ...

    def patients(self) -> list[DirectoryEntry]: ...

    def exists(self, resource_type: str, resource_id: str) -> bool: ...

    def latest_encounter(self, patient_id: str) -> str | None:
        """Id of the patient's most recent encounter, or None when they have none."""
