"""The durable outbox: approved commits on their way to the EHR, in the local SQLite store.

- :meth:`OutboxRepository.enqueue_approval` writes the review decision, the commit and its
  writes in ONE transaction (pass ``conn`` to add the draft's status change to it), before the
  UI may say "queued". The store assigns the local ``sequence`` there (AUTOINCREMENT, never
  wall-clock, never reused); identities and payloads never change afterwards (triggers refuse
  it) and every payload's SHA-256 is checked when it is read back.
- Every state change goes through the pure state machine (``app.domain.outbox.advance``); the
  item's attempts, next attempt, last status and last error are stored with it. The server ids,
  versions, ETags and Locations of a commit are stored in the same transaction that marks it
  CONFIRMED; that transaction also releases amendments waiting for it.
- Hooks (``OutboxHook``) run inside each transaction with ids and states only (the audit log of
  issue 6 hangs here); listeners (``subscribe``) are told after the commit, for the UI.

Lists and the summary read only the narrow ``outbox_commits`` table (index on state, sequence).
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, and_, bindparam, event, func, insert, or_, select, update

from app.domain.commit import (
    ApprovedCommit,
    CommitInvalid,
)
from app.domain.outbox import (
    TRANSITIONS,
    OutboxItem,
    OutboxState,
    SyncEvent,
    advance,
    new_item,
    recover_after_restart,
)
from app.domain.retry import DEFAULT_BACKOFF, BackoffPolicy, RandomSource
from app.store.database import Database
from app.store.outbox_codec import (
    ROW_COLUMNS,
    OutboxDecoder,
    item_of,
    write_record,
)
from app.store.outbox_errors import (
    DiscardNotConfirmed,
    OutboxAlreadyQueued,
    OutboxItemNotFound,
    OutboxPayloadCorrupt,
    OutboxStateChanged,
    UnknownBaseCommit,
)
from app.store.outbox_log import log_changes
from app.store.outbox_records import (
    NOT_WRITTEN,
    ROW_FIELDS,
    ConflictDetail,
    OutboxChange,
    OutboxEntry,
    OutboxEvent,
    OutboxEventKind,
    OutboxRow,
    OutboxSummary,
    ReadBack,
    WriteRecord,
    WriteResult,
    format_ts,
    parse_ts,
)
from app.store.outbox_tables import outbox_commits, outbox_dependencies, outbox_writes, sync_status

S, E = OutboxState, SyncEvent
log = logging.getLogger(__name__)

OutboxHook = Callable[[Connection, OutboxEvent], None]
OutboxListener = Callable[[OutboxChange], None]

# An unknown outcome whose check was refused (or needs a sign-in) waits for a person; the
# planner says ASK_USER for it, so the runner must not pick it up again and again.
PARKED_UNKNOWN_EVENTS = (E.SIGN_IN_REQUIRED, E.PERMANENT_REJECTION)


def _active() -> Any:
    """Items the runner acts on by itself."""
    c = outbox_commits.c
    return or_(
        c.state.in_([S.QUEUED.value, S.RETRY_WAIT.value]),
        and_(
            c.state == S.UNKNOWN_OUTCOME.value,
            or_(
                c.last_event.is_(None),
                c.last_event.not_in([e.value for e in PARKED_UNKNOWN_EVENTS]),
            ),
        ),
    )


LAST_SUCCESS_KEY = "last_success_at"


class OutboxRepository:
    def __init__(
        self,
        db: Database,
        *,
        hooks: Sequence[OutboxHook] = (),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        rng: RandomSource | None = None,
        policy: BackoffPolicy = DEFAULT_BACKOFF,
    ) -> None:
        self._db = db
        self._decoder = OutboxDecoder(db)
        self._hooks: list[OutboxHook] = list(hooks)
        self._listeners: list[OutboxListener] = []
        self._clock = clock
        self._rng: RandomSource = rng if rng is not None else random.Random()
        self.policy = policy

    # ------------------------------------------------------------------ wiring
    def add_hook(self, hook: OutboxHook) -> None:
        """Run ``hook`` inside every outbox transaction (the audit log of issue 6)."""
        self._hooks.append(hook)

    def subscribe(self, listener: OutboxListener) -> Callable[[], None]:
        """Tell ``listener`` about every state change after it is committed."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    # ------------------------------------------------------------------ approval
    def enqueue_approval(
        self,
        commit: ApprovedCommit,
        decision_json: str,
        *,
        draft_id: UUID | None = None,
        preconditions: Mapping[str, str] | None = None,
        conn: Connection | None = None,
    ) -> ApprovedCommit:
        """Store the review decision and the commit with its writes, atomically.

        Returns the commit with the sequence the store assigned (``commit.sequence`` as given is
        ignored). ``preconditions`` maps chart records an amendment is based on (``"Type/id"``)
        to the version the clinician saw; the runner raises a conflict when the chart moved on.
        Pass ``conn`` (from ``db.write()``) to include the caller's own changes, such as
        ``drafts.set_status(draft_id, APPROVED, conn=conn)``, in the same transaction.
        """
        if not commit.verify():
            raise CommitInvalid("a payload does not match its SHA-256; it was not queued")
        json.loads(decision_json)  # the decision must be JSON (raises ValueError otherwise)
        now = self._clock()
        protector = self._db.protector
        key = str(commit.commit_id)
        with self._tx(conn) as c:
            if c.execute(_SELECT_STATE, {"key": key}).first() is not None:
                raise OutboxAlreadyQueued(commit.commit_id)
            base_states = [self._state_of(c, base) for base in commit.depends_on]
            base_pending = any(s is not S.CONFIRMED for s in base_states)
            item = new_item(commit, base_pending=base_pending, now=now)
            stamp = format_ts(now)
            result = c.execute(
                _INSERT_COMMIT,
                {
                    "commit_id": key,
                    "draft_id": None if draft_id is None else str(draft_id),
                    "state": item.state.value,
                    "attempts": 0,
                    "resource_types": ",".join(sorted(commit.resource_types)),
                    "write_count": len(commit.writes),
                    "preconditions": json.dumps(dict(preconditions or {}), sort_keys=True),
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
            sequence = int(primary_key[0])
            stored = replace(commit, sequence=sequence)
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
            item = replace(item, sequence=sequence)
            changes = [OutboxChange(commit.commit_id, None, item)]
            self._emit(
                c,
                OutboxEvent(
                    OutboxEventKind.ENQUEUED,
                    commit.commit_id,
                    sequence,
                    None,
                    item.state,
                    None,
                    now,
                    draft_id=draft_id,
                ),
            )
            if S.DISCARDED in base_states:
                changes += self._apply(
                    c, commit.commit_id, E.BASE_DISCARDED, now, error=_BASE_DISCARDED_TEXT
                )
            if conn is not None:
                self._notify_on_commit(c, changes)
        if conn is None:
            self._notify(changes)
        return stored

    # ------------------------------------------------------------------ reading
    def get(self, commit_id: UUID) -> OutboxEntry:
        """The whole stored commit (payloads verified), its decision and any conflict."""
        with self._db.read() as c:
            row = c.execute(select(outbox_commits).where(_is(str(commit_id)))).first()
            if row is None:
                raise OutboxItemNotFound(commit_id)
            return self._decoder.entries(c, [row], with_decision=True)[0]

    def find(self, commit_id: UUID) -> OutboxEntry | None:
        try:
            return self.get(commit_id)
        except OutboxItemNotFound:
            return None

    def item(self, commit_id: UUID) -> OutboxItem:
        """Just the state of one commit (cheap)."""
        with self._db.read() as c:
            row = c.execute(select(*ROW_COLUMNS).where(_is(str(commit_id)))).first()
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

    def claim_due(
        self, now: datetime, limit: int = 50, *, after_sequence: int = 0
    ) -> list[OutboxEntry]:
        """Commits the runner should act on now, in sequence order after ``after_sequence``
        (payloads verified).

        A ``next_attempt_at`` further ahead than any wait the policy can produce means the
        wall clock jumped backwards since it was set: such an item is due at once.
        """
        longest = max(self.policy.cap, self.policy.max_retry_after) + timedelta(seconds=1)
        query = (
            select(outbox_commits)
            .where(
                _active(),
                outbox_commits.c.sequence > after_sequence,
                or_(
                    outbox_commits.c.next_attempt_at.is_(None),
                    outbox_commits.c.next_attempt_at <= format_ts(now),
                    outbox_commits.c.next_attempt_at > format_ts(now + longest),
                ),
            )
            .order_by(outbox_commits.c.sequence)
            .limit(limit)
        )
        corrupt: list[tuple[UUID, OutboxPayloadCorrupt]] = []
        with self._db.read() as c:
            entries = self._decoder.entries(
                c, list(c.execute(query)), with_decision=False, corrupt=corrupt
            )
        for commit_id, exc in corrupt:
            self._set_aside(commit_id, exc)
        return entries

    def _set_aside(self, commit_id: UUID, exc: OutboxPayloadCorrupt) -> None:
        """A damaged commit is never sent; it asks for a person (where the table allows)."""
        log.error("outbox commit %s is damaged and will not be sent", commit_id)
        state = self.item(commit_id).state
        if (state, E.CANNOT_SEND) in TRANSITIONS:
            self.apply(commit_id, E.CANNOT_SEND, expect=state, error=exc.user_message)

    def next_due_at(self, *, include_queued: bool = True) -> datetime | None:
        """When the earliest item the runner acts on becomes due (None: none is waiting).

        A queued item is due now; ``include_queued=False`` asks only about timed waits (while
        the EHR is unreachable the runner waits for the next retry, not for queued items).
        """
        with self._db.read() as c:
            if include_queued:
                ready = c.execute(
                    select(outbox_commits.c.sequence)
                    .where(_active(), outbox_commits.c.next_attempt_at.is_(None))
                    .limit(1)
                ).first()
                if ready is not None:
                    return self._clock()
            value = c.execute(
                select(func.min(outbox_commits.c.next_attempt_at)).where(_active())
            ).scalar()
        return parse_ts(value)

    def waiting_for_sign_in(self) -> int:
        """Commits that wait for a new sign-in (paused, or a check that met a 401)."""
        c = outbox_commits.c
        with self._db.read() as conn:
            count = conn.execute(
                select(func.count()).where(
                    or_(
                        c.state == S.PAUSED_FOR_SIGN_IN.value,
                        and_(
                            c.state == S.UNKNOWN_OUTCOME.value,
                            c.last_event == E.SIGN_IN_REQUIRED.value,
                        ),
                    )
                )
            ).scalar_one()
        return int(count)

    def has_work(self) -> bool:
        """True while some commit is in flight or will be acted on by the runner itself (what
        remains waits for a base, a sign-in or a person)."""
        with self._db.read() as c:
            found = c.execute(
                select(outbox_commits.c.sequence)
                .where(or_(_active(), outbox_commits.c.state == S.SENDING.value))
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

    # ------------------------------------------------------------------ state changes
    def apply(
        self,
        commit_id: UUID,
        event_: SyncEvent,
        *,
        now: datetime | None = None,
        expect: OutboxState | None = None,
        status: int | None = None,
        error: str | None = None,
        retry_after: timedelta | None = None,
        results: Sequence[WriteResult] = (),
        conflict: ConflictDetail | None = None,
        strategy: str | None = None,
        by: str | None = None,
    ) -> OutboxItem:
        """Apply one event to one commit (raises ``IllegalTransition`` when not allowed).

        ``results`` (server ids learned) are stored in the same transaction; a transition to
        CONFIRMED requires every write to have a server id by then. ``expect`` guards against
        acting on a state that changed in the meantime (``OutboxStateChanged``).
        """
        at = now or self._clock()
        with self._tx(None) as c:
            changes = self._apply(
                c,
                commit_id,
                event_,
                at,
                expect=expect,
                status=status,
                error=error,
                retry_after=retry_after,
                results=results,
                conflict=conflict,
                strategy=strategy,
                by=by,
            )
        self._notify(changes)
        return changes[0].item

    def record_writes(self, commit_id: UUID, results: Sequence[WriteResult]) -> None:
        """Store server ids learned while a commit is still being sent (a partial success)."""
        if not results:
            return
        now = self._clock()
        with self._tx(None) as c:
            self._record(c, str(commit_id), results, now)

    def record_read_back(self, commit_id: UUID, result: ReadBack, note: str | None) -> None:
        with self._tx(None) as c:
            c.execute(
                update(outbox_commits)
                .where(_is(str(commit_id)))
                .values(verify_state=result.value, verify_note=note)
            )

    def record_sync_success(self, at: datetime | None = None) -> None:
        """The status bar's "last successful sync" (set with every confirmation, too)."""
        with self._tx(None) as c:
            self._set_last_success(c, at or self._clock())

    def recover_after_restart(self, now: datetime | None = None) -> list[OutboxItem]:
        """At start-up: every item left SENDING may have reached the server -> UNKNOWN_OUTCOME."""
        at = now or self._clock()
        with self._tx(None) as c:
            rows = c.execute(select(*ROW_COLUMNS).where(outbox_commits.c.state == S.SENDING.value))
            changes: list[OutboxChange] = []
            for row in list(rows):
                item = item_of(row, self._decoder.open_error)
                recovered = recover_after_restart(item, now=at, rng=self._rng)
                self._write_item(c, recovered)
                self._emit_change(c, item, recovered, E.CRASH_RECOVERED)
                changes.append(OutboxChange(item.commit_id, item.state, recovered))
        self._notify(changes)
        return [ch.item for ch in changes]

    def resume_after_sign_in(self, now: datetime | None = None) -> list[OutboxItem]:
        """After a new sign-in: paused items are queued again; checks that waited on the
        sign-in are due at once."""
        at = now or self._clock()
        with self._tx(None) as c:
            rows = list(
                c.execute(
                    select(*ROW_COLUMNS).where(
                        or_(
                            outbox_commits.c.state == S.PAUSED_FOR_SIGN_IN.value,
                            and_(
                                outbox_commits.c.state == S.UNKNOWN_OUTCOME.value,
                                outbox_commits.c.last_event == E.SIGN_IN_REQUIRED.value,
                            ),
                        )
                    )
                )
            )
            changes: list[OutboxChange] = []
            for row in rows:
                changes += self._apply(c, UUID(row.commit_id), E.SIGNED_IN, at)
        self._notify(changes)
        return [ch.item for ch in changes]

    def make_due_now(self, now: datetime | None = None) -> list[OutboxItem]:
        """ "Sync now": commits waiting to retry, or waiting to check an unknown outcome, are
        due at once (what waits for a person — needs attention, conflict — stays put)."""
        at = now or self._clock()
        with self._tx(None) as c:
            keys = list(
                c.execute(
                    select(outbox_commits.c.commit_id)
                    .where(
                        outbox_commits.c.state.in_([S.RETRY_WAIT.value, S.UNKNOWN_OUTCOME.value])
                    )
                    .order_by(outbox_commits.c.sequence)
                ).scalars()
            )
            changes: list[OutboxChange] = []
            for key in keys:
                changes += self._apply(c, UUID(key), E.USER_RETRY, at)
        self._notify(changes)
        return [ch.item for ch in changes]

    def retry(self, commit_id: UUID, *, resend: bool = False, by: str | None = None) -> OutboxItem:
        """The clinician's "Retry now" (``resend``: "send again" although the outcome could not
        be checked — only offered for UNKNOWN_OUTCOME, after they looked in the chart)."""
        return self.apply(commit_id, E.USER_RESEND if resend else E.USER_RETRY, by=by)

    def discard(self, commit_id: UUID, reason: str, by: str, *, confirmed: bool) -> OutboxItem:
        """Discard a commit that has not reached the EHR. ``confirmed`` must be True: the caller
        asked the clinician first. Who and why are stored and given to the hooks (audit)."""
        if not confirmed:
            raise DiscardNotConfirmed()
        if not reason.strip() or not by.strip():
            raise ValueError("a discard records who discarded and why")
        now = self._clock()
        with self._tx(None) as c:
            changes = self._apply(c, commit_id, E.USER_DISCARD, now, by=by, reason=reason)
            c.execute(
                update(outbox_commits)
                .where(_is(str(commit_id)))
                .values(discarded_by=by, discard_reason=reason)
            )
        self._notify(changes)
        return changes[0].item

    # ------------------------------------------------------------------ internals
    @contextmanager
    def _tx(self, conn: Connection | None) -> Iterator[Connection]:
        if conn is not None:
            yield conn
        else:
            with self._db.write() as c:
                yield c

    def _state_of(self, c: Connection, commit_id: UUID) -> OutboxState:
        value = c.execute(_SELECT_STATE, {"key": str(commit_id)}).scalar()
        if value is None:
            raise UnknownBaseCommit(commit_id)
        return S(value)

    def _apply(
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
    ) -> list[OutboxChange]:
        key = str(commit_id)
        row = c.execute(select(*ROW_COLUMNS).where(_is(key))).first()
        if row is None:
            raise OutboxItemNotFound(commit_id)
        item = item_of(row, self._decoder.open_error)
        if expect is not None and item.state is not expect:
            raise OutboxStateChanged(commit_id, expect, item.state)
        new = advance(
            item,
            event_,
            now=now,
            rng=self._rng,
            policy=self.policy,
            retry_after=retry_after,
            status=status,
            error=error,
        )
        self._record(c, key, results, now)
        extra: dict[str, Any] = {}
        if strategy is not None:
            extra["strategy"] = strategy
        if conflict is not None:
            extra["conflict_format"] = self._db.protector.format_id
            extra["conflict"] = self._db.protector.protect(
                json.dumps(conflict.to_json(), default=str).encode("utf-8"),
                context=f"{key}:conflict".encode(),
            )
        if new.state is S.CONFIRMED:
            missing = c.execute(
                select(func.count()).where(
                    outbox_writes.c.commit_id == key,
                    outbox_writes.c.server_id.is_(None),
                    or_(
                        outbox_writes.c.response_status.is_(None),
                        outbox_writes.c.response_status.not_like(f"{NOT_WRITTEN}%"),
                    ),
                )
            ).scalar_one()
            if missing:
                raise ValueError(f"commit {key}: {missing} write(s) have no server id yet")
            extra["confirmed_at"] = format_ts(now)
            self._set_last_success(c, now)
        self._write_item(c, new, **extra)
        kind = OutboxEventKind.DISCARDED if new.state is S.DISCARDED else None
        self._emit_change(c, item, new, event_, kind=kind, by=by, reason=reason)
        changes = [OutboxChange(commit_id, item.state, new)]
        if new.state is S.CONFIRMED:
            changes += self._release_dependants(c, key, now)
        elif new.state is S.DISCARDED:
            changes += self._fail_dependants(c, key, now)
        return changes

    def _release_dependants(
        self, c: Connection, base_key: str, now: datetime
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
                changes += self._apply(c, UUID(dep), E.BASE_CONFIRMED, now)
        return changes

    def _fail_dependants(self, c: Connection, base_key: str, now: datetime) -> list[OutboxChange]:
        changes: list[OutboxChange] = []
        for dep in self._waiting_dependants(c, base_key):
            changes += self._apply(c, UUID(dep), E.BASE_DISCARDED, now, error=_BASE_DISCARDED_TEXT)
        return changes

    def _waiting_dependants(self, c: Connection, base_key: str) -> list[str]:
        return list(
            c.execute(
                select(outbox_dependencies.c.commit_id)
                .join(
                    outbox_commits,
                    outbox_commits.c.commit_id == outbox_dependencies.c.commit_id,
                )
                .where(
                    outbox_dependencies.c.base_commit_id == base_key,
                    outbox_commits.c.state == S.WAITING_FOR_BASE.value,
                )
                .order_by(outbox_commits.c.sequence)
            ).scalars()
        )

    def _record(
        self, c: Connection, key: str, results: Sequence[WriteResult], now: datetime
    ) -> None:
        for r in results:
            done = c.execute(
                update(outbox_writes)
                .where(outbox_writes.c.commit_id == key, outbox_writes.c.position == r.position)
                .values(
                    server_id=r.server_id or None,  # "": a refused companion (not written)
                    server_version=r.version_id,
                    etag=r.etag,
                    location=r.location,
                    response_status=r.response_status,
                    recorded_at=format_ts(now),
                )
            )
            if done.rowcount != 1:
                raise ValueError(f"commit {key} has no write at position {r.position}")

    def _write_item(self, c: Connection, item: OutboxItem, **extra: Any) -> None:
        error_format, error_text = self._decoder.seal_error(str(item.commit_id), item.last_error)
        c.execute(
            update(outbox_commits)
            .where(_is(str(item.commit_id)))
            .values(
                state=item.state.value,
                attempts=item.attempts,
                next_attempt_at=None
                if item.next_attempt_at is None
                else format_ts(item.next_attempt_at),
                last_event=None if item.last_event is None else item.last_event.value,
                last_status=item.last_status,
                error_class=None if item.error_class is None else item.error_class.value,
                error_format=error_format,
                error_text=error_text,
                updated_at=format_ts(item.updated_at or self._clock()),
                **extra,
            )
        )

    def _set_last_success(self, c: Connection, at: datetime) -> None:
        from sqlalchemy.dialects.sqlite import insert as upsert

        stmt = upsert(sync_status).values(key=LAST_SUCCESS_KEY, value=format_ts(at))
        c.execute(
            stmt.on_conflict_do_update(
                index_elements=[sync_status.c.key], set_={"value": stmt.excluded.value}
            )
        )

    def _emit(self, c: Connection, ev: OutboxEvent) -> None:
        for hook in self._hooks:
            hook(c, ev)

    def _emit_change(
        self,
        c: Connection,
        old: OutboxItem,
        new: OutboxItem,
        event_: SyncEvent,
        *,
        kind: OutboxEventKind | None = None,
        by: str | None = None,
        reason: str | None = None,
    ) -> None:
        if not self._hooks:
            return
        self._emit(
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
            ),
        )

    def _notify(self, changes: Sequence[OutboxChange]) -> None:
        log_changes(changes, self._clock())
        for change in changes:
            for listener in list(self._listeners):
                listener(change)

    def _notify_on_commit(self, c: Connection, changes: Sequence[OutboxChange]) -> None:
        """For a transaction the caller owns: tell listeners once it commits (never about a
        rolled-back one)."""
        if changes and (self._listeners or log.isEnabledFor(logging.DEBUG)):
            event.listen(c, "commit", lambda _conn: self._notify(changes), once=True)


# Built once: approval runs them for every commit (10,000 in the panel benchmark).
_SELECT_STATE = select(outbox_commits.c.state).where(outbox_commits.c.commit_id == bindparam("key"))
_INSERT_COMMIT = insert(outbox_commits)
_INSERT_WRITE = insert(outbox_writes)
_INSERT_DEPENDENCY = insert(outbox_dependencies)

_BASE_DISCARDED_TEXT = (
    "The note this amends was discarded, so the amendment cannot be sent. Discard it, or "
    "amend the note in the chart."
)


def _is(key: str) -> Any:
    return outbox_commits.c.commit_id == key
