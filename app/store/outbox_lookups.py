"""Finding notes this store approved: by their draft, by the commit ids the chart shows, by a
write's fullUrl. Read-only queries over the outbox tables, for follow-ups (app.sync.followups)
and for the chart pane's "written from this workstation"."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import select

from app.domain.commit import PlannedWrite
from app.domain.outbox import OutboxItem
from app.store.database import Database
from app.store.outbox_codec import OutboxDecoder
from app.store.outbox_records import OutboxEntry, WriteRecord
from app.store.outbox_tables import outbox_commits, outbox_writes

_IN_CLAUSE = 500  # ids per IN (...): well under SQLite's parameter limit


@dataclass(frozen=True)
class LocatedWrite:
    """One write of some commit of this store, where the server keeps it, and its commit's
    state."""

    write: PlannedWrite
    record: WriteRecord
    item: OutboxItem


class OutboxLookups:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._decoder = OutboxDecoder(db)

    def for_draft(self, draft_id: UUID) -> OutboxEntry | None:
        """The commit that approved ``draft_id`` (one approval, one commit), or None."""
        with self._db.read() as c:
            row = c.execute(
                select(outbox_commits).where(outbox_commits.c.draft_id == str(draft_id))
            ).first()
            if row is None:
                return None
            return self._decoder.entries(c, [row], with_decision=True)[0]

    def written_here(self, commit_ids: Iterable[UUID]) -> frozenset[UUID]:
        """Which of ``commit_ids`` this store approved (notes written from this workstation)."""
        keys = sorted({str(c) for c in commit_ids})
        found: set[UUID] = set()
        with self._db.read() as c:
            for i in range(0, len(keys), _IN_CLAUSE):
                rows = c.execute(
                    select(outbox_commits.c.commit_id).where(
                        outbox_commits.c.commit_id.in_(keys[i : i + _IN_CLAUSE])
                    )
                )
                found |= {UUID(r.commit_id) for r in rows}
        return frozenset(found)

    def write(self, full_url: str) -> LocatedWrite | None:
        """The write whose fullUrl is ``full_url`` (``urn:uuid:<write id>``), or None."""
        write_id = full_url.removeprefix("urn:uuid:")
        with self._db.read() as c:
            row = c.execute(
                select(outbox_writes.c.commit_id, outbox_writes.c.position).where(
                    outbox_writes.c.write_id == write_id
                )
            ).first()
            if row is None:
                return None
            commit = c.execute(
                select(outbox_commits).where(outbox_commits.c.commit_id == row.commit_id)
            ).first()
            assert commit is not None
            entry = self._decoder.entries(c, [commit], with_decision=False)[0]
        position = int(row.position)
        return LocatedWrite(entry.commit.writes[position], entry.writes[position], entry.item)
