"""The sync runner against real servers (the sandbox and the peer EHR), over real HTTP.

Every test ends by counting, on the server itself, the resources that carry each write's
identifier: exactly one copy of everything that was approved, nothing of what was not.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from app.domain.commit import ApprovedCommit
from app.domain.outbox import OutboxState, SyncEvent
from app.fhir.profiles import load_profile
from app.store.outbox_records import ReadBack
from app.sync.errors import SyncAlreadyRunning
from app.sync.planner import plan_send
from app.sync.runner import Connectivity, RunnerStatus
from tests.support.servers import RunningServer, start_sandbox
from tests.sync.commits import clinical_commit, heart_rate, note
from tests.sync.runner_fixtures import (
    PROFILES,
    Harness,
    harness,
    launch_token,
    server_copies,
    wait_for,
)

S, E = OutboxState, SyncEvent


@pytest.fixture
async def h(ehr: RunningServer, tmp_path: Path) -> AsyncIterator[Harness]:
    async for value in harness(tmp_path, ehr.fhir_base, launch_token(ehr)):
        yield value


STRATEGY = {
    "generic-r4": "transaction+ifNoneExist",
    "epic-like": "create+read-back",
    "oracle-like": "create+read-back",
}


@pytest.mark.parametrize("profile_name", PROFILES)
async def test_approved_commits_land_exactly_once(
    h: Harness, ehr: RunningServer, profile_name: str
) -> None:
    profile = load_profile(profile_name)
    commits = [h.enqueue(clinical_commit(profile, text=f"note {i}")) for i in range(3)]
    async with h.runner(profile) as runner:
        summary = await runner.drain(timeout=60)
    assert summary.confirmed == 3 and summary.pending == 0
    for commit in commits:
        entry = h.store.outbox.get(commit.commit_id)
        assert entry.row.strategy == STRATEGY[profile_name]
        assert entry.row.read_back is ReadBack.MATCHED, entry.row.read_back_note
        assert all(w.server_id and w.version_id for w in entry.writes)
        assert server_copies(ehr, commit) == [1] * len(commit.writes)
    types = {w.resource_type for w in commits[0].writes}
    assert (
        types
        == {
            "generic-r4": {"DocumentReference", "Observation", "Task", "Provenance"},
            "epic-like": {"DocumentReference"},
            "oracle-like": {"DocumentReference", "Observation", "Task", "Provenance"},
        }[profile_name]
    )


async def test_put_to_client_ids_where_a_profile_allows_it(h: Harness, ehr: RunningServer) -> None:
    """A site profile with client-assigned ids and nothing stronger: each resource is PUT to its
    write id (update-as-create), so a resend lands on the same resource."""
    profile = dataclasses.replace(
        load_profile("generic-r4"),
        name="client-ids",
        transaction=False,
        conditional_create=False,
        client_assigned_ids=True,
    )
    commit = h.enqueue(clinical_commit(profile))
    async with h.runner(profile) as runner:
        assert (await runner.drain(timeout=30)).confirmed == 1
    entry = h.store.outbox.get(commit.commit_id)
    assert entry.row.strategy == "put-client-id"
    assert [w.server_id for w in entry.writes] == [str(w.write_id) for w in commit.writes]
    assert entry.row.read_back is ReadBack.MATCHED, entry.row.read_back_note
    assert server_copies(ehr, commit) == [1] * len(commit.writes)


async def test_the_provenance_points_at_the_stored_note(h: Harness, ehr: RunningServer) -> None:
    commit = h.enqueue(clinical_commit())
    async with h.runner("generic-r4") as runner:
        await runner.drain(timeout=30)
    entry = h.store.outbox.get(commit.commit_id)
    note_ref = entry.writes[0].reference
    prov_id = entry.writes[-1].server_id
    assert note_ref and prov_id
    prov = await h.fhir.read("Provenance", prov_id)
    assert {"reference": note_ref} in prov["target"]


async def test_crash_after_the_server_committed_is_reconciled_not_resent(
    h: Harness, ehr: RunningServer
) -> None:
    """The app died after sending and before storing the answer: at the next start the commit
    is checked by identifier and confirmed with the ids found — nothing is sent again."""
    profile = load_profile("generic-r4")
    commit = h.enqueue(clinical_commit(profile))
    runner = h.runner(profile)
    caps = await runner.capabilities()
    h.store.outbox.apply(commit.commit_id, E.SEND_STARTED)
    (request,) = plan_send(commit, caps).requests
    await h.fhir.request("POST", "", json_body=json.loads(request.body))  # the lost send
    sent: list[str] = []
    h.http.event_hooks["request"].append(lambda r: _note(sent, r))
    async with runner:  # start() turns SENDING into UNKNOWN_OUTCOME
        summary = await runner.drain(timeout=30)
    assert summary.confirmed == 1
    entry = h.store.outbox.get(commit.commit_id)
    assert entry.item.last_event is E.RECONCILED_PRESENT
    assert all(w.server_id for w in entry.writes)
    assert not any(s.startswith("POST") for s in sent), sent  # searched, never re-posted
    assert server_copies(ehr, commit) == [1] * len(commit.writes)


async def _note(sent: list[str], request: httpx.Request) -> None:
    sent.append(f"{request.method} {request.url.path}")


async def test_a_poison_commit_does_not_block_the_others(h: Harness, ehr: RunningServer) -> None:
    bad_obs = heart_rate()
    del bad_obs["status"]  # required in R4: both servers refuse it
    poison = h.enqueue(clinical_commit(observations=0, extra=[bad_obs]))
    dependant = h.enqueue(
        clinical_commit(
            replaces=f"urn:uuid:{poison.writes[0].write_id}", depends_on=[poison.commit_id]
        )
    )
    good = [h.enqueue(clinical_commit(text=f"good {i}")) for i in range(3)]
    async with h.runner("generic-r4") as runner:
        summary = await runner.drain(timeout=60)
    assert summary.confirmed == 3 and summary.needs_attention == 1
    item = h.store.outbox.item(poison.commit_id)
    assert item.state is S.NEEDS_ATTENTION
    assert item.last_status in (400, 422)
    assert item.last_error and "The EHR said:" in item.last_error  # the OperationOutcome text
    assert h.store.outbox.item(dependant.commit_id).state is S.WAITING_FOR_BASE
    for commit in good:
        assert server_copies(ehr, commit) == [1] * len(commit.writes)
    assert server_copies(ehr, poison) == [0] * len(poison.writes)  # atomic: nothing of it


async def test_server_side_edit_during_an_offline_amendment_is_a_conflict(
    h: Harness, ehr: RunningServer
) -> None:
    profile = load_profile("generic-r4")
    base = h.enqueue(clinical_commit(profile, text="first version"))
    async with h.runner(profile) as runner:
        await runner.drain(timeout=30)
    note_ref = h.store.outbox.get(base.commit_id).writes[0].reference
    assert note_ref is not None
    # offline, the clinician amends the note ...
    amendment = h.enqueue(
        clinical_commit(
            profile,
            text="amended version",
            replaces=f"urn:uuid:{base.writes[0].write_id}",
            depends_on=[base.commit_id],
        )
    )
    assert h.store.outbox.item(amendment.commit_id).state is S.QUEUED
    # ... while someone edits the same note in the chart
    rtype, _, rid = note_ref.partition("/")
    current = await h.fhir.read_response(rtype, rid)
    edited = dict(current.body or {})
    edited["description"] = "edited in the EHR"
    await h.fhir.update(edited, if_match=current.version_id)
    chart = await h.fhir.read_response(rtype, rid)

    async with h.runner(profile) as runner:
        summary = await runner.drain(timeout=30)
    assert summary.conflicts == 1
    entry = h.store.outbox.get(amendment.commit_id)
    assert entry.item.state is S.CONFLICT
    detail = entry.conflict
    assert detail is not None and detail.resource == note_ref
    assert detail.chart_version == chart.version_id != detail.expected_version
    assert detail.chart and detail.chart["description"] == "edited in the EHR"
    assert (
        detail.base
        and base64.b64decode(detail.base["content"][0]["attachment"]["data"]) == b"first version"
    )
    assert detail.mine and detail.mine["relatesTo"][0]["code"] == "replaces"
    # the chart copy is untouched and nothing of the amendment was written
    after = await h.fhir.read_response(rtype, rid)
    assert after.version_id == chart.version_id
    assert server_copies(ehr, amendment) == [0] * len(amendment.writes)


async def test_amending_a_chart_note_checks_the_version_the_clinician_saw(
    h: Harness, ehr: RunningServer
) -> None:
    """A note already in the chart (not written by this app) is amended: the approval records
    the version the clinician saw; a newer version in the chart is a conflict."""
    created = await h.fhir.create(note("written in the EHR"))
    assert created.body is not None
    ref = f"DocumentReference/{created.body['id']}"
    seen = created.version_id
    assert seen is not None

    def amendment() -> ApprovedCommit:
        return h.store.outbox.enqueue_approval(
            clinical_commit(observations=0, task=False, replaces=ref),
            "{}",
            preconditions={ref: seen},
        )

    stale = amendment()
    edited = dict(created.body)
    edited["description"] = "edited in the EHR"
    await h.fhir.update(edited, if_match=seen)
    async with h.runner("generic-r4") as runner:
        await runner.drain(timeout=30)
    entry = h.store.outbox.get(stale.commit_id)
    assert entry.item.state is S.CONFLICT
    assert entry.conflict and entry.conflict.resource == ref
    assert entry.conflict.expected_version == seen != entry.conflict.chart_version
    assert entry.conflict.base and "description" not in entry.conflict.base  # the version seen
    assert entry.conflict.chart and entry.conflict.chart["description"] == "edited in the EHR"
    assert server_copies(ehr, stale) == [0] * len(stale.writes)

    current = await h.fhir.read_response("DocumentReference", created.body["id"])
    seen = current.version_id
    fresh = amendment()
    async with h.runner("generic-r4") as runner:
        await runner.drain(timeout=30)
    assert h.store.outbox.item(fresh.commit_id).state is S.CONFIRMED
    assert server_copies(ehr, fresh) == [1] * len(fresh.writes)


async def test_an_amendment_after_its_base_is_written_with_the_server_reference(
    h: Harness, ehr: RunningServer
) -> None:
    base = h.enqueue(clinical_commit(observations=0, task=False))
    amendment = h.enqueue(
        clinical_commit(
            observations=0,
            task=False,
            replaces=f"urn:uuid:{base.writes[0].write_id}",
            depends_on=[base.commit_id],
        )
    )
    async with h.runner("generic-r4") as runner:
        summary = await runner.drain(timeout=30)
    assert summary.confirmed == 2
    base_ref = h.store.outbox.get(base.commit_id).writes[0].reference
    doc_id = h.store.outbox.get(amendment.commit_id).writes[0].server_id
    assert base_ref and doc_id
    stored = await h.fhir.read("DocumentReference", doc_id)
    assert stored["relatesTo"][0]["target"]["reference"].endswith(base_ref)


async def test_a_second_instance_does_not_send(h: Harness) -> None:
    first = h.runner("generic-r4")
    second = h.runner("generic-r4")
    await first.start()
    try:
        with pytest.raises(SyncAlreadyRunning) as raised:
            await second.start()
        assert "Another copy of the app" in raised.value.user_message
    finally:
        await first.aclose()
    await second.start()  # the lock is free again
    await second.aclose()


async def test_status_events_and_sync_now(h: Harness, ehr: RunningServer) -> None:
    statuses: list[RunnerStatus] = []
    changes: list[tuple[object, OutboxState]] = []
    runner = h.runner("generic-r4")
    runner.subscribe_status(statuses.append)
    runner.subscribe(lambda ch: changes.append((ch.commit_id, ch.item.state)))
    commit = h.enqueue(clinical_commit())
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run_forever(stop))
    # Wait for the event, not for the store: the store commits on the runner's store thread and
    # only then hands the change to the event loop (call_soon_threadsafe), so polling the store
    # can see CONFIRMED a moment before the subscriber has been told.
    await wait_for(lambda: (commit.commit_id, S.CONFIRMED) in changes)
    assert h.store.outbox.item(commit.commit_id).state is S.CONFIRMED
    assert (commit.commit_id, S.SENDING) in changes
    assert statuses[-1].running and statuses[-1].connectivity is Connectivity.ONLINE
    # a commit approved while the runner sleeps is sent once the approval flow says so
    later = h.enqueue(clinical_commit())
    runner.notify_enqueued()
    await wait_for(lambda: h.store.outbox.item(later.commit_id).state is S.CONFIRMED, timeout=10)
    stop.set()
    await asyncio.wait_for(task, 10)
    await runner.aclose()
    assert server_copies(ehr, later) == [1] * len(later.writes)


# ---------------------------------------------------------------------------- sign-in


async def test_a_check_that_meets_an_ended_sign_in_waits_for_it(
    h: Harness, ehr: RunningServer
) -> None:
    """After a crash mid-send the commit must be checked; the sign-in has ended meanwhile: the
    check waits for the new sign-in instead of failing, then the commit is sent once."""
    commit = h.enqueue(clinical_commit())
    h.store.outbox.apply(commit.commit_id, E.SEND_STARTED)  # the app died here
    valid, h.auth.token = h.auth.token, "expired-token"
    signed_in = asyncio.Event()
    runner = h.runner("generic-r4", wait_until_signed_in=signed_in.wait)
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run_forever(stop))
    await wait_for(lambda: runner.status.paused_for_sign_in, timeout=10)
    item = h.store.outbox.item(commit.commit_id)
    assert item.state is S.CHECK_PAUSED_FOR_SIGN_IN and item.last_event is E.SIGN_IN_REQUIRED
    h.auth.token = valid
    signed_in.set()
    await wait_for(lambda: h.store.outbox.item(commit.commit_id).state is S.CONFIRMED)
    stop.set()
    await asyncio.wait_for(task, 10)
    await runner.aclose()
    assert server_copies(ehr, commit) == [1] * len(commit.writes)


async def test_a_runner_started_signed_in_resumes_what_an_earlier_session_paused(
    h: Harness, ehr: RunningServer
) -> None:
    """Issue 10 item 2: commits paused by an ended session wait while nobody is signed in, and
    go on as soon as a runner starts with a signed-in session (no separate "signed in" event)."""
    commit = h.enqueue(clinical_commit())
    h.store.outbox.apply(commit.commit_id, E.SEND_STARTED)
    h.store.outbox.apply(commit.commit_id, E.SIGN_IN_REQUIRED, status=401, error="ended")
    nobody = asyncio.Event()
    async with h.runner("generic-r4", wait_until_signed_in=nobody.wait) as runner:
        assert runner.status.paused_for_sign_in
        assert (await runner.drain(timeout=5)).paused_for_sign_in == 1
    signed_in = asyncio.Event()
    signed_in.set()
    async with h.runner("generic-r4", wait_until_signed_in=signed_in.wait) as runner:
        assert not runner.status.paused_for_sign_in
        summary = await runner.drain(timeout=30)
    assert summary.confirmed == 1 and summary.paused_for_sign_in == 0
    assert server_copies(ehr, commit) == [1] * len(commit.writes)


@pytest.fixture(scope="module")
def short_ttl_sandbox(tmp_path_factory: pytest.TempPathFactory) -> RunningServer:
    server = start_sandbox(tmp_path_factory.mktemp("ttl"), token_ttl=2, auto_login="prac-1")
    yield server  # type: ignore[misc]
    server.stop()


async def test_token_expiry_mid_queue_pauses_then_continues_after_sign_in(
    short_ttl_sandbox: RunningServer, tmp_path: Path
) -> None:
    server = short_ttl_sandbox
    async for h in harness(tmp_path, server.fhir_base, launch_token(server, fresh=True)):
        await _expire_mid_queue(h, server)


async def _expire_mid_queue(h: Harness, server: RunningServer) -> None:
    first = [h.enqueue(clinical_commit()) for _ in range(2)]
    signed_in = asyncio.Event()
    runner = h.runner("generic-r4", wait_until_signed_in=signed_in.wait)
    await runner.start()
    signed_in.set()
    assert (await runner.drain(timeout=20)).confirmed == 2
    rest = [h.enqueue(clinical_commit()) for _ in range(4)]
    signed_in.clear()
    await asyncio.sleep(2.5)  # the access token expires; there is no refresh token
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run_forever(stop))
    await wait_for(lambda: runner.status.paused_for_sign_in, timeout=10)
    # requests already in flight meet the same 401
    await wait_for(lambda: h.store.outbox.summary().count(S.SENDING) == 0, timeout=10)
    summary = h.store.outbox.summary()
    # the commits that met the 401 wait for the sign-in, the others wait in the queue
    assert summary.paused_for_sign_in >= 1
    assert summary.paused_for_sign_in + summary.count(S.QUEUED) == 4, summary.counts
    assert summary.needs_attention == 0 and summary.count(S.RETRY_WAIT) == 0
    assert h.auth.rejections >= 1
    # the clinician signs in again
    h.auth.token = launch_token(server, fresh=True)
    signed_in.set()
    await wait_for(lambda: h.store.outbox.summary().confirmed == 6, timeout=20)
    stop.set()
    await asyncio.wait_for(task, 10)
    await runner.aclose()
    for commit in first + rest:
        assert server_copies(server, commit) == [1] * len(commit.writes)
