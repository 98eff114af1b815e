"""Sending stopped while it is still starting (a sign-out during the sign-in, the quit) leaves
no runner behind: before, ``stop_sync`` found no runner yet and returned, and the start then
finished and kept the store's sync lock, its store thread and connections for good."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.services.outbox import OutboxService
from app.sync.runner import SyncRunner
from app.sync.store_thread import StoreThread
from tests.support.servers import RunningServer
from tests.sync.runner_fixtures import Harness, harness, launch_token


@pytest.fixture
async def h(sandbox_server: RunningServer, tmp_path: Path) -> AsyncIterator[Harness]:
    async for value in harness(tmp_path, sandbox_server.fhir_base, launch_token(sandbox_server)):
        yield value


@pytest.fixture
def worker() -> StoreThread:
    thread = StoreThread()
    yield thread
    thread.close()


@pytest.mark.parametrize("caller", ["waits", "is cancelled"])
async def test_a_stop_during_the_start_leaves_no_runner_behind(
    h: Harness, worker: StoreThread, caller: str
) -> None:
    made: list[SyncRunner] = []
    making, release = asyncio.Event(), asyncio.Event()

    async def slow_runner() -> SyncRunner:
        making.set()
        await release.wait()  # the EHR's capabilities are still being read
        runner = h.runner("generic-r4")
        made.append(runner)
        return runner

    outbox = OutboxService(h.store.outbox, worker, lambda: "Dr. Test", slow_runner)
    start = asyncio.ensure_future(outbox.start_sync())
    await making.wait()
    if caller == "is cancelled":  # the sign-in's task stopped by the sign-out
        start.cancel()
    stop = asyncio.ensure_future(outbox.stop_sync())
    await asyncio.sleep(0.05)
    assert not stop.done()  # the stop waits for the start under way
    release.set()
    await asyncio.wait_for(stop, 10)
    await asyncio.wait([start])
    assert outbox.status is None  # not sending
    [runner] = made
    assert not runner.status.running
    # the store's sync lock is free again: another runner can take it
    again = h.runner("generic-r4")
    await again.start()
    await again.aclose()
