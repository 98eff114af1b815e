"""``fhir-writeback outbox list | show | sync`` (app.cli_outbox): the states support staff see."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from app.cli_outbox import (
    EXIT_ATTENTION,
    EXIT_OK,
    EXIT_USAGE,
    SETUP_ATTEMPTS,
    outbox_list,
    outbox_show,
    outbox_sync,
    retry_transient,
)
from app.domain.commit import DraftWrite, WriteOperation, build_commit
from app.domain.outbox import SyncEvent
from app.fhir.errors import FhirBadRequest, FhirRateLimited, FhirServerError
from app.smart.errors import CertificateError, SignInRequired, SignInServiceUnavailable
from app.store.outbox_records import WriteResult
from app.store.store import Store, open_store
from tests.support.servers import RunningServer
from tests.sync.commits import clinical_commit
from tests.sync.runner_fixtures import Harness, harness, launch_token, server_copies

DECISION = '{"review_status": "approved"}'
E = SyncEvent


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(tmp_path / "store.db")
    yield s
    s.close()


def test_list_shows_states_attempts_and_error_classes(store: Store) -> None:
    ok = store.outbox.enqueue_approval(clinical_commit(), DECISION)
    store.outbox.apply(ok.commit_id, E.SEND_STARTED)
    store.outbox.apply(
        ok.commit_id,
        E.SERVER_ACCEPTED,
        results=[WriteResult(w.position, f"id{w.position}", "1") for w in ok.writes],
    )
    bad = store.outbox.enqueue_approval(clinical_commit(), DECISION)
    store.outbox.apply(bad.commit_id, E.SEND_STARTED)
    store.outbox.apply(
        bad.commit_id, E.PERMANENT_REJECTION, status=422, error="The EHR refused the content."
    )
    text, status = outbox_list(store)
    assert status == EXIT_ATTENTION  # something needs a person
    assert "Outbox: 2 commit(s) - 1 needs attention, 1 confirmed." in text
    assert str(bad.commit_id) in text and "Needs attention" in text
    assert "Last problem: the EHR refused it (HTTP 422)." in text
    assert "The EHR refused the content." not in text  # the EHR's words may name a patient
    shown, _ = outbox_show(store, str(bad.commit_id))
    assert "Last problem: the EHR refused it (HTTP 422)." in shown
    assert "In words: The EHR refused the content." in shown  # one commit, asked for
    assert "5 resource(s): DocumentReference, Observation, Provenance, Task" in text
    assert "Progress note" not in text  # never the note itself

    open_only, _ = outbox_list(store, only_open=True)
    assert str(ok.commit_id) not in open_only and str(bad.commit_id) in open_only


def test_show_by_prefix_and_unknown_ids(store: Store) -> None:
    commit = store.outbox.enqueue_approval(clinical_commit(), DECISION)
    text, status = outbox_show(store, str(commit.commit_id)[:8])
    assert status == EXIT_OK
    assert f"Commit {commit.commit_id} (sequence 1)" in text
    assert "State: Queued - Will be sent when the EHR is reachable." in text
    assert "0. DocumentReference" in text and "not in the EHR yet" in text
    assert commit.writes[0].identifier.token in text
    assert outbox_show(store, "nope")[1] == EXIT_USAGE
    assert outbox_show(store, "00000000-0000-4000-8000-000000000000")[1] == EXIT_USAGE


def test_show_says_which_chart_record_a_correction_updates(store: Store) -> None:
    correction = build_commit(
        [
            DraftWrite({"resourceType": "DocumentReference", "status": "current"}),
            DraftWrite(
                {"resourceType": "Observation", "status": "corrected"},
                operation=WriteOperation.UPDATE,
                target="Observation/obs-96",
                if_match="2",
            ),
        ],
        sequence=1,
    )
    commit = store.outbox.enqueue_approval(correction, DECISION)
    text, _ = outbox_show(store, str(commit.commit_id))
    assert "corrects Observation/obs-96 (If-Match 2)" in text
    assert text.count("corrects ") == 1  # the note is created, not an update


@pytest.fixture
async def h(sandbox_server: RunningServer, tmp_path: Path) -> AsyncIterator[Harness]:
    async for value in harness(tmp_path, sandbox_server.fhir_base, launch_token(sandbox_server)):
        yield value


async def test_sync_sends_and_reports(h: Harness, sandbox_server: RunningServer) -> None:
    commit = h.enqueue(clinical_commit())
    text, status = await outbox_sync(h.runner("generic-r4"), h.store, timeout=30)
    assert status == EXIT_OK, text
    assert "Outbox: 1 commit(s) - 1 confirmed." in text
    assert server_copies(sandbox_server, commit) == [1] * len(commit.writes)
    shown, _ = outbox_show(h.store, str(commit.commit_id))
    assert "Confirmed:" in shown and "Read-back: matched" in shown
    assert "-> DocumentReference/" in shown


async def test_sync_refuses_while_the_app_is_sending(h: Harness) -> None:
    app_runner = h.runner("generic-r4")
    await app_runner.start()
    try:
        text, status = await outbox_sync(h.runner("generic-r4"), h.store)
    finally:
        await app_runner.aclose()
    assert status == EXIT_ATTENTION
    assert "Another copy of the app is already sending" in text


class Flaky:
    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


async def test_retry_transient_tries_again_only_what_can_pass() -> None:
    loop = asyncio.get_running_loop()
    busy = FhirServerError(503, "busy", retry_after=0.01)
    limited = FhirRateLimited(429, "busy", retry_after=0.01)
    renewing = SignInServiceUnavailable("later", retry_after=0.01)
    step = Flaky(busy, limited, renewing)
    assert await retry_transient(step, deadline=loop.time() + 10) == "ok"
    assert step.calls == 4

    for permanent in (FhirBadRequest(422, "no"), CertificateError(), SignInRequired()):
        step = Flaky(permanent)
        with pytest.raises(type(permanent)):
            await retry_transient(step, deadline=loop.time() + 10)
        assert step.calls == 1

    step = Flaky(*[busy] * 10)  # a few attempts, not forever
    with pytest.raises(FhirServerError):
        await retry_transient(step, deadline=loop.time() + 10)
    assert step.calls == SETUP_ATTEMPTS

    step = Flaky(FhirServerError(503, "busy", retry_after=30))  # waits past the deadline
    with pytest.raises(FhirServerError):
        await retry_transient(step, deadline=loop.time() + 5)
    assert step.calls == 1
