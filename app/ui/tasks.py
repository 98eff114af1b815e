"""Background work on the GUI loop: tracked, cancellable, awaitable in tests, never run twice.

An ``@asyncSlot`` or a button handler calls ``tasks.start("sign-in", coro)``; while a task of
that name runs, a second start is refused (the user pressed the button twice). Failures that
escape a task are handed to ``on_error`` so the window can show them instead of a traceback.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

log = logging.getLogger(__name__)


class TaskTracker:
    def __init__(self, on_error: Callable[[str, BaseException], None] | None = None) -> None:
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._on_error = on_error
        self._closing = False

    def is_running(self, name: str) -> bool:
        task = self._tasks.get(name)
        return task is not None and not task.done()

    def start(self, name: str, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any] | None:
        if self._closing:
            # the app is ending (``aclose``): its stores close next. A late timer or signal
            # (the worklist's note states after a quit) read a closed store and left a store
            # thread behind.
            coro.close()
            log.info("task %s not started: the window's tasks are closed", name)
            return None
        if self.is_running(name):
            coro.close()
            log.info("task %s already running; request ignored", name)
            return None
        task = asyncio.ensure_future(coro)
        self._tasks[name] = task
        task.add_done_callback(functools.partial(self._done, name))
        return task

    def _done(self, name: str, task: asyncio.Task[Any]) -> None:
        if self._tasks.get(name) is task:
            del self._tasks[name]
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("task %s failed: %s", name, type(exc).__name__)
            if self._on_error is not None and not self._closing:
                self._on_error(name, exc)

    async def finished(self, name: str) -> None:
        """Wait until the named task (if one runs) has ended; its failure is reported as
        always (on_error), not raised here."""
        task = self._tasks.get(name)
        if task is not None:
            await asyncio.wait([task])

    def cancel(self, name: str) -> None:
        task = self._tasks.get(name)
        if task is not None:
            task.cancel()

    async def stop(self, names: Iterable[str], timeout: float = 10.0) -> None:
        """Cancel the named tasks and wait until each has ended: a barrier (at sign-out,
        nothing that reads a chart may still run when the kept charts are removed)."""
        tasks = [task for name in names if (task := self._tasks.get(name)) is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    async def aclose(self, timeout: float = 10.0) -> None:
        """Cancel every task and wait until each has ended (the app is closing: nothing may
        still run when the stores and sessions close after this)."""
        self._closing = True  # failures now are logged, not shown: the window is gone
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    async def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait until no task runs (tests)."""
        async with asyncio.timeout(timeout):
            while self._tasks:
                await asyncio.gather(*self._tasks.values(), return_exceptions=True)
