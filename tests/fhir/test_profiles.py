"""Vendor profiles: loading, validation and choosing one for a site (app.fhir.profiles)."""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import pytest

from app._resources import resource_path
from app.fhir.profiles import (
    DEFAULT_PROFILE,
    CreateResponse,
    ProfileError,
    available_profiles,
    choose_profile,
    load_profile,
    parse_profile,
)
from tests.support.servers import RunningServer


def test_the_three_required_profiles_are_bundled_and_valid() -> None:
    assert {"generic-r4", "epic-like", "oracle-like"} <= set(available_profiles())
    for name in available_profiles():
        assert load_profile(name).name == name


def test_generic_r4_is_us_core_style() -> None:
    p = load_profile("generic-r4")
    assert p.transaction and p.conditional_create and p.provenance_write and p.composition_write
    assert p.note.attachment_content_type == "text/plain" and p.note.type_loinc == "11506-3"
    assert {
        "DocumentReference",
        "Observation",
        "Task",
        "Communication",
        "Provenance",
    } <= p.writable_types


def test_epic_like_writes_only_notes() -> None:
    p = load_profile("epic-like")
    assert p.writable_types == {"DocumentReference"}
    assert not (p.conditional_create or p.transaction or p.provenance_write or p.composition_write)
    assert not p.may_write("Task")
    assert p.note.attachment_content_type == "text/plain"


def test_oracle_like_uses_xhtml_final_and_location_only_creates() -> None:
    p = load_profile("oracle-like")
    assert p.note.attachment_content_type == "application/xhtml+xml"
    assert p.note.doc_status == "final"
    assert p.create_response is CreateResponse.LOCATION_ONLY


@pytest.mark.parametrize(
    ("software", "publisher", "expected"),
    [
        ("Epic", None, "epic-like"),
        ("EPIC Systems FHIR API 2024", None, "epic-like"),
        ("Millennium", None, "oracle-like"),
        (None, "Cerner Corporation", "oracle-like"),
        ("HAPI FHIR Server", None, DEFAULT_PROFILE),
        (None, None, DEFAULT_PROFILE),
    ],
)
def test_profile_chosen_from_capability_statement(
    software: str | None, publisher: str | None, expected: str
) -> None:
    cs: dict[str, Any] = {"resourceType": "CapabilityStatement"}
    if software:
        cs["software"] = {"name": software}
    if publisher:
        cs["publisher"] = publisher
    assert choose_profile(None, cs).name == expected


def test_site_configuration_wins_over_the_server() -> None:
    assert choose_profile("oracle-like", {"software": {"name": "Epic"}}).name == "oracle-like"


def test_unknown_site_profile_is_an_error_that_names_the_choices() -> None:
    with pytest.raises(ProfileError, match=r"unknown vendor profile 'acme'.*epic-like"):
        choose_profile("acme", {})


def raw(name: str = "generic-r4") -> dict[str, Any]:
    data: dict[str, Any] = json.loads(resource_path("profiles", f"{name}.json").read_text())
    return copy.deepcopy(data)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("transaction"), "missing transaction"),
        (lambda d: d.update(surprise=1), "unknown surprise"),
        (lambda d: d["note"].pop("doc_status"), r"missing note\.doc_status"),
        (lambda d: d.update(transaction="yes"), "true or false"),
        (lambda d: d.update(create_response="sometimes"), "representation, location-only"),
        (
            lambda d: d["note"].update(attachment_content_type="text/html"),
            "attachment_content_type",
        ),
        (lambda d: d["note"].update(doc_status="signed"), "doc_status"),
        (lambda d: d.update(writable_types=["Task"]), "DocumentReference"),
        (lambda d: d.update(format=2), "format 2"),
        (lambda d: d.update(name="other"), "'name' says"),
        (lambda d: d.update(match_software="epic"), "list of strings"),
    ],
)
def test_malformed_profiles_are_refused_with_the_key(mutate: Any, message: str) -> None:
    data = raw()
    mutate(data)
    with pytest.raises(ProfileError, match=message):
        parse_profile(data, source="generic-r4")


def test_not_an_object() -> None:
    with pytest.raises(ProfileError, match="not a JSON object"):
        parse_profile([], source="x")


def test_real_servers_get_the_generic_profile(ehr: RunningServer) -> None:
    """Neither the sandbox nor the peer EHR claims to be a vendor: generic-r4 applies."""
    response = httpx.get(
        f"{ehr.fhir_base}/metadata", headers={"Accept": "application/fhir+json"}, timeout=30
    )
    response.raise_for_status()
    cs = response.json()
    assert cs["resourceType"] == "CapabilityStatement"
    assert choose_profile(None, cs).name == DEFAULT_PROFILE


@pytest.mark.parametrize(
    "key", ["version_id_style", "note.amendment", "note.requires_existing_encounter"]
)
def test_keys_that_drove_nothing_are_gone_and_refused(key: str) -> None:
    """Issue 14 item 5: parsed and validated but never read. The app compares versions as
    opaque strings, always amends with relatesTo replaces, and writes notes only on the open
    encounter: a profile that still names one of them is refused."""
    data = raw()
    where, _, name = key.rpartition(".")
    (data["note"] if where else data)[name] = "x"
    with pytest.raises(ProfileError, match=f"unknown {key}"):
        parse_profile(data, source="generic-r4")
