"""Harness for the authorization-server tests, plus the discovery and JWKS checks.

The authorization server runs for real: its Flask blueprint in a waitress server on 127.0.0.1,
a real SQLite file, httpx over HTTP. Only the FHIR side's ``Directory`` is a stub (a unit test
of one layer), so these tests do not depend on the seed data.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from flask import Flask

from app.sandbox.auth import AuthService, create_auth_blueprint
from app.sandbox.contracts import DirectoryEntry, SandboxUrls
from app.sandbox.options import SandboxOptions
from app.sandbox.waitress_thread import WaitressThread
from tests.support.servers import free_port

DEFAULT_SCOPE = "openid fhirUser launch/patient launch/encounter offline_access patient/*.rs"


class StubDirectory:
    """Two practitioners and four patients; pat-3 and pat-10 have no encounter; one name needs
    escaping."""

    def __init__(self) -> None:
        self._practitioners = [
            DirectoryEntry("Practitioner", "prac-1", "Dr Ana Müller"),
            DirectoryEntry("Practitioner", "prac-2", "Dr <b>Bold</b> & Co"),
        ]
        # In display-name order, as the FHIR store lists them; the default is by id (pat-1).
        self._patients = [
            DirectoryEntry("Patient", "pat-2", "Jean-Luc Picard", "1960-07-13, MRN 002"),
            DirectoryEntry("Patient", "pat-3", "No Encounter", "1999-12-31, MRN 003"),
            DirectoryEntry("Patient", "pat-10", "Ten Patient", "2001-01-01, MRN 010"),
            DirectoryEntry("Patient", "pat-1", "Zoë Ødegaard", "1970-01-01, MRN 001"),
        ]
        self._encounters = {"pat-1": "enc-1", "pat-2": "enc-2"}

    def practitioners(self) -> list[DirectoryEntry]:
        return list(self._practitioners)

    def patients(self) -> list[DirectoryEntry]:
        return list(self._patients)

    def exists(self, resource_type: str, resource_id: str) -> bool:
        entries = self._practitioners + self._patients
        return any(e.resource_type == resource_type and e.id == resource_id for e in entries)

    def latest_encounter(self, patient_id: str) -> str | None:
        return self._encounters.get(patient_id)


@dataclass
class RunningAuth:
    """One authorization server on a free port, with an httpx client that never follows
    redirects (the loopback redirect target is not listening)."""

    service: AuthService
    urls: SandboxUrls
    http: httpx.Client
    _server: WaitressThread

    def stop(self) -> None:
        self.http.close()
        self._server.stop()  # the listener and every connection it accepted
        self.service.close()


def start_auth(
    db_path: Path,
    *,
    token_ttl: int = 3600,
    auto_login: str | None = None,
    clock: Callable[[], float] | None = None,
) -> RunningAuth:
    app = Flask("auth-test")
    server = WaitressThread(app, name="auth-test", host="127.0.0.1", port=0, threads=4)
    urls = SandboxUrls(base=f"http://127.0.0.1:{server.port}")
    options = SandboxOptions(token_ttl=token_ttl, auto_login=auto_login, db_path=db_path)
    kwargs: dict[str, Any] = {} if clock is None else {"clock": clock}
    try:
        service = AuthService(db_path, urls, options, StubDirectory(), **kwargs)
    except BaseException:
        server.stop()  # refused at start (an unknown --auto-login): nothing is left listening
        raise
    app.register_blueprint(create_auth_blueprint(service))
    server.start()
    http = httpx.Client(timeout=10, follow_redirects=False)
    return RunningAuth(service, urls, http, server)


@contextlib.contextmanager
def running_auth(db_path: Path, **kwargs: Any) -> Iterator[RunningAuth]:
    """``start_auth`` as a context manager (each test module builds its fixtures from it)."""
    running = start_auth(db_path, **kwargs)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def auth(tmp_path: Path) -> Iterator[RunningAuth]:
    with running_auth(tmp_path / "sandbox.db") as running:
        yield running


# -- the client side of a launch ------------------------------------------------------------


def make_pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass
class Launch:
    """One authorization request as an app would make it."""

    params: dict[str, str]
    verifier: str
    extra_fields: dict[str, str] = field(default_factory=dict)

    @property
    def redirect_uri(self) -> str:
        return self.params["redirect_uri"]

    @property
    def client_id(self) -> str:
        return self.params["client_id"]


def new_launch(auth: RunningAuth, **overrides: str | None) -> Launch:
    """PKCE S256 + state + aud on a loopback redirect with a free port; ``None`` drops a key."""
    verifier, challenge = make_pkce()
    params: dict[str, str | None] = {
        "response_type": "code",
        "client_id": "fhir-writeback",
        "redirect_uri": f"http://127.0.0.1:{free_port()}/callback",
        "scope": DEFAULT_SCOPE,
        "state": secrets.token_urlsafe(16),
        "aud": auth.urls.fhir_base,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    return Launch({k: v for k, v in params.items() if v is not None}, verifier)


class FirstForm(HTMLParser):
    """The first <form> of a page: action and the values a browser would submit by default."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self.buttons: list[tuple[str, str]] = []
        self.selects: dict[str, list[str]] = {}
        self._state = "before"
        self._select: str | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and self._state == "before":
            self._state, self.action = "in", a.get("action", "")
        if self._state != "in":
            return
        if tag == "input" and a.get("name"):
            self.fields[a["name"]] = a.get("value", "")
        elif tag == "button" and a.get("name"):
            self.buttons.append((a["name"], a.get("value", "")))
        elif tag == "select":
            self._select = a["name"]
            self.selects[self._select] = []
        elif tag == "option" and self._select:
            self.selects[self._select].append(a["value"])
            if "selected" in a or self._select not in self.fields:
                self.fields[self._select] = a["value"]

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "form" and self._state == "in":
            self._state = "after"


def callback_query(response: httpx.Response, launch: Launch) -> dict[str, str]:
    """The query of a redirect to the launch's redirect URI (asserts it is one)."""
    assert response.status_code == 302, f"{response.status_code}: {response.text[:500]}"
    location = response.headers["location"]
    assert location.startswith(launch.redirect_uri + "?"), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def through_pages(
    auth: RunningAuth,
    launch: Launch,
    *,
    login: str = "prac-1",
    patient: str | None = None,
    decision: str = "approve",
) -> httpx.Response:
    """Walk login page -> consent page -> decision like a browser; returns the final response."""
    page = auth.http.get(auth.urls.authorize, params=launch.params)
    assert page.status_code == 200, page.text[:1000]
    login_form = FirstForm(page.text)
    assert login_form.action == "/auth/authorize"
    assert login.partition(":")[0] in login_form.selects["login"]
    data = {**login_form.fields, "login": login}
    if patient is not None:
        data["patient"] = patient
    consent = auth.http.post(auth.urls.base + login_form.action, data=data)
    assert consent.status_code == 200, consent.text[:1000]
    consent_form = FirstForm(consent.text)
    assert (("decision", "approve") in consent_form.buttons) and (
        ("decision", "deny") in consent_form.buttons
    )
    return auth.http.post(
        auth.urls.base + str(consent_form.action),
        data={**consent_form.fields, "decision": decision},
    )


def exchange(
    auth: RunningAuth, launch: Launch, code: str, **overrides: str | None
) -> httpx.Response:
    data: dict[str, str | None] = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": launch.client_id,
        "redirect_uri": launch.redirect_uri,
        "code_verifier": launch.verifier,
    }
    data.update(overrides)
    return auth.http.post(auth.urls.token, data={k: v for k, v in data.items() if v is not None})


def sign_in(auth: RunningAuth, **overrides: str | None) -> dict[str, Any]:
    """A whole successful launch through the pages (or auto-login); the token response."""
    launch = new_launch(auth, **overrides)
    if auth.service.auto_login:
        response = auth.http.get(auth.urls.authorize, params=launch.params)
    else:
        response = through_pages(auth, launch)
    query = callback_query(response, launch)
    token = exchange(auth, launch, query["code"])
    assert token.status_code == 200, token.text
    body: dict[str, Any] = token.json()
    return body


def refresh(auth: RunningAuth, refresh_token: str, **extra: str) -> httpx.Response:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    data.setdefault("client_id", "fhir-writeback")
    data.update(extra)
    return auth.http.post(auth.urls.token, data=data)


# -- discovery and keys ---------------------------------------------------------------------


def test_smart_configuration_declares_endpoints_pkce_and_capabilities(auth: RunningAuth) -> None:
    r = auth.http.get(f"{auth.urls.fhir_base}/.well-known/smart-configuration")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    cfg = r.json()
    assert cfg["issuer"] == auth.urls.issuer
    assert cfg["authorization_endpoint"] == auth.urls.authorize
    assert cfg["token_endpoint"] == auth.urls.token
    assert cfg["revocation_endpoint"] == auth.urls.revoke
    assert cfg["introspection_endpoint"] == auth.urls.introspect
    assert cfg["jwks_uri"] == auth.urls.jwks
    assert cfg["userinfo_endpoint"] == auth.urls.userinfo
    assert cfg["code_challenge_methods_supported"] == ["S256"]
    assert cfg["grant_types_supported"] == ["authorization_code", "refresh_token"]
    assert cfg["response_types_supported"] == ["code"]
    assert "none" in cfg["token_endpoint_auth_methods_supported"]
    assert {"openid", "fhirUser", "launch/patient", "offline_access"} <= set(
        cfg["scopes_supported"]
    )
    assert set(cfg["capabilities"]) >= {
        "launch-standalone",
        "client-public",
        "client-confidential-symmetric",
        "context-standalone-patient",
        "context-standalone-encounter",
        "permission-offline",
        "permission-online",
        "permission-patient",
        "permission-user",
        "permission-v1",
        "permission-v2",
        "sso-openid-connect",
        "context-banner",
    }


def test_openid_configuration_matches_smart_configuration(auth: RunningAuth) -> None:
    smart = auth.http.get(f"{auth.urls.fhir_base}/.well-known/smart-configuration").json()
    oidc = auth.http.get(f"{auth.urls.issuer}/.well-known/openid-configuration").json()
    for key in ("issuer", "jwks_uri", "authorization_endpoint", "token_endpoint"):
        assert oidc[key] == smart[key]
    assert oidc["id_token_signing_alg_values_supported"] == ["RS256"]


def test_jwks_publishes_only_the_public_key(auth: RunningAuth) -> None:
    keys = auth.http.get(auth.urls.jwks).json()["keys"]
    assert len(keys) == 1
    key = keys[0]
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig" and key["kid"]
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)
