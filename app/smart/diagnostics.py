"""``fhir-writeback check``: can this app work with this site? A readable report for support.

Reachability and TLS, SMART discovery (and its fallback), declared capabilities, the FHIR
version, and which write-back targets the CapabilityStatement allows. The site is *usable*
when the server answers over verified TLS (or plain http on this computer only), sign-in
can be discovered, PKCE S256 is not ruled out, and DocumentReference create is allowed.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from app.domain.capabilities import parse_capabilities
from app.domain.items import write_types
from app.domain.site import Site
from app.smart.discovery import FHIR_JSON, DiscoverySource, SmartConfiguration, discover
from app.smart.errors import CertificateError, NetworkError, SmartError
from app.smart.http import NO_AUTH, configured_proxy, network_error

WRITE_TYPES = write_types()  # from the catalogue of item kinds (app.domain.items)
USEFUL_CAPABILITIES = ("launch-standalone", "client-public", "permission-v2", "permission-v1",
                       "permission-offline", "sso-openid-connect", "context-standalone-patient",
                       "context-standalone-encounter")  # fmt: skip


class Status(enum.Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Finding:
    status: Status
    topic: str
    text: str


@dataclass
class SiteReport:
    site: Site
    findings: list[Finding] = field(default_factory=list)
    configuration: SmartConfiguration | None = None
    fhir_version: str | None = None
    write_targets: dict[str, bool] = field(default_factory=dict)

    def add(self, status: Status, topic: str, text: str) -> None:
        self.findings.append(Finding(status, topic, text))

    @property
    def usable(self) -> bool:
        return bool(self.findings) and not any(f.status is Status.FAIL for f in self.findings)

    def render(self) -> str:
        lines = [
            f"Site: {self.site.display_name} ({self.site.id})",
            f"FHIR base: {self.site.fhir_base}",
            "",
        ]
        width = max((len(f.topic) for f in self.findings), default=0)
        for f in self.findings:
            lines.append(f"[{f.status.value:>4}] {f.topic.ljust(width)}  {f.text}")
        lines.append("")
        lines.append(
            "Result: usable by FHIR Write-back."
            if self.usable
            else "Result: NOT usable - fix the FAIL lines above (see docs/sign-in.md)."
        )
        return "\n".join(lines)


async def check_site(site: Site, http: httpx.AsyncClient) -> SiteReport:
    report = SiteReport(site)
    base = site.fhir_base.rstrip("/")
    capability = await _fetch_metadata(report, http, base)
    if capability is _UNREACHABLE:
        return report
    try:
        config = await discover(http, base)
    except SmartError as exc:
        report.add(Status.FAIL, "Sign-in discovery", exc.message)
    else:
        _report_discovery(report, config)
    if isinstance(capability, dict):
        _report_capability_statement(report, capability)
    return report


_UNREACHABLE = object()


async def _fetch_metadata(report: SiteReport, http: httpx.AsyncClient, base: str) -> object:
    url = f"{base}/metadata"
    try:
        response = await http.get(url, headers={"Accept": FHIR_JSON}, auth=NO_AUTH)
    except httpx.TransportError as exc:
        error = network_error(exc, url, proxy=configured_proxy(http))
        topic = "TLS certificate" if isinstance(error, CertificateError) else "Reachable"
        report.add(Status.FAIL, topic, error.message)
        return _UNREACHABLE
    except NetworkError as exc:  # pragma: no cover - defensive
        report.add(Status.FAIL, "Reachable", exc.message)
        return _UNREACHABLE
    report.add(
        Status.OK, "Reachable", f"{urlsplit(base).netloc} answered (HTTP {response.status_code})"
    )
    if urlsplit(base).scheme == "https":
        trust = "public CAs + clinic CA bundle" if report.site.ca_bundle else "public CAs"
        report.add(Status.OK, "TLS certificate", f"verified ({trust})")
    else:
        report.add(
            Status.WARN, "TLS certificate", "not used: plain http, allowed on this computer only"
        )
    if report.site.proxy:
        report.add(Status.OK, "Proxy", f"through {report.site.proxy}")
    if response.status_code != 200:
        report.add(
            Status.FAIL,
            "CapabilityStatement",
            f"GET /metadata answered HTTP {response.status_code}; the server's FHIR features are unknown",
        )
        return None
    try:
        doc: Any = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        doc = None
    if not isinstance(doc, dict) or doc.get("resourceType") != "CapabilityStatement":
        report.add(
            Status.FAIL, "CapabilityStatement", "GET /metadata did not return a CapabilityStatement"
        )
        return None
    return doc


def _report_discovery(report: SiteReport, config: SmartConfiguration) -> None:
    report.configuration = config
    if config.source is DiscoverySource.WELL_KNOWN:
        report.add(Status.OK, "Sign-in discovery", ".well-known/smart-configuration")
    else:
        report.add(
            Status.WARN,
            "Sign-in discovery",
            "older server: only the CapabilityStatement oauth-uris (SMART v1)",
        )
    report.add(Status.OK, "Authorize endpoint", config.authorization_endpoint)
    report.add(Status.OK, "Token endpoint", config.token_endpoint)
    if config.revocation_endpoint:
        report.add(Status.OK, "Revocation", config.revocation_endpoint)
    else:
        report.add(
            Status.WARN,
            "Revocation",
            "none declared: sign-out only forgets tokens on this computer",
        )
    if config.issuer and config.jwks_uri:
        report.add(Status.OK, "Identity (OpenID)", f"issuer {config.issuer}")
    else:
        report.add(
            Status.WARN,
            "Identity (OpenID)",
            "no issuer/jwks_uri declared: the clinician's name may not be shown",
        )
    methods = config.code_challenge_methods_supported
    if config.pkce_s256_declared:
        report.add(Status.OK, "PKCE", "S256 supported")
    elif methods:
        report.add(
            Status.FAIL,
            "PKCE",
            f"S256 not supported (only {', '.join(methods)}); the app requires S256",
        )
    else:
        report.add(Status.WARN, "PKCE", "not declared; the app sends S256 anyway")
    declared = [c for c in USEFUL_CAPABILITIES if config.supports(c)]
    report.add(
        Status.OK, "Capabilities", ", ".join(sorted(config.capabilities)) or "(none declared)"
    )
    if config.capabilities and "launch-standalone" not in declared:
        report.add(Status.WARN, "Standalone launch", "not declared by the server")
    if config.capabilities and "client-public" not in declared:
        report.add(
            Status.WARN, "Public clients", "not declared by the server (the app is a public client)"
        )
    syntax = "v2 (user/Observation.rs)" if config.permission_v2 else "v1 (user/Observation.read)"
    report.add(Status.OK, "Scope syntax", syntax)


def _report_capability_statement(report: SiteReport, cs: Mapping[str, Any]) -> None:
    caps = parse_capabilities(cs)
    report.fhir_version = caps.fhir_version
    if caps.is_r4_family:
        report.add(Status.OK, "FHIR version", caps.fhir_version or "")
    else:
        report.add(
            Status.FAIL,
            "FHIR version",
            f"{report.fhir_version or 'not stated'}; the app needs FHIR R4",
        )
    for resource_type in WRITE_TYPES:
        allowed = caps.can_create(resource_type)
        report.write_targets[f"{resource_type} create"] = allowed
        status = (
            Status.OK
            if allowed
            else (Status.FAIL if resource_type == "DocumentReference" else Status.WARN)
        )
        report.add(status, f"{resource_type} create", "allowed" if allowed else "not declared")
        if resource_type == "DocumentReference":
            declared = caps.type(resource_type)
            conditional = declared is not None and declared.conditional_create
            report.write_targets["DocumentReference conditional create"] = conditional
            report.add(
                Status.OK if conditional else Status.WARN,
                "DocumentReference conditional create",
                "allowed (duplicate-safe retries)"
                if conditional
                else "not declared: retries rely on a search first",
            )
    for interaction in ("transaction", "batch"):
        allowed = interaction in caps.system_interactions
        report.write_targets[interaction] = allowed
        report.add(Status.OK if allowed else Status.WARN, f"{interaction.capitalize()} bundles",
                   "allowed" if allowed else "not declared")  # fmt: skip
