"""The CapabilityStatement served at ``/fhir/metadata``, generated from what the code supports.

Everything here is read from ``params.py`` (types and search parameters) and states only what
the routes implement: no delete, no patch, no conditional update or delete, no type- or
system-level history, JSON only.
"""

from __future__ import annotations

from typing import Any

from app.sandbox.contracts import SandboxUrls
from app.sandbox.fhir.params import (
    COMMON_PARAMS,
    SEARCH_PARAMS,
    SUPPORTED_TYPES,
    may_target,
    reference_params,
)
from app.sandbox.quirks import Quirk, declare

SOFTWARE_NAME = "fhir-writeback sandbox EHR"
SOFTWARE_VERSION = "0.1.0"
FHIR_VERSION = "4.0.1"
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"

_INTERACTIONS = ["read", "vread", "update", "history-instance", "create", "search-type"]


def _search_includes(resource_type: str) -> list[str]:
    return [f"{resource_type}:{p.name}" for p in reference_params(resource_type)]


def _search_revincludes(resource_type: str) -> list[str]:
    out = []
    for source in SUPPORTED_TYPES:
        for p in reference_params(source):
            if may_target(p, resource_type):
                out.append(f"{source}:{p.name}")
    return out


def _resource(resource_type: str) -> dict[str, Any]:
    return {
        "type": resource_type,
        "profile": f"http://hl7.org/fhir/StructureDefinition/{resource_type}",
        "interaction": [{"code": code} for code in _INTERACTIONS],
        "versioning": "versioned-update",
        "readHistory": True,
        "updateCreate": True,
        "conditionalCreate": True,
        "conditionalRead": "full-support",
        "conditionalUpdate": False,
        "conditionalDelete": "not-supported",
        "referencePolicy": ["literal", "local"],
        "searchInclude": _search_includes(resource_type),
        "searchRevInclude": _search_revincludes(resource_type),
        "searchParam": [
            {"name": p.name, "type": p.kind.value, "documentation": f"{', '.join(p.paths)}"}
            for p in SEARCH_PARAMS[resource_type]
        ],
    }


def capability_statement(
    urls: SandboxUrls, date: str, quirks: frozenset[Quirk] = frozenset()
) -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "publisher": "fhir-writeback",
        "kind": "instance",
        "software": {"name": SOFTWARE_NAME, "version": SOFTWARE_VERSION},
        "implementation": {
            "description": "Embedded sandbox EHR (synthetic data only). Resources are validated "
            "with the fhir.resources R4B models. Unknown search parameters are ignored and "
            "reported in an OperationOutcome entry (search.mode = outcome); send "
            "Prefer: handling=strict to get a 400 instead.",
            "url": urls.fhir_base,
        },
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "documentation": "Every call except /metadata needs a SMART bearer token; "
                "SMART v1 and v2 scopes are enforced, including the patient compartment. "
                "Paging: _count (max 1000) and _offset; Prefer: return=minimal, "
                "representation or OperationOutcome.",
                "security": {
                    "cors": False,
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/"
                                    "restful-security-service",
                                    "code": "SMART-on-FHIR",
                                }
                            ],
                            "text": "OAuth2 using SMART-on-FHIR profile",
                        }
                    ],
                    "extension": [
                        {
                            "url": OAUTH_URIS,
                            "extension": [
                                {"url": "authorize", "valueUri": urls.authorize},
                                {"url": "token", "valueUri": urls.token},
                                {"url": "revoke", "valueUri": urls.revoke},
                                {"url": "introspect", "valueUri": urls.introspect},
                            ],
                        }
                    ],
                },
                "resource": [declare(quirks, _resource(t)) for t in SUPPORTED_TYPES],
                "interaction": [{"code": "transaction"}, {"code": "batch"}],
                "searchParam": [{"name": p.name, "type": p.kind.value} for p in COMMON_PARAMS],
            }
        ],
    }
