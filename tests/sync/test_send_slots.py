"""Issue 15: a commit is marked SENDING while the commits ahead of it are in flight, and waits
for one of the ``concurrency`` slots before anything is sent. When the pass stops meanwhile
(the EHR could not be reached), the marked commit is given back to the queue untouched:
no request, no failed attempt, no audit record of an attempt."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from app.domain.outbox import OutboxState, SyncEvent
from app.fhir.client import FhirClient, FhirResponse
from app.fhir.errors import FhirNetworkError
from app.sync.due_queue import WORKERS_PER_SLOT, InFlight, SendSlots
from tests.support.servers import RunningServer
from tests.sync.commits import clinical_commit
from tests.sync.runner_fixtures import Harness, harness, launch_token, server_copies

S, E = OutboxState, SyncEvent


async def test_slots_bound_what_is_sent_and_say_when_to_stop() -> None:
    going = True
    slots = SendSlots(2, lambda: going)
    inside = 0
    most = 0

    async def one(i: int) -> bool:
        nonlocal inside, most
        with slots.turn() as slot:
            if not await slot.enter():
                return False
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.01)
            inside -= 1
            slot.release()  # early, as the sender does before storing the outcome
            return True

    assert all(await asyncio.gather(*(one(i) for i in range(6))))
    assert most == 2
    going = False
    assert await one(7) is False


async def test_in_flight_holds_the_commits_whose_turn_came_until_it_ends() -> None:
    going = True
    in_flight = InFlight()
    heard: list[frozenset[UUID]] = []
    in_flight.subscribe(lambda: heard.append(in_flight.commits))
    slots = SendSlots(1, lambda: going, in_flight)
    first, second, third = uuid4(), uuid4(), uuid4()
    release = asyncio.Event()

    async def one(commit_id: UUID) -> bool:
        with slots.turn(commit_id) as slot:
            if not await slot.enter():
                return False
            await release.wait()
            return True

    tasks = [asyncio.ensure_future(one(c)) for c in (first, second)]
    await asyncio.sleep(0.01)
    assert in_flight.commits == {first}  # the second is marked, but waits for the slot
    release.set()
    assert all(await asyncio.gather(*tasks))
    assert heard == [frozenset({first}), frozenset(), frozenset({second}), frozenset()]
    going = False  # the pass stops: a commit given its slot then is not sent, nor in flight
    assert await one(third) is False
    assert in_flight.commits == frozenset() and len(heard) == 4


def test_a_failing_in_flight_listener_does_not_stop_a_send(
    caplog: pytest.LogCaptureFixture,
) -> None:
    in_flight = InFlight()
    heard: list[frozenset[UUID]] = []

    def broken() -> None:
        raise RuntimeError("a view that is gone")

    in_flight.subscribe(broken)
    in_flight.subscribe(lambda: heard.append(in_flight.commits))
    commit = uuid4()
    in_flight.started(commit)
    in_flight.ended(commit)
    assert heard == [frozenset({commit}), frozenset()]
    assert "in-flight listener failed: RuntimeError" in caplog.text


class SecondWriteUnreachable:
    """The real client, except that the second POST finds the EHR unreachable, and the
    others wait a little (so the next commit is marked while one is in flight)."""

    def __init__(self, inner: FhirClient) -> None:
        self.inner = inner
        self.posts = 0

    async def capability(self, *, refresh: bool = False) -> dict[str, Any]:
        return await self.inner.capability(refresh=refresh)

    async def request(self, method: str, path_or_url: str, **kw: Any) -> FhirResponse:
        if method == "POST":
            self.posts += 1
            await asyncio.sleep(0.2)
            if self.posts == 2:
                raise FhirNetworkError("The EHR could not be reached (test).")
        return await self.inner.request(method, path_or_url, **kw)

    async def search(self, *args: Any, **kw: Any) -> Any:
        return await self.inner.search(*args, **kw)

    async def read_response(self, resource_type: str, resource_id: str) -> FhirResponse:
        return await self.inner.read_response(resource_type, resource_id)


@pytest.fixture
async def h(sandbox_server: RunningServer, tmp_path: Path) -> AsyncIterator[Harness]:
    async for value in harness(tmp_path, sandbox_server.fhir_base, launch_token(sandbox_server)):
        yield value


async def test_a_commit_marked_while_the_ehr_became_unreachable_goes_back_untouched(
    h: Harness, sandbox_server: RunningServer
) -> None:
    first, second, third, fourth = (h.enqueue(clinical_commit()) for _ in range(4))
    writer = SecondWriteUnreachable(h.fhir)
    runner = h.runner("generic-r4", writer=writer, concurrency=1)
    async with runner:
        await runner.capabilities()
        await runner.run_once()
    outbox = h.store.outbox
    assert outbox.item(first.commit_id).state is S.CONFIRMED  # the probe: the EHR answered
    assert outbox.item(second.commit_id).state is S.RETRY_WAIT  # could not be reached
    withheld = outbox.item(third.commit_id)  # marked while the second was in flight
    assert (withheld.state, withheld.last_event, withheld.attempts) == (
        S.QUEUED,
        E.SEND_WITHHELD,
        0,
    )
    assert outbox.item(fourth.commit_id).state is S.QUEUED  # never taken
    assert writer.posts == 2  # nothing was sent for the third
    assert server_copies(sandbox_server, third) == [0] * len(third.writes)
    async with runner:
        summary = await runner.drain(timeout=30)
    assert summary.confirmed == 4
    for commit in (first, second, third, fourth):
        assert server_copies(sandbox_server, commit) == [1] * len(commit.writes)


class SecondPostHeld:
    """The real client, except that the second POST (the first after the probe) waits until
    the test lets it go."""

    def __init__(self, inner: FhirClient) -> None:
        self.inner = inner
        self.posts = 0
        self.held = asyncio.Event()
        self.go = asyncio.Event()

    async def capability(self, *, refresh: bool = False) -> dict[str, Any]:
        return await self.inner.capability(refresh=refresh)

    async def request(self, method: str, path_or_url: str, **kw: Any) -> FhirResponse:
        if method == "POST":
            self.posts += 1
            if self.posts == 2:
                self.held.set()
                await self.go.wait()
        return await self.inner.request(method, path_or_url, **kw)

    async def search(self, *args: Any, **kw: Any) -> Any:
        return await self.inner.search(*args, **kw)

    async def read_response(self, resource_type: str, resource_id: str) -> FhirResponse:
        return await self.inner.read_response(resource_type, resource_id)


async def test_while_a_commit_is_in_flight_the_next_ones_wait_marked_for_its_slot(
    h: Harness, sandbox_server: RunningServer
) -> None:
    """Issue 15, fifth step: the store thread gathers changes for GROUP_WINDOW (20 ms) before
    its COMMIT, so a commit's SENDING (durable before any request) and its outcome take that
    long to store. WORKERS_PER_SLOT workers per slot keep that off the round trips' path: while
    one commit is in flight the next WORKERS_PER_SLOT - 1 are already marked, on disk, and
    wait for its slot — and nothing of theirs has been sent."""
    commits = [h.enqueue(clinical_commit()) for _ in range(WORKERS_PER_SLOT + 3)]
    writer = SecondPostHeld(h.fhir)
    runner = h.runner("generic-r4", writer=writer, concurrency=1)
    outbox = h.store.outbox
    async with runner:
        await runner.capabilities()
        drained = asyncio.create_task(runner.drain(timeout=60))
        try:
            await asyncio.wait_for(writer.held.wait(), 30)
            sending: list[int] = []
            for _ in range(200):  # the marks are group commits: give them their window
                states = [outbox.item(c.commit_id).state for c in commits]
                sending = [i for i, s in enumerate(states) if s is S.SENDING]
                if len(sending) >= WORKERS_PER_SLOT:
                    break
                await asyncio.sleep(0.02)
            assert sending == list(range(1, 1 + WORKERS_PER_SLOT))  # after the probe, in order
            assert writer.posts == 2  # only the held one was sent
            for waiting in sending[1:]:
                assert server_copies(sandbox_server, commits[waiting]) == [0] * 5
        finally:  # a failed check must not leave the drain waiting
            writer.go.set()
        summary = await drained
    assert summary.confirmed == len(commits)
    for commit in commits:
        assert server_copies(sandbox_server, commit) == [1] * len(commit.writes)
