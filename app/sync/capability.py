"""The write capabilities the runner plans with: CapabilityStatement AND vendor profile.

Wraps ``app.sync.planner.capabilities_from`` with one addition: search parameters the server
declares for *all* types (``rest.searchParam``, e.g. ``_tag`` on the sandbox) count for every
type, as FHIR R4 defines them ("search parameters supported for searching all resources").
Without this, a Provenance (matched by ``_tag``) could never be reconciled on a server that
lists ``_tag`` only at system level.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from app.fhir.profiles import VendorProfile
from app.sync.planner import WriteCapabilities, capabilities_from


def write_capabilities(
    capability_statement: Mapping[str, Any], profile: VendorProfile
) -> WriteCapabilities:
    caps = capabilities_from(capability_statement, profile)
    common = _system_search_params(capability_statement)
    if not common:
        return caps
    types = {
        name: t
        if t.search_params is None
        else replace(t, search_params=frozenset(t.search_params | common))
        for name, t in caps.types.items()
    }
    return replace(caps, types=types)


def _system_search_params(capability_statement: Mapping[str, Any]) -> frozenset[str]:
    rests = capability_statement.get("rest")
    if not isinstance(rests, list):
        return frozenset()
    for rest in rests:
        if isinstance(rest, dict) and rest.get("mode") == "server":
            params = rest.get("searchParam")
            if isinstance(params, list):
                return frozenset(
                    p["name"]
                    for p in params
                    if isinstance(p, dict) and isinstance(p.get("name"), str)
                )
    return frozenset()
