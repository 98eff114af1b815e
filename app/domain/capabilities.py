"""What a FHIR server declares it can do: the one reader of its CapabilityStatement.

Pure (the statement is plain JSON), so every layer reads it the same way: the site check
(app.smart.diagnostics), the FHIR client and chart loader (app.fhir), and the write planner
(app.sync.planner narrows it with the vendor profile). The app's behaviour follows these
declarations: a batch Bundle only when ``batch`` is declared, a search parameter only when the
type lists it (unknown parameters make some servers return nothing), an ``_include`` only when
``searchInclude`` names it (or ``*``). Missing or odd parts count as "not declared".
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

# The SMART v1 extension that names the sign-in endpoints (rest.security.extension).
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"

# Parameters every FHIR server handles for every type (FHIR R4 3.1.1.5 "common parameters"
# and result parameters); servers rarely list them per type.
COMMON_PARAMS = frozenset(
    {"_id", "_lastUpdated", "_count", "_sort", "_include", "_revinclude", "_summary", "_elements"}
)


@dataclass(frozen=True)
class TypeCapabilities:
    name: str
    interactions: frozenset[str] = frozenset()
    search_params: frozenset[str] = frozenset()
    search_include: frozenset[str] = frozenset()
    search_revinclude: frozenset[str] = frozenset()
    conditional_create: bool = False
    conditional_update: bool = False
    update_create: bool = False
    versioning: str | None = None

    def supports(self, interaction: str) -> bool:
        return interaction in self.interactions

    def has_param(self, name: str) -> bool:
        """True when the server lists ``name`` for this type (common parameters always; any
        parameter when the type lists none at all, as some servers leave the list out)."""
        return name in COMMON_PARAMS or not self.search_params or name in self.search_params

    def can_include(self, spec: str) -> bool:
        return "*" in self.search_include or spec in self.search_include


@dataclass(frozen=True)
class ServerCapabilities:
    fhir_version: str | None
    software: str | None
    batch: bool
    transaction: bool
    search_system: bool
    formats: tuple[str, ...] = ()
    types: Mapping[str, TypeCapabilities] = field(default_factory=dict)
    # rest.searchParam: "search parameters supported for searching all resources" (R4)
    system_search_params: frozenset[str] = frozenset()
    system_interactions: frozenset[str] = frozenset()
    # each oauth-uris extension of any rest, in order: {"authorize": value, "token": value, ...}
    # (values as given: app.smart.discovery checks they are URLs)
    oauth_uris: tuple[Mapping[str, object], ...] = ()

    def type(self, name: str) -> TypeCapabilities | None:
        return self.types.get(name)

    def can_search(self, name: str) -> bool:
        t = self.types.get(name)
        return t is not None and t.supports("search-type")

    def can_create(self, name: str) -> bool:
        t = self.types.get(name)
        return t is not None and t.supports("create")

    def can_conditional_create(self, name: str) -> bool:
        t = self.types.get(name)
        return t is not None and t.supports("create") and t.conditional_create

    def can_update(self, name: str) -> bool:
        t = self.types.get(name)
        return t is not None and t.supports("update")

    @property
    def is_r4_family(self) -> bool:
        return (self.fhir_version or "").startswith(("4.0", "4.3"))


def parse_capabilities(statement: Mapping[str, Any]) -> ServerCapabilities:
    """Summarise a CapabilityStatement; missing or odd parts count as "not declared".

    The ``rest`` entry of mode ``server`` is read (else the first one not of mode ``client``:
    ``mode`` is required, some servers leave it out)."""
    rest = [r for r in _list(statement.get("rest")) if isinstance(r, Mapping)]
    server = next((r for r in rest if r.get("mode") == "server"), None)
    if server is None:
        server = next((r for r in rest if r.get("mode") != "client"), {})
    system = _codes(server.get("interaction"))
    types: dict[str, TypeCapabilities] = {}
    for res in _list(server.get("resource")):
        if not isinstance(res, Mapping) or not isinstance(res.get("type"), str):
            continue
        types[res["type"]] = TypeCapabilities(
            name=res["type"],
            interactions=_codes(res.get("interaction")),
            search_params=_param_names(res.get("searchParam")),
            search_include=frozenset(
                s for s in _list(res.get("searchInclude")) if isinstance(s, str)
            ),
            search_revinclude=frozenset(
                s for s in _list(res.get("searchRevInclude")) if isinstance(s, str)
            ),
            conditional_create=res.get("conditionalCreate") is True,
            conditional_update=res.get("conditionalUpdate") is True,
            update_create=res.get("updateCreate") is True,
            versioning=res.get("versioning") if isinstance(res.get("versioning"), str) else None,
        )
    software = statement.get("software")
    name = software.get("name") if isinstance(software, Mapping) else None
    version = statement.get("fhirVersion")
    return ServerCapabilities(
        fhir_version=version if isinstance(version, str) else None,
        software=name if isinstance(name, str) else None,
        batch="batch" in system,
        transaction="transaction" in system,
        search_system="search-system" in system,
        formats=tuple(f for f in _list(statement.get("format")) if isinstance(f, str)),
        types=types,
        system_search_params=_param_names(server.get("searchParam")),
        system_interactions=system,
        oauth_uris=tuple(_oauth_uris(rest)),
    )


def _oauth_uris(rests: list[Mapping[str, Any]]) -> Iterator[Mapping[str, object]]:
    for rest in rests:
        security = rest.get("security")
        if not isinstance(security, Mapping):
            continue
        for ext in _list(security.get("extension")):
            if isinstance(ext, Mapping) and ext.get("url") == OAUTH_URIS:
                yield {
                    e["url"]: e.get("valueUri") or e.get("valueUrl")
                    for e in _list(ext.get("extension"))
                    if isinstance(e, Mapping) and isinstance(e.get("url"), str)
                }


def _param_names(params: object) -> frozenset[str]:
    return frozenset(
        p["name"]
        for p in _list(params)
        if isinstance(p, Mapping) and isinstance(p.get("name"), str)
    )


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _codes(interactions: object) -> frozenset[str]:
    return frozenset(
        i["code"]
        for i in _list(interactions)
        if isinstance(i, Mapping) and isinstance(i.get("code"), str)
    )
