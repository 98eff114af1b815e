"""Issue 15, item 3: the runner's store thread groups the state changes waiting for it into one
transaction (one fsync), without weakening what ``run`` promises: when it returns, the change
is committed (another connection sees it), a change that fails is rolled back alone, and
listeners hear of a change only once it is committed."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from app.domain.outbox import IllegalTransition, OutboxState, SyncEvent
from app.store.outbox_records import OutboxChange
from app.store.store import Store, open_store
from app.sync.store_thread import StoreThread
from tests.store.test_outbox import DECISION, small_commit

S, E = OutboxState, SyncEvent


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(tmp_path / "store.db")
    yield s
    s.close()


def committed_states(path: Path) -> dict[str, str]:
    """What is on disk, read with a connection of its own (not the store's)."""
    with sqlite3.connect(path) as conn:
        return dict(conn.execute("SELECT commit_id, state FROM outbox_commits").fetchall())


class Commits:
    def __init__(self, store: Store) -> None:
        self.count = 0
        event.listen(store.db.engine, "commit", self._one)

    def _one(self, _conn: Any) -> None:
        self.count += 1


async def test_changes_waiting_together_share_one_transaction_and_are_on_disk_when_answered(
    store: Store, tmp_path: Path
) -> None:
    queued = [store.outbox.enqueue_approval(small_commit(), DECISION) for _ in range(12)]
    commits = Commits(store)
    worker = StoreThread(group=store.outbox.group)
    try:

        async def start(commit_id: Any) -> str:
            item = await worker.run(store.outbox.apply, commit_id, E.SEND_STARTED)
            # answered: committed, for anyone who looks
            assert committed_states(tmp_path / "store.db")[str(commit_id)] == item.state.value
            return item.state.value

        states = await asyncio.gather(*(start(c.commit_id) for c in queued))
    finally:
        worker.close()
    assert states == [S.SENDING.value] * 12
    assert commits.count < 12  # grouped: fewer COMMITs (fsyncs) than changes


async def test_a_change_that_fails_is_rolled_back_alone(store: Store, tmp_path: Path) -> None:
    first, second = (store.outbox.enqueue_approval(small_commit(), DECISION) for _ in range(2))
    worker = StoreThread(group=store.outbox.group)
    try:
        results = await asyncio.gather(
            worker.run(store.outbox.apply, first.commit_id, E.SEND_STARTED),
            worker.run(store.outbox.apply, second.commit_id, E.SERVER_ACCEPTED),  # not allowed
            return_exceptions=True,
        )
    finally:
        worker.close()
    assert isinstance(results[1], IllegalTransition)
    on_disk = committed_states(tmp_path / "store.db")
    assert on_disk[str(first.commit_id)] == S.SENDING.value
    assert on_disk[str(second.commit_id)] == S.QUEUED.value


async def test_listeners_hear_of_a_change_once_it_is_committed(
    store: Store, tmp_path: Path
) -> None:
    queued = [store.outbox.enqueue_approval(small_commit(), DECISION) for _ in range(4)]
    heard: list[tuple[str, str]] = []

    def listener(change: OutboxChange) -> None:
        commit_id = str(change.item.commit_id)
        heard.append((change.item.state.value, committed_states(tmp_path / "store.db")[commit_id]))

    store.outbox.subscribe(listener)
    worker = StoreThread(group=store.outbox.group)
    try:
        await asyncio.gather(
            *(worker.run(store.outbox.apply, c.commit_id, E.SEND_STARTED) for c in queued)
        )
    finally:
        worker.close()
    assert heard == [(S.SENDING.value, S.SENDING.value)] * 4


async def test_a_failing_listener_does_not_fail_the_group(store: Store, tmp_path: Path) -> None:
    queued = [store.outbox.enqueue_approval(small_commit(), DECISION) for _ in range(3)]

    def broken(_change: OutboxChange) -> None:
        raise RuntimeError("a listener with a bug")

    store.outbox.subscribe(broken)
    worker = StoreThread(group=store.outbox.group)
    try:
        items = await asyncio.gather(
            *(worker.run(store.outbox.apply, c.commit_id, E.SEND_STARTED) for c in queued)
        )
    finally:
        worker.close()
    assert [i.state for i in items] == [S.SENDING] * 3  # committed, and every caller knows it


async def test_a_failed_write_whose_error_was_caught_is_still_rolled_back(
    store: Store, tmp_path: Path
) -> None:
    """The group runs first without savepoints; a write that failed half-way must not be
    committed although its caller swallowed the error (the group runs again, each call in a
    savepoint), and the others' changes are stored."""
    first, second = (store.outbox.enqueue_approval(small_commit(), DECISION) for _ in range(2))

    def half_write_then_give_up() -> str:
        try:
            with store.db.write() as c:
                c.exec_driver_sql(
                    "UPDATE outbox_commits SET state = 'confirmed' WHERE commit_id = ?",
                    (str(first.commit_id),),
                )
                raise RuntimeError("gave up half-way")
        except RuntimeError:
            return "given up"

    worker = StoreThread(group=store.outbox.group)
    try:
        results = await asyncio.gather(
            worker.run(half_write_then_give_up),
            worker.run(store.outbox.apply, second.commit_id, E.SEND_STARTED),
        )
    finally:
        worker.close()
    assert results[0] == "given up"
    on_disk = committed_states(tmp_path / "store.db")
    assert on_disk[str(first.commit_id)] == S.QUEUED.value  # the half write is not on disk
    assert on_disk[str(second.commit_id)] == S.SENDING.value


async def test_a_group_where_every_call_succeeds_uses_no_savepoints(store: Store) -> None:
    queued = [store.outbox.enqueue_approval(small_commit(), DECISION) for _ in range(6)]
    statements: list[str] = []  # every statement SQLite runs, whoever sent it (app.store.prepared)
    event.listen(
        store.db.engine,
        "checkout",
        lambda dbapi, *_rest: dbapi.set_trace_callback(
            lambda sql: statements.append(sql.split()[0].upper())
        ),
    )
    worker = StoreThread(group=store.outbox.group)
    try:
        await asyncio.gather(
            *(worker.run(store.outbox.apply, c.commit_id, E.SEND_STARTED) for c in queued)
        )
    finally:
        worker.close()
    assert statements.count("UPDATE") == 6
    assert "SAVEPOINT" not in statements and "RELEASE" not in statements


async def test_changes_made_within_the_window_share_a_transaction(store: Store) -> None:
    """``gather``: a change made shortly after another joins its transaction (issue 15)."""
    first, second = (store.outbox.enqueue_approval(small_commit(), DECISION) for _ in range(2))
    commits = Commits(store)
    worker = StoreThread(group=store.outbox.group, gather=0.5)
    try:
        one = asyncio.ensure_future(worker.run(store.outbox.apply, first.commit_id, E.SEND_STARTED))
        await asyncio.sleep(0.05)  # the thread has the first call and waits for more
        other = await worker.run(store.outbox.apply, second.commit_id, E.SEND_STARTED)
        assert (await one).state is other.state is S.SENDING
    finally:
        worker.close()
    assert commits.count == 1


async def test_without_a_window_a_later_change_has_its_own_transaction(store: Store) -> None:
    first, second = (store.outbox.enqueue_approval(small_commit(), DECISION) for _ in range(2))
    commits = Commits(store)
    worker = StoreThread(group=store.outbox.group)
    try:
        one = asyncio.ensure_future(worker.run(store.outbox.apply, first.commit_id, E.SEND_STARTED))
        await asyncio.sleep(0.05)
        await worker.run(store.outbox.apply, second.commit_id, E.SEND_STARTED)
        await one
    finally:
        worker.close()
    assert commits.count == 2


class Checkouts:
    """Connections taken from the store's pool, and how many are out now."""

    def __init__(self, store: Store) -> None:
        self.taken = 0
        self.out = 0
        event.listen(store.db.engine, "checkout", self._taken)
        event.listen(store.db.engine, "checkin", self._back)

    def _taken(self, *_args: Any) -> None:
        self.taken += 1
        self.out += 1

    def _back(self, *_args: Any) -> None:
        self.out -= 1


async def test_the_groups_of_the_runners_store_thread_share_one_connection(
    store: Store, tmp_path: Path
) -> None:
    """Issue 15: one connection for all of the thread's groups, not one from the pool each
    time; each group is still its own transaction, committed when its callers hear back, and
    the connection goes back to the pool when the thread ends."""
    queued = [store.outbox.enqueue_approval(small_commit(), DECISION) for _ in range(3)]
    commits, checkouts = Commits(store), Checkouts(store)
    worker = StoreThread(group=store.outbox.group, keep=store.outbox.group_connection_kept)
    try:
        for commit in queued:  # one after the other: a group each
            item = await worker.run(store.outbox.apply, commit.commit_id, E.SEND_STARTED)
            assert committed_states(tmp_path / "store.db")[str(commit.commit_id)] == "sending"
            assert item.state is S.SENDING
        assert (commits.count, checkouts.taken, checkouts.out) == (3, 1, 1)
    finally:
        worker.close()
    assert checkouts.out == 0


async def test_after_a_group_that_failed_the_next_one_takes_a_fresh_connection(
    store: Store,
) -> None:
    first, second = (store.outbox.enqueue_approval(small_commit(), DECISION) for _ in range(2))
    checkouts = Checkouts(store)
    worker = StoreThread(group=store.outbox.group, keep=store.outbox.group_connection_kept)
    try:
        await worker.run(store.outbox.apply, first.commit_id, E.SEND_STARTED)
        with pytest.raises(IllegalTransition):
            await worker.run(store.outbox.apply, second.commit_id, E.SERVER_ACCEPTED)
        await worker.run(store.outbox.apply, second.commit_id, E.SEND_STARTED)
        assert (checkouts.taken, checkouts.out) == (2, 1)
    finally:
        worker.close()
    assert checkouts.out == 0
    assert committed_states(store.db.path) == {
        str(first.commit_id): "sending",
        str(second.commit_id): "sending",
    }
