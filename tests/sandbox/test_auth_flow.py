"""Standalone launch against the sandbox's authorization server: login page, consent,
auto-login, launch context, state and iss, and the token response."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.sandbox.auth.errors import UnknownLoginError
from tests.sandbox.test_auth_support import (
    FirstForm,
    RunningAuth,
    callback_query,
    exchange,
    new_launch,
    running_auth,
    sign_in,
    start_auth,
    through_pages,
)


@pytest.fixture
def auth(tmp_path: Path) -> Iterator[RunningAuth]:
    with running_auth(tmp_path / "sandbox.db") as running:
        yield running


@pytest.fixture
def auto_auth(tmp_path: Path) -> Iterator[RunningAuth]:
    with running_auth(tmp_path / "sandbox.db", auto_login="prac-1:pat-2") as running:
        yield running


JWT_SHAPE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")


def test_login_page_flow_issues_tokens_with_launch_context(auth: RunningAuth) -> None:
    launch = new_launch(auth)
    response = through_pages(auth, launch, login="prac-1", patient="pat-2")
    query = callback_query(response, launch)
    assert query["state"] == launch.params["state"]
    assert query["iss"] == auth.urls.issuer  # RFC 9207

    token = exchange(auth, launch, query["code"])
    assert token.status_code == 200, token.text
    assert token.headers["cache-control"] == "no-store"
    body = token.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"].split() == launch.params["scope"].split()
    assert body["patient"] == "pat-2"
    assert body["encounter"] == "enc-2"
    assert body["need_patient_banner"] is True
    assert body["refresh_token"]
    assert body["id_token"]
    # Opaque: not a JWT, so a client that assumes JWTs fails here rather than in a clinic.
    assert not JWT_SHAPE.match(body["access_token"])
    assert len(body["access_token"]) >= 40

    claims = auth.service.verify_access_token(body["access_token"])
    assert claims is not None
    assert claims.client_id == "fhir-writeback"
    assert claims.subject == "prac-1"
    assert claims.fhir_user == "Practitioner/prac-1"
    assert (claims.patient, claims.encounter) == ("pat-2", "enc-2")
    assert claims.scope == body["scope"]
    assert auth.service.verify_access_token(body["refresh_token"]) is None
    assert auth.service.verify_access_token("not-a-token") is None


def test_login_page_defaults_to_lowest_patient_id_and_is_escaped(auth: RunningAuth) -> None:
    launch = new_launch(auth)
    page = auth.http.get(auth.urls.authorize, params=launch.params)
    assert page.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert '<html lang="en">' in page.text
    assert "<b>Bold</b>" not in page.text
    assert "Dr &lt;b&gt;Bold&lt;/b&gt; &amp; Co" in page.text
    assert "Zoë Ødegaard" in page.text
    form = FirstForm(page.text)
    assert form.selects["patient"] == ["pat-2", "pat-3", "pat-10", "pat-1"]
    assert form.fields["patient"] == "pat-1"
    assert form.fields["state"] == launch.params["state"]

    response = through_pages(auth, launch, login="prac-1")
    body = exchange(auth, launch, callback_query(response, launch)["code"]).json()
    assert (body["patient"], body["encounter"]) == ("pat-1", "enc-1")


def test_consent_page_lists_granted_and_dropped_scopes(auth: RunningAuth) -> None:
    launch = new_launch(auth, scope="openid patient/Observation.rs made-up-scope system/*.read")
    page = auth.http.get(auth.urls.authorize, params=launch.params)
    consent = auth.http.post(
        auth.urls.authorize, data={**FirstForm(page.text).fields, "login": "prac-1"}
    )
    assert consent.status_code == 200
    assert "Read, search Observation of the patient in context" in consent.text
    assert "<code>made-up-scope</code>, <code>system/*.read</code>" in consent.text


def test_login_with_peer_style_user_and_patient(auth: RunningAuth) -> None:
    launch = new_launch(auth)
    response = through_pages(auth, launch, login="prac-2:pat-3")
    body = exchange(auth, launch, callback_query(response, launch)["code"]).json()
    assert body["patient"] == "pat-3"
    assert "encounter" not in body  # pat-3 has none


def test_unknown_login_shows_the_page_again_with_an_error(auth: RunningAuth) -> None:
    launch = new_launch(auth)
    page = auth.http.get(auth.urls.authorize, params=launch.params)
    again = auth.http.post(
        auth.urls.authorize, data={**FirstForm(page.text).fields, "login": "prac-99"}
    )
    assert again.status_code == 400
    assert 'role="alert"' in again.text and "prac-99" in again.text
    assert "location" not in again.headers


def test_deny_redirects_access_denied_with_state_and_iss(auth: RunningAuth) -> None:
    launch = new_launch(auth)
    query = callback_query(through_pages(auth, launch, decision="deny"), launch)
    assert query["error"] == "access_denied"
    assert query["state"] == launch.params["state"]
    assert query["iss"] == auth.urls.issuer
    assert "code" not in query


def test_patient_login_is_its_own_context_and_gets_no_user_scopes(auth: RunningAuth) -> None:
    launch = new_launch(auth, scope="openid fhirUser launch/patient user/*.rs patient/*.rs")
    response = through_pages(auth, launch, login="pat-2", patient="pat-1")
    body = exchange(auth, launch, callback_query(response, launch)["code"]).json()
    assert body["patient"] == "pat-2"
    assert body["scope"].split() == ["openid", "fhirUser", "launch/patient", "patient/*.rs"]
    claims = auth.service.verify_access_token(body["access_token"])
    assert claims is not None and claims.fhir_user == "Patient/pat-2"


def test_practitioner_user_launch_has_no_patient_and_no_refresh_token(auth: RunningAuth) -> None:
    body = sign_in(auth, scope="openid fhirUser user/*.cruds")
    assert "patient" not in body and "encounter" not in body
    assert "refresh_token" not in body
    claims = auth.service.verify_access_token(body["access_token"])
    assert claims is not None and claims.patient is None


def test_online_access_also_gets_a_refresh_token(auth: RunningAuth) -> None:
    body = sign_in(auth, scope="user/*.rs online_access")
    assert body["refresh_token"]
    assert "id_token" not in body  # no openid


def test_v1_and_v2_scopes_are_granted_unknown_ones_dropped(auth: RunningAuth) -> None:
    scope = (
        "patient/Observation.read user/*.write patient/*.* patient/Condition.rs "
        "user/DocumentReference.cu patient/Observation.rs?category=vital-signs "
        "launch/patient openid weird:scope patient/Observation.sr system/*.rs"
    )
    body = sign_in(auth, scope=scope)
    assert body["scope"].split() == [
        "patient/Observation.read",
        "user/*.write",
        "patient/*.*",
        "patient/Condition.rs",
        "user/DocumentReference.cu",
        "patient/Observation.rs?category=vital-signs",
        "launch/patient",
        "openid",
    ]


def test_nothing_grantable_is_invalid_scope_redirect(auth: RunningAuth) -> None:
    launch = new_launch(auth, scope="email phone system/*.rs")
    query = callback_query(auth.http.get(auth.urls.authorize, params=launch.params), launch)
    assert query["error"] == "invalid_scope"
    assert query["state"] == launch.params["state"]
    assert query["iss"] == auth.urls.issuer


def test_auto_login_skips_both_pages(auto_auth: RunningAuth) -> None:
    launch = new_launch(auto_auth)
    response = auto_auth.http.get(auto_auth.urls.authorize, params=launch.params)
    query = callback_query(response, launch)
    assert query["state"] == launch.params["state"] and query["iss"] == auto_auth.urls.issuer
    body = exchange(auto_auth, launch, query["code"]).json()
    assert (body["patient"], body["encounter"]) == ("pat-2", "enc-2")
    claims = auto_auth.service.verify_access_token(body["access_token"])
    assert claims is not None and claims.subject == "prac-1"


def test_auto_login_without_patient_uses_the_default_patient(tmp_path: Path) -> None:
    with running_auth(tmp_path / "db", auto_login="prac-1") as running:
        body = sign_in(running)
    assert body["patient"] == "pat-1"


@pytest.mark.parametrize("login", ["prac-404", "prac-1:pat-404", ""])
def test_unknown_auto_login_fails_at_start_with_a_clear_message(tmp_path: Path, login: str) -> None:
    with pytest.raises(UnknownLoginError, match="--auto-login"):
        start_auth(tmp_path / "db", auto_login=login)
