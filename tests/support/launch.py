"""A minimal HTTP-level SMART standalone-launch driver for tests (no browser, no listener).

    cfg = discover(http, fhir_base)
    result = standalone_launch(http, cfg, client_id="fhir-writeback", scope="openid ...")
    result.token["access_token"]

The driver builds the authorize URL (PKCE S256, ``state``, ``aud``), walks the authorization
server with one cookie-keeping httpx client, and stops at the redirect to the loopback
``redirect_uri``: it only reads the ``Location`` header, so nothing needs to listen on the
port. Auto-login servers redirect straight back; for a login/consent page it posts the page's
first form, with ``form_values`` overriding the defaults of the fields that form has (a
select's selected or first option, the first named submit button, hidden inputs). It checks ``state`` (and
``iss`` when the server sends it, RFC 9207) and exchanges the code.

Deviations from a correct client are explicit parameters (``code_challenge_method="plain"``,
``omit_code_challenge``, ``aud=...``, ``code_verifier=...``) so tests can check refusals.

Errors:
    LaunchError                the flow did not reach a code
    └── AuthorizationDenied    the server redirected back with ``error=...`` (RFC 6749 4.1.2.1)
    TokenError                 the token endpoint answered an OAuth error (``.status``, ``.body``)
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx

from tests.support.servers import free_port

MAX_STEPS = 20


class LaunchError(Exception):
    """The authorization flow did not reach a callback with a code."""


class AuthorizationDenied(LaunchError):
    """The authorization server redirected back with an OAuth error."""

    def __init__(self, error: str, description: str, callback_url: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.callback_url = callback_url


class TokenError(Exception):
    """The token (or revocation) endpoint refused the request."""

    def __init__(self, status: int, body: Any) -> None:
        error = body.get("error") if isinstance(body, dict) else None
        super().__init__(f"HTTP {status}: {body!r}")
        self.status = status
        self.body = body
        self.error = error


@dataclass(frozen=True)
class SmartConfig:
    """The parts of ``.well-known/smart-configuration`` the driver uses (``raw`` has all)."""

    fhir_base: str
    raw: dict[str, Any]

    @property
    def authorize(self) -> str:
        return str(self.raw["authorization_endpoint"])

    @property
    def token(self) -> str:
        return str(self.raw["token_endpoint"])

    @property
    def revoke(self) -> str | None:
        return self.raw.get("revocation_endpoint")

    @property
    def issuer(self) -> str | None:
        return self.raw.get("issuer")

    @property
    def jwks_uri(self) -> str | None:
        return self.raw.get("jwks_uri")


@dataclass
class LaunchResult:
    token: dict[str, Any]
    callback_url: str
    state: str
    code_verifier: str
    redirect_uri: str
    steps: list[str] = field(default_factory=list)  # URLs visited, for failure messages


def discover(http: httpx.Client, fhir_base: str) -> SmartConfig:
    r = http.get(
        f"{fhir_base.rstrip('/')}/.well-known/smart-configuration",
        headers={"Accept": "application/json"},
    )
    r.raise_for_status()
    return SmartConfig(fhir_base=fhir_base.rstrip("/"), raw=r.json())


def make_pkce() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge) per RFC 7636."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def loopback_redirect(path: str = "/callback") -> str:
    """A loopback redirect URI on a free port (RFC 8252: any port matches the registration)."""
    return f"http://127.0.0.1:{free_port()}{path}"


def build_authorize_url(
    cfg: SmartConfig,
    *,
    client_id: str,
    redirect_uri: str,
    scope: str,
    state: str,
    code_challenge: str | None,
    code_challenge_method: str = "S256",
    aud: str | None = None,
    extra: dict[str, str] | None = None,
) -> str:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": state,
        "aud": aud if aud is not None else cfg.fhir_base,
    }
    if code_challenge is not None:
        params["code_challenge"] = code_challenge
        params["code_challenge_method"] = code_challenge_method
    params.update(extra or {})
    sep = "&" if "?" in cfg.authorize else "?"
    return f"{cfg.authorize}{sep}{urlencode(params)}"


class _FormParser(HTMLParser):
    """Collects the first <form>: action, method and default field values."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.method = "get"
        self.fields: dict[str, str] = {}
        self._in_form = False
        self._done = False
        self._select: str | None = None
        self._select_first: str | None = None
        self._option_value: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if self._done:
            return
        if tag == "form" and not self._in_form:
            self._in_form = True
            self.action = a.get("action", "")
            self.method = a.get("method", "get").lower()
        elif not self._in_form:
            return
        elif tag == "input" and a.get("name"):
            kind = a.get("type", "text").lower()
            if kind in ("checkbox", "radio") and "checked" not in a:
                if kind == "radio":
                    self.fields.setdefault(a["name"], "")
                return
            if kind == "submit" and a["name"] in self.fields:
                return
            self.fields[a["name"]] = a.get("value", "")
        elif tag == "button" and a.get("name") and a["name"] not in self.fields:
            self.fields[a["name"]] = a.get("value", "")
        elif tag == "select" and a.get("name"):
            self._select, self._select_first = a["name"], None
        elif tag == "option" and self._select:
            value = a.get("value")
            self._option_value = value
            if value is not None:
                if self._select_first is None:
                    self._select_first = value
                if "selected" in a:
                    self.fields[self._select] = value
        elif tag == "textarea" and a.get("name"):
            self.fields.setdefault(a["name"], "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "select" and self._select:
            if self._select not in self.fields and self._select_first is not None:
                self.fields[self._select] = self._select_first
            self._select = None
        elif tag == "form" and self._in_form:
            self._in_form, self._done = False, True


def _is_callback(url: str, redirect_uri: str) -> bool:
    u, r = urlsplit(url), urlsplit(redirect_uri)
    return (u.scheme, u.netloc, u.path) == (r.scheme, r.netloc, r.path)


def follow_to_callback(
    http: httpx.Client,
    url: str,
    redirect_uri: str,
    *,
    form_values: dict[str, str] | None = None,
    steps: list[str] | None = None,
) -> str:
    """Walk redirects and forms from ``url`` until a redirect to ``redirect_uri``; return it."""
    steps = steps if steps is not None else []
    method, data = "GET", None
    for _ in range(MAX_STEPS):
        steps.append(f"{method} {url}")
        r = http.request(method, url, data=data, follow_redirects=False)
        if r.is_redirect:
            location = urljoin(str(r.url), r.headers["location"])
            if _is_callback(location, redirect_uri):
                return location
            method, data, url = "GET", None, location
            continue
        if r.status_code == 200 and "<form" in r.text.lower():
            form = _FormParser()
            form.feed(r.text)
            # only fields this form has: the values are for the login form, not the consent one
            overrides = {k: v for k, v in (form_values or {}).items() if k in form.fields}
            fields = {**form.fields, **overrides}
            target = urljoin(str(r.url), form.action or str(r.url))
            if form.method == "post":
                method, data, url = "POST", fields, target
            else:
                sep = "&" if "?" in target else "?"
                method, data, url = "GET", None, f"{target}{sep}{urlencode(fields)}"
            continue
        raise LaunchError(
            f"authorization flow stopped at {method} {url}: HTTP {r.status_code}\n"
            f"{r.text[:2000]}\nsteps: {steps}"
        )
    raise LaunchError(f"no callback after {MAX_STEPS} steps: {steps}")


def parse_callback(callback_url: str, *, state: str, issuer: str | None) -> str:
    """The code from a callback URL, after checking ``state`` and (when present) ``iss``."""
    q = {k: v[0] for k, v in parse_qs(urlsplit(callback_url).query).items()}
    if "error" in q:
        raise AuthorizationDenied(q["error"], q.get("error_description", ""), callback_url)
    if q.get("state") != state:
        raise LaunchError(f"state not echoed: sent {state!r}, got {q.get('state')!r}")
    if "iss" in q and issuer is not None and q["iss"] != issuer:
        raise LaunchError(f"iss {q['iss']!r} is not the issuer {issuer!r} (RFC 9207)")
    if "code" not in q:
        raise LaunchError(f"callback without code: {callback_url}")
    return q["code"]


def _token_request(http: httpx.Client, url: str, data: dict[str, str]) -> dict[str, Any]:
    r = http.post(url, data=data, headers={"Accept": "application/json"})
    try:
        body: Any = r.json()
    except ValueError:
        body = r.text
    if r.status_code != 200 or not isinstance(body, dict):
        raise TokenError(r.status_code, body)
    return body


def exchange_code(
    http: httpx.Client,
    cfg: SmartConfig,
    *,
    code: str,
    client_id: str,
    redirect_uri: str,
    code_verifier: str | None,
) -> dict[str, Any]:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": client_id,
        "redirect_uri": redirect_uri,
    }
    if code_verifier is not None:
        data["code_verifier"] = code_verifier
    return _token_request(http, cfg.token, data)


def refresh(
    http: httpx.Client,
    cfg: SmartConfig,
    *,
    refresh_token: str,
    client_id: str,
    scope: str | None = None,
) -> dict[str, Any]:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}
    if scope is not None:
        data["scope"] = scope
    return _token_request(http, cfg.token, data)


def revoke(
    http: httpx.Client,
    cfg: SmartConfig,
    *,
    token: str,
    client_id: str,
    token_type_hint: str = "refresh_token",
) -> httpx.Response:
    """RFC 7009 revocation; returns the raw response (200 expected, even for unknown tokens)."""
    if cfg.revoke is None:
        raise LaunchError("smart-configuration has no revocation_endpoint")
    return http.post(
        cfg.revoke,
        data={"token": token, "token_type_hint": token_type_hint, "client_id": client_id},
    )


def authorize(
    http: httpx.Client,
    cfg: SmartConfig,
    *,
    client_id: str,
    scope: str,
    redirect_uri: str | None = None,
    form_values: dict[str, str] | None = None,
    code_challenge_method: str = "S256",
    omit_code_challenge: bool = False,
    aud: str | None = None,
) -> LaunchResult:
    """Front-channel part only: returns a LaunchResult whose ``token`` is still empty.

    ``code_challenge_method="plain"`` sends the verifier itself as the challenge.
    """
    redirect_uri = redirect_uri or loopback_redirect()
    state = secrets.token_urlsafe(16)
    verifier, challenge = make_pkce()
    if code_challenge_method == "plain":
        challenge = verifier
    url = build_authorize_url(
        cfg,
        client_id=client_id,
        redirect_uri=redirect_uri,
        scope=scope,
        state=state,
        aud=aud,
        code_challenge=None if omit_code_challenge else challenge,
        code_challenge_method=code_challenge_method,
    )
    steps: list[str] = []
    callback = follow_to_callback(http, url, redirect_uri, form_values=form_values, steps=steps)
    return LaunchResult(
        token={},
        callback_url=callback,
        state=state,
        code_verifier=verifier,
        redirect_uri=redirect_uri,
        steps=steps,
    )


def standalone_launch(
    http: httpx.Client,
    cfg: SmartConfig,
    *,
    client_id: str,
    scope: str,
    redirect_uri: str | None = None,
    form_values: dict[str, str] | None = None,
) -> LaunchResult:
    """The whole standalone launch (PKCE S256); ``result.token`` is the token response."""
    result = authorize(
        http,
        cfg,
        client_id=client_id,
        scope=scope,
        redirect_uri=redirect_uri,
        form_values=form_values,
    )
    code = parse_callback(result.callback_url, state=result.state, issuer=cfg.issuer)
    result.token = exchange_code(
        http,
        cfg,
        code=code,
        client_id=client_id,
        redirect_uri=result.redirect_uri,
        code_verifier=result.code_verifier,
    )
    return result
