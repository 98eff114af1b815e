"""``AuditService``: the site's audit log as the UI uses it — record what the clinician did,
read it back, check the chain. SQLite work runs on the site's store thread."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from app.domain.audit import AuditEvent, AuditKind, AuditRecord, VerifyResult
from app.domain.clock import Clock, utc_now
from app.services.errors import user_errors
from app.store.audit import AuditLog
from app.sync.store_thread import StoreThread

log = logging.getLogger(__name__)


class AuditService:
    def __init__(
        self,
        audit: AuditLog,
        worker: StoreThread,
        actor: Callable[[], str | None],
        clock: Clock = utc_now,
    ) -> None:
        self._audit = audit
        self._worker = worker
        self._actor = actor
        self._clock = clock
        self._pending: set[asyncio.Task[None]] = set()

    async def record(self, kind: AuditKind, **fields: Any) -> None:
        """Append an event (who: the signed-in clinician). An audit failure is logged, never
        fatal to what the clinician is doing."""
        event = AuditEvent(kind, self._clock(), self._actor(), **fields)
        try:
            await self._worker.run(self._audit.append, event)
        except Exception as exc:  # the audit log must not take the app down
            log.error("audit append failed: %s", type(exc).__name__)

    def record_soon(self, kind: AuditKind, **fields: Any) -> None:
        """``record`` from a plain callback (a Qt signal): runs in the background."""
        task = asyncio.ensure_future(self.record(kind, **fields))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def settle(self) -> None:
        """Wait for the events recorded with ``record_soon`` (shutdown, tests)."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    async def query(
        self,
        *,
        patient_id: str | None,
        since: datetime | None,
        kinds: Sequence[AuditKind] | None,
        states: Sequence[str] | None,
        limit: int = 2000,
    ) -> list[AuditRecord]:
        with user_errors("The audit log could not be read."):
            return await self._worker.run(
                self._audit.query,
                patient_id=patient_id,
                since=since,
                kinds=kinds,
                states=states,
                limit=limit,
            )

    async def verify(self) -> VerifyResult:
        with user_errors("The audit log could not be read."):
            return await self._worker.run(self._audit.verify)
