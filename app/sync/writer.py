"""What the runner needs from the FHIR layer, and how it reads answers and failures.

:class:`FhirWriter` is the slice of ``app.fhir.client.FhirClient`` the runner uses (the client
satisfies it as it is; tests may wrap it). Answers are read header-first: ``Location``,
``ETag`` and a transaction's ``entry.response`` are trusted over bodies (some EHRs answer a
create with 201, an empty body and a Location). Failures become a :class:`Failure` carrying the
state-machine event, via ``app.domain.outbox.classify_response``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit

from app.domain.outbox import NetworkErrorKind, SyncEvent, classify_response
from app.fhir.client import FhirResponse, SearchResult
from app.fhir.errors import (
    FhirError,
    FhirHttpError,
    FhirResponseError,
    FhirSignInServiceError,
    FhirTimeout,
    FhirTlsError,
    FhirTransportError,
    FhirUnexpectedResponse,
)
from app.smart.errors import SignInRequired, SmartError

JsonObject = dict[str, Any]
Params = Mapping[str, str] | Sequence[tuple[str, str]]


class FhirWriter(Protocol):
    async def capability(self, *, refresh: bool = False) -> JsonObject: ...

    async def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Params | None = None,
        json_body: JsonObject | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        what: str = "a request",
    ) -> FhirResponse: ...

    async def search(
        self, resource_type: str, params: Params = (), *, limit: int = 1000
    ) -> SearchResult: ...

    async def read_response(self, resource_type: str, resource_id: str) -> FhirResponse: ...


@dataclass(frozen=True)
class Failure:
    """One request's failure, as the state machine sees it."""

    event: SyncEvent
    error: str  # plain words for the outbox panel
    status: int | None = None
    retry_after: timedelta | None = None
    reached_server: bool = True  # False: nothing was sent (offline, refused, TLS)
    ehr_text: str | None = None  # the EHR's own words (an OperationOutcome's text), if any


# When several requests of one commit fail at once, the most cautious outcome wins: an unknown
# outcome must be reconciled before anything else happens.
_SEVERITY = (
    SyncEvent.OUTCOME_UNKNOWN,
    SyncEvent.SIGN_IN_REQUIRED,
    SyncEvent.CONFLICT_DETECTED,
    SyncEvent.PERMANENT_REJECTION,
    SyncEvent.CANNOT_SEND,
    SyncEvent.RETRYABLE_REJECTION,
    SyncEvent.NOT_SENT,
)


def worst(failures: Sequence[Failure]) -> Failure:
    return min(failures, key=lambda f: _SEVERITY.index(f.event))


def classify_error(exc: BaseException) -> Failure:
    """The :class:`Failure` for a FHIR or SMART error raised by a FhirWriter call (every one
    maps to an event). Anything else is a bug: it is re-raised, and the runner records it on
    the commit (app.sync.runner)."""
    if isinstance(exc, SignInRequired):
        return Failure(SyncEvent.SIGN_IN_REQUIRED, exc.message, 401)
    if isinstance(exc, FhirHttpError):
        # The auth flow (SmartAuth) already refreshed once before a 401 surfaces here.
        event = classify_response(exc.status, None, True, auth_refreshed=True)
        retry_after = None if exc.retry_after is None else timedelta(seconds=exc.retry_after)
        return Failure(event, exc.user_message, exc.status, retry_after, ehr_text=exc.outcome_text)
    if isinstance(exc, FhirSignInServiceError):
        # Renewing the token failed (the token endpoint answered 503/429/an HTML page, or could
        # not be reached): the FHIR request was not processed, the session is intact.
        return Failure(
            SyncEvent.NOT_SENT, exc.user_message, retry_after=_seconds(exc.retry_after),
            reached_server=False,
        )  # fmt: skip
    if isinstance(exc, FhirTransportError):
        if isinstance(exc, FhirTlsError):
            kind = NetworkErrorKind.TLS_FAILED
        elif not exc.maybe_delivered:
            kind = NetworkErrorKind.CONNECT_FAILED
        elif isinstance(exc, FhirTimeout):
            kind = NetworkErrorKind.READ_TIMEOUT
        else:
            kind = NetworkErrorKind.CONNECTION_DROPPED
        event = classify_response(None, kind, exc.maybe_delivered)
        if event is SyncEvent.NOT_SENT:
            return Failure(event, exc.user_message, reached_server=False)
        return Failure(event, _UNKNOWN_TEXT[kind])
    if isinstance(exc, FhirUnexpectedResponse) and (exc.detail or "").startswith("HTTP 3"):
        return Failure(SyncEvent.PERMANENT_REJECTION, exc.user_message)
    if isinstance(exc, FhirResponseError):
        # A 2xx whose body could not be read: the server acted, but we do not know the ids.
        return Failure(SyncEvent.OUTCOME_UNKNOWN, exc.user_message)
    if isinstance(exc, SmartError):
        # The auth flow of a writer that does not translate it as FhirClient does: the request
        # never went out with a token.
        wait = _seconds(getattr(exc, "retry_after", None))
        return Failure(SyncEvent.NOT_SENT, exc.message, retry_after=wait, reached_server=False)
    if isinstance(exc, FhirError):
        # The rest of the tree (unsupported, mapping, context) is not raised by a request;
        # should one be, the cautious reading: check whether it arrived before anything else.
        return Failure(SyncEvent.OUTCOME_UNKNOWN, exc.user_message)
    raise exc


def _seconds(value: float | None) -> timedelta | None:
    return None if value is None else timedelta(seconds=value)


_UNKNOWN_TEXT = {
    NetworkErrorKind.READ_TIMEOUT: (
        "The EHR did not answer in time; it may have stored it. The app checks whether it "
        "arrived before sending it again."
    ),
    NetworkErrorKind.CONNECTION_DROPPED: (
        "The connection to the EHR broke before its answer arrived. The app checks whether it "
        "arrived before sending it again."
    ),
}


def unreadable_answer(what: str) -> Failure:
    return Failure(
        SyncEvent.OUTCOME_UNKNOWN,
        f"The EHR accepted {what} but its answer could not be matched to what was sent; "
        "the app checks whether it arrived before doing anything else.",
    )


def parse_location(location: str | None, resource_type: str) -> tuple[str, str | None] | None:
    """``(id, version)`` from a Location such as ``.../Observation/12/_history/3``."""
    if not location:
        return None
    parts = [p for p in urlsplit(location).path.split("/") if p]
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == resource_type:
            rid = parts[i + 1]
            version = None
            if len(parts) > i + 3 and parts[i + 2] == "_history":
                version = parts[i + 3]
            return rid, version
    return None


def etag_version(etag: str | None) -> str | None:
    if not etag:
        return None
    tag = etag.strip().removeprefix("W/").strip('"')
    return tag or None


def body_identity(body: Mapping[str, Any] | None, resource_type: str) -> tuple[str, str | None]:
    """``(id, versionId)`` from a returned resource ("" when it has none)."""
    if not isinstance(body, Mapping) or body.get("resourceType") != resource_type:
        return "", None
    rid = body.get("id")
    meta = body.get("meta")
    version = meta.get("versionId") if isinstance(meta, Mapping) else None
    return (rid if isinstance(rid, str) else ""), (version if isinstance(version, str) else None)
