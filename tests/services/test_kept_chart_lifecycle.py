"""Kept charts leave the disk at sign-out and after the retention, and none comes back.

A chart read that was in flight when the clinician signed out is answered only after the purge
(the fault proxy holds its response until then), and the cache refuses to keep it — whichever
writer it was (the link-back refresh of stale kept charts, a chart opened live, the open chart
read again after a confirmation). Before the fix each of these left the chart in the encrypted
cache after sign-out (issue 19: tests/ui/test_offline_day.py once found 'day-20261207-02' still
kept). Expired charts are removed at sign-in and while the app runs, not only when another
chart is kept. A cancelled visit's chart is not prefetched."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from app.domain.audit import AuditKind
from app.domain.offline import OfflinePolicy
from app.domain.worklist import VisitStatus
from app.fhir.client import FhirClient
from app.fhir.worklist import load_worklist
from app.services.chart import ChartService
from app.services.offline import OfflineCharts
from app.services.session import SessionService
from app.store.store import Store, open_store
from app.sync.store_thread import StoreThread
from tests.fhir.conftest import BearerAuth, access_token
from tests.services.test_offline_charts import CHARTS, FakeSession
from tests.support.clinic_day import local_zone
from tests.support.fault_proxy import Fault, FaultProxy, ProxyRequest
from tests.support.servers import RunningServer
from tests.sync.runner_fixtures import wait_for

pytestmark = pytest.mark.slow

STALE_AT_ONCE = OfflinePolicy(refresh_after=timedelta(0))


@dataclass
class Rig:
    proxy: FaultProxy
    fhir: FhirClient
    store: Store
    offline: OfflineCharts
    chart: ChartService
    release: asyncio.Event
    holding: bool = False
    held: int = 0  # chart reads whose answer is being held

    def plan(self, request: ProxyRequest) -> Fault:
        if self.holding and request.method == "POST" and b'"batch"' in request.body:
            self.held += 1
            return Fault.held(self.release)
        return Fault.pass_through()

    async def signed_out_while_held(self, writer: Awaitable[object]) -> None:
        """``writer`` runs until its chart read is held; the sign-out's purge happens; then
        the EHR's answer arrives and the writer ends (however it ends)."""
        self.holding = True
        task = asyncio.ensure_future(writer)
        await wait_for(lambda: self.held >= 1 or task.done(), timeout=10)
        assert not task.done(), "the writer did not read the chart"
        await self.offline.aclose()
        await self.offline.purge()
        assert self.store.charts.stamps() == {}
        self.release.set()
        await asyncio.gather(task, return_exceptions=True)


@pytest.fixture
async def rig(sandbox_server: RunningServer, tmp_path: Path) -> AsyncIterator[Rig]:
    store = open_store(tmp_path / "store.db")
    worker = StoreThread()
    holder: list[Rig] = []
    async with (
        FaultProxy(sandbox_server.fhir_base, lambda r: holder[0].plan(r)) as proxy,
        httpx.AsyncClient(timeout=20) as http,
    ):
        fhir = FhirClient(http, proxy.base, BearerAuth(access_token(sandbox_server)))
        offline = OfflineCharts(fhir, store.charts, worker, policy=STALE_AT_ONCE)

        async def record(kind: AuditKind, **details: Any) -> None:
            return None

        session = cast(SessionService, FakeSession())
        chart = ChartService(fhir, session, None, record, offline)
        holder.append(Rig(proxy, fhir, store, offline, chart, asyncio.Event()))
        yield holder[0]
        holder[0].release.set()
        await offline.aclose()
    worker.close()
    store.close()


async def test_a_link_back_refresh_answered_after_sign_out_is_not_kept(rig: Rig) -> None:
    await rig.offline.prefetch(CHARTS)
    assert set(rig.store.charts.stamps()) == set(CHARTS)
    await rig.signed_out_while_held(rig.offline.refresh_kept())  # SyncRunner.before_drain's
    assert rig.store.charts.stamps() == {}
    assert rig.store.charts.load_capability() is None


async def test_a_chart_opened_live_answered_after_sign_out_is_not_kept(rig: Rig) -> None:
    patient, encounter = CHARTS[0]
    await rig.signed_out_while_held(rig.chart.open(patient, encounter))
    assert rig.store.charts.stamps() == {}


async def test_the_open_chart_read_again_after_sign_out_is_not_kept(rig: Rig) -> None:
    patient, encounter = CHARTS[1]
    opened = await rig.chart.open(patient, encounter)  # kept as it opens
    await rig.signed_out_while_held(rig.chart.reload(opened))  # after a confirmation
    assert rig.store.charts.stamps() == {}


async def test_after_the_next_sign_in_charts_are_kept_again(rig: Rig) -> None:
    await rig.offline.prefetch(CHARTS[:1])
    await rig.offline.purge()
    rig.offline.begin_session()  # the next sign-in
    report = await rig.offline.prefetch(CHARTS)
    assert report.kept == CHARTS
    assert set(rig.store.charts.stamps()) == set(CHARTS)


async def test_expired_charts_leave_the_disk_at_sign_in_without_a_new_chart_kept(
    rig: Rig,
) -> None:
    """The retention is applied when the site is signed in to (an offline start too) and
    every few minutes after, not only when another chart is kept."""
    rig.offline.policy = OfflinePolicy(retention=timedelta(seconds=1))
    rig.offline.sweep_every = 0.2
    await rig.offline.prefetch(CHARTS)
    assert set(rig.store.charts.stamps()) == set(CHARTS)
    await asyncio.sleep(1.2)
    assert set(rig.store.charts.stamps()) == set(CHARTS)  # expired, still on disk
    rig.offline.begin_session()  # the next sign-in (nothing is read from the EHR)
    await wait_for(lambda: rig.store.charts.stamps() == {}, timeout=5)

    rig.offline.policy = OfflinePolicy()
    await rig.offline.prefetch(CHARTS[:1])
    rig.offline.policy = OfflinePolicy(retention=timedelta(seconds=1))
    await wait_for(lambda: rig.store.charts.stamps() == {}, timeout=5)  # while it runs


async def test_after_sign_out_nothing_is_even_read(rig: Rig) -> None:
    await rig.offline.purge()
    before = rig.proxy.requests
    rig.offline.request(CHARTS)  # e.g. a worklist that arrived after the sign-out
    rig.offline.start_delay = 0.0
    await rig.offline.settle()
    report = await rig.offline.refresh_kept()
    assert report.kept == [] and rig.proxy.requests == before
    assert rig.store.charts.stamps() == {}


async def test_the_days_cancelled_visit_is_not_prefetched(rig: Rig) -> None:
    """My day on the sandbox has a cancelled visit: every other encounter's chart is kept,
    not that one (the clinician is not likely to open it)."""
    # the sandbox writes its clinic day when it starts: a run that crossed midnight reads it there
    day = await load_worklist(rig.fhir, "Practitioner/prac-1", date.today(), local_zone())
    if not day.visits:
        yesterday = date.today() - timedelta(days=1)
        day = await load_worklist(rig.fhir, "Practitioner/prac-1", yesterday, local_zone())
    cancelled = {v.encounter_id for v in day.visits if v.status is VisitStatus.CANCELLED}
    others = {v.encounter_id for v in day.visits if v.encounter_id} - cancelled
    assert cancelled and len(others) >= 10
    rig.offline.start_delay = 0.0
    rig.offline.prefetch_worklist(day)
    await rig.offline.settle()
    kept = await rig.offline.kept_encounters()
    assert kept == others
