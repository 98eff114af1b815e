"""Which search finds a write's server copy (app/sync/search_values.py), pure."""

from __future__ import annotations

from app.domain.capabilities import COMBINATION_URL, parse_capabilities
from app.sync.search_values import search_params
from tests.sync.commits import clinical_commit

NOTE = clinical_commit(observations=0, task=False, with_provenance=False).writes[0]
DECLARED = frozenset({"identifier", "patient", "encounter", "type", "date", "category"})


def declared_combinations(resource: dict[str, object]) -> tuple[frozenset[str], ...]:
    """The combinations the one CapabilityStatement reader finds on a DocumentReference."""
    statement = {
        "rest": [{"mode": "server", "resource": [{"type": "DocumentReference", **resource}]}]
    }
    return parse_capabilities(statement).types["DocumentReference"].search_combinations


def combination(*names: str) -> dict[str, object]:
    return {
        "url": COMBINATION_URL,
        "extension": [{"url": "required", "valueString": n} for n in names],
    }


def test_identifier_and_the_patient_when_the_server_declares_it() -> None:
    token = NOTE.identifier.token
    assert search_params(NOTE, DECLARED) == (("identifier", token), ("patient", "Patient/pat-1"))
    # a server that lists no parameters, or not patient: the identifier alone
    assert search_params(NOTE, None) == (("identifier", token),)
    assert search_params(NOTE, frozenset({"identifier"})) == (("identifier", token),)


def test_what_a_declared_combination_requires_is_added_from_the_write() -> None:
    combos = declared_combinations({"extension": [combination("patient", "encounter", "date")]})
    params = dict_of(search_params(NOTE, DECLARED, combos))
    assert params["encounter"] == ["Encounter/enc-1"]
    assert params["date"] == ["ge2025-03-09", "le2025-03-11"]  # a day either side


def test_a_combination_the_write_cannot_fill_means_it_cannot_be_searched() -> None:
    combos = declared_combinations({"extension": [combination("patient", "author")]})
    assert search_params(NOTE, DECLARED, combos) is None


def dict_of(params: tuple[tuple[str, str], ...] | None) -> dict[str, list[str]]:
    assert params is not None
    out: dict[str, list[str]] = {}
    for name, value in params:
        out.setdefault(name, []).append(value)
    return out
