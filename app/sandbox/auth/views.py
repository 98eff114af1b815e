"""HTTP routes of the authorization server (a Flask blueprint registered without url_prefix).

    GET       /fhir/.well-known/smart-configuration   SMART discovery
    GET       /auth/.well-known/openid-configuration  OpenID discovery (same endpoints)
    GET       /auth/jwks                              public signing keys
    GET/POST  /auth/authorize                         login page -> consent page (once per user,
                                                      client and scopes) -> redirect
    POST      /auth/token                             authorization_code | refresh_token
    POST      /auth/revoke                            RFC 7009
    POST      /auth/introspect                        RFC 7662
    GET/POST  /auth/userinfo                          OpenID Connect userinfo

Before the client and its redirect URI are trusted, authorization errors are an HTML page and
nothing is redirected (RFC 6749 4.1.2.1); afterwards they go back to the client as
``error=...&state=...&iss=...``.

The pages carry no CSRF token: logins are password-less by design, so a forged POST can do
nothing a visit to the page cannot, and a code only ever goes to a registered redirect URI
where it is useless without the app's PKCE verifier.
"""

from __future__ import annotations

import re
from typing import Any

from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError
from flask import Blueprint, Response, jsonify, request

from app.sandbox.auth.errors import UnknownLoginError
from app.sandbox.auth.grants import scope_for_user
from app.sandbox.auth.pages import consent_page, error_page, login_page
from app.sandbox.auth.records import LoginUser
from app.sandbox.auth.scopes import split_scope, wants_encounter, wants_patient
from app.sandbox.auth.service import AuthService

# Form fields of the sandbox's own pages; everything else on the form is the OAuth request.
PAGE_FIELDS = frozenset({"login", "patient", "decision", "password"})
AUTHORIZE_PATH = "/auth/authorize"
BEARER = re.compile(r"^Bearer\s+(\S+)\s*$", re.IGNORECASE)

HTML_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    # No form-action: browsers apply it to the redirect to the app's loopback URI too.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _html(body: str, status: int = 200) -> Response:
    return Response(body, status=status, headers=HTML_HEADERS)


def _oauth_params() -> list[tuple[str, str]]:
    return [(k, str(v)) for k, v in request.values.items(multi=True) if k not in PAGE_FIELDS]


def _authorization_error(service: AuthService, error: OAuth2Error) -> Response:
    if error.redirect_uri:
        _status, _body, headers = error()
        location = add_params_to_uri(dict(headers)["Location"], {"iss": service.urls.issuer})
        return Response("", status=302, headers={"Location": location, "Cache-Control": "no-store"})
    description = error.get_error_description() or error.error
    if error.error == "invalid_client":
        title = "This app is not registered with the sandbox EHR"
        advice = (
            "Check the client_id in the app's site configuration. The sandbox's registered "
            "clients are listed in resources/sandbox/clients.json."
        )
    elif "redirect" in str(description).lower():
        title = "The app's return address is not registered"
        advice = (
            "Nothing was sent back to the app. The redirect_uri must match one registered for "
            "this client exactly (loopback addresses may use any port)."
        )
    else:
        title = "This sign-in request cannot be used"
        advice = (
            "Nothing was sent back to the app. Close this tab and start the sign-in again from "
            "the app; if it happens again, the app or its configuration needs fixing."
        )
    return _html(error_page(title, f"{error.error}: {description}", advice), status=400)


def _complete(service: AuthService, grant: Any, user: LoginUser | None) -> Response:
    """Redirect to the client: a code when ``user`` approved, access_denied when None."""
    result: Response = service.server.create_authorization_response(grant=grant, grant_user=user)
    return result


def _consent_remembered(
    service: AuthService, user: LoginUser, client_id: str, granted: list[str]
) -> bool:
    """Consent is asked once per user, client and scopes, as real authorization servers do:
    a request for no more than this user allowed this client before goes straight back to the
    app. OpenID's ``prompt=consent`` asks again."""
    if "consent" in request.values.get("prompt", "").split():
        return False
    return bool(granted) and set(granted) <= service.store.consented_scopes(
        user.fhir_user, client_id
    )


def _authorize(service: AuthService) -> Response:
    server = service.server
    try:
        # With auto-login there is always a signed-in user, so OpenID prompt=none may pass.
        grant = server.get_consent_grant(end_user=service.auto_login)
    except OAuth2Error as error:
        return _authorization_error(service, error)
    client = grant.request.client
    scope = grant.request.scope
    params = _oauth_params()

    if service.auto_login is not None:
        try:
            user = service.logins.resolve(service.auto_login, None, scope)
        except UnknownLoginError as exc:
            return _html(
                error_page(
                    "Automatic sign-in failed",
                    str(exc),
                    "Restart the sandbox with an existing --auto-login user.",
                ),
                500,
            )
        return _complete(service, grant, user)

    form = request.form
    picker = wants_patient(scope) or wants_encounter(scope)
    if request.method == "GET" or "login" not in form:
        return _html(
            login_page(
                action=AUTHORIZE_PATH,
                params=params,
                client_name=client.client_name,
                practitioners=service.logins.practitioners(),
                patients=service.logins.patients(),
                patient_picker=picker,
                selected_patient=service.logins.default_patient(),
            )
        )
    try:
        user = service.logins.resolve(form["login"], form.get("patient"), scope)
    except UnknownLoginError as exc:
        return _html(
            login_page(
                action=AUTHORIZE_PATH,
                params=params,
                client_name=client.client_name,
                practitioners=service.logins.practitioners(),
                patients=service.logins.patients(),
                patient_picker=picker,
                selected_login=form.get("login"),
                selected_patient=form.get("patient"),
                error=str(exc),
            ),
            status=400,
        )

    return _decide(service, grant, user, params)


def _decide(
    service: AuthService, grant: Any, user: LoginUser, params: list[tuple[str, str]]
) -> Response:
    """After the login: the consent page (unless this user allowed this client these scopes
    before), then the user's decision."""
    client = grant.request.client
    decision = request.form.get("decision")
    granted = split_scope(scope_for_user(grant.request.scope, user))
    if decision is None and _consent_remembered(service, user, client.client_id, granted):
        return _complete(service, grant, user)
    if decision is None:
        dropped = [s for s in split_scope(grant.request.payload.scope) if s not in granted]
        page_params = [*params, ("login", user.id), ("patient", user.patient or "")]
        patient_display = service.logins.display("Patient", user.patient) if user.patient else None
        return _html(
            consent_page(
                action=AUTHORIZE_PATH,
                params=page_params,
                client_name=client.client_name,
                user=user,
                patient_display=patient_display,
                granted=granted,
                dropped=dropped,
            )
        )
    if decision == "approve":
        service.store.remember_consent(user.fhir_user, client.client_id, granted)
        return _complete(service, grant, user)
    if decision == "deny":
        return _complete(service, grant, None)
    return _html(
        error_page("Unknown choice", f"decision={decision!r}", "Use the Allow or Deny button."),
        status=400,
    )


def _token_error(service: AuthService, error: OAuth2Error) -> Response:
    result: Response = service.server.handle_error_response(None, error)
    return result


def _userinfo(service: AuthService) -> Response | tuple[Any, int, dict[str, str]]:
    m = BEARER.match(request.headers.get("Authorization", ""))
    claims = service.verify_access_token(m.group(1)) if m else None
    if claims is None:
        return (
            {"error": "invalid_token", "error_description": "missing, expired or revoked token"},
            401,
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    if "openid" not in split_scope(claims.scope):
        return (
            {"error": "insufficient_scope", "error_description": "the token lacks openid"},
            403,
            {"WWW-Authenticate": 'Bearer error="insufficient_scope", scope="openid"'},
        )
    kind, _, user_id = claims.fhir_user.partition("/")
    return jsonify(
        sub=claims.subject,
        fhirUser=f"{service.urls.fhir_base}/{claims.fhir_user}",
        name=service.logins.display(kind, user_id),
    )


def create_auth_blueprint(service: AuthService) -> Blueprint:
    bp = Blueprint("sandbox_auth", __name__)
    server = service.server

    @bp.get("/fhir/.well-known/smart-configuration")
    def smart_configuration() -> Response:
        return jsonify(service.smart_configuration())

    @bp.get("/auth/.well-known/openid-configuration")
    def openid_configuration() -> Response:
        return jsonify(service.openid_configuration())

    @bp.get("/auth/jwks")
    def jwks() -> Response:
        return jsonify(service.jwks())

    @bp.route(AUTHORIZE_PATH, methods=["GET", "POST"])
    def authorize() -> Response:
        return _authorize(service)

    @bp.post("/auth/token")
    def token() -> Response:
        try:
            if not request.form.get("grant_type"):
                raise InvalidRequestError("grant_type is missing")
            result: Response = server.create_token_response()
            return result
        except OAuth2Error as error:
            return _token_error(service, error)

    @bp.post("/auth/revoke")
    def revoke() -> Response:
        try:
            result: Response = server.create_endpoint_response("revocation")
            return result
        except OAuth2Error as error:
            return _token_error(service, error)

    @bp.post("/auth/introspect")
    def introspect() -> Response:
        try:
            result: Response = server.create_endpoint_response("introspection")
            return result
        except OAuth2Error as error:
            return _token_error(service, error)

    @bp.route("/auth/userinfo", methods=["GET", "POST"])
    def userinfo() -> Response | tuple[Any, int, dict[str, str]]:
        return _userinfo(service)

    return bp
