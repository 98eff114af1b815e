"""Reading answers and failures (app.sync.writer): pure, no server."""

from __future__ import annotations

import pytest

from app.domain.outbox import SyncEvent
from app.fhir.errors import (
    FhirNetworkError,
    FhirParseError,
    FhirTimeout,
    FhirTlsError,
    FhirUnexpectedResponse,
    http_error,
)
from app.smart.errors import SignInRequired
from app.sync.writer import Failure, classify_error, etag_version, parse_location, worst

E = SyncEvent


@pytest.mark.parametrize(
    ("exc", "event", "reached"),
    [
        (FhirNetworkError("down", maybe_delivered=False), E.NOT_SENT, False),
        (FhirTlsError("bad cert", maybe_delivered=False), E.NOT_SENT, False),
        (FhirNetworkError("reset", maybe_delivered=True), E.OUTCOME_UNKNOWN, True),
        (FhirTimeout("slow", maybe_delivered=True), E.OUTCOME_UNKNOWN, True),
        (FhirTimeout("connect", maybe_delivered=False), E.NOT_SENT, False),
        (FhirParseError("half a body"), E.OUTCOME_UNKNOWN, True),
        (FhirUnexpectedResponse("redirect", detail="HTTP 307"), E.PERMANENT_REJECTION, True),
        (SignInRequired(), E.SIGN_IN_REQUIRED, True),
    ],
)
def test_transport_and_session_failures(exc: Exception, event: SyncEvent, reached: bool) -> None:
    failure = classify_error(exc)
    assert (failure.event, failure.reached_server) == (event, reached)
    assert failure.error  # always plain words for the panel


@pytest.mark.parametrize(
    ("status", "event"),
    [
        (401, E.SIGN_IN_REQUIRED),  # the auth flow already refreshed once
        (400, E.PERMANENT_REJECTION),
        (422, E.PERMANENT_REJECTION),
        (409, E.CONFLICT_DETECTED),
        (412, E.CONFLICT_DETECTED),
        (429, E.RETRYABLE_REJECTION),
        (503, E.RETRYABLE_REJECTION),
        (500, E.OUTCOME_UNKNOWN),
        (504, E.OUTCOME_UNKNOWN),
    ],
)
def test_http_failures(status: int, event: SyncEvent) -> None:
    failure = classify_error(
        http_error(status, "a transaction", "Observation.status: required", 7.0)
    )
    assert failure.event is event and failure.status == status
    assert failure.retry_after is not None and failure.retry_after.total_seconds() == 7.0
    if status == 422:
        assert "Observation.status: required" in failure.error


def test_an_unknown_outcome_is_not_called_unreachable() -> None:
    failure = classify_error(FhirNetworkError("x cannot be reached", maybe_delivered=True))
    assert "cannot be reached" not in failure.error
    assert "checks whether it arrived" in failure.error


def test_bugs_are_not_swallowed() -> None:
    with pytest.raises(KeyError):
        classify_error(KeyError("a bug"))


def test_the_most_cautious_failure_wins() -> None:
    failures = [
        Failure(E.NOT_SENT, "a"),
        Failure(E.PERMANENT_REJECTION, "b"),
        Failure(E.OUTCOME_UNKNOWN, "c"),
    ]
    assert worst(failures).event is E.OUTCOME_UNKNOWN


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("http://ehr/fhir/Observation/12/_history/3", ("12", "3")),
        ("Observation/12/_history/3", ("12", "3")),
        ("Observation/12", ("12", None)),
        ("https://ehr/r4/Observation/abc-1", ("abc-1", None)),
        ("http://ehr/fhir/Task/9", None),
        (None, None),
    ],
)
def test_parse_location(location: str | None, expected: tuple[str, str | None] | None) -> None:
    assert parse_location(location, "Observation") == expected


def test_etag_version() -> None:
    assert etag_version('W/"3"') == "3"
    assert etag_version('"a1b2"') == "a1b2"
    assert etag_version('W/""') is None
    assert etag_version(None) is None
