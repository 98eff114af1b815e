"""Errors of the sandbox FHIR server. Each one becomes an HTTP status plus an OperationOutcome.

    FhirError                     base: status, issue code, diagnostics a person can act on
    ├── BadRequest            400 malformed JSON, wrong resourceType, id mismatch, bad search
    ├── NotAuthenticated      401 no, unknown or expired bearer token
    ├── Forbidden             403 the token's scopes or patient compartment do not allow it
    ├── NotFound              404 unknown resource type, id or version
    ├── MethodNotAllowed      405 an interaction this server does not offer
    ├── NotAcceptable         406 a format other than JSON was asked for
    ├── Conflict              409 the same resource twice in one transaction
    ├── PreconditionFailed    412 If-Match / If-None-Exist / conditional reference mismatch
    ├── PayloadTooLarge       413 request body above the configured cap
    ├── UnsupportedMediaType  415 a body that is not FHIR JSON
    └── Unprocessable         422 well-formed JSON that is not a valid FHIR R4 resource

Anything else raised while serving a request is a bug: it is logged and answered with a 500
OperationOutcome that says so.

    SeedError                     the seed Bundle cannot be loaded at start-up (not HTTP)
"""

from __future__ import annotations

from typing import Any


class FhirError(Exception):
    status = 500
    code = "exception"  # http://hl7.org/fhir/issue-type

    def __init__(
        self,
        diagnostics: str,
        *,
        code: str | None = None,
        expression: list[str] | None = None,
        extra_issues: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(diagnostics)
        self.diagnostics = diagnostics
        if code is not None:
            self.code = code
        self.expression = expression
        self.extra_issues = extra_issues or []
        self.headers: dict[str, str] = {}

    def with_prefix(self, prefix: str) -> FhirError:
        """The same error with ``prefix`` in front of its diagnostics (for Bundle entries)."""
        copy = type(self)(
            f"{prefix}{self.diagnostics}",
            code=self.code,
            expression=self.expression,
            extra_issues=self.extra_issues,
        )
        copy.headers = dict(self.headers)
        return copy

    def issues(self) -> list[dict[str, Any]]:
        issue: dict[str, Any] = {
            "severity": "error",
            "code": self.code,
            "diagnostics": self.diagnostics,
        }
        if self.expression:
            issue["expression"] = self.expression
        return [issue, *self.extra_issues]

    def operation_outcome(self) -> dict[str, Any]:
        return {"resourceType": "OperationOutcome", "issue": self.issues()}


class BadRequest(FhirError):
    status = 400
    code = "invalid"


class NotAuthenticated(FhirError):
    status = 401
    code = "login"


class Forbidden(FhirError):
    status = 403
    code = "forbidden"


class NotFound(FhirError):
    status = 404
    code = "not-found"


class MethodNotAllowed(FhirError):
    status = 405
    code = "not-supported"


class NotAcceptable(FhirError):
    status = 406
    code = "not-supported"


class Conflict(FhirError):
    status = 409
    code = "conflict"


class PreconditionFailed(FhirError):
    status = 412
    code = "conflict"


class PayloadTooLarge(FhirError):
    status = 413
    code = "too-costly"


class UnsupportedMediaType(FhirError):
    status = 415
    code = "not-supported"


class Unprocessable(FhirError):
    status = 422
    code = "invalid"


def outcome(severity: str, code: str, diagnostics: str) -> dict[str, Any]:
    """An OperationOutcome with one issue (for warnings and information)."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}],
    }


REASON_PHRASES = {
    200: "OK",
    201: "Created",
    204: "No Content",
    304: "Not Modified",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    412: "Precondition Failed",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
    500: "Internal Server Error",
}


def status_line(status: int) -> str:
    """``"201 Created"``: the form Bundle ``entry.response.status`` uses."""
    return f"{status} {REASON_PHRASES.get(status, '')}".strip()


class SeedError(Exception):
    """The seed Bundle is unreadable or was refused; the message names the file and the entry."""
