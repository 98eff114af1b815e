"""Per-site behaviour switches of the sandbox EHR (``--quirk NAME``, repeatable).

Real vendor deployments differ from the FHIR specification's happy path in ways that matter to
a write-back app. Each switch makes the sandbox behave like one such site, so the app's
handling of it can be tested against a real server on 127.0.0.1 (docs/sandbox.md lists them):

- ``no-refresh-token``: token responses never carry a ``refresh_token``, even with
  ``offline_access`` granted (public native clients on Epic-like sites).
- ``search-needs-patient``: a search of patient data (notes, observations, tasks, messages,
  provenance, ...) without ``patient`` or ``subject`` is refused with 400, and the
  CapabilityStatement says so with the search-parameter-combination extension.
- ``refuse-provenance``: the CapabilityStatement declares Provenance ``create``, but every
  Provenance write (alone or in a Bundle) is refused with 403.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import Enum
from typing import Any

COMBINATION = (
    "http://hl7.org/fhir/StructureDefinition/capabilitystatement-search-parameter-combination"
)
# Types whose searches the search-needs-patient site limits to one patient at a time.
PATIENT_DATA = frozenset(
    {
        "AllergyIntolerance",
        "Communication",
        "Composition",
        "Condition",
        "DiagnosticReport",
        "DocumentReference",
        "Immunization",
        "MedicationRequest",
        "MedicationStatement",
        "Observation",
        "Procedure",
        "Provenance",
        "Task",
    }
)
# Which parameter names the patient for each type (Provenance and Task have no ``patient``).
PATIENT_PARAMS = ("patient", "subject", "for", "target")


class Quirk(Enum):
    NO_REFRESH_TOKEN = "no-refresh-token"
    SEARCH_NEEDS_PATIENT = "search-needs-patient"
    REFUSE_PROVENANCE = "refuse-provenance"


def parse_quirks(names: Iterable[str]) -> frozenset[Quirk]:
    """``Quirk`` members from their names; ValueError listing the valid names."""
    out: set[Quirk] = set()
    for name in names:
        try:
            out.add(Quirk(name))
        except ValueError:
            valid = ", ".join(q.value for q in Quirk)
            raise ValueError(f"unknown quirk {name!r} (valid: {valid})") from None
    return frozenset(out)


def missing_patient(
    quirks: frozenset[Quirk], resource_type: str, pairs: Sequence[tuple[str, str]]
) -> str | None:
    """The diagnostics of the 400 a search-needs-patient site answers, or None."""
    if Quirk.SEARCH_NEEDS_PATIENT not in quirks or resource_type not in PATIENT_DATA:
        return None
    names = {name.split(":", 1)[0] for name, _ in pairs}
    if names & set(PATIENT_PARAMS) or "_id" in names:
        return None
    return (
        f"A search of {resource_type} must name the patient (the patient or subject "
        "parameter); this site does not search across patients"
    )


def refused_write(quirks: frozenset[Quirk], resource_type: str) -> str | None:
    """The diagnostics of the 403 a refuse-provenance site answers, or None."""
    if Quirk.REFUSE_PROVENANCE in quirks and resource_type == "Provenance":
        return "Provenance is not supported by this server for this client"
    return None


def bundle_types(body: Any) -> set[str]:
    """Resource types of the entries of a posted Bundle (for ``refused_write``)."""
    entries = body.get("entry") if isinstance(body, dict) else None
    return {
        str(e["resource"].get("resourceType"))
        for e in entries or []
        if isinstance(e, dict) and isinstance(e.get("resource"), dict)
    }


def declare(quirks: frozenset[Quirk], resource: dict[str, Any]) -> dict[str, Any]:
    """A CapabilityStatement ``rest.resource`` entry as the site declares it."""
    if Quirk.SEARCH_NEEDS_PATIENT in quirks and resource["type"] in PATIENT_DATA:
        declared = {p["name"] for p in resource.get("searchParam", [])}
        param = next((p for p in ("patient", "subject") if p in declared), None)
        if param is not None:
            resource["extension"] = [
                {"url": COMBINATION, "extension": [{"url": "required", "valueString": param}]}
            ]
    return resource
