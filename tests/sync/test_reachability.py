"""Honest online/offline: the reachability monitor's probes against the sandbox EHR, counted
at a proxy in front of it (tests/support/fault_proxy.py).

The traffic target (issue 13): at most one small request per 10 s while anything is queued,
none while idle and online; "Offline" within 10 s of the EHR going away, "Online" only after an
answer, "Connecting" for one probe at most.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import httpx

from app.domain.reachability import Connectivity, ProbePolicy
from app.domain.retry import BackoffPolicy
from app.fhir.client import FhirClient
from app.sync.reachability import ReachabilityMonitor
from tests.support.fault_proxy import Fault, FaultProxy, ScriptedFaults
from tests.support.servers import RunningServer
from tests.sync.commits import clinical_commit
from tests.sync.runner_fixtures import Harness, harness, launch_token, wait_for

FAST = ProbePolicy(
    interval=timedelta(seconds=1),
    timeout=timedelta(milliseconds=500),
    offline=BackoffPolicy(
        base=timedelta(seconds=1),
        cap=timedelta(seconds=2),
        floor=timedelta(seconds=1),
    ),
)


def origin(server: RunningServer) -> str:
    return server.fhir_base.rsplit("/fhir", 1)[0]


def probes(proxy: FaultProxy) -> int:
    return sum(1 for method, target, _ in proxy.log if method == "HEAD" and "metadata" in target)


class Queue:
    """Stands in for the outbox: is anything queued?"""

    def __init__(self) -> None:
        self.queued = False

    async def has_work(self) -> bool:
        return self.queued


@asynccontextmanager
async def monitored(
    sandbox: RunningServer, policy: ProbePolicy
) -> AsyncIterator[tuple[FaultProxy, ReachabilityMonitor, Queue]]:
    queue = Queue()
    async with FaultProxy(origin(sandbox)) as proxy, httpx.AsyncClient() as http:
        fhir = FhirClient(http, proxy.base + "/fhir")
        monitor = ReachabilityMonitor(fhir.probe, queue.has_work, policy=policy)
        stop = asyncio.Event()
        task = asyncio.create_task(monitor.run(stop))
        try:
            yield proxy, monitor, queue
        finally:
            stop.set()
            await asyncio.wait_for(task, 5)


async def test_connecting_lasts_one_probe_and_idle_online_sends_nothing(
    sandbox_server: RunningServer,
) -> None:
    async with monitored(sandbox_server, FAST) as (proxy, monitor, _queue):
        await wait_for(lambda: monitor.state.connectivity is not Connectivity.UNKNOWN, 2)
        assert monitor.state.connectivity is Connectivity.ONLINE
        assert probes(proxy) == 1
        await asyncio.sleep(3.5)  # three intervals, nothing queued
        assert probes(proxy) == 1
        assert proxy.requests == 1  # nothing else either


async def test_queued_probes_once_per_interval_and_sees_the_ehr_go_and_come_back(
    sandbox_server: RunningServer,
) -> None:
    async with monitored(sandbox_server, FAST) as (proxy, monitor, queue):
        await wait_for(lambda: monitor.state.online, 2)
        queue.queued = True
        monitor.work_changed()
        before = probes(proxy)
        await asyncio.sleep(3.2)
        assert 2 <= probes(proxy) - before <= 4  # one per second at most (the interval)
        await proxy.go_offline()
        loop = asyncio.get_running_loop()
        gone = loop.time()
        await wait_for(lambda: monitor.state.connectivity is Connectivity.OFFLINE, 3)
        assert loop.time() - gone <= 1.0 + 0.5 + 0.3  # interval + timeout (+ slack)
        await proxy.go_online()
        back = loop.time()
        await wait_for(lambda: monitor.state.online, 4)
        assert loop.time() - back <= 2.0 + 0.5  # the backoff cap


async def test_a_network_change_is_checked_at_once(sandbox_server: RunningServer) -> None:
    async with monitored(sandbox_server, FAST) as (proxy, monitor, _queue):
        await wait_for(lambda: monitor.state.online, 2)
        await proxy.go_offline()
        await asyncio.sleep(0.3)
        assert monitor.state.online  # idle: nobody looked
        monitor.request_check()
        await wait_for(lambda: monitor.state.connectivity is Connectivity.OFFLINE, 1)


async def test_a_gateway_answering_for_a_missing_ehr_is_offline(
    sandbox_server: RunningServer,
) -> None:
    plan = ScriptedFaults([Fault.http(503)])
    async with FaultProxy(origin(sandbox_server), plan) as proxy, httpx.AsyncClient() as http:
        fhir = FhirClient(http, proxy.base + "/fhir")
        assert not await fhir.probe(1.0)
        assert await fhir.probe(1.0)
        await proxy.go_offline()
        assert not await fhir.probe(1.0)


async def test_the_runner_with_the_real_policy_one_probe_per_ten_seconds_offline_within_ten(
    sandbox_server: RunningServer, tmp_path: Path
) -> None:
    """The default policy, end to end: the EHR asks the runner to come back in an hour (503,
    Retry-After) so a commit stays queued with nothing to send; the runner probes once per
    10 s, and when the EHR goes away the status says Offline within 10 s."""
    busy = ScriptedFaults([Fault.http(503, "3600")], match=lambda r: r.method == "POST")
    async with FaultProxy(origin(sandbox_server), busy) as proxy:
        async for h in harness(tmp_path, proxy.base + "/fhir", launch_token(sandbox_server)):
            await _queued_then_gone(h, proxy, busy)


async def _queued_then_gone(h: Harness, proxy: FaultProxy, busy: ScriptedFaults) -> None:
    runner = h.runner("generic-r4", probe=h.fhir.probe)
    seen: list[Connectivity] = []
    runner.subscribe_status(lambda s: seen.append(s.connectivity))
    h.enqueue(clinical_commit())
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run_forever(stop))
    loop = asyncio.get_running_loop()
    await wait_for(lambda: busy.remaining == 0, 10)
    await wait_for(lambda: runner.status.connectivity is Connectivity.ONLINE, 5)
    first_answer = seen.index(Connectivity.ONLINE)
    assert Connectivity.UNKNOWN not in seen[first_answer:]  # never back to "Connecting"
    assert h.store.outbox.summary().pending == 1
    start, began = probes(proxy), loop.time()
    await asyncio.sleep(10.5)
    assert probes(proxy) - start == 1  # one per 10 s, and one only
    assert proxy.requests == probes(proxy) + 2  # + the metadata read and the POST
    await proxy.go_offline()
    gone = loop.time()
    await wait_for(lambda: runner.status.connectivity is Connectivity.OFFLINE, 12)
    assert loop.time() - gone <= 10.0
    assert runner.status.offline_since is not None
    assert loop.time() - began < 25
    stop.set()
    await asyncio.wait_for(task, 10)
    await runner.aclose()
