"""SMART discovery: ``<base>/.well-known/smart-configuration``, else the CapabilityStatement.

Relative endpoint URLs are resolved against the FHIR base (with a trailing slash), so
``"/auth/token"`` is host-relative and ``"auth/token"`` sits under the base.
Older (SMART v1) servers only publish the ``oauth-uris`` extension in ``/metadata``
``rest.security``; then there is no issuer and no declared capabilities beyond what the
CapabilityStatement's security service implies.
"""

from __future__ import annotations

import enum
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import httpx

from app.domain.capabilities import parse_capabilities
from app.smart.errors import DiscoveryError
from app.smart.http import NO_AUTH, configured_proxy, network_error
from app.smart.http_log import prefix

log = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"


class DiscoverySource(enum.Enum):
    WELL_KNOWN = "smart-configuration"
    CAPABILITY_STATEMENT = "CapabilityStatement oauth-uris"


@dataclass(frozen=True)
class SmartConfiguration:
    """What the server declared about signing in. Capabilities are kept verbatim."""

    fhir_base: str
    authorization_endpoint: str
    token_endpoint: str
    source: DiscoverySource
    issuer: str | None = None
    jwks_uri: str | None = None
    revocation_endpoint: str | None = None
    introspection_endpoint: str | None = None
    userinfo_endpoint: str | None = None
    capabilities: frozenset[str] = frozenset()
    scopes_supported: tuple[str, ...] = ()
    code_challenge_methods_supported: tuple[str, ...] = ()
    grant_types_supported: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def supports(self, capability: str) -> bool:
        return capability in self.capabilities

    @property
    def permission_v2(self) -> bool:
        """SMART v2 scope syntax (``user/Observation.rs``) is declared."""
        return self.supports("permission-v2")

    @property
    def pkce_s256_declared(self) -> bool:
        return "S256" in self.code_challenge_methods_supported


def _resolve(base: str, value: object, key: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise DiscoveryError(detail=f"'{key}' is not a URL: {value!r}")
    return urljoin(base.rstrip("/") + "/", value.strip())


def _strings(value: object) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(v for v in value if isinstance(v, str))
    return ()


def parse_smart_configuration(fhir_base: str, doc: Mapping[str, Any]) -> SmartConfiguration:
    base = fhir_base.rstrip("/")
    authorize = _resolve(base, doc.get("authorization_endpoint"), "authorization_endpoint")
    token = _resolve(base, doc.get("token_endpoint"), "token_endpoint")
    if authorize is None or token is None:
        raise DiscoveryError(
            "The EHR's SMART configuration names no sign-in or token address. "
            "Ask clinic IT to check the EHR's SMART setup.",
            detail="authorization_endpoint or token_endpoint missing",
        )
    issuer = doc.get("issuer")
    return SmartConfiguration(
        fhir_base=base,
        authorization_endpoint=authorize,
        token_endpoint=token,
        source=DiscoverySource.WELL_KNOWN,
        issuer=issuer if isinstance(issuer, str) and issuer else None,
        jwks_uri=_resolve(base, doc.get("jwks_uri"), "jwks_uri"),
        revocation_endpoint=_resolve(base, doc.get("revocation_endpoint"), "revocation_endpoint"),
        introspection_endpoint=_resolve(
            base, doc.get("introspection_endpoint"), "introspection_endpoint"
        ),
        userinfo_endpoint=_resolve(base, doc.get("userinfo_endpoint"), "userinfo_endpoint"),
        capabilities=frozenset(_strings(doc.get("capabilities"))),
        scopes_supported=_strings(doc.get("scopes_supported")),
        code_challenge_methods_supported=_strings(doc.get("code_challenge_methods_supported")),
        grant_types_supported=_strings(doc.get("grant_types_supported")),
        raw=dict(doc),
    )


def parse_capability_statement(fhir_base: str, cs: Mapping[str, Any]) -> SmartConfiguration:
    """The SMART v1 fallback: endpoints from ``rest[].security.extension[oauth-uris]``."""
    base = fhir_base.rstrip("/")
    for uris in parse_capabilities(cs).oauth_uris:
        authorize = _resolve(base, uris.get("authorize"), "authorize")
        token = _resolve(base, uris.get("token"), "token")
        if authorize and token:
            return SmartConfiguration(
                fhir_base=base,
                authorization_endpoint=authorize,
                token_endpoint=token,
                source=DiscoverySource.CAPABILITY_STATEMENT,
                revocation_endpoint=_resolve(base, uris.get("revoke"), "revoke"),
                introspection_endpoint=_resolve(base, uris.get("introspect"), "introspect"),
                # SMART v1 servers sign in with v1 scopes; nothing else is declared.
                capabilities=frozenset({"permission-v1"}),
                raw=dict(cs),
            )
    raise DiscoveryError(detail="CapabilityStatement has no oauth-uris security extension")


def _found(config: SmartConfiguration) -> SmartConfiguration:
    log.debug(
        "%sdiscovery: from the %s; capabilities: %s",
        prefix(),
        config.source.value,
        " ".join(sorted(config.capabilities)) or "none declared",
    )
    return config


async def _get_json(client: httpx.AsyncClient, url: str, accept: str) -> Any:
    try:
        response = await client.get(url, headers={"Accept": accept}, auth=NO_AUTH)
    except httpx.TransportError as exc:
        raise network_error(exc, url, proxy=configured_proxy(client)) from exc
    if response.status_code != 200:
        return None
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


async def discover(client: httpx.AsyncClient, fhir_base: str) -> SmartConfiguration:
    """Ask the server how to sign in. Raises ``NetworkError`` or ``DiscoveryError``."""
    base = fhir_base.rstrip("/")
    doc = await _get_json(client, f"{base}/.well-known/smart-configuration", "application/json")
    if isinstance(doc, dict):
        try:
            return _found(parse_smart_configuration(base, doc))
        except DiscoveryError as exc:
            log.debug("%sdiscovery: smart-configuration unusable: %s", prefix(), exc.detail)
    else:
        log.debug("%sdiscovery: no smart-configuration; trying the CapabilityStatement", prefix())
    cs = await _get_json(client, f"{base}/metadata", FHIR_JSON)
    if isinstance(cs, dict) and cs.get("resourceType") == "CapabilityStatement":
        try:
            return _found(parse_capability_statement(base, cs))
        except DiscoveryError:
            log.debug("%sdiscovery: the CapabilityStatement has no oauth-uris", prefix())
        raise DiscoveryError(
            f"{base} is a FHIR server, but it does not declare SMART sign-in. "
            "Ask clinic IT whether this is the right FHIR base URL.",
            detail="no smart-configuration and no oauth-uris extension",
        )
    raise DiscoveryError(
        f"No FHIR server answered at {base}. Ask clinic IT to check the FHIR base URL "
        "in the site configuration.",
        detail="neither .well-known/smart-configuration nor /metadata returned JSON",
    )
