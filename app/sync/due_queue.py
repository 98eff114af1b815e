"""The commits one pass of the runner works on: due now, in sequence order, claimed from the
store in small batches as the workers ask for them (``app.store.outbox.claim_due``), so a long
queue is never read at once and a commit approved during the pass is still picked up.

:class:`SendSlots` bounds how many commits are being sent at once (the runner's
``concurrency``). A commit is marked SENDING before it waits for its slot, and gives the slot
back once its requests are done, before its outcome is stored: both writes (and their fsync)
happen while other commits are in flight (issue 15). So SENDING in the store does not say that a
commit's requests have started: :class:`InFlight` says which have (the runner's
``in_flight``, for the outbox's words "Waiting to send" / "Sending")."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING
from uuid import UUID

from app.domain.clock import Clock
from app.domain.listeners import Listeners
from app.store.outbox_records import OutboxEntry
from app.sync.store_thread import StoreThread

if TYPE_CHECKING:
    from app.store.outbox import OutboxRepository

log = logging.getLogger(__name__)


# Workers per send slot. A commit is marked SENDING in a group commit (up to GROUP_WINDOW, then
# its fsync) while the commits ahead are in flight, and its outcome is stored after its slot is
# given back: with three workers per slot a marked commit is waiting whenever a slot frees,
# with the store thread gathering for 20 ms (issue 15, fifth step; two were enough at 10 ms).
WORKERS_PER_SLOT = 3
# Commits claimed from the store at once, per slot (each claim is a store call the workers wait
# for; the claimed commits are decoded and verified once, in that call).
CLAIMED_PER_SLOT = 8


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


class SendSlot:
    """A commit's turn among the ``concurrency`` being sent (:class:`SendSlots`).

    The runner marks a commit SENDING first (that write, with its fsync, is off the round
    trip's path: it is stored while the commits ahead are in flight), then ``enter`` waits for
    a free slot before anything is sent. ``enter`` is False when the pass must stop meanwhile
    (the EHR unreachable, a sign-in needed, the runner stopped): nothing is sent, and the
    commit is given back to the queue as it was (``SyncEvent.SEND_WITHHELD``)."""

    def __init__(
        self,
        semaphore: asyncio.Semaphore,
        go_on: Callable[[], bool],
        on_start: Callable[[], None] | None = None,
    ) -> None:
        self._semaphore = semaphore
        self._go_on = go_on
        self._on_start = on_start or _nothing  # each time its requests may start
        self._held = False

    async def enter(self) -> bool:
        if not self._held:
            await self._semaphore.acquire()
            self._held = True
        going = self._go_on()
        if going:
            self._on_start()
        return going

    def release(self) -> None:
        """The commit's requests are done (what is left is storing the outcome)."""
        if self._held:
            self._held = False
            self._semaphore.release()


class InFlight:
    """The commits whose turn came (their requests started) and whose turn has not ended yet
    (their outcome is being stored, or read back): one per runner, across its passes.
    ``subscribe``'s listeners hear each change on the event loop, synchronously (keep them
    cheap: a burst of changes is theirs to coalesce)."""

    def __init__(self) -> None:
        self.commits: frozenset[UUID] = frozenset()
        self._listeners: Listeners[Callable[[], None]] = Listeners()

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        return self._listeners.add(listener)

    def started(self, commit_id: UUID) -> None:
        if commit_id not in self.commits:
            self._set(self.commits | {commit_id})

    def ended(self, commit_id: UUID) -> None:
        if commit_id in self.commits:
            self._set(self.commits - {commit_id})

    def _set(self, commits: frozenset[UUID]) -> None:
        self.commits = commits
        for listener in self._listeners:
            try:
                listener()
            except Exception as exc:  # the words on a screen must never stop a send
                log.error("in-flight listener failed: %s", type(exc).__name__)


class SendSlots:
    """At most ``limit`` commits are being sent at once (their turn in sequence order); a
    commit's turn is told to ``in_flight`` when its requests may start, and when it ends."""

    def __init__(
        self, limit: int, go_on: Callable[[], bool], in_flight: InFlight | None = None
    ) -> None:
        self._semaphore = asyncio.Semaphore(limit)
        self._go_on = go_on
        self.workers = WORKERS_PER_SLOT * limit  # the runner's workers for these slots
        self.claimed = max(16, CLAIMED_PER_SLOT * limit)  # commits its DueQueue claims at once
        self._in_flight = in_flight or InFlight()

    @contextlib.contextmanager
    def turn(self, commit_id: UUID | None = None) -> Iterator[SendSlot]:
        """A slot for one commit, given back at the end whatever happened."""
        in_flight = self._in_flight
        started = (lambda: in_flight.started(commit_id)) if commit_id is not None else _nothing
        slot = SendSlot(self._semaphore, self._go_on, started)
        try:
            yield slot
        finally:
            slot.release()
            if commit_id is not None:
                in_flight.ended(commit_id)


def _nothing() -> None:
    pass
