"""Bad input at the authorization server: each gets the right OAuth error, page or redirect,
and nothing is issued."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.sandbox.test_auth_support import (
    Launch,
    RunningAuth,
    callback_query,
    exchange,
    new_launch,
    running_auth,
    through_pages,
)


@pytest.fixture
def auth(tmp_path: Path) -> Iterator[RunningAuth]:
    with running_auth(tmp_path / "sandbox.db") as running:
        yield running


@pytest.fixture(scope="module")
def auto_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAuth]:
    """Shared by the module: no test here depends on a pristine store."""
    db = tmp_path_factory.mktemp("auth") / "sandbox.db"
    with running_auth(db, auto_login="prac-1") as running:
        yield running


def code_for(auth: RunningAuth, **overrides: str | None) -> tuple[str, Launch]:
    launch = new_launch(auth, **overrides)
    query = callback_query(auth.http.get(auth.urls.authorize, params=launch.params), launch)
    return query["code"], launch


def assert_oauth_error(response: httpx.Response, status: int, error: str) -> dict[str, str]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, str] = response.json()
    assert body["error"] == error, body
    assert "access_token" not in body
    return body


# -- authorization endpoint: errors redirected to a trusted client --------------------------


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"code_challenge_method": "plain"}, "S256"),
        ({"code_challenge_method": None}, "S256"),
        ({"code_challenge": None, "code_challenge_method": None}, "PKCE"),
        ({"code_challenge": "too-short"}, "code_challenge"),
        ({"aud": "http://127.0.0.1:1/other/fhir"}, "aud"),
        ({"aud": None}, "aud is required"),
    ],
    ids=[
        "plain",
        "method-missing",
        "challenge-missing",
        "challenge-malformed",
        "wrong-aud",
        "no-aud",
    ],
)
def test_refused_request_redirects_invalid_request_with_state_and_iss(
    auto_auth: RunningAuth, overrides: dict[str, str | None], fragment: str
) -> None:
    launch = new_launch(auto_auth, **overrides)
    query = callback_query(
        auto_auth.http.get(auto_auth.urls.authorize, params=launch.params), launch
    )
    assert query["error"] == "invalid_request"
    assert fragment in query["error_description"]
    assert query["state"] == launch.params["state"]
    assert query["iss"] == auto_auth.urls.issuer
    assert "code" not in query


def test_refusal_comes_before_the_login_page(auth: RunningAuth) -> None:
    launch = new_launch(auth, code_challenge_method="plain")
    query = callback_query(auth.http.get(auth.urls.authorize, params=launch.params), launch)
    assert query["error"] == "invalid_request"


def test_aud_with_trailing_slash_is_accepted(auto_auth: RunningAuth) -> None:
    code, launch = code_for(auto_auth, aud=auto_auth.urls.fhir_base + "/")
    assert exchange(auto_auth, launch, code).status_code == 200


def test_unsupported_response_type_is_redirected(auto_auth: RunningAuth) -> None:
    launch = new_launch(auto_auth, response_type="token")
    query = callback_query(
        auto_auth.http.get(auto_auth.urls.authorize, params=launch.params), launch
    )
    assert query["error"] == "unsupported_response_type"
    assert query["iss"] == auto_auth.urls.issuer


# -- authorization endpoint: untrusted client or redirect URI -> HTML page, no redirect ------


@pytest.mark.parametrize(
    "overrides",
    [
        {"client_id": "no-such-app"},
        {"client_id": None},
        {"redirect_uri": "http://127.0.0.1:8123/callback/other"},
        {"redirect_uri": "http://127.0.0.1:8123/callbackx"},
        {"redirect_uri": "http://127.0.0.2:8123/callback"},
        {"redirect_uri": "https://127.0.0.1:8123/callback"},
        {"redirect_uri": "http://evil.example/callback"},
        {"redirect_uri": "http://127.0.0.1:8123/callback?x=1"},
        {"redirect_uri": None},
    ],
    ids=[
        "unknown-client",
        "no-client",
        "other-path",
        "path-prefix",
        "other-host",
        "other-scheme",
        "foreign-host",
        "extra-query",
        "no-redirect-uri",
    ],
)
def test_untrusted_request_shows_an_error_page_and_does_not_redirect(
    auto_auth: RunningAuth, overrides: dict[str, str | None]
) -> None:
    launch = new_launch(auto_auth, **overrides)
    page = auto_auth.http.get(auto_auth.urls.authorize, params=launch.params)
    assert page.status_code == 400
    assert "location" not in page.headers
    assert page.headers["content-type"].startswith("text/html")
    assert 'role="alert"' in page.text
    assert "Nothing was sent back" in page.text or "not registered" in page.text


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://127.0.0.1:{port}/callback",
        "http://localhost:{port}/callback",
        "http://[::1]:{port}/callback",
        "http://127.0.0.1/callback",
        "http://127.0.0.1:{port}/callback/sandbox",
    ],
)
def test_loopback_redirect_matches_on_any_port(auto_auth: RunningAuth, redirect_uri: str) -> None:
    for port in (1024, 49152, 65535):
        launch = new_launch(auto_auth, redirect_uri=redirect_uri.format(port=port))
        response = auto_auth.http.get(auto_auth.urls.authorize, params=launch.params)
        assert "code" in callback_query(response, launch)


def test_other_client_registrations_are_not_shared(auto_auth: RunningAuth) -> None:
    # fhirclient-test registers only 127.0.0.1; localhost is fhir-writeback's.
    launch = new_launch(
        auto_auth, client_id="fhirclient-test", redirect_uri="http://localhost:5000/callback"
    )
    assert auto_auth.http.get(auto_auth.urls.authorize, params=launch.params).status_code == 400


# -- token endpoint ---------------------------------------------------------------------------


def test_wrong_code_verifier_is_invalid_grant_and_issues_nothing(auto_auth: RunningAuth) -> None:
    code, launch = code_for(auto_auth)
    wrong = "W" * 64
    assert_oauth_error(exchange(auto_auth, launch, code, code_verifier=wrong), 400, "invalid_grant")
    # The legitimate holder of the verifier can still redeem the code.
    assert exchange(auto_auth, launch, code).status_code == 200


def test_missing_code_verifier_is_refused(auto_auth: RunningAuth) -> None:
    code, launch = code_for(auto_auth)
    body = assert_oauth_error(
        exchange(auto_auth, launch, code, code_verifier=None),
        400,
        "invalid_request",
    )
    assert "code_verifier" in body["error_description"]


def test_reused_code_is_invalid_grant_and_revokes_what_it_issued(auto_auth: RunningAuth) -> None:
    code, launch = code_for(auto_auth)
    first = exchange(auto_auth, launch, code).json()
    assert auto_auth.service.verify_access_token(first["access_token"]) is not None

    again = exchange(auto_auth, launch, code)
    body = assert_oauth_error(again, 400, "invalid_grant")
    assert "already used" in body["error_description"]
    assert auto_auth.service.verify_access_token(first["access_token"]) is None
    refreshed = auto_auth.http.post(
        auto_auth.urls.token,
        data={
            "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"],
            "client_id": "fhir-writeback",
        },
    )
    assert_oauth_error(refreshed, 400, "invalid_grant")


def test_code_expires_after_its_lifetime(tmp_path: Path) -> None:
    now = [1_000_000.0]
    with running_auth(tmp_path / "db", auto_login="prac-1", clock=lambda: now[0]) as auth:
        code, launch = code_for(auth)
        now[0] += 121
        body = assert_oauth_error(exchange(auth, launch, code), 400, "invalid_grant")
        assert "expired" in body["error_description"]


def test_code_is_bound_to_redirect_uri_and_client(auto_auth: RunningAuth) -> None:
    code, launch = code_for(auto_auth)
    other_port = "http://127.0.0.1:1/callback"
    assert_oauth_error(
        exchange(auto_auth, launch, code, redirect_uri=other_port),
        400,
        "invalid_grant",
    )
    assert_oauth_error(
        exchange(auto_auth, launch, code, client_id="fhirclient-test"),
        400,
        "invalid_grant",
    )
    assert exchange(auto_auth, launch, code).status_code == 200


def test_unknown_code_is_invalid_grant(auto_auth: RunningAuth) -> None:
    _code, launch = code_for(auto_auth)
    assert_oauth_error(exchange(auto_auth, launch, "made-up-code"), 400, "invalid_grant")


def test_unknown_client_at_token_endpoint_is_invalid_client(auto_auth: RunningAuth) -> None:
    code, launch = code_for(auto_auth)
    response = exchange(auto_auth, launch, code, client_id="no-such-app")
    assert_oauth_error(response, 400, "invalid_client")


def test_confidential_client_must_authenticate(auto_auth: RunningAuth) -> None:
    code, launch = code_for(auto_auth, client_id="sandbox-confidential")
    no_secret = exchange(auto_auth, launch, code)
    assert_oauth_error(no_secret, 401, "invalid_client")
    bad = auto_auth.http.post(
        auto_auth.urls.token,
        auth=("sandbox-confidential", "wrong"),
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": launch.redirect_uri,
            "code_verifier": launch.verifier,
        },
    )
    assert_oauth_error(bad, 401, "invalid_client")
    good = auto_auth.http.post(
        auto_auth.urls.token,
        auth=("sandbox-confidential", "sandbox-only-secret-not-for-production"),
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": launch.redirect_uri,
            "code_verifier": launch.verifier,
        },
    )
    assert good.status_code == 200, good.text


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"grant_type": "password", "username": "a", "password": "b"}, "unsupported_grant_type"),
        ({"grant_type": "client_credentials"}, "unsupported_grant_type"),
        ({}, "invalid_request"),
        ({"grant_type": "authorization_code"}, "invalid_request"),
        ({"grant_type": "refresh_token"}, "invalid_request"),
    ],
)
def test_malformed_token_requests(auth: RunningAuth, data: dict[str, str], error: str) -> None:
    response = auth.http.post(auth.urls.token, data={**data, "client_id": "fhir-writeback"})
    assert_oauth_error(response, 400, error)


def test_nonce_replay_is_refused(auto_auth: RunningAuth) -> None:
    code_for(auto_auth, scope="openid fhirUser", nonce="same-nonce")
    launch = new_launch(auto_auth, scope="openid fhirUser", nonce="same-nonce")
    query = callback_query(
        auto_auth.http.get(auto_auth.urls.authorize, params=launch.params), launch
    )
    assert query["error"] == "invalid_request"


def test_tampered_consent_post_is_validated_again(auth: RunningAuth) -> None:
    launch = new_launch(auth)
    tampered = {**launch.params, "redirect_uri": "http://evil.example/callback"}
    response = auth.http.post(
        auth.urls.authorize, data={**tampered, "login": "prac-1", "decision": "approve"}
    )
    assert response.status_code == 400
    assert "location" not in response.headers
    # And the same POST untampered does produce a code (the test above can fail).
    ok = through_pages(auth, launch)
    assert "code" in callback_query(ok, launch)
