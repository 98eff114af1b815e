"""The local store as a whole: one SQLite file, migrated at open, with its repositories."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from app.domain.clock import Clock, utc_now
from app.store.chart_cache import ChartCache
from app.store.database import Database, PayloadProtector, current_revision, open_database
from app.store.directory_cache import OwnerDirectoryCache
from app.store.drafts import DraftHook, DraftRepository
from app.store.kpi import KpiRepository
from app.store.outbox import OutboxRepository
from app.store.outbox_lookups import OutboxLookups
from app.store.worklist_cache import WorklistCache


class Store:
    """Composition of the database and its repositories (drafts and the outbox).

    ``db.write()`` gives one transaction that several repositories can share (pass
    ``conn=``), e.g. approving a draft and queueing its outbox rows atomically.
    """

    def __init__(
        self,
        db: Database,
        *,
        draft_hooks: Sequence[DraftHook] = (),
        clock: Clock = utc_now,
    ) -> None:
        self.db = db
        self.path = db.path
        self.drafts = DraftRepository(db, hooks=draft_hooks, clock=clock)
        self.outbox = OutboxRepository(db, clock=clock)
        self.worklist = WorklistCache(db, clock=clock)
        self.lookups = OutboxLookups(db)
        self.directory = OwnerDirectoryCache(db, clock=clock)
        self.charts = ChartCache(db)
        self.kpi = KpiRepository(db, self.drafts)

    def schema_revision(self) -> str | None:
        return current_revision(self.db)

    def close(self) -> None:
        self.db.close()


def open_store(
    path: Path,
    *,
    protector: PayloadProtector | None = None,
    draft_hooks: Sequence[DraftHook] = (),
    clock: Clock = utc_now,
) -> Store:
    """Open the store at ``path`` (created if missing), migrated to the newest schema.

    Raises a StoreError subclass (with ``user_message``) when the file cannot be used.
    """
    return Store(open_database(path, protector), draft_hooks=draft_hooks, clock=clock)
