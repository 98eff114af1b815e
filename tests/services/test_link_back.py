"""Signed in, the link cut and back: before the sender writes anything, the session is renewed
(its access token had expired) and the stale kept charts are re-read — in that order, seen as
requests at the fault proxy in front of the sandbox; a chart refresh that hangs holds the note
back for the cap only. Each step said in words."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from app.domain.offline import OfflinePolicy
from app.domain.outbox import OutboxState
from app.domain.reachability import Connectivity
from app.fhir.client import FhirClient
from app.fhir.profiles import load_profile
from app.services.offline import OfflineCharts
from app.services.reconnect import BACK, REFRESHING, SENDING, after_link_back
from app.smart.tokens import TokenManager
from app.store.store import Store, open_store
from app.sync.runner import SyncRunner
from app.sync.store_thread import StoreThread
from tests.support.fault_proxy import Fault, FaultProxy, ProxyRequest
from tests.support.servers import RunningServer
from tests.sync.commits import clinical_commit
from tests.sync.runner_fixtures import offline_launch, refreshing_auth, wait_for

pytestmark = pytest.mark.slow

CHARTS = [("pat-1", "enc-1"), ("pat-3", "enc-4")]
STALE_AT_ONCE = OfflinePolicy(refresh_after=timedelta(0))


@dataclass
class Rig:
    proxy: FaultProxy
    store: Store
    tokens: TokenManager
    offline: OfflineCharts
    runner: SyncRunner
    said: list[str]
    seen: list[str]  # what each request was: "token", "chart", "write", "probe", "other"
    hang_charts: bool = False

    async def renew(self) -> bool:
        before = self.tokens.current
        await self.tokens.access_token()
        return self.tokens.current is not before

    def expire_access_token(self) -> None:
        current = self.tokens.current
        assert current is not None
        self.tokens.set(replace(current, expires_at=datetime.now(UTC) - timedelta(seconds=1)))


def kind_of(request: ProxyRequest) -> str:
    if request.method == "HEAD":
        return "probe"
    if "token" in request.path:
        return "token"
    if request.method == "POST" and request.path.rstrip("/").endswith("/fhir"):
        return "chart" if b'"batch"' in request.body else "write"
    if request.method in ("POST", "PUT"):
        return "write"
    return "chart" if request.method == "GET" else "other"


@pytest.fixture
async def rig(sandbox_server: RunningServer, tmp_path: Path) -> AsyncIterator[Rig]:
    origin = sandbox_server.fhir_base.rsplit("/fhir", 1)[0]
    holder: list[Rig] = []

    def plan(request: ProxyRequest) -> Fault:
        kind = kind_of(request)
        if holder:
            holder[0].seen.append(kind)
        if holder and holder[0].hang_charts and kind == "chart":
            return Fault.slow(30.0)
        return Fault.pass_through()

    store = open_store(tmp_path / "store.db")
    worker = StoreThread()
    async with FaultProxy(origin, plan) as proxy, httpx.AsyncClient(timeout=10) as http:
        token_url, refresh = offline_launch(sandbox_server, via=proxy.base)
        tokens, auth = refreshing_auth(http, token_url, sandbox_server.client_id, refresh)
        fhir = FhirClient(http, proxy.base + "/fhir", auth)
        offline = OfflineCharts(fhir, store.charts, worker, policy=STALE_AT_ONCE)
        runner = SyncRunner(
            store.outbox,
            fhir,
            profile=load_profile("generic-r4"),
            lock_path=tmp_path / "sync.lock",
            probe=fhir.probe,
        )
        runner.subscribe_status(offline.on_status)
        rig = Rig(proxy, store, tokens, offline, runner, [], [])
        holder.append(rig)
        yield rig
        await offline.aclose()
    worker.close()
    store.close()


async def cut_queue_and_come_back(rig: Rig, cap: float) -> tuple[int, float]:
    """Kept charts, the link cut, a note queued, the link back: (proxy log mark, seconds from
    the link back to the note confirmed)."""
    runner = rig.runner
    runner.before_drain = lambda: after_link_back(
        rig.renew, rig.offline.refresh_kept, rig.said.append, cap=cap
    )
    await rig.offline.prefetch(CHARTS)
    await runner.capabilities()
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run_forever(stop))
    await runner.reachability.probe_now()
    assert runner.status.connectivity is Connectivity.ONLINE

    await rig.proxy.go_offline()
    runner.network_changed()
    await wait_for(lambda: runner.status.connectivity is Connectivity.OFFLINE)
    rig.store.outbox.enqueue_approval(clinical_commit(), '{"review_status": "approved"}')
    runner.notify_enqueued()
    await asyncio.sleep(0.5)
    assert rig.store.outbox.summary().confirmed == 0
    rig.expire_access_token()

    mark = len(rig.seen)
    await rig.proxy.go_online()
    started = time.monotonic()
    runner.notify_reconnected()
    await wait_for(lambda: rig.store.outbox.summary().confirmed == 1, timeout=30)
    took = time.monotonic() - started
    stop.set()
    await asyncio.wait_for(task, 10)
    await runner.aclose()
    return mark, took


async def test_renewed_then_charts_refreshed_then_the_note_written(rig: Rig) -> None:
    mark, _took = await cut_queue_and_come_back(rig, cap=5.0)
    after = [kind for kind in rig.seen[mark:] if kind != "probe"]
    assert "token" in after and "chart" in after and "write" in after, after
    token, chart, write = (after.index(kind) for kind in ("token", "chart", "write"))
    assert token < chart < write, after
    assert after[:write].count("chart") >= len(CHARTS), after  # every kept chart re-read first
    assert rig.said == [BACK, REFRESHING, SENDING, ""]
    assert rig.store.outbox.summary().count(OutboxState.CONFIRMED) == 1


async def test_a_hanging_chart_refresh_holds_the_note_for_the_cap_only(rig: Rig) -> None:
    rig.hang_charts = False

    async def hang_after_cut() -> None:
        await wait_for(lambda: not rig.proxy.online)
        rig.hang_charts = True  # every chart read from now on gets no answer for 30 s

    hanging = asyncio.create_task(hang_after_cut())
    _mark, took = await cut_queue_and_come_back(rig, cap=1.0)
    await hanging
    assert took < 8.0  # 1 s cap, then the note: never the 30 s of the hanging reads
    assert rig.said == [BACK, REFRESHING, SENDING, ""]
