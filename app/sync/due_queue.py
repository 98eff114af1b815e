"""The commits one pass of the runner works on: due now, in sequence order, claimed from the
store in small batches as the workers ask for them (``app.store.outbox.claim_due``), so a long
queue is never read at once and a commit approved during the pass is still picked up."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from app.domain.clock import Clock
from app.store.outbox import OutboxRepository
from app.store.outbox_records import OutboxEntry
from app.sync.store_thread import StoreThread


class DueQueue:
    """``take()`` hands out the next due commit, or None when there is none or ``go_on()``
    says the pass must stop (paused for sign-in, the EHR unreachable, the runner stopped)."""

    def __init__(
        self,
        store: OutboxRepository,
        db: StoreThread,
        clock: Clock,
        *,
        batch: int,
        go_on: Callable[[], bool],
    ) -> None:
        self._store = store
        self._db = db
        self._clock = clock
        self._batch = batch
        self._go_on = go_on
        self._buffer: deque[OutboxEntry] = deque()
        self._refill = asyncio.Lock()
        self._cursor = 0  # the last sequence handed out: the next batch starts after it
        self._exhausted = False

    async def take(self) -> OutboxEntry | None:
        async with self._refill:
            if not self._go_on():
                return None
            if not self._buffer and not self._exhausted:
                batch = await self._db.run(
                    self._store.claim_due, self._clock(), self._batch, after_sequence=self._cursor
                )
                self._exhausted = not batch
                self._buffer.extend(batch)
                if batch:
                    self._cursor = batch[-1].row.item.sequence
            return self._buffer.popleft() if self._buffer else None


@dataclass
class PassTally:
    """What one pass did (for its RunReport)."""

    processed: int = 0
    confirmed: int = 0
