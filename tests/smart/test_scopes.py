"""Scopes: v1/v2 syntax from the declared capabilities, and granted-vs-requested messages."""

from __future__ import annotations

from app.smart.discovery import DiscoverySource, SmartConfiguration
from app.smart.scopes import Feature, compare, granted_permissions, requested_scopes


def config(*capabilities: str) -> SmartConfiguration:
    return SmartConfiguration("https://x/fhir", "https://x/a", "https://x/t",
                              DiscoverySource.WELL_KNOWN, capabilities=frozenset(capabilities))  # fmt: skip


def test_v2_syntax_when_permission_v2_is_declared() -> None:
    scopes = requested_scopes(
        config("permission-v2", "context-standalone-patient"), {Feature.WRITE_NOTES}
    )
    assert scopes == (
        "openid",
        "fhirUser",
        "offline_access",
        "launch/patient",
        "user/DocumentReference.crus",
    )


def test_provenance_and_composition_are_features_of_their_own() -> None:
    scopes = requested_scopes(
        config("permission-v2"),
        {Feature.WRITE_NOTES, Feature.WRITE_PROVENANCE, Feature.WRITE_COMPOSITIONS},
    )
    assert {"user/Provenance.crs", "user/Composition.crs", "user/DocumentReference.crus"} <= set(
        scopes
    )


def test_v1_syntax_otherwise() -> None:
    scopes = requested_scopes(config("permission-v1"), {Feature.READ_CONTEXT, Feature.WRITE_NOTES})
    assert "user/DocumentReference.read" in scopes and "user/DocumentReference.write" in scopes
    assert "user/Patient.read" in scopes and "user/Patient.write" not in scopes
    assert not any(s.startswith("launch") for s in scopes)


def test_granted_permissions_read_both_syntaxes() -> None:
    assert granted_permissions(["user/*.read"], "Observation") == frozenset("rs")
    assert granted_permissions(["user/Observation.write"], "Observation") == frozenset("cud")
    assert granted_permissions(
        ["patient/Observation.cu?category=vital-signs"], "Observation"
    ) == frozenset("cu")
    assert granted_permissions(["system/*.*", "user/Task.rs"], "Observation") == frozenset()


def test_missing_grant_names_the_lost_feature() -> None:
    requested = requested_scopes(config("permission-v2"))
    granted = "openid fhirUser user/*.rs user/Observation.cu user/Task.c"
    report = compare(requested, granted)
    assert "cannot file notes: the EHR did not grant DocumentReference write" in report.messages
    assert "cannot create tasks: the EHR did not grant Task write" in report.messages  # no update
    assert Feature.WRITE_OBSERVATIONS not in report.disabled_features
    assert Feature.READ_CONTEXT not in report.disabled_features
    assert not report.offline_access
    assert any(m.startswith("cannot stay signed in") for m in report.messages)
    assert not report.complete


def test_absent_scope_in_response_means_all_granted() -> None:
    requested = requested_scopes(config("permission-v2"))
    report = compare(requested, None)
    assert report.complete and report.messages == ()


def test_v1_wildcards_cover_everything() -> None:
    report = compare(("x",), "openid fhirUser offline_access user/*.read user/*.write")
    assert report.complete
