"""Unit tests of the authorization server's pure policies: scopes, redirect URIs, clients.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.sandbox.auth.clients import ClientRegistry, redirect_uri_matches
from app.sandbox.auth.errors import ClientRegistryError
from app.sandbox.auth.scopes import ResourceScope, grantable_scope, parse_resource_scope
from app.sandbox.options import DEFAULT_CLIENTS


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("patient/Observation.read", ResourceScope("patient", "Observation", "rs")),
        ("user/*.write", ResourceScope("user", "*", "cud")),
        ("patient/*.*", ResourceScope("patient", "*", "cruds")),
        ("user/DocumentReference.cu", ResourceScope("user", "DocumentReference", "cu")),
        (
            "patient/Observation.rs?category=laboratory",
            ResourceScope("patient", "Observation", "rs", "?category=laboratory"),
        ),
        ("system/*.rs", ResourceScope("system", "*", "rs")),
        ("patient/Observation.sr", None),  # v2 letters must keep c r u d s order
        ("patient/Observation.", None),
        ("patient/observation.read", None),
        ("patient/Observation.rw", None),
        ("openid", None),
    ],
)
def test_parse_resource_scope(scope: str, expected: ResourceScope | None) -> None:
    assert parse_resource_scope(scope) == expected


def test_grantable_scope_keeps_order_and_drops_the_rest() -> None:
    requested = "openid bogus patient/*.rs openid system/*.rs user/*.rs offline_access"
    assert grantable_scope(requested) == "openid patient/*.rs user/*.rs offline_access"
    assert grantable_scope(requested, patient_login=True) == "openid patient/*.rs offline_access"
    assert grantable_scope("email phone") == ""
    assert grantable_scope(None) == ""


@pytest.mark.parametrize(
    ("registered", "requested", "match"),
    [
        ("http://127.0.0.1/callback", "http://127.0.0.1/callback", True),
        ("http://127.0.0.1/callback", "http://127.0.0.1:54321/callback", True),
        ("http://localhost/callback", "http://localhost:8080/callback", True),
        ("http://[::1]/callback", "http://[::1]:8080/callback", True),
        ("http://127.0.0.1:9000/callback", "http://127.0.0.1:1/callback", True),
        ("http://127.0.0.1/callback", "http://localhost:8080/callback", False),
        ("http://127.0.0.1/callback", "http://127.0.0.1:8080/callback/", False),
        ("http://127.0.0.1/callback", "http://127.0.0.1:8080/Callback", False),
        ("http://127.0.0.1/callback", "http://127.0.0.1:8080/callback?a=b", False),
        ("http://127.0.0.1/callback", "http://127.0.0.1:8080/callback#frag", False),
        ("http://127.0.0.1/callback", "http://user@127.0.0.1:8080/callback", False),
        ("http://127.0.0.1/callback", "http://127.0.0.1:notaport/callback", False),
        ("http://127.0.0.1/callback", "https://127.0.0.1:8080/callback", False),
        ("https://app.example/cb", "https://app.example:8443/cb", False),  # not loopback
        ("https://app.example/cb", "https://app.example/cb", True),
    ],
)
def test_redirect_uri_matching(registered: str, requested: str, match: bool) -> None:
    assert redirect_uri_matches(registered, requested) is match


def test_shipped_clients_file_registers_the_app_and_the_fhirclient_test() -> None:
    registry = ClientRegistry.load(DEFAULT_CLIENTS)
    app = registry.get("fhir-writeback")
    assert app is not None and app.is_public
    assert {"http://127.0.0.1/callback", "http://localhost/callback"} <= set(app.redirect_uris)
    test_client = registry.get("fhirclient-test")
    assert test_client is not None and test_client.redirect_uris == ("http://127.0.0.1/callback",)
    confidential = registry.get("sandbox-confidential")
    assert confidential is not None and not confidential.is_public
    assert confidential.check_client_secret("sandbox-only-secret-not-for-production")
    assert not confidential.check_client_secret("guess")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "missing"),
        ("{not json", "cannot read it as JSON"),
        ({"clients": []}, "with entries"),
        ({"clients": [{"redirect_uris": ["http://127.0.0.1/cb"]}]}, "clients[0].client_id"),
        ({"clients": [{"client_id": "a"}]}, "clients[0].redirect_uris"),
        ({"clients": [{"client_id": "a", "redirect_uris": ["/cb"]}]}, "not an absolute URL"),
        (
            {
                "clients": [
                    {
                        "client_id": "a",
                        "redirect_uris": ["http://h/cb"],
                        "token_endpoint_auth_method": "private_key_jwt",
                    }
                ]
            },
            "token_endpoint_auth_method",
        ),
        (
            {
                "clients": [
                    {
                        "client_id": "a",
                        "redirect_uris": ["http://h/cb"],
                        "token_endpoint_auth_method": "client_secret_basic",
                    }
                ]
            },
            "client_secret is required",
        ),
    ],
)
def test_a_bad_clients_file_names_the_file_and_the_problem(
    tmp_path: Path, content: object, message: str
) -> None:
    path = tmp_path / "clients.json"
    if isinstance(content, str):
        path.write_text(content)
    elif content is not None:
        path.write_text(json.dumps(content))
    with pytest.raises(ClientRegistryError) as caught:
        ClientRegistry.load(path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)
