"""``DraftInboxService``: the site's watched folder (``draft_inbox`` in sites.toml), looked into
every few seconds while a clinician is signed in.

Polling rather than change notifications: it behaves the same on local disks and network
shares (where notifications are unreliable) and costs one directory listing every
``POLL_SECONDS``. Each scan is :class:`app.sync.draft_inbox.DraftInbox`'s; its store and folder
work runs on the site's store thread. Each outcome goes to the listeners (the UI shows it);
reading a file's chart is audited like opening a chart (``CHART_OPENED``, "draft inbox").
Nothing is ever approved here: a draft waits for the clinician's review.

    start()   begin polling (after sign-in)        aclose()   stop (sign-out, shutdown)
    scan()    one look now (tests)                 subscribe(listener) -> unsubscribe
    problem   the folder cannot be read: why, in words (listeners are told when it changes)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from app.domain.audit import AuditKind
from app.domain.context import EncounterContext
from app.domain.draft_inbox import InboxOutcome
from app.fhir.client import FhirClient
from app.fhir.context_loader import load_encounter_context
from app.store.draft_inbox import InboxFolder
from app.store.errors import InboxUnavailable
from app.sync.draft_inbox import DraftInbox

if TYPE_CHECKING:  # the store stack loads after the sign-in window (issue 15)
    from app.store.drafts import DraftRepository
    from app.sync.store_thread import StoreThread

log = logging.getLogger(__name__)

POLL_SECONDS = 2.0
Listener = Callable[[list[InboxOutcome]], None]
Recorder = Callable[..., Awaitable[None]]


class DraftInboxService:
    def __init__(
        self,
        folder: Path,
        drafts: DraftRepository,
        fhir: FhirClient,
        worker: StoreThread,
        record: Recorder,
        *,
        settle: timedelta,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self.folder = folder
        self._record = record
        self._inbox = DraftInbox(
            InboxFolder(folder), drafts, self._load, settle=settle, run=worker.run
        )
        self._fhir = fhir
        self._poll_seconds = poll_seconds
        self._listeners: list[Listener] = []
        self._task: asyncio.Task[None] | None = None
        self._scanning = asyncio.Lock()
        self.problem: str | None = None  # the folder cannot be read: why, in words

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if not self.running:
            self._task = asyncio.ensure_future(self._poll())

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def scan(self) -> list[InboxOutcome]:
        """Look into the folder once; every outcome also goes to the listeners."""
        before = self.problem
        async with self._scanning:  # one scan at a time: a file is handled once
            try:
                outcomes = await self._inbox.scan()
                self.problem = None
            except InboxUnavailable as exc:
                if before != exc.user_message:
                    log.warning("draft inbox folder unavailable")
                self.problem, outcomes = exc.user_message, []
        if outcomes or self.problem != before:  # listeners read ``problem`` too
            for listener in list(self._listeners):
                listener(outcomes)
        return outcomes

    async def _poll(self) -> None:
        while True:
            try:
                await self.scan()
            except Exception as exc:  # a bug must not end the polling; it is logged
                log.error("draft inbox scan failed: %s", type(exc).__name__)
            await asyncio.sleep(self._poll_seconds)

    async def _load(self, patient_id: str, encounter_id: str) -> EncounterContext:
        context = await load_encounter_context(self._fhir, patient_id, encounter_id)
        await self._record(
            AuditKind.CHART_OPENED,
            patient_id=patient_id,
            encounter_id=encounter_id,
            details={"by": "draft_inbox"},
        )
        return context
