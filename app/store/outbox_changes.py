"""Changing the outbox inside one transaction: the rows of an approval, every state change
through the pure state machine (``app.domain.outbox.advance``), server ids, and the audit hooks.

:class:`OutboxChanges` works on a connection the caller holds (``app.store.outbox`` opens the
transaction and tells listeners after it commits). The server ids, versions, ETags and
Locations of a commit are stored in the same transaction that marks it CONFIRMED; that
transaction also releases the amendments waiting for it (or fails them when it is discarded).
Hooks (``OutboxHook``, the audit log) run inside the transaction with ids and states only.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Connection,
    Integer,
    String,
    bindparam,
    column,
    exists,
    func,
    insert,
    select,
    update,
    values,
)
from sqlalchemy.dialects.sqlite import insert as upsert

from app.domain.clock import Clock, format_ts
from app.domain.commit import ApprovedCommit
from app.domain.outbox import OutboxItem, OutboxState, SyncEvent, advance
from app.domain.retry import DEFAULT_BACKOFF, BackoffPolicy, RandomSource
from app.store.database import Database
from app.store.outbox_codec import ROW_COLUMNS, OutboxDecoder, item_of
from app.store.outbox_errors import OutboxItemNotFound, OutboxStateChanged, UnknownBaseCommit
from app.store.outbox_reads import LAST_SUCCESS_KEY
from app.store.outbox_records import (
    CommitFacts,
    ConflictDetail,
    OutboxChange,
    OutboxEvent,
    OutboxEventKind,
    ReadBack,
    WriteRecord,
    WriteResult,
)
from app.store.outbox_tables import outbox_commits, outbox_dependencies, outbox_writes, sync_status
from app.store.prepared import Prepared

S, E = OutboxState, SyncEvent

OutboxHook = Callable[[Connection, OutboxEvent], None]

BASE_DISCARDED_TEXT = (
    "The note this amends was discarded, so the amendment cannot be sent. Discard it, or "
    "amend the note in the chart."
)

SELECT_STATE = select(outbox_commits.c.state).where(outbox_commits.c.commit_id == bindparam("key"))
# Every state change runs these: compiled once and run on the DBAPI cursor (issue 15,
# app.store.prepared).
# The commit's row, and whether amendments name it as their base (only then are they read
# when it is confirmed or discarded: a statement less for every other commit, issue 15).
_SELECT_ROW = Prepared(
    select(
        *ROW_COLUMNS,
        exists()
        .where(outbox_dependencies.c.base_commit_id == outbox_commits.c.commit_id)
        .label("has_dependants"),
    ).where(outbox_commits.c.commit_id == bindparam("key"))
)
# A confirmation reads its writes once: every one must have its server id, and the audit
# hook names them (CommitFacts.writes).
_WRITES = Prepared(
    select(
        outbox_writes.c.position,
        outbox_writes.c.resource_type,
        outbox_writes.c.server_id,
        outbox_writes.c.response_status,
    )
    .where(outbox_writes.c.commit_id == bindparam("key"))
    .order_by(outbox_writes.c.position)
)
_WAITING_DEPENDANTS = Prepared(
    select(outbox_dependencies.c.commit_id)
    .join(outbox_commits, outbox_commits.c.commit_id == outbox_dependencies.c.commit_id)
    .where(
        outbox_dependencies.c.base_commit_id == bindparam("key"),
        outbox_commits.c.state == S.WAITING_FOR_BASE.value,
    )
    .order_by(outbox_commits.c.sequence)
)
_LAST_SUCCESS = upsert(sync_status).values(key=LAST_SUCCESS_KEY, value=bindparam("at"))
_SET_LAST_SUCCESS = Prepared(
    _LAST_SUCCESS.on_conflict_do_update(
        index_elements=[sync_status.c.key], set_={"value": _LAST_SUCCESS.excluded.value}
    )
)
_ITEM_COLUMNS = (
    "state",
    "attempts",
    "next_attempt_at",
    "last_event",
    "last_status",
    "error_class",
    "error_format",
    "error_text",
    "updated_at",
)
_INSERT_COMMIT = insert(outbox_commits)
_INSERT_WRITE = insert(outbox_writes)
_INSERT_DEPENDENCY = insert(outbox_dependencies)


class OutboxChanges:
    """``hooks`` is the repository's own list (hooks added later run too)."""

    def __init__(
        self,
        db: Database,
        decoder: OutboxDecoder,
        hooks: list[OutboxHook],
        *,
        clock: Clock,
        rng: RandomSource,
    ) -> None:
        self._db = db
        self._decoder = decoder
        self._hooks = hooks
        self._clock = clock
        self.rng = rng

    def insert_commit(
        self,
        c: Connection,
        commit: ApprovedCommit,
        item: OutboxItem,
        decision_json: str,
        *,
        draft_id: UUID | None,
        preconditions: Mapping[str, str],
    ) -> int:
        """The rows of one approval (commit, dependencies, writes, sealed decision and
        payloads); returns the sequence the store assigned."""
        protector = self._db.protector
        key = str(commit.commit_id)
        stamp = format_ts(item.updated_at or self._clock())
        result = c.execute(
            _INSERT_COMMIT,
            {
                "commit_id": key,
                "draft_id": None if draft_id is None else str(draft_id),
                "state": item.state.value,
                "attempts": 0,
                "resource_types": ",".join(sorted(commit.resource_types)),
                "write_count": len(commit.writes),
                "preconditions": json.dumps(dict(preconditions), sort_keys=True),
                "verify_state": ReadBack.PENDING.value,
                "created_at": stamp,
                "updated_at": stamp,
                "decision_format": protector.format_id,
                "decision": protector.protect(
                    decision_json.encode("utf-8"), context=f"{key}:decision".encode()
                ),
            },
        )
        primary_key = result.inserted_primary_key
        assert primary_key is not None
        if commit.depends_on:
            c.execute(
                _INSERT_DEPENDENCY,
                [{"commit_id": key, "base_commit_id": str(b)} for b in commit.depends_on],
            )
        c.execute(
            _INSERT_WRITE,
            [
                {
                    "commit_id": key,
                    "position": w.position,
                    "write_id": str(w.write_id),
                    "resource_type": w.resource_type,
                    "identifier_value": w.identifier.value,
                    "depends_on": ",".join(str(d) for d in w.depends_on),
                    "operation": w.operation.value,
                    "target": w.target,
                    "if_match": w.if_match,
                    "payload_sha256": w.payload_sha256,
                    "payload_format": protector.format_id,
                    "payload": protector.protect(
                        w.payload_json.encode("utf-8"), context=f"{key}.{w.position}".encode()
                    ),
                }
                for w in commit.writes
            ],
        )
        return int(primary_key[0])

    def state_of(self, c: Connection, commit_id: UUID) -> OutboxState:
        value = c.execute(SELECT_STATE, {"key": str(commit_id)}).scalar()
        if value is None:
            raise UnknownBaseCommit(commit_id)
        return S(value)

    def apply(
        self,
        c: Connection,
        commit_id: UUID,
        event_: SyncEvent,
        now: datetime,
        *,
        expect: OutboxState | None = None,
        status: int | None = None,
        error: str | None = None,
        retry_after: timedelta | None = None,
        results: Sequence[WriteResult] = (),
        conflict: ConflictDetail | None = None,
        strategy: str | None = None,
        by: str | None = None,
        reason: str | None = None,
        policy: BackoffPolicy = DEFAULT_BACKOFF,
        read_back: tuple[ReadBack, str | None] | None = None,
    ) -> list[OutboxChange]:
        """Apply one event inside transaction ``c``: the commit and every amendment it releases
        or fails (their changes follow its own in the list). ``read_back``: the verdict of the
        comparison with the EHR's copies, stored when the event confirms the commit."""
        key = str(commit_id)
        row = _SELECT_ROW.first(c, {"key": key})
        if row is None:
            raise OutboxItemNotFound(commit_id)
        item = item_of(row, self._decoder.open_error)
        if expect is not None and item.state is not expect:
            raise OutboxStateChanged(commit_id, expect, item.state)
        new = advance(
            item,
            event_,
            now=now,
            rng=self.rng,
            policy=policy,
            retry_after=retry_after,
            status=status,
            error=error,
        )
        self.record(c, key, results, now)
        extra: dict[str, Any] = {}
        if strategy is not None:
            extra["strategy"] = strategy
        if conflict is not None:
            extra["conflict_format"] = self._db.protector.format_id
            extra["conflict"] = self._db.protector.protect(
                json.dumps(conflict.to_json(), default=str).encode("utf-8"),
                context=f"{key}:conflict".encode(),
            )
        writes = None
        if new.state is S.CONFIRMED:
            writes = self._confirmed_writes(c, key)
            extra.update(self._confirming(c, now, read_back))
        self.write_item(c, new, **extra)
        kind = OutboxEventKind.DISCARDED if new.state is S.DISCARDED else None
        facts = CommitFacts(
            row.draft_id, new.attempts, new.last_status, extra.get("strategy", row.strategy), writes
        )
        self.emit_change(c, item, new, event_, kind=kind, by=by, reason=reason, facts=facts)
        changes = [OutboxChange(commit_id, item.state, new)]
        if new.state is S.CONFIRMED and row.has_dependants:
            changes += self.release_dependants(c, key, now, policy)
        elif new.state is S.DISCARDED and row.has_dependants:
            changes += self.fail_dependants(c, key, now, policy)
        return changes

    def _confirmed_writes(self, c: Connection, key: str) -> tuple[WriteRecord, ...]:
        """The writes of a commit being confirmed: each has its server id (or is a companion
        the EHR refused), else the confirmation is refused."""
        writes = tuple(
            WriteRecord(w.position, w.resource_type, w.server_id, response_status=w.response_status)
            for w in _WRITES.all(c, {"key": key})
        )
        missing = sum(1 for w in writes if w.server_id is None and not w.not_written)
        if missing:
            raise ValueError(f"commit {key}: {missing} write(s) have no server id yet")
        return writes

    def _confirming(
        self, c: Connection, now: datetime, read_back: tuple[ReadBack, str | None] | None
    ) -> dict[str, Any]:
        """The columns of a transition to CONFIRMED (and the last success moves)."""
        self.set_last_success(c, now)
        columns: dict[str, Any] = {"confirmed_at": format_ts(now)}
        if read_back is not None:
            columns.update(verify_state=read_back[0].value, verify_note=read_back[1])
        return columns

    def release_dependants(
        self, c: Connection, base_key: str, now: datetime, policy: BackoffPolicy
    ) -> list[OutboxChange]:
        changes: list[OutboxChange] = []
        for dep in self._waiting_dependants(c, base_key):
            open_bases = c.execute(
                select(func.count())
                .select_from(
                    outbox_dependencies.join(
                        outbox_commits,
                        outbox_commits.c.commit_id == outbox_dependencies.c.base_commit_id,
                    )
                )
                .where(
                    outbox_dependencies.c.commit_id == dep,
                    outbox_commits.c.state != S.CONFIRMED.value,
                )
            ).scalar_one()
            if not open_bases:
                changes += self.apply(c, UUID(dep), E.BASE_CONFIRMED, now, policy=policy)
        return changes

    def fail_dependants(
        self, c: Connection, base_key: str, now: datetime, policy: BackoffPolicy
    ) -> list[OutboxChange]:
        changes: list[OutboxChange] = []
        for dep in self._waiting_dependants(c, base_key):
            changes += self.apply(
                c, UUID(dep), E.BASE_DISCARDED, now, error=BASE_DISCARDED_TEXT, policy=policy
            )
        return changes

    def _waiting_dependants(self, c: Connection, base_key: str) -> list[str]:
        return [str(r.commit_id) for r in _WAITING_DEPENDANTS.all(c, {"key": base_key})]

    def record(
        self, c: Connection, key: str, results: Sequence[WriteResult], now: datetime
    ) -> None:
        if not results:
            return
        positions = [r.position for r in results]
        if len(set(positions)) != len(positions):
            raise ValueError(f"commit {key}: two results for one write ({sorted(positions)})")
        params: dict[str, Any] = {"key": key, "recorded_at": format_ts(now)}
        for i, r in enumerate(results):
            params.update(
                {
                    f"position_{i}": r.position,
                    f"server_id_{i}": r.server_id or None,  # "": a refused companion
                    f"server_version_{i}": r.version_id,
                    f"etag_{i}": r.etag,
                    f"location_{i}": r.location,
                    f"response_status_{i}": r.response_status,
                }
            )
        # one statement for the commit's writes (issue 15)
        if _record_results(len(results)).execute(c, params) != len(positions):
            raise ValueError(f"commit {key} lacks a write at one of the positions {positions}")

    def write_item(self, c: Connection, item: OutboxItem, **extra: Any) -> None:
        error_format, error_text = self._decoder.seal_error(str(item.commit_id), item.last_error)
        values = {
            "state": item.state.value,
            "attempts": item.attempts,
            "next_attempt_at": None
            if item.next_attempt_at is None
            else format_ts(item.next_attempt_at),
            "last_event": None if item.last_event is None else item.last_event.value,
            "last_status": item.last_status,
            "error_class": None if item.error_class is None else item.error_class.value,
            "error_format": error_format,
            "error_text": error_text,
            "updated_at": format_ts(item.updated_at or self._clock()),
        }
        _update_item(tuple(sorted(extra))).execute(
            c, {"key": str(item.commit_id), **values, **extra}
        )

    def set_last_success(self, c: Connection, at: datetime) -> None:
        _SET_LAST_SUCCESS.execute(c, {"at": format_ts(at)})

    def emit(self, c: Connection, ev: OutboxEvent) -> None:
        for hook in self._hooks:
            hook(c, ev)

    def emit_change(
        self,
        c: Connection,
        old: OutboxItem,
        new: OutboxItem,
        event_: SyncEvent,
        *,
        kind: OutboxEventKind | None = None,
        by: str | None = None,
        reason: str | None = None,
        facts: CommitFacts | None = None,
    ) -> None:
        if not self._hooks:
            return
        self.emit(
            c,
            OutboxEvent(
                kind or OutboxEventKind.STATE_CHANGED,
                new.commit_id,
                new.sequence,
                old.state,
                new.state,
                event_,
                new.updated_at or self._clock(),
                by=by,
                reason=reason,
                facts=facts,
            ),
        )


@functools.cache
def _update_item(extra: tuple[str, ...]) -> Prepared:
    """The UPDATE of a commit's state columns and ``extra`` ones, with bind parameters named
    like the columns: one statement per set of extra columns, built once (issue 15)."""
    return Prepared(
        update(outbox_commits)
        .where(outbox_commits.c.commit_id == bindparam("key"))
        .values({name: bindparam(name) for name in (*_ITEM_COLUMNS, *extra)})
    )


_RESULT_COLUMNS = (
    column("position", Integer),
    column("server_id", String),
    column("server_version", String),
    column("etag", String),
    column("location", String),
    column("response_status", String),
)


@functools.cache
def _record_results(count: int) -> Prepared:
    """One UPDATE for the server ids of ``count`` writes of a commit (their values in a
    VALUES list: ``position_0``, ``server_id_0``, ...), built once per count (issue 15)."""
    rows = values(*_RESULT_COLUMNS, name="result").data(
        [tuple(bindparam(f"{col.name}_{i}") for col in _RESULT_COLUMNS) for i in range(count)]
    )
    result = rows.cte("result")
    return Prepared(
        update(outbox_writes)
        .where(
            outbox_writes.c.commit_id == bindparam("key"),
            outbox_writes.c.position == result.c.position,
        )
        .values(
            {
                name: result.c[name]
                for name in (c.name for c in _RESULT_COLUMNS if c.name != "position")
            }
            | {"recorded_at": bindparam("recorded_at")}
        )
    )
