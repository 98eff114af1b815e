"""The watch behind ``no_store_outlives_its_test`` (tests/conftest.py) finds what a test leaves
open — a store holding its SQLite connections, a store thread still running — closes it and
names it; a store the test closed, or dropped, is not named."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path

from app.store.group_mode import GroupMode
from app.store.store import open_store
from app.sync.store_thread import StoreThread
from tests.support.store_watch import STORE_THREAD, StoreWatch


def store_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(STORE_THREAD)]


def test_what_a_test_leaves_open_is_closed_and_named(tmp_path: Path) -> None:
    watch = StoreWatch.installed()
    before = watch.start()
    closed = open_store(tmp_path / "closed.db")
    closed.close()
    left_open = open_store(tmp_path / "left-open.db")

    def group(_mode: GroupMode) -> contextlib.AbstractContextManager[None]:
        return left_open.db.group(_mode)

    worker = StoreThread(group=group)

    async def use_it() -> int:
        return await worker.run(lambda: 1)

    assert asyncio.run(use_it()) == 1
    assert f"{STORE_THREAD}-grouped" in store_threads()
    assert watch.close_leftovers(before) == ["left-open.db", f"thread {STORE_THREAD}-grouped"]
    assert f"{STORE_THREAD}-grouped" not in store_threads()
    assert watch.close_leftovers(watch.start()) == []  # closed: nothing more to say


def test_a_test_that_closes_what_it_opens_is_not_named(tmp_path: Path) -> None:
    watch = StoreWatch.installed()
    before = watch.start()
    store = open_store(tmp_path / "store.db")
    worker = StoreThread()

    async def use_it() -> None:
        await worker.run(int)

    asyncio.run(use_it())
    worker.close()
    store.close()
    assert watch.close_leftovers(before) == []
