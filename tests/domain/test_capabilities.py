from __future__ import annotations

from typing import Any

from app.domain.capabilities import parse_capabilities

STATEMENT: dict[str, Any] = {
    "resourceType": "CapabilityStatement",
    "fhirVersion": "4.0.1",
    "software": {"name": "Example EHR"},
    "format": ["json"],
    "rest": [
        {
            "mode": "server",
            "interaction": [{"code": "transaction"}, {"code": "search-system"}],
            "resource": [
                {
                    "type": "Observation",
                    "interaction": [{"code": "read"}, {"code": "search-type"}, {"code": "create"}],
                    "conditionalCreate": True,
                    "searchParam": [{"name": "patient", "type": "reference"}, {"name": "date"}],
                    "searchInclude": ["Observation:patient"],
                },
                {"type": "Patient", "interaction": [{"code": "read"}, {"code": "search-type"}]},
                {"type": 42},
                "junk",
            ],
        }
    ],
}


def test_summary() -> None:
    caps = parse_capabilities(STATEMENT)
    assert caps.fhir_version == "4.0.1" and caps.is_r4_family
    assert caps.software == "Example EHR"
    assert caps.transaction and not caps.batch and caps.search_system
    assert caps.can_search("Observation") and caps.can_conditional_create("Observation")
    assert not caps.can_update("Observation")
    obs = caps.type("Observation")
    assert obs is not None
    assert obs.has_param("patient") and obs.has_param("_count") and not obs.has_param("subject")
    assert obs.can_include("Observation:patient") and not obs.can_include("Observation:encounter")
    patient = caps.type("Patient")
    assert patient is not None and patient.has_param("anything")  # lists none: assume
    assert set(caps.types) == {"Observation", "Patient"}


def test_garbage_means_nothing_declared() -> None:
    caps = parse_capabilities({"resourceType": "CapabilityStatement", "rest": "nope"})
    assert not caps.batch and not caps.transaction and caps.types == {}
    assert not caps.can_search("Patient")


def test_system_level_search_parameters_and_interactions() -> None:
    statement = {
        "resourceType": "CapabilityStatement",
        "rest": [
            {"mode": "client", "interaction": [{"code": "batch"}]},
            {
                "mode": "server",
                "interaction": [{"code": "transaction"}],
                "searchParam": [{"name": "_tag", "type": "token"}, {"type": "no name"}],
                "resource": [{"type": "Provenance", "interaction": [{"code": "create"}]}],
            },
        ],
    }
    caps = parse_capabilities(statement)
    assert caps.system_search_params == {"_tag"}
    assert caps.system_interactions == {"transaction"} and not caps.batch  # not the client's
    assert caps.can_create("Provenance") and not caps.can_conditional_create("Provenance")


def test_a_rest_without_mode_is_read_but_never_a_client_one() -> None:
    no_mode = {"rest": [{"interaction": [{"code": "batch"}]}]}
    assert parse_capabilities(no_mode).batch
    client_only = {"rest": [{"mode": "client", "interaction": [{"code": "batch"}]}]}
    assert not parse_capabilities(client_only).batch
