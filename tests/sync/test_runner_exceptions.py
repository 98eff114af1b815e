"""Every exception the send path can raise takes the commit out of "Sending" within one pass
(issue 10 item 3), and the commit still reaches the EHR exactly once afterwards.

The writer in front of the real sandbox raises one exception, at one point of the send path,
once: each class of the FHIR and SMART error trees (found by walking the trees, so a class added
later is covered), ``Retry-After``'s old ``ValueError``, and bugs (KeyError, RuntimeError, ...),
raised before the request went out or after the server had acted on it. Then one pass; then
whatever a person would do (sign in, "Retry") and passes until the commit is confirmed; the
server holds one copy of each resource.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.domain.commit import ApprovedCommit
from app.domain.outbox import OutboxState, SyncEvent
from app.domain.retry import BackoffPolicy
from app.fhir import errors as fhir_errors
from app.fhir.client import FhirClient, FhirResponse, SearchResult
from app.smart import errors as smart_errors
from app.sync.runner import SyncRunner
from tests.support.servers import RunningServer
from tests.sync.commits import clinical_commit
from tests.sync.runner_fixtures import Harness, harness, launch_token, server_copies, wait_for

S, E = OutboxState, SyncEvent
FAST = BackoffPolicy(
    base=timedelta(milliseconds=20), cap=timedelta(milliseconds=100), floor=timedelta(0)
)
STATUS = {
    fhir_errors.FhirHttpError: 418,
    fhir_errors.FhirBadRequest: 422,
    fhir_errors.FhirUnauthorized: 401,
    fhir_errors.FhirForbidden: 403,
    fhir_errors.FhirNotFound: 404,
    fhir_errors.FhirConflict: 412,
    fhir_errors.FhirRateLimited: 429,
    fhir_errors.FhirServerError: 503,
}


def subclasses(root: type[BaseException]) -> Iterator[type[BaseException]]:
    yield root
    for sub in root.__subclasses__():
        yield from subclasses(sub)


def instance(cls: type[BaseException]) -> BaseException:
    """One instance of ``cls`` with plausible arguments."""
    if issubclass(cls, fhir_errors.FhirHttpError):
        return cls(STATUS[cls], "The EHR refused it (test).", retry_after=0.01)  # type: ignore[call-arg]
    if cls is fhir_errors.FhirMappingError:
        return cls("Observation", "o1", "value is not a number")  # type: ignore[call-arg]
    if cls is smart_errors.SiteConfigError:
        return cls("sites.toml", "proxy", "not a URL")  # type: ignore[call-arg]
    if issubclass(cls, fhir_errors.FhirError):
        return cls("The EHR answer was odd (test).")
    return cls()


RAISED = {
    cls.__name__: instance(cls)
    for root in (fhir_errors.FhirError, smart_errors.SmartError)
    for cls in subclasses(root)
    if cls.__module__ in (fhir_errors.__name__, smart_errors.__name__)
}
BUGS = {
    "ValueError(Retry-After ²)": ValueError("could not convert string to float: '²'"),
    "KeyError": KeyError("entry"),
    "RuntimeError": RuntimeError("writes remain but none can be sent"),
    "TypeError": TypeError("'NoneType' object is not subscriptable"),
    "OverflowError": OverflowError("date value out of range"),
    "UnicodeDecodeError": UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
    "RecursionError": RecursionError("maximum recursion depth exceeded"),
    "OSError": OSError(28, "No space left on device"),
    "httpx.DecodingError": httpx.DecodingError("bad gzip"),
    "httpx.InvalidURL": httpx.InvalidURL("bad URL"),
}
RAISED.update(BUGS)


class Injecting:
    """A FhirWriter over the real client that raises ``exc`` once, at ``at`` ("write":
    POST/PUT; "search": the identifier search of a check), before the request or, with
    ``after``, once the server has answered it."""

    def __init__(self, inner: FhirClient, exc: BaseException, at: str, *, after: bool) -> None:
        self.inner = inner
        self.exc = exc
        self.at = at
        self.after = after
        self.raised = 0

    def _fire(self, point: str) -> bool:
        if self.raised or point != self.at:
            return False
        self.raised += 1
        return True

    async def capability(self, *, refresh: bool = False) -> dict[str, Any]:
        return await self.inner.capability(refresh=refresh)

    async def request(self, method: str, path_or_url: str, **kw: Any) -> FhirResponse:
        if method in ("POST", "PUT") and self._fire("write"):
            if self.after:
                await self.inner.request(method, path_or_url, **kw)
            raise self.exc
        return await self.inner.request(method, path_or_url, **kw)

    async def search(
        self, resource_type: str, params: Any = (), *, limit: int = 1000
    ) -> SearchResult:
        if self._fire("search"):
            if self.after:
                await self.inner.search(resource_type, params, limit=limit)
            raise self.exc
        return await self.inner.search(resource_type, params, limit=limit)

    async def read_response(self, resource_type: str, resource_id: str) -> FhirResponse:
        return await self.inner.read_response(resource_type, resource_id)


@pytest.fixture
async def h(sandbox_server: RunningServer, tmp_path: Path) -> AsyncIterator[Harness]:
    async for value in harness(tmp_path, sandbox_server.fhir_base, launch_token(sandbox_server)):
        value.store.outbox.policy = FAST
        yield value


def runner(h: Harness, writer: Any) -> SyncRunner:
    return h.runner("generic-r4", writer=writer, idle_poll=0.2, resume_delay=0.01)


async def send_through(
    h: Harness, writer: Injecting, *, start: Mapping[str, SyncEvent] = {}
) -> tuple[OutboxState, SyncEvent | None, ApprovedCommit]:
    """Enqueue a commit, run one pass with the injecting writer, then do what a person would
    and pass until confirmed. Returns the state after the one pass."""
    commit = h.enqueue(clinical_commit())
    for event in start.values():
        h.store.outbox.apply(commit.commit_id, event)
    async with runner(h, writer) as r:
        await r.capabilities()
        report = await r.run_once()  # must not raise, whatever was raised inside
    after_one_pass = h.store.outbox.item(commit.commit_id)
    assert writer.raised == 1, "the exception was not injected"
    assert after_one_pass.state is not S.SENDING, after_one_pass
    assert not report.paused or after_one_pass.state is S.PAUSED_FOR_SIGN_IN
    # what a person does next: sign in again, or "Retry" (after looking in the chart)
    if after_one_pass.state is S.PAUSED_FOR_SIGN_IN:
        h.store.outbox.resume_after_sign_in()
    elif after_one_pass.state in (
        S.NEEDS_ATTENTION,
        S.CONFLICT,
        S.PARKED,
        S.CHECK_PAUSED_FOR_SIGN_IN,
    ):
        h.store.outbox.apply(commit.commit_id, E.USER_RETRY)
    async with runner(h, writer.inner) as r:
        summary = await r.drain(timeout=30)
    final = h.store.outbox.item(commit.commit_id)
    assert summary.confirmed == 1 and final.state is S.CONFIRMED, final
    return after_one_pass.state, after_one_pass.last_event, commit


def test_the_injected_exceptions_cover_both_error_trees() -> None:
    names = set(RAISED)
    assert {"NetworkError", "TokenError", "SignInServiceUnavailable", "SignInRequired"} <= names
    assert {"FhirSignInServiceError", "FhirTimeout", "FhirParseError", "FhirUnsupported"} <= names
    assert len(names) >= 40


@pytest.mark.parametrize("name", list(RAISED))
async def test_an_exception_while_writing_leaves_sending_in_one_pass(
    h: Harness, sandbox_server: RunningServer, name: str
) -> None:
    writer = Injecting(h.fhir, RAISED[name], "write", after=False)
    state, event, commit = await send_through(h, writer)
    assert state in (S.RETRY_WAIT, S.UNKNOWN_OUTCOME, S.PAUSED_FOR_SIGN_IN, S.NEEDS_ATTENTION,
                     S.CONFLICT), (state, event)  # fmt: skip
    assert server_copies(sandbox_server, commit) == [1] * len(commit.writes)


@pytest.mark.parametrize("name", list(BUGS))
async def test_a_bug_after_the_server_stored_it_is_checked_not_resent(
    h: Harness, sandbox_server: RunningServer, name: str
) -> None:
    """The request reached the server and stored the commit; then the app failed. The commit
    must be checked (UNKNOWN_OUTCOME), found, and never sent a second time."""
    writer = Injecting(h.fhir, BUGS[name], "write", after=True)
    state, event, commit = await send_through(h, writer)
    assert (state, event) == (S.UNKNOWN_OUTCOME, E.OUTCOME_UNKNOWN)
    final = h.store.outbox.item(commit.commit_id)
    assert final.last_event is E.RECONCILED_PRESENT  # found by its identifier, not resent
    assert server_copies(sandbox_server, commit) == [1] * len(commit.writes)


@pytest.mark.parametrize("name", ["NetworkError", "TokenError", "KeyError", "FhirParseError"])
async def test_an_exception_while_checking_keeps_it_checking(
    h: Harness, sandbox_server: RunningServer, name: str
) -> None:
    """After a crash mid-send the commit is checked first; the check itself fails."""
    writer = Injecting(h.fhir, RAISED[name], "search", after=False)
    state, _, commit = await send_through(h, writer, start={"crash": E.SEND_STARTED})
    assert state is S.UNKNOWN_OUTCOME
    assert server_copies(sandbox_server, commit) == [1] * len(commit.writes)


class FailsOnce:
    """Wraps a store method so that its first call raises ``exc``."""

    def __init__(self, method: Any, exc: BaseException) -> None:
        self.method = method
        self.exc = exc
        self.calls = 0

    def __call__(self, *args: Any, **kw: Any) -> Any:
        self.calls += 1
        if self.calls == 1:
            raise self.exc
        return self.method(*args, **kw)


async def test_a_failure_that_cannot_be_recorded_is_swept_at_the_next_pass(
    h: Harness, sandbox_server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defence in depth: the store fails while the runner records a bug on the commit. The
    commit is left "Sending" by that pass only; the next pass checks it, then sends it once."""
    commit = h.enqueue(clinical_commit())
    broken = FailsOnce(h.store.outbox.item, OSError(5, "I/O error"))
    monkeypatch.setattr(h.store.outbox, "item", broken)
    writer = Injecting(h.fhir, KeyError("entry"), "write", after=True)
    async with runner(h, writer) as r:
        await r.capabilities()
        first = await r.run_once()
        assert broken.calls == 1 and first.processed == 1
        assert h.store.outbox.summary().count(S.SENDING) == 1  # the store could not be told
        await r.run_once()
    item = h.store.outbox.item(commit.commit_id)
    assert item.state is S.CONFIRMED and item.last_event is E.RECONCILED_PRESENT
    assert server_copies(sandbox_server, commit) == [1] * len(commit.writes)


async def test_a_failing_pass_does_not_end_sending_for_the_session(
    h: Harness, sandbox_server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    commit = h.enqueue(clinical_commit())
    broken = FailsOnce(h.store.outbox.claim_due, OSError(5, "I/O error"))
    monkeypatch.setattr(h.store.outbox, "claim_due", broken)
    stop = asyncio.Event()
    r = runner(h, h.fhir)
    task = asyncio.create_task(r.run_forever(stop))
    await wait_for(lambda: r.status.problem is not None, timeout=10)
    assert "unexpected problem" in (r.status.problem or "")
    r.sync_now()
    await wait_for(lambda: h.store.outbox.item(commit.commit_id).state is S.CONFIRMED)
    stop.set()
    await asyncio.wait_for(task, 10)
    await r.aclose()
    assert broken.calls >= 2 and r.status.problem is None
    assert server_copies(sandbox_server, commit) == [1] * len(commit.writes)
