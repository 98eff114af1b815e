"""Reading the outbox: entries, rows for the panel, the summary, and what the runner acts on.

The base of :class:`app.store.outbox.OutboxRepository` (which adds the state changes). The due
rule (``app.domain.retry.due_window``) and the states the runner acts on
(``app.domain.outbox.RUNNER_STATES``) become SQL here, once: :func:`due_clause`, :func:`runner_owns`.
Lists and the summary read only the narrow ``outbox_commits`` table (index on state, sequence).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import func, or_, select

from app.domain.clock import Clock, format_ts, parse_ts, utc_now
from app.domain.outbox import RUNNER_STATES, SIGN_IN_STATES, OutboxItem, OutboxState
from app.domain.retry import DEFAULT_BACKOFF, BackoffPolicy, DueWindow, due_window
from app.store.database import Database
from app.store.outbox_codec import ROW_COLUMNS, OutboxDecoder, item_of, write_record
from app.store.outbox_errors import OutboxItemNotFound, OutboxPayloadCorrupt
from app.store.outbox_records import (
    ROW_FIELDS,
    OutboxEntry,
    OutboxRow,
    OutboxSummary,
    ReadBack,
    WriteRecord,
)
from app.store.outbox_tables import outbox_commits, outbox_writes, sync_status

S = OutboxState
LAST_SUCCESS_KEY = "last_success_at"


def runner_owns() -> Any:
    """Items the runner acts on by itself (``RUNNER_STATES``)."""
    return in_states(RUNNER_STATES)


def in_states(states: Iterable[OutboxState]) -> Any:
    return outbox_commits.c.state.in_(sorted(s.value for s in states))


def due_clause(window: DueWindow) -> Any:
    """The due-time rule (``DueWindow.is_due``) as SQL over ``next_attempt_at``: instants are
    stored as fixed-width ``format_ts`` text, so text order is time order."""
    at = outbox_commits.c.next_attempt_at
    return or_(
        at.is_(None),
        at <= format_ts(window.due_by),
        at > format_ts(window.clock_jumped_after),
    )


def commit_is(key: str) -> Any:
    return outbox_commits.c.commit_id == key


class OutboxReads:
    def __init__(
        self, db: Database, *, clock: Clock = utc_now, policy: BackoffPolicy = DEFAULT_BACKOFF
    ) -> None:
        self._db = db
        self._decoder = OutboxDecoder(db)
        self._clock = clock
        self.policy = policy

    def get(self, commit_id: UUID) -> OutboxEntry:
        """The whole stored commit (payloads verified), its decision and any conflict."""
        with self._db.read() as c:
            row = c.execute(select(outbox_commits).where(commit_is(str(commit_id)))).first()
            if row is None:
                raise OutboxItemNotFound(commit_id)
            return self._decoder.entries(c, [row], with_decision=True)[0]

    def find(self, commit_id: UUID) -> OutboxEntry | None:
        try:
            return self.get(commit_id)
        except OutboxItemNotFound:
            return None

    def decision_texts(self, commit_ids: Iterable[UUID]) -> dict[UUID, str]:
        """The review decisions of ``commit_ids`` (decrypted, as JSON text), without reading or
        verifying any payload: the outbox's patient column asks for the rows it shows."""
        ids = [str(i) for i in commit_ids]
        if not ids:
            return {}
        columns = (outbox_commits.c.commit_id, outbox_commits.c.decision_format)
        with self._db.read() as c:
            rows = c.execute(
                select(*columns, outbox_commits.c.decision).where(
                    outbox_commits.c.commit_id.in_(ids)
                )
            ).all()
        unprotect = self._decoder.unprotect
        return {
            UUID(r.commit_id): unprotect(
                r.decision_format, r.decision, f"{r.commit_id}:decision"
            ).decode("utf-8")
            for r in rows
        }

    def item(self, commit_id: UUID) -> OutboxItem:
        """Just the state of one commit (cheap)."""
        with self._db.read() as c:
            row = c.execute(select(*ROW_COLUMNS).where(commit_is(str(commit_id)))).first()
            if row is None:
                raise OutboxItemNotFound(commit_id)
            return item_of(row, self._decoder.open_error)

    def list_items(
        self,
        *,
        states: Iterable[OutboxState] | None = None,
        limit: int | None = None,
        offset: int = 0,
        newest_first: bool = False,
    ) -> list[OutboxRow]:
        """Rows for the outbox panel, in sequence order (no payloads are read).

        Plain DB-API tuples straight into lazily decoded rows: 10,000 rows in a few tens of
        milliseconds (``benchmarks/bench_outbox_panel.py``)."""
        sql = f"SELECT {', '.join(ROW_FIELDS)} FROM outbox_commits"
        params: list[Any] = []
        if states is not None:
            values = [s.value for s in states]
            sql += f" WHERE state IN ({', '.join('?' for _ in values)})"
            params += values
        sql += " ORDER BY sequence" + (" DESC" if newest_first else "")
        if limit is not None or offset:
            sql += " LIMIT ? OFFSET ?"
            params += [-1 if limit is None else limit, offset]
        with self._db.read() as c:
            cursor = c.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.execute(sql, params)
                opener = self._decoder.open_error
                return [OutboxRow(values, opener) for values in cursor.fetchall()]
            finally:
                cursor.close()

    def summary(self) -> OutboxSummary:
        """Counts per state, the last successful sync and how many read-backs differed."""
        with self._db.read() as c:
            counts = {
                S(state): int(n)
                for state, n in c.execute(
                    select(outbox_commits.c.state, func.count()).group_by(outbox_commits.c.state)
                )
            }
            last = c.execute(
                select(sync_status.c.value).where(sync_status.c.key == LAST_SUCCESS_KEY)
            ).scalar()
            differs = c.execute(
                select(func.count()).where(outbox_commits.c.verify_state == ReadBack.DIFFERS.value)
            ).scalar_one()
        return OutboxSummary(counts, parse_ts(last), int(differs))

    def next_due_at(self, *, include_queued: bool = True) -> datetime | None:
        """When the earliest item the runner acts on becomes due (None: none is waiting).

        A queued item is due now; ``include_queued=False`` asks only about timed waits (while
        the EHR is unreachable the runner waits for the next retry, not for queued items). An
        item that is due by the due-time rule (:func:`due_clause`) makes the answer "now".
        """
        now = self._clock()
        due_now = [runner_owns(), due_clause(due_window(now, self.policy))]
        if not include_queued:
            due_now.append(outbox_commits.c.next_attempt_at.is_not(None))
        with self._db.read() as c:
            if c.execute(select(outbox_commits.c.sequence).where(*due_now).limit(1)).first():
                return now
            value = c.execute(
                select(func.min(outbox_commits.c.next_attempt_at)).where(runner_owns())
            ).scalar()
        return parse_ts(value)

    def waiting_for_sign_in(self) -> int:
        """Commits that wait for a new sign-in (paused, or a check that met a 401)."""
        with self._db.read() as conn:
            count = conn.execute(select(func.count()).where(in_states(SIGN_IN_STATES))).scalar_one()
        return int(count)

    def has_work(self) -> bool:
        """True while some commit is in flight or will be acted on by the runner itself (what
        remains waits for a base, a sign-in or a person)."""
        with self._db.read() as c:
            found = c.execute(
                select(outbox_commits.c.sequence)
                .where(or_(runner_owns(), outbox_commits.c.state == S.SENDING.value))
                .limit(1)
            ).first()
        return found is not None

    def base_writes(self, entry: OutboxEntry) -> dict[str, WriteRecord]:
        """For an amendment: fullUrl -> record of each write of its base commits."""
        if not entry.commit.depends_on:
            return {}
        with self._db.read() as c:
            bases = [str(b) for b in entry.commit.depends_on]
            rows = c.execute(
                select(outbox_writes).where(outbox_writes.c.commit_id.in_(bases))
            ).all()
        return {f"urn:uuid:{r.write_id}": write_record(r) for r in rows}

    def base_payload(self, full_url: str) -> dict[str, Any] | None:
        """The approved payload of the write with ``full_url`` (the 'base' of a conflict)."""
        write_id = full_url.removeprefix("urn:uuid:")
        with self._db.read() as c:
            row = c.execute(
                select(outbox_writes).where(outbox_writes.c.write_id == write_id)
            ).first()
            if row is None:
                return None
            value: dict[str, Any] = json.loads(self._decoder.payload_text(row))
            return value

    def _due_entries(
        self, now: datetime, limit: int, after_sequence: int
    ) -> tuple[list[OutboxEntry], list[tuple[UUID, OutboxPayloadCorrupt]]]:
        """The due commits (payloads verified) and those whose payloads are damaged."""
        query = (
            select(outbox_commits)
            .where(
                runner_owns(),
                outbox_commits.c.sequence > after_sequence,
                due_clause(due_window(now, self.policy)),
            )
            .order_by(outbox_commits.c.sequence)
            .limit(limit)
        )
        corrupt: list[tuple[UUID, OutboxPayloadCorrupt]] = []
        with self._db.read() as c:
            entries = self._decoder.entries(
                c, list(c.execute(query)), with_decision=True, corrupt=corrupt
            )
        return entries, corrupt
