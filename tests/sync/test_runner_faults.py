"""The runner through the fault-injecting proxy (tests/support/fault_proxy.py), against both EHRs.

Every fault ends CONFIRMED with exactly one copy of each resource on the server (counted there,
not through the proxy); where the server had committed before the answer was lost, the commit
is confirmed by reconciliation — the proxy sees no second write.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.domain.outbox import OutboxState, SyncEvent
from app.domain.retry import BackoffPolicy
from app.fhir.profiles import load_profile
from app.store.outbox_records import ReadBack
from app.sync.runner import Connectivity
from tests.support.fault_proxy import (
    Fault,
    FaultKind,
    FaultProxy,
    ProxyRequest,
    RandomFaults,
    ScriptedFaults,
)
from tests.support.servers import RunningServer
from tests.sync.commits import clinical_commit
from tests.sync.runner_fixtures import (
    PROFILES,
    Harness,
    RewritingProxy,
    harness,
    launch_token,
    server_copies,
    wait_for,
)

S, E = OutboxState, SyncEvent
FAST = BackoffPolicy(
    base=timedelta(milliseconds=50),
    cap=timedelta(milliseconds=400),
    floor=timedelta(milliseconds=10),
)


def origin(server: RunningServer) -> str:
    return server.fhir_base.rsplit("/fhir", 1)[0]


def writes_only(request: ProxyRequest) -> bool:
    return request.method in ("POST", "PUT")


async def proxied(
    tmp_path: Path, server: RunningServer, proxy: FaultProxy, *, read_timeout: float = 10.0
) -> AsyncIterator[Harness]:
    timeout = httpx.Timeout(10.0, read=read_timeout)
    async for h in harness(tmp_path, proxy.base + "/fhir", launch_token(server), timeout=timeout):
        h.store.outbox.policy = FAST
        yield h


def posts(proxy: FaultProxy) -> int:
    return sum(1 for method, _target, _kind in proxy.log if method == "POST")


LOST_AFTER_COMMIT = {
    "drop_after": Fault.drop_after(),
    "500_after_commit": Fault.http(500, forward=True),
    "truncated": Fault.truncated(),
    "slow_past_timeout": Fault.slow(1.5),
}


@pytest.mark.parametrize("name", list(LOST_AFTER_COMMIT))
async def test_answer_lost_after_the_server_committed_is_reconciled(
    ehr: RunningServer, tmp_path: Path, name: str
) -> None:
    fault = LOST_AFTER_COMMIT[name]
    async with FaultProxy(origin(ehr), ScriptedFaults([fault], match=writes_only)) as proxy:
        async for h in proxied(tmp_path, ehr, proxy, read_timeout=0.5):
            commit = h.enqueue(clinical_commit())
            async with h.runner("generic-r4") as runner:
                summary = await runner.drain(timeout=30)
            item = h.store.outbox.item(commit.commit_id)
            assert summary.confirmed == 1, item
            assert item.last_event is E.RECONCILED_PRESENT  # found by its identifier ...
            assert posts(proxy) == 1  # ... and never sent again
            assert proxy.injected[fault.kind] == 1
            assert h.store.outbox.get(commit.commit_id).row.read_back is ReadBack.MATCHED
    assert server_copies(ehr, commit) == [1] * len(commit.writes)


async def test_connection_dropped_before_the_request_reached_the_server(
    ehr: RunningServer, tmp_path: Path
) -> None:
    plan = ScriptedFaults([Fault.drop_before()], match=writes_only)
    async with FaultProxy(origin(ehr), plan) as proxy:
        async for h in proxied(tmp_path, ehr, proxy):
            commit = h.enqueue(clinical_commit())
            async with h.runner("generic-r4") as runner:
                assert (await runner.drain(timeout=30)).confirmed == 1
            # the client cannot know the server saw nothing: it checked first, then sent again
            assert posts(proxy) == 2
            gets = [t for m, t, _ in proxy.log if m == "GET" and "identifier=" in t]
            assert gets, proxy.log
    assert server_copies(ehr, commit) == [1] * len(commit.writes)


@pytest.mark.parametrize(
    ("status", "retry_after"),
    [(503, "1"), (429, "1"), (503, "http-date")],
)
async def test_busy_answers_wait_for_retry_after(
    ehr: RunningServer, tmp_path: Path, status: int, retry_after: str
) -> None:
    from datetime import UTC, datetime
    from email.utils import format_datetime

    value = (
        format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
        if retry_after == "http-date"
        else retry_after
    )
    plan = ScriptedFaults([Fault.http(status, value)], match=writes_only)
    async with FaultProxy(origin(ehr), plan) as proxy:
        async for h in proxied(tmp_path, ehr, proxy):
            commit = h.enqueue(clinical_commit())
            async with h.runner("generic-r4") as runner:
                await runner.run_once()
                item = h.store.outbox.item(commit.commit_id)
                assert item.state is S.RETRY_WAIT and item.last_status == status
                assert item.next_attempt_at and item.updated_at
                wait = (item.next_attempt_at - item.updated_at).total_seconds()
                assert 0.5 <= wait <= 2.5, wait  # the server's wait, not the 50 ms backoff
                await runner.run_once()  # not due yet: nothing is sent
                assert posts(proxy) == 1
                summary = await runner.drain(timeout=30)
            assert summary.confirmed == 1 and posts(proxy) == 2
    assert server_copies(ehr, commit) == [1] * len(commit.writes)


async def test_offline_then_back_online(ehr: RunningServer, tmp_path: Path) -> None:
    """Stop the EHR, see the commit retrying, start it again and see it confirmed once."""
    async with FaultProxy(origin(ehr)) as proxy:
        async for h in proxied(tmp_path, ehr, proxy):
            commits = await _offline_then_online(h, proxy)
    for c in commits:
        assert server_copies(ehr, c) == [1] * len(c.writes)


async def _offline_then_online(h: Harness, proxy: FaultProxy) -> list[Any]:
    runner = h.runner("generic-r4")
    await runner.capabilities()  # the app read them at sign-in
    await proxy.go_offline()
    commit = h.enqueue(clinical_commit())
    others = [h.enqueue(clinical_commit()) for _ in range(3)]
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run_forever(stop))
    await wait_for(lambda: h.store.outbox.summary().count(S.RETRY_WAIT) >= 1)
    assert runner.status.connectivity is Connectivity.OFFLINE
    item = h.store.outbox.item(commit.commit_id)
    assert item.last_error and "reach" in item.last_error.lower()
    await asyncio.sleep(0.5)  # several retries of the probe (50 ms backoff)
    assert h.store.outbox.item(commit.commit_id).attempts >= 2
    # the other commits keep their place instead of all counting failed attempts
    assert all(h.store.outbox.item(c.commit_id).attempts == 0 for c in others)
    await proxy.go_online()
    runner.notify_reconnected()
    await wait_for(lambda: h.store.outbox.summary().confirmed == 4, timeout=20)
    assert runner.status.connectivity is Connectivity.ONLINE
    stop.set()
    await asyncio.wait_for(task, 10)
    await runner.aclose()
    return [commit, *others]


@pytest.mark.parametrize("profile_name", PROFILES)
async def test_random_faults_every_commit_lands_once(
    ehr: RunningServer, tmp_path: Path, profile_name: str
) -> None:
    profile = load_profile(profile_name)
    plan = RandomFaults(seed=zlib.crc32(profile_name.encode()), rate=0.3)
    async with RewritingProxy(
        origin(ehr), plan, empty_create_body=profile_name == "oracle-like"
    ) as proxy:
        async for h in proxied(tmp_path, ehr, proxy):
            commits = [h.enqueue(clinical_commit(profile, text=f"n{i}")) for i in range(8)]
            async with h.runner(profile) as runner:
                summary = await runner.drain(timeout=90)
            assert summary.confirmed == 8, summary.counts
            assert sum(proxy.injected.values()) > 0
    for c in commits:
        assert server_copies(ehr, c) == [1] * len(c.writes)


async def test_oracle_like_empty_201_ids_come_from_location(
    ehr: RunningServer, tmp_path: Path
) -> None:
    profile = load_profile("oracle-like")
    async with RewritingProxy(
        origin(ehr), lambda r: Fault.pass_through(), empty_create_body=True
    ) as proxy:
        async for h in proxied(tmp_path, ehr, proxy):
            commit = h.enqueue(clinical_commit(profile))
            async with h.runner(profile) as runner:
                assert (await runner.drain(timeout=30)).confirmed == 1
            entry = h.store.outbox.get(commit.commit_id)
            assert all(w.location and w.server_id and w.version_id for w in entry.writes)
            assert all(w.response_status == "201" for w in entry.writes)
            # no body came back: the read-back read each resource by the id from Location
            reads = [
                t for m, t, _ in proxy.log if m == "GET" and "?" not in t and "metadata" not in t
            ]
            assert len(reads) == len(commit.writes)
            assert entry.row.read_back is ReadBack.MATCHED, entry.row.read_back_note
    assert server_copies(ehr, commit) == [1] * len(commit.writes)


async def test_a_server_that_stores_less_is_flagged(ehr: RunningServer, tmp_path: Path) -> None:
    async with RewritingProxy(origin(ehr), lambda r: Fault.pass_through(), strip="unit") as proxy:
        async for h in proxied(tmp_path, ehr, proxy):
            commit = h.enqueue(clinical_commit())
            async with h.runner("generic-r4") as runner:
                summary = await runner.drain(timeout=30)
            row = h.store.outbox.get(commit.commit_id).row
            assert row.state is S.CONFIRMED  # it is in the chart: not sent again ...
            assert row.read_back is ReadBack.DIFFERS  # ... but flagged for a person to check
            assert row.read_back_note and "valueQuantity.unit is missing" in row.read_back_note
            assert "/min" not in row.read_back_note  # paths only, never values
            assert "Heart rate" not in row.read_back_note
            assert summary.read_back_differs == 1
    assert server_copies(ehr, commit) == [1] * len(commit.writes)


def test_fault_kinds_are_all_exercised() -> None:
    """Keeps this module honest when the proxy learns a new fault."""
    covered = {f.kind for f in LOST_AFTER_COMMIT.values()} | {
        FaultKind.DROP_BEFORE,
        FaultKind.STATUS,
        FaultKind.PASS,
    }
    elsewhere = {
        FaultKind.BODY,  # the token endpoint's HTML/not-JSON 200s: test_runner_token_faults.py
        FaultKind.KILL,  # SIGKILL during token rotation: test_soak.py
        FaultKind.HELD,  # an answer held until after sign-out: tests/services/test_kept_chart_lifecycle.py
    }
    assert covered | elsewhere == set(FaultKind)
