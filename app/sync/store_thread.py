"""Store calls off the event loop: every outbox call of the runner runs on one dedicated thread.

A committed SQLite transaction with ``synchronous=FULL`` waits for the disk (an fsync); on a
busy laptop that can take tens of milliseconds, which the UI's event loop (shared with the
runner through qasync) must never wait for. One thread keeps the calls in order (the runner's
own writes never compete for SQLite's write lock) and the loop free.

Store listeners are called on that thread; :meth:`StoreThread.deliver_on_loop` wraps a
listener so it runs on the event loop instead (the UI's thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from app.store.group_mode import GroupMode, GroupWriteFailed

P = ParamSpec("P")
T = TypeVar("T")


class StoreThread:
    """``group``: the store's group commit (``OutboxRepository.group``). With it, the calls
    waiting when the thread gets to them run together in one transaction, and every caller
    hears back only after its COMMIT: a change is on disk when its ``run`` returns, exactly as
    with one transaction per call, but several commits in flight share one fsync (issue 15).
    The group first runs without savepoints (ALL_OR_NOTHING: two statements less per call);
    when a call fails, that attempt is rolled back whole and the group runs again with each
    call in its own savepoint, so a call that fails is rolled back alone."""

    def __init__(
        self,
        group: Group | None = None,
        *,
        gather: float = 0.0,
        keep: Callable[[], AbstractContextManager[None]] | None = None,
    ) -> None:
        """``gather``: with ``group``, how long (seconds) the thread waits after a call for
        more to join its transaction. A few milliseconds let the changes of several commits in
        flight share one COMMIT (its fsync and its CPU: the runner's store work is off the
        round trip's path, so nothing waits on the network for it). ``keep``: the thread's
        groups run inside it (``OutboxRepository.group_connection_kept``: one connection for
        all of them)."""
        self._group = group
        self._gather = gather
        self._keep = keep
        self._executor: ThreadPoolExecutor | None = None
        self._calls: queue.SimpleQueue[_Call | None] | None = None
        self._worker: threading.Thread | None = None

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        call = functools.partial(fn, *args, **kwargs)
        if self._group is None:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=_NAME)
            return await loop.run_in_executor(self._executor, call)
        answer: asyncio.Future[T] = loop.create_future()
        self._grouped_calls().put(_Call(call, loop, answer))
        return await answer

    def _grouped_calls(self) -> queue.SimpleQueue[_Call | None]:
        if self._calls is None:
            self._calls = queue.SimpleQueue()
            self._worker = threading.Thread(
                target=self._work, args=(self._calls,), name=f"{_NAME}-grouped", daemon=True
            )
            self._worker.start()
        return self._calls

    def _work(self, calls: queue.SimpleQueue[_Call | None]) -> None:
        with self._keep() if self._keep is not None else contextlib.nullcontext():
            self._run_groups(calls)

    def _run_groups(self, calls: queue.SimpleQueue[_Call | None]) -> None:
        assert self._group is not None
        stopping = False
        while not stopping:
            first = calls.get()
            if first is None:
                return
            batch = [first]
            if self._gather > 0:
                # asleep for the whole window, not woken by each call that joins (each wake-up
                # is a context switch, and the thread takes the GIL from the event loop's)
                time.sleep(self._gather)
            while not stopping:
                try:
                    waiting = calls.get_nowait()
                except queue.Empty:
                    break
                if waiting is None:
                    stopping = True
                else:
                    batch.append(waiting)
            _run_together(self._group, batch)

    @staticmethod
    def deliver_on_loop(
        loop: asyncio.AbstractEventLoop, listener: Callable[[T], None]
    ) -> Callable[[T], None]:
        def deliver(value: T) -> None:
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                listener(value)
            elif not loop.is_closed():
                loop.call_soon_threadsafe(listener, value)

        return deliver

    def close(self) -> None:
        """Finish the calls already handed over, then end the thread (a later ``run`` starts
        a new one)."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        calls, worker, self._calls, self._worker = self._calls, self._worker, None, None
        if calls is not None and worker is not None:
            calls.put(None)
            worker.join()


_NAME = "outbox-store"
# How long the runner's store thread waits for more state changes to share a transaction
# (issue 15: 4 ms took the drain benchmark from about 1.5 to 0.9 transactions per commit;
# 10 ms to about 0.6, 20 ms to about 0.4, each step with less client CPU per commit: fewer
# BEGIN/COMMITs, fewer wake-ups of either thread, more work per wake-up. The runner's store
# calls are off the round trips' path while it has enough workers per send slot
# (app.sync.due_queue.WORKERS_PER_SLOT), and a person does not see 20 ms.)
GROUP_WINDOW = 0.020


@dataclass
class _Call:
    call: Callable[[], Any]
    loop: asyncio.AbstractEventLoop
    answer: asyncio.Future[Any]


Group = Callable[[GroupMode], AbstractContextManager[None]]


def _run_together(group: Group, batch: list[_Call]) -> None:
    """Run ``batch`` in one group transaction; answer each caller after the COMMIT (a failed
    COMMIT stored nothing of the group: every caller gets its error)."""
    outcomes = _all_or_nothing(group, batch)
    if isinstance(outcomes, _RunAgain):
        outcomes = _each_in_savepoint(group, batch, outcomes.failed)
    answers: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
    for item, (ok, value) in zip(batch, outcomes, strict=True):
        answers.setdefault(item.loop, []).append((item.answer, ok, value))
    for loop, settled in answers.items():  # one wake-up of each loop for the whole group
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is waiting
            loop.call_soon_threadsafe(_settle_all, settled)


@dataclass
class _RunAgain:
    """The first attempt was rolled back: run the group again, each call in a savepoint,
    except ``failed`` (position -> its error), whose caller hears that error."""

    failed: dict[int, Exception]


def _all_or_nothing(group: Group, batch: list[_Call]) -> list[tuple[bool, Any]] | _RunAgain:
    """The common case, every call succeeds: no savepoints. When a call fails, nothing of the
    attempt was stored; the failed call is not run again (its caller gets its error), the
    others are (``_RunAgain``). A write that failed although no call did (its error was
    caught): all run again. BEGIN or COMMIT failed: every caller gets the error."""
    results: list[Any] = []
    failed: dict[int, Exception] = {}
    try:
        with group(GroupMode.ALL_OR_NOTHING):
            for position, item in enumerate(batch):
                try:
                    results.append(item.call())
                except Exception as exc:
                    failed[position] = exc
                    raise
    except GroupWriteFailed:
        return _RunAgain({})
    except Exception as exc:
        if failed:
            return _RunAgain(failed)
        return [(False, exc)] * len(batch)
    return [(True, value) for value in results]


def _each_in_savepoint(
    group: Group, batch: list[_Call], failed: dict[int, Exception]
) -> list[tuple[bool, Any]]:
    outcomes: list[tuple[bool, Any]] = []
    try:
        with group(GroupMode.SAVEPOINTS):
            for position, item in enumerate(batch):
                if position in failed:
                    outcomes.append((False, failed[position]))
                    continue
                try:
                    outcomes.append((True, item.call()))
                except Exception as exc:  # this call's savepoint was rolled back; its caller hears
                    outcomes.append((False, exc))
    except Exception as exc:
        outcomes = [(False, exc)] * len(batch)
    return outcomes


def _settle_all(settled: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for answer, ok, value in settled:
        if answer.cancelled():
            continue
        if ok:
            answer.set_result(value)
        else:
            answer.set_exception(value)
