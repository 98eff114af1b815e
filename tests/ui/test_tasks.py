"""The window's task tracker (app/ui/tasks.py)."""

from __future__ import annotations

import asyncio

from app.ui.tasks import TaskTracker


async def test_nothing_starts_once_the_tasks_are_closed() -> None:
    """After ``aclose`` (the app is ending, its stores close next) a late start, from a timer
    or a signal still delivered, is refused and its coroutine closed, never run."""
    tasks = TaskTracker()
    ran: list[str] = []

    async def work(name: str) -> None:
        ran.append(name)
        await asyncio.sleep(0)

    assert tasks.start("before", work("before")) is not None
    await tasks.wait_idle()
    await tasks.aclose()
    late = work("late")
    assert tasks.start("late", late) is None
    assert late.cr_frame is None  # closed, not left to warn "never awaited"
    await asyncio.sleep(0.01)
    assert ran == ["before"] and not tasks.is_running("late")
