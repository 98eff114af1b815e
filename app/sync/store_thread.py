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
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class StoreThread:
    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-store")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

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
