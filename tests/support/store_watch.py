"""The stores and store threads a test leaves open, found and closed at its end (the autouse
fixture ``no_store_outlives_its_test`` in tests/conftest.py).

    watch = StoreWatch.installed()       # once: every Database and StoreThread made is noted
    before = watch.start()               # a test begins: what it opens is its own
    left = watch.close_leftovers(before) # it ended: what is still open is closed, and named

A store left open keeps its SQLite connections (file handles, the WAL) until the garbage
collector happens to find it; a store thread left running keeps a thread and whatever its
calls hold. Objects are held weakly: a store the test dropped and Python freed is gone, not a
leak. Only what was made while the test ran counts (a module's or the session's fixtures are
made before it starts).
"""

from __future__ import annotations

import functools
import gc
import threading
import weakref
from collections.abc import Callable
from typing import Any

from app.store.database import Database
from app.sync.store_thread import StoreThread

# app.sync.store_thread names its threads so: "outbox-store_0", "outbox-store-grouped"
STORE_THREAD = "outbox-store"
# How long the thread of a store thread that the collector has just freed may take to end.
FREED_THREAD_ENDS_S = 0.1


def _store_threads() -> dict[int | None, str]:
    return {t.ident: t.name for t in threading.enumerate() if t.name.startswith(STORE_THREAD)}


def _holds_connections(db: Database) -> bool:
    """Whether the store's engine still holds SQLite connections (``close`` disposes them)."""
    pool = db.engine.pool
    checked_in: Callable[[], int] | None = getattr(pool, "checkedin", None)
    checked_out: Callable[[], int] | None = getattr(pool, "checkedout", None)
    return bool(checked_in and checked_out and checked_in() + checked_out())


class StoreWatch:
    _installed: StoreWatch | None = None

    def __init__(self) -> None:
        self._opened: weakref.WeakSet[Any] = weakref.WeakSet()

    @classmethod
    def installed(cls) -> StoreWatch:
        """The one watch, noting every Database and StoreThread made from now on."""
        if cls._installed is None:
            watch = cls()
            for kind in (Database, StoreThread):
                kind.__init__ = watch._noting(kind.__init__)  # type: ignore[method-assign]
            cls._installed = watch
        return cls._installed

    def _noting(self, init: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(init)
        def noted(obj: Any, *args: Any, **kwargs: Any) -> None:
            init(obj, *args, **kwargs)
            self._opened.add(obj)

        return noted

    def start(self) -> frozenset[int | None]:
        """A test begins: forget what earlier tests made; the store threads already running."""
        self._opened.clear()
        return frozenset(_store_threads())

    def close_leftovers(
        self, running_before: frozenset[int | None], *, collect: bool = False
    ) -> list[str]:
        """Close what the test left open; what it was ("store.db", "thread outbox-store_0").
        ``collect``: only what is still reachable counts — when something looks open, a full
        garbage collection first frees what nothing holds any more (a store thread in a
        reference cycle ends with it), so the verdict does not depend on when the collector
        last ran (a few hundred milliseconds each time: for a test run that fails on leaks)."""
        if not self._looks_open(running_before):
            self._opened.clear()
            return []
        if collect:
            gc.collect()
            for thread in threading.enumerate():  # the thread of a store thread just freed ends
                if thread.name.startswith(STORE_THREAD) and thread.ident not in running_before:
                    thread.join(FREED_THREAD_ENDS_S)
        return self._close(running_before)

    def _looks_open(self, running_before: frozenset[int | None]) -> bool:
        return bool(set(_store_threads()) - running_before) or any(
            isinstance(db, Database) and _holds_connections(db) for db in self._opened
        )

    def _close(self, running_before: frozenset[int | None]) -> list[str]:
        opened = list(self._opened)
        self._opened.clear()
        left = []
        for db in opened:
            if isinstance(db, Database) and _holds_connections(db):
                left.append(db.path.name)
                db.close()
        started = {i: n for i, n in _store_threads().items() if i not in running_before}
        if started:
            for worker in opened:
                if isinstance(worker, StoreThread):
                    worker.close()  # (one already closed, or never used: nothing to do)
            # a thread still running belongs to a store thread made before the test (a module's
            # fixture): not this test's to close
            still = set(_store_threads())
            left += [f"thread {name}" for i, name in sorted(started.items()) if i not in still]
        return left
