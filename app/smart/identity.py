"""Who signed in: the id_token verified against the issuer's JWKS, and the ``fhirUser``.

The id_token signature is checked with joserfc against the keys at the issuer's
``jwks_uri`` (from discovery, else from ``<issuer>/.well-known/openid-configuration``),
then ``iss`` (= the discovered issuer), ``aud`` (= our client_id), ``exp`` and, when we sent
one, ``nonce``. ``fhirUser`` may be absolute or relative to the FHIR base; the clinician's
name is read from that resource (falling back to the id_token's ``name``).
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from app.smart.discovery import SmartConfiguration
from app.smart.errors import IdentityError, NetworkError
from app.smart.http import NO_AUTH, configured_proxy, network_error

if TYPE_CHECKING:  # joserfc (and cryptography's X.509) load at sign-in, not at start-up
    from joserfc.jwk import KeySet

log = logging.getLogger(__name__)

ID_TOKEN_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384"]
CLOCK_LEEWAY_SECONDS = 120
USER_TYPES = ("Practitioner", "PractitionerRole", "Patient", "RelatedPerson", "Person")


@dataclass(frozen=True)
class FhirUserRef:
    url: str  # absolute
    resource_type: str
    id: str

    @property
    def reference(self) -> str:
        return f"{self.resource_type}/{self.id}"


@dataclass(frozen=True)
class SignedInUser:
    subject: str | None
    fhir_user: FhirUserRef | None
    display_name: str

    @property
    def key(self) -> str:
        """Keyring username: stable per user and site."""
        if self.subject:
            return self.subject
        if self.fhir_user:
            return self.fhir_user.reference
        return "default"


def resolve_fhir_user(value: str, fhir_base: str) -> FhirUserRef:
    """``Practitioner/p1`` or ``https://ehr/fhir/Practitioner/p1`` -> absolute reference."""
    value = value.strip()
    if "://" in value:
        url = value
        parts = [p for p in urlsplit(value).path.split("/") if p]
    else:
        url = f"{fhir_base.rstrip('/')}/{value.lstrip('/')}"
        parts = [p for p in value.split("/") if p]
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]  # a versioned reference: keep type/id
    if len(parts) < 2 or parts[-2] not in USER_TYPES:
        raise IdentityError(detail=f"fhirUser is not a user reference: {value!r}")
    return FhirUserRef(url=url, resource_type=parts[-2], id=parts[-1])


async def _get_json(http: httpx.AsyncClient, url: str) -> Any:
    try:
        response = await http.get(url, headers={"Accept": "application/json"}, auth=NO_AUTH)
    except httpx.TransportError as exc:
        raise network_error(exc, url, proxy=configured_proxy(http)) from exc
    if response.status_code != 200:
        raise IdentityError(detail=f"GET {url}: HTTP {response.status_code}")
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IdentityError(detail=f"GET {url}: not JSON") from exc


async def jwks_for(http: httpx.AsyncClient, config: SmartConfiguration, issuer: str) -> KeySet:
    jwks_uri = config.jwks_uri
    if jwks_uri is None:
        oidc = await _get_json(http, f"{issuer.rstrip('/')}/.well-known/openid-configuration")
        jwks_uri = oidc.get("jwks_uri") if isinstance(oidc, dict) else None
        if not isinstance(jwks_uri, str):
            raise IdentityError(detail="the issuer publishes no jwks_uri")
    doc = await _get_json(http, jwks_uri)
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    try:
        return KeySet.import_key_set(doc)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise IdentityError(detail=f"unusable JWKS at {jwks_uri}: {exc}") from exc


async def verify_id_token(
    http: httpx.AsyncClient,
    config: SmartConfiguration,
    id_token: str,
    *,
    client_id: str,
    nonce: str | None = None,
    now: float | None = None,
) -> Mapping[str, Any]:
    """The verified claims. Raises ``IdentityError`` (or ``NetworkError`` fetching keys)."""
    issuer = config.issuer or _issuer_from_unverified(id_token)
    keys = await jwks_for(http, config, issuer)
    from joserfc import jwt
    from joserfc.errors import JoseError

    try:
        token = jwt.decode(id_token, keys, algorithms=ID_TOKEN_ALGORITHMS)
        registry = jwt.JWTClaimsRegistry(
            now=int(now if now is not None else time.time()),
            leeway=CLOCK_LEEWAY_SECONDS,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": client_id},
            exp={"essential": True},
            sub={"essential": True},
        )
        registry.validate(token.claims)
    except JoseError as exc:
        raise IdentityError(detail=f"id_token rejected: {exc}") from exc
    claims = token.claims
    sent_nonce = claims.get("nonce")
    if (
        nonce is not None
        and sent_nonce is not None
        and not (isinstance(sent_nonce, str) and hmac.compare_digest(sent_nonce, nonce))
    ):
        raise IdentityError(detail="id_token nonce does not match this sign-in")
    return claims


def _issuer_from_unverified(id_token: str) -> str:
    """SMART v1 servers (CapabilityStatement discovery) declare no issuer: the token names
    it, and its keys are then fetched over TLS from that issuer's OIDC discovery."""
    try:
        payload = id_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError) as exc:
        raise IdentityError(detail="id_token is not a JWT") from exc
    iss = claims.get("iss") if isinstance(claims, dict) else None
    if not isinstance(iss, str) or not iss.startswith(("https://", "http://")):
        raise IdentityError(detail="id_token names no issuer")
    return iss


def human_name(resource: Mapping[str, Any]) -> str | None:
    """A display name from a FHIR resource's ``name`` (HumanName list, or a plain string)."""
    names = resource.get("name")
    if isinstance(names, str):
        return names or None
    if not isinstance(names, list) or not names:
        return None
    official = [n for n in names if isinstance(n, dict) and n.get("use") == "official"]
    name = (official or [n for n in names if isinstance(n, dict)] or [{}])[0]
    if isinstance(name.get("text"), str) and name["text"].strip():
        return str(name["text"]).strip()
    parts = [*name.get("prefix", []), *name.get("given", []), name.get("family")]
    text = " ".join(p for p in parts if isinstance(p, str) and p)
    return text or None


async def read_display_name(
    http: httpx.AsyncClient, auth: httpx.Auth, ref: FhirUserRef
) -> str | None:
    """The user's name from their FHIR resource; None when it cannot be read."""
    try:
        response = await http.get(ref.url, headers={"Accept": "application/fhir+json"}, auth=auth)
    except httpx.TransportError as exc:
        log.info(
            "reading fhirUser failed: %s",
            network_error(exc, ref.url, proxy=configured_proxy(http)).message,
        )
        return None
    except NetworkError:
        return None
    if response.status_code != 200:
        log.info("reading fhirUser %s: HTTP %s", ref.resource_type, response.status_code)
        return None
    try:
        resource = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return human_name(resource) if isinstance(resource, dict) else None
