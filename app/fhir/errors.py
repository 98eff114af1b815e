"""Errors of the FHIR layer. Every error has a ``user_message`` (what happened, what to do).

    FhirError                        base: ``user_message``; ``detail`` for support (no PHI)
    ├── FhirTransportError           no usable HTTP answer; ``maybe_delivered`` tells the sync
    │   │                            engine whether the server may have acted on the request
    │   ├── FhirNetworkError         connection refused, reset, DNS, proxy
    │   │   ├── FhirTlsError         the server's certificate could not be verified
    │   │   └── FhirSignInServiceError  the token could not be renewed (token endpoint
    │   │                            failing or unreachable): nothing was sent
    │   └── FhirTimeout              no answer in time
    ├── FhirHttpError                the server answered 4xx/5xx: ``status``, ``outcome_text``
    │   ├── FhirBadRequest           400, 405, 422 and other 4xx: the request was refused
    │   ├── FhirUnauthorized         401 (after the auth flow's one refresh)
    │   ├── FhirForbidden            403: the token's scopes or the user's rights do not allow it
    │   ├── FhirNotFound             404, 410
    │   ├── FhirConflict             409, 412: version conflict / If-Match failed
    │   ├── FhirRateLimited          429: ``retry_after`` seconds when the server said so
    │   └── FhirServerError          5xx: ``retry_after`` when the server said so
    ├── FhirResponseError            the answer is not what FHIR promises
    │   ├── FhirResponseTooLarge     bigger than the cap (20 MB by default): refused unread
    │   ├── FhirParseError           not JSON, not UTF-8, nested too deeply
    │   └── FhirUnexpectedResponse   valid JSON but the wrong shape (wrong resourceType, ...)
    ├── FhirUnsupported              the CapabilityStatement does not declare what is needed
    ├── FhirMappingError             one resource could not be turned into the domain model
    │                                (the loader skips it and reports ``reason`` in its section)
    └── FhirContextError             the chart context is inconsistent
        └── EncounterPatientMismatch the encounter belongs to another patient

``SignInRequired`` raised by the SMART auth flow (app.smart.errors) passes through unchanged:
it means "wait for sign-in", not "the request failed". Any other error of the auth flow (the
token endpoint answering 503/429 or an HTML page, or unreachable) becomes
``FhirSignInServiceError``: the session is intact and the request was not processed.
"""

from __future__ import annotations


class FhirError(Exception):
    def __init__(self, user_message: str, *, detail: str | None = None) -> None:
        super().__init__(user_message if detail is None else f"{user_message} [{detail}]")
        self.user_message = user_message
        self.detail = detail


class FhirTransportError(FhirError):
    def __init__(
        self, user_message: str, *, detail: str | None = None, maybe_delivered: bool = False
    ) -> None:
        super().__init__(user_message, detail=detail)
        self.maybe_delivered = maybe_delivered


class FhirNetworkError(FhirTransportError):
    pass


class FhirTlsError(FhirNetworkError):
    pass


class FhirSignInServiceError(FhirNetworkError):
    def __init__(
        self, user_message: str, *, detail: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(user_message, detail=detail, maybe_delivered=False)
        self.retry_after = retry_after


class FhirTimeout(FhirTransportError):
    pass


class FhirHttpError(FhirError):
    def __init__(
        self,
        status: int,
        user_message: str,
        *,
        outcome_text: str | None = None,
        retry_after: float | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(user_message, detail=detail)
        self.status = status
        self.outcome_text = outcome_text
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.status in (408, 429) or self.status >= 500


class FhirBadRequest(FhirHttpError):
    pass


class FhirUnauthorized(FhirHttpError):
    pass


class FhirForbidden(FhirHttpError):
    pass


class FhirNotFound(FhirHttpError):
    pass


class FhirConflict(FhirHttpError):
    pass


class FhirRateLimited(FhirHttpError):
    pass


class FhirServerError(FhirHttpError):
    pass


class FhirResponseError(FhirError):
    pass


class FhirResponseTooLarge(FhirResponseError):
    pass


class FhirParseError(FhirResponseError):
    pass


class FhirUnexpectedResponse(FhirResponseError):
    pass


class FhirUnsupported(FhirError):
    pass


class FhirMappingError(FhirError):
    """``reason`` names the element and the problem, never the resource's clinical content."""

    def __init__(self, resource_type: str, resource_id: str | None, reason: str) -> None:
        super().__init__(f"A {resource_type} from the EHR could not be read: {reason}.")
        self.resource_type = resource_type
        self.resource_id = resource_id
        self.reason = reason


class FhirContextError(FhirError):
    pass


class EncounterPatientMismatch(FhirContextError):
    pass


_STATUS_WORDS = {
    400: "refused the request as invalid",
    401: "did not accept the sign-in",
    403: "does not allow this",
    404: "could not find it",
    405: "does not allow this operation",
    409: "reported a conflict",
    410: "says it was deleted",
    412: "reported that the record changed in the meantime",
    422: "refused the content as invalid",
    429: "is busy (too many requests)",
}


def http_error(
    status: int, what: str, outcome_text: str | None, retry_after: float | None
) -> FhirHttpError:
    """The FhirHttpError subclass for ``status``; ``what`` names the request in plain words."""
    said = _STATUS_WORDS.get(status, "failed" if status < 500 else "had an internal problem")
    because = f" The EHR said: {quote_ehr_text(outcome_text)}." if outcome_text else ""
    if status == 401:
        cls: type[FhirHttpError] = FhirUnauthorized
        advice = "Sign in again."
    elif status == 403:
        cls, advice = FhirForbidden, "Ask clinic IT whether your account and this app may do it."
    elif status in (404, 410):
        cls, advice = FhirNotFound, "Check that the record still exists in the EHR."
    elif status in (409, 412):
        cls, advice = FhirConflict, "Reload the record to see the current version."
    elif status == 429:
        cls, advice = FhirRateLimited, "The app will try again shortly."
    elif status >= 500:
        cls, advice = FhirServerError, "The app will try again; if it persists, tell clinic IT."
    else:
        cls, advice = FhirBadRequest, "If this keeps happening, tell clinic IT."
    message = f"The EHR {said} ({what}, HTTP {status}).{because} {advice}"
    return cls(
        status,
        message,
        outcome_text=outcome_text,
        retry_after=retry_after,
        detail=f"HTTP {status} for {what}",
    )


def quote_ehr_text(text: str) -> str:
    """The EHR's own words as a quoted clause, so they cannot run into the app's sentences:
    whitespace collapsed, the closing full stop left to the caller."""
    words = " ".join(text.split()).rstrip(".").strip()
    return f"“{words}”"


def ehr_noted(text: str) -> str:
    """A note the EHR attached to an answer (an OperationOutcome in a searchset), as a sentence."""
    return f"The EHR noted: {quote_ehr_text(text)}."
