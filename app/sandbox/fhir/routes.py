"""HTTP routes of the sandbox FHIR server (a Flask blueprint, mounted at ``/fhir``).

This module only speaks HTTP: bearer token, body size and media type, ``Prefer``, ETag and
Location headers, status codes. The interactions themselves live in ``service.py`` and
``transaction.py``. Every error leaves as an OperationOutcome.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.http import parse_date

from app.sandbox.contracts import SandboxUrls, TokenVerifier
from app.sandbox.fhir.capability import capability_statement
from app.sandbox.fhir.dates import http_date, now_instant, parse_range
from app.sandbox.fhir.errors import (
    BadRequest,
    FhirError,
    Forbidden,
    MethodNotAllowed,
    NotAcceptable,
    NotAuthenticated,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
    outcome,
)
from app.sandbox.fhir.prefer import Prefer, ReturnPreference, parse_prefer
from app.sandbox.fhir.scopes import Access
from app.sandbox.fhir.service import FhirService, Result, parse_if_match, require_type
from app.sandbox.fhir.store import FhirStore
from app.sandbox.fhir.transaction import BundleProcessor
from app.sandbox.fhir.validation import parse_json_body
from app.sandbox.options import SandboxOptions
from app.sandbox.quirks import bundle_types, missing_patient, refused_write

log = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json; charset=utf-8"
JSON_MEDIA_TYPES = {"application/fhir+json", "application/json", "application/json+fhir"}
JSON_FORMATS = JSON_MEDIA_TYPES | {"json"}
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"]


def fhir_response(
    status: int, body: dict[str, Any] | None, headers: dict[str, str] | None = None
) -> Response:
    data = (
        b""
        if body is None
        else json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    )
    response = Response(data, status=status, headers=headers or {})
    if body is not None:
        response.content_type = FHIR_JSON
    return response


def create_fhir_blueprint(
    store: FhirStore, urls: SandboxUrls, verifier: TokenVerifier, options: SandboxOptions
) -> Blueprint:
    bp = Blueprint("fhir", __name__)
    service = FhirService(store.db, urls.fhir_base)
    bundles = BundleProcessor(service)
    capability = capability_statement(urls, now_instant(), options.quirks)
    quirks = options.quirks
    cap = options.max_body_bytes

    def authenticate() -> Access:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            error = NotAuthenticated(
                "This request has no bearer token. Sign in with SMART on FHIR (authorization "
                f"endpoint {urls.authorize}) and send 'Authorization: Bearer <access token>'."
            )
            error.headers["WWW-Authenticate"] = 'Bearer realm="fhir"'
            raise error
        claims = verifier.verify_access_token(token.strip())
        if claims is None or claims.expires_at < time.time():
            error = NotAuthenticated(
                "The access token is unknown, expired or revoked. Refresh it or sign in again.",
                code="expired" if claims else "login",
            )
            error.headers["WWW-Authenticate"] = (
                'Bearer realm="fhir", error="invalid_token", '
                'error_description="unknown, expired or revoked access token"'
            )
            raise error
        return Access(claims)

    def check_format() -> None:
        fmt = request.args.get("_format")
        accept = request.headers.get("Accept", "")
        json_accepted = not accept or any(t in accept for t in ("json", "*/*", "application/*"))
        if (fmt is not None and fmt.split(";")[0].strip() not in JSON_FORMATS) or not json_accepted:
            raise NotAcceptable(
                f"This server speaks FHIR JSON only (asked for {fmt or accept!r}); use "
                "Accept: application/fhir+json or _format=json."
            )

    def read_body() -> Any:
        declared = request.content_length
        if declared is not None and declared > cap:
            raise too_large(declared)
        request.max_content_length = cap
        try:
            raw = request.get_data(cache=True)
        except RequestEntityTooLarge:
            raise too_large(declared) from None
        if len(raw) > cap:
            raise too_large(len(raw))
        mimetype = request.mimetype
        if mimetype and mimetype not in JSON_MEDIA_TYPES:
            raise UnsupportedMediaType(
                f"The body is {mimetype}; this server accepts FHIR JSON only. Send "
                "Content-Type: application/fhir+json."
            )
        return parse_json_body(raw)

    def too_large(size: int | None) -> PayloadTooLarge:
        what = f"{size} bytes" if size is not None else "larger than allowed"
        return PayloadTooLarge(
            f"The request body is {what}; this server accepts at most {cap} bytes "
            f"({cap / 1048576:.1f} MiB). Split it into smaller requests or Bundles."
        )

    def written(result: Result, prefer: Prefer) -> Response:
        headers = resource_headers(result)
        if result.location:
            headers["Location"] = result.location
        if prefer.returns is ReturnPreference.MINIMAL:
            return fhir_response(result.status, None, headers)
        if prefer.returns is ReturnPreference.OPERATION_OUTCOME:
            return fhir_response(
                result.status, outcome("information", "informational", result.message), headers
            )
        return fhir_response(result.status, result.body, headers)

    def resource_headers(result: Result) -> dict[str, str]:
        if result.stored is None:
            return {}
        return {
            "ETag": result.stored.etag,
            "Last-Modified": http_date(result.stored.last_updated),
        }

    def read_response(result: Result) -> Response:
        headers = resource_headers(result)
        stored = result.stored
        if stored is not None and not_modified(stored.version, stored.last_updated):
            return fhir_response(304, None, headers)
        return fhir_response(200, result.body, headers)

    def not_modified(version: int, last_updated: str) -> bool:
        none_match = request.headers.get("If-None-Match")
        if none_match is not None:
            return str(version) in parse_if_match(none_match) or none_match.strip() == "*"
        since = parse_date(request.headers.get("If-Modified-Since"))
        changed = parse_range(last_updated)
        if since is None or changed is None:
            return False
        return changed.low[:19] <= since.strftime("%Y-%m-%dT%H:%M:%S")

    def search_pairs(form: bool) -> list[tuple[str, str]]:
        pairs = list(request.args.items(multi=True))
        if form:
            mimetype = request.mimetype
            if mimetype and mimetype != "application/x-www-form-urlencoded":
                raise UnsupportedMediaType(
                    f"POST _search takes application/x-www-form-urlencoded parameters, not "
                    f"{mimetype}."
                )
            read_body_size_only()
            pairs += list(request.form.items(multi=True))
        return pairs

    def read_body_size_only() -> None:
        declared = request.content_length
        if declared is not None and declared > cap:
            raise too_large(declared)
        request.max_content_length = cap

    def fhir_route(*rules: str) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
        """Register ``view`` for ``rules`` behind the bearer-token and format checks."""

        def register(view: Callable[..., Response]) -> Callable[..., Response]:
            def guarded(**kwargs: str) -> Response:
                access = authenticate()
                check_format()
                return view(access, **kwargs)

            for rule in rules:
                bp.add_url_rule(rule, view.__name__, guarded, methods=ALL_METHODS)
            return view

        return register

    def require_patient(rtype: str, pairs: list[tuple[str, str]]) -> None:
        refusal = missing_patient(quirks, rtype, pairs)
        if refusal is not None:
            raise BadRequest(refusal)

    def refuse_write(rtype: str) -> None:
        refusal = refused_write(quirks, rtype)
        if refusal is not None:
            raise Forbidden(refusal)

    def not_allowed(what: str) -> MethodNotAllowed:
        return MethodNotAllowed(f"{request.method} is not supported on {what}.")

    @bp.route("/fhir/metadata", methods=ALL_METHODS)
    def metadata() -> Response:
        if request.method not in ("GET", "HEAD"):
            raise not_allowed("/metadata (read it with GET)")
        check_format()
        return fhir_response(200, capability)

    @fhir_route("/fhir", "/fhir/")
    def system(access: Access) -> Response:
        if request.method != "POST":
            raise not_allowed(
                "the base URL: POST a transaction or batch Bundle; system-level search and "
                "history are not supported"
            )
        prefer = parse_prefer(request.headers.get("Prefer"))
        body = read_body()
        for rtype in sorted(bundle_types(body)):
            refuse_write(rtype)
        result = bundles.process(access, body, prefer)
        return fhir_response(result.status, result.body)

    @fhir_route("/fhir/<rtype>")
    def type_level(access: Access, rtype: str) -> Response:
        if rtype in ("_history", "_search"):
            raise not_allowed(f"/{rtype}: system-level {rtype[1:]} is not supported")
        require_type(rtype)
        prefer = parse_prefer(request.headers.get("Prefer"))
        if request.method in ("GET", "HEAD"):
            pairs = search_pairs(False)
            require_patient(rtype, pairs)
            result = service.search(access, rtype, pairs, strict=prefer.strict)
            return fhir_response(200, result.body)
        if request.method == "POST":
            refuse_write(rtype)
            result = service.create(
                access, rtype, read_body(), if_none_exist=request.headers.get("If-None-Exist")
            )
            return written(result, prefer)
        raise not_allowed(
            f"/{rtype}: conditional update, conditional delete and PATCH are not supported"
        )

    @fhir_route("/fhir/<rtype>/_search")
    def search_post(access: Access, rtype: str) -> Response:
        require_type(rtype)
        if request.method not in ("POST", "GET", "HEAD"):
            raise not_allowed(f"/{rtype}/_search")
        prefer = parse_prefer(request.headers.get("Prefer"))
        pairs = search_pairs(request.method == "POST")
        require_patient(rtype, pairs)
        return fhir_response(200, service.search(access, rtype, pairs, strict=prefer.strict).body)

    @fhir_route("/fhir/<rtype>/<rid>")
    def instance(access: Access, rtype: str, rid: str) -> Response:
        require_type(rtype)
        if rid == "_history":
            raise not_allowed(f"/{rtype}/_history: type-level history is not supported")
        if request.method in ("GET", "HEAD"):
            return read_response(service.read(access, rtype, rid))
        if request.method == "PUT":
            prefer = parse_prefer(request.headers.get("Prefer"))
            result = service.update(
                access, rtype, rid, read_body(), if_match=request.headers.get("If-Match")
            )
            return written(result, prefer)
        raise not_allowed(f"/{rtype}/{rid}: DELETE and PATCH are not supported (use PUT)")

    @fhir_route("/fhir/<rtype>/<rid>/_history")
    def history(access: Access, rtype: str, rid: str) -> Response:
        if request.method not in ("GET", "HEAD"):
            raise not_allowed(f"/{rtype}/{rid}/_history")
        return fhir_response(200, service.history(access, rtype, rid).body)

    @fhir_route("/fhir/<rtype>/<rid>/_history/<vid>")
    def vread(access: Access, rtype: str, rid: str, vid: str) -> Response:
        if request.method not in ("GET", "HEAD"):
            raise not_allowed(f"/{rtype}/{rid}/_history/{vid}: versions are read-only")
        return read_response(service.vread(access, rtype, rid, vid))

    @fhir_route("/fhir/<path:rest>")
    def unknown_path(access: Access, rest: str) -> Response:
        raise NotFound(
            f"/fhir/{rest} is not a FHIR endpoint of this server (see /fhir/metadata).",
            code="not-supported",
        )

    @bp.errorhandler(FhirError)
    def fhir_error(error: FhirError) -> Response:
        return fhir_response(error.status, error.operation_outcome(), error.headers)

    @bp.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        if isinstance(error, RequestEntityTooLarge):
            return fhir_error(too_large(request.content_length))
        status = error.code or 500
        body = outcome("error", "processing", f"{error.name}: {error.description}")
        return fhir_response(status, body)

    @bp.errorhandler(Exception)
    def internal_error(error: Exception) -> Response:
        log.exception("unexpected error serving %s %s", request.method, request.path)
        body = outcome(
            "fatal",
            "exception",
            f"The sandbox FHIR server failed unexpectedly ({type(error).__name__}); this is a "
            "bug in the sandbox. Any write in progress was rolled back; see the sandbox log.",
        )
        return fhir_response(500, body)

    return bp
