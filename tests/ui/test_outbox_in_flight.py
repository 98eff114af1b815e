"""The outbox says "Sending…" only for the commits whose requests have started.

The runner marks a commit SENDING in the store before it waits for one of its ``concurrency``
send slots (app.sync.due_queue: the write and its fsync stay off the round trip's path). Here the
sandbox's answers to the writes are held (a proxy on 127.0.0.1), so two commits are in flight and
the runner's other workers' commits are marked SENDING while they wait for a slot: the panel, its
detail area, the editor's line about an approved note, and the message after an action must call
those "Waiting to send", and switch to "Sending…" when their requests start.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.domain.outbox import OutboxState
from app.services.outbox import OutboxService
from app.sync.due_queue import WORKERS_PER_SLOT
from app.sync.runner import SyncRunner
from app.sync.store_thread import StoreThread
from app.ui.approved_notice import ApprovedNoteWatch
from app.ui.outbox_model import Column
from app.ui.outbox_panel import OutboxPanel
from app.ui.outbox_words import StatusSentence
from tests.support.fault_proxy import Fault, FaultProxy, ProxyRequest
from tests.support.servers import RunningServer
from tests.sync.commits import clinical_commit
from tests.sync.runner_fixtures import Harness, harness, launch_token, wait_for
from tests.ui.outbox_states import decision_json
from tests.ui.test_end_to_end import wait_until

S = OutboxState
SLOTS = 2
MARKED = WORKERS_PER_SLOT * SLOTS  # the runner's workers each mark one SENDING
COMMITS = 2 + MARKED  # the probe, the marked ones and one more still queued
SENDING = "Sending…"
WAITING = "Waiting to send"


@dataclass
class HeldWrites:
    """Answers the first write (the commit that probes the EHR), then holds the answer of each
    other write (the server has it) until ``release`` is set, or ``second`` for the second."""

    writes: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)
    second: asyncio.Event = field(default_factory=asyncio.Event)

    def plan(self, request: ProxyRequest) -> Fault:
        if request.method != "POST":
            return Fault.pass_through()
        self.writes += 1
        if self.writes == 1:
            return Fault.pass_through()
        return Fault.held(self.second if self.writes == 2 else self.release)

    def set(self) -> None:
        self.second.set()
        self.release.set()


@pytest.fixture
async def held(
    sandbox_server: RunningServer, tmp_path: Path
) -> AsyncIterator[tuple[Harness, HeldWrites]]:
    hold = HeldWrites()
    origin = sandbox_server.fhir_base.rsplit("/fhir", 1)[0]
    try:
        async with FaultProxy(origin, hold.plan) as proxy:
            token = launch_token(sandbox_server)
            async for h in harness(tmp_path, proxy.base + "/fhir", token):
                yield h, hold
    finally:
        hold.set()


def approve(h: Harness) -> UUID:
    commit = clinical_commit()
    h.store.outbox.enqueue_approval(commit, decision_json(commit))
    return commit.commit_id


def words(panel: OutboxPanel, commit_id: UUID) -> str:
    row = panel.model.row_of(commit_id)
    assert row is not None
    return str(panel.model.index(row, Column.STATE).data())


def meaning(panel: OutboxPanel, commit_id: UUID) -> str:
    row = panel.model.row_of(commit_id)
    assert row is not None
    return str(panel.model.index(row, Column.STATE).data(Qt.ItemDataRole.ToolTipRole))


async def test_a_commit_waiting_for_a_send_slot_says_so_until_its_requests_start(
    qtbot: QtBot, held: tuple[Harness, HeldWrites]
) -> None:
    h, hold = held
    runner = h.runner("generic-r4", concurrency=SLOTS)

    async def make_runner() -> SyncRunner:
        return runner

    outbox = OutboxService(h.store.outbox, StoreThread(), lambda: "Dr. Test", make_runner)
    commits = [approve(h) for _ in range(COMMITS)]
    panel = OutboxPanel(outbox, coalesce_ms=20)
    qtbot.addWidget(panel)
    notices: list[StatusSentence] = []
    watch: ApprovedNoteWatch | None = None
    await outbox.start_sync()
    try:
        store = h.store.outbox

        def stored_sending() -> list[UUID]:
            return [c for c in commits if store.item(c).state is S.SENDING]

        # the first commit probes alone and is answered; then two are in flight (held) and
        # the other workers' commits are marked SENDING while they wait for a slot
        await wait_for(lambda: len(stored_sending()) == MARKED and hold.writes == 1 + SLOTS)
        panel.refresh()
        shown = sorted(words(panel, c) for c in stored_sending())
        assert shown == [SENDING] * SLOTS + [WAITING] * (MARKED - SLOTS)  # not all "Sending…"
        in_flight = outbox.in_flight
        assert len(in_flight) == SLOTS
        waiting = [c for c in stored_sending() if c not in in_flight]
        assert len(waiting) == MARKED - SLOTS
        for c in in_flight:
            assert words(panel, c) == SENDING
            assert meaning(panel, c) == "Being sent to the EHR now."
        for c in waiting:
            assert words(panel, c) == WAITING
            assert "sends a few notes at a time" in meaning(panel, c)
        said_sending = sum(words(panel, c) == SENDING for c in commits)
        assert said_sending == SLOTS  # never more "Sending…" than are being sent

        # the detail area says the same, and the editor's line about the note just approved
        panel.select_commit(waiting[0])
        assert panel.detail.title_label.text() == WAITING
        watch = ApprovedNoteWatch(outbox, waiting[0], datetime.now(UTC), notices.append)
        assert "(waiting to send)" in notices[-1].text

        hold.set()
        await wait_for(lambda: all(store.item(c).state is S.CONFIRMED for c in commits), 30)
        await wait_until(lambda: all(words(panel, c) == "Sent ✓" for c in commits))
        assert panel.detail.title_label.text() == "Sent ✓"
        seen = [n.text for n in notices]
        assert any("(sending…)" in t for t in seen), seen  # as its request started
        assert seen[-1].startswith("Sent to the chart")
        assert outbox.in_flight == frozenset()
    finally:
        if watch is not None:
            watch.stop()
        panel.close_panel()
        await outbox.stop_sync()


async def test_the_words_follow_the_turn_of_a_commit_shown_in_the_detail_area(
    qtbot: QtBot, held: tuple[Harness, HeldWrites]
) -> None:
    """One slot: the third commit waits while the second is sent; once the second is answered,
    the third's request starts and the detail area on screen says so (no click needed)."""
    h, hold = held
    runner = h.runner("generic-r4", concurrency=1)

    async def make_runner() -> SyncRunner:
        return runner

    outbox = OutboxService(h.store.outbox, StoreThread(), lambda: "Dr. Test", make_runner)
    first, second, third = (approve(h) for _ in range(3))
    panel = OutboxPanel(outbox, coalesce_ms=20)
    qtbot.addWidget(panel)
    await outbox.start_sync()
    try:
        store = h.store.outbox
        await wait_for(lambda: store.item(third).state is S.SENDING and hold.writes == 2)
        assert store.item(first).state is S.CONFIRMED
        panel.refresh()
        assert words(panel, third) == WAITING
        assert words(panel, second) == SENDING
        panel.select_commit(third)
        assert panel.detail.title_label.text() == WAITING
        assert outbox.in_flight == {second}

        hold.second.set()  # the second is answered: the third's turn comes (its answer is held)
        await wait_for(lambda: outbox.in_flight == {third} and hold.writes == 3)
        assert store.item(third).state is S.SENDING
        await wait_until(lambda: panel.detail.title_label.text() == SENDING)
        assert words(panel, third) == SENDING
        assert panel.detail.meaning_label.text() == "Being sent to the EHR now."

        hold.release.set()
        await wait_for(lambda: store.item(third).state is S.CONFIRMED)
        await wait_until(lambda: panel.detail.title_label.text() == "Sent ✓")
    finally:
        panel.close_panel()
        await outbox.stop_sync()
