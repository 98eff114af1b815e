"""The durable outbox: approved commits on their way to the EHR, in the local SQLite store.

- :meth:`OutboxRepository.enqueue_approval` writes the review decision, the commit and its
  writes in ONE transaction (pass ``conn`` to add the draft's status change to it), before the
  UI may say "queued". The store assigns the local ``sequence`` there (AUTOINCREMENT, never
  wall-clock, never reused); identities and payloads never change afterwards (triggers refuse
  it) and every payload's SHA-256 is checked when it is read back.
- Every state change goes through the pure state machine (``app.domain.outbox.advance``), in
  the transaction :class:`~app.store.outbox_changes.OutboxChanges` works in; hooks (the audit
  log, app.store.audit_hooks) run inside it; listeners (``subscribe``) are told after the
  commit, for the UI.
- Reading (entries, rows, the summary, what is due): :class:`~app.store.outbox_reads.OutboxReads`.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import Connection, bindparam, event, select, update

from app.domain.clock import Clock, utc_now
from app.domain.commit import ApprovedCommit, CommitInvalid
from app.domain.outbox import (
    SIGN_IN_STATES,
    TRANSITIONS,
    UNKNOWN_STATES,
    OutboxItem,
    OutboxState,
    SyncEvent,
    new_item,
    recover_after_restart,
)
from app.domain.retry import DEFAULT_BACKOFF, BackoffPolicy, RandomSource
from app.store.database import Database
from app.store.group_mode import GroupMode
from app.store.outbox_changes import (
    BASE_DISCARDED_TEXT,
    SELECT_STATE,
    OutboxChanges,
    OutboxHook,
)
from app.store.outbox_codec import ROW_COLUMNS, item_of
from app.store.outbox_errors import (
    DiscardNotConfirmed,
    OutboxAlreadyQueued,
    OutboxPayloadCorrupt,
)
from app.store.outbox_log import log_changes
from app.store.outbox_reads import (
    LAST_SUCCESS_KEY,
    OutboxReads,
    commit_is,
    due_clause,
    in_states,
)
from app.store.outbox_records import (
    ConflictDetail,
    OutboxChange,
    OutboxEntry,
    OutboxEvent,
    OutboxEventKind,
    ReadBack,
    WriteResult,
)
from app.store.outbox_tables import outbox_commits

__all__ = ["LAST_SUCCESS_KEY", "OutboxHook", "OutboxListener", "OutboxRepository", "due_clause"]

S, E = OutboxState, SyncEvent
log = logging.getLogger(__name__)

_RECORD_READ_BACK = (
    update(outbox_commits)
    .where(outbox_commits.c.commit_id == bindparam("key"))
    .values(verify_state=bindparam("verify_state"), verify_note=bindparam("verify_note"))
)

OutboxListener = Callable[[OutboxChange], None]


class OutboxRepository(OutboxReads):
    def __init__(
        self,
        db: Database,
        *,
        hooks: Sequence[OutboxHook] = (),
        clock: Clock = utc_now,
        rng: RandomSource | None = None,
        policy: BackoffPolicy = DEFAULT_BACKOFF,
    ) -> None:
        super().__init__(db, clock=clock, policy=policy)
        self._hooks: list[OutboxHook] = list(hooks)
        self._listeners: list[OutboxListener] = []
        self._changes = OutboxChanges(
            db,
            self._decoder,
            self._hooks,
            clock=clock,
            rng=rng if rng is not None else random.Random(),
        )

    # ------------------------------------------------------------------ wiring
    def add_hook(self, hook: OutboxHook) -> None:
        """Run ``hook`` inside every outbox transaction (the audit log)."""
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
        with self._tx(conn) as c:
            if c.execute(SELECT_STATE, {"key": str(commit.commit_id)}).first() is not None:
                raise OutboxAlreadyQueued(commit.commit_id)
            base_states = [self._changes.state_of(c, base) for base in commit.depends_on]
            base_pending = any(s is not S.CONFIRMED for s in base_states)
            item = new_item(commit, base_pending=base_pending, now=now)
            sequence = self._changes.insert_commit(
                c,
                commit,
                item,
                decision_json,
                draft_id=draft_id,
                preconditions=preconditions or {},
            )
            item = replace(item, sequence=sequence)
            changes = [OutboxChange(commit.commit_id, None, item)]
            self._changes.emit(
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
                changes += self._changes.apply(
                    c,
                    commit.commit_id,
                    E.BASE_DISCARDED,
                    now,
                    error=BASE_DISCARDED_TEXT,
                    policy=self.policy,
                )
            if conn is not None:
                self._notify_on_commit(c, changes)
        if conn is None:
            self._notify(changes)
        return replace(commit, sequence=sequence)

    # ------------------------------------------------------------------ what the runner takes
    def claim_due(
        self, now: datetime, limit: int = 50, *, after_sequence: int = 0
    ) -> list[OutboxEntry]:
        """Commits the runner should act on now, in sequence order after ``after_sequence``
        (payloads verified); a damaged one is set aside (CANNOT_SEND), never sent.

        Due as ``app.domain.retry.due_window`` says (a ``next_attempt_at`` set by a clock that
        jumped backwards is due at once), in SQL: :func:`due_clause`.
        """
        entries, corrupt = self._due_entries(now, limit, after_sequence)
        for commit_id, exc in corrupt:
            self._set_aside(commit_id, exc)
        return entries

    def _set_aside(self, commit_id: UUID, exc: OutboxPayloadCorrupt) -> None:
        """A damaged commit is never sent; it asks for a person (where the table allows)."""
        log.error("outbox commit %s is damaged and will not be sent", commit_id)
        state = self.item(commit_id).state
        if (state, E.CANNOT_SEND) in TRANSITIONS:
            self.apply(commit_id, E.CANNOT_SEND, expect=state, error=exc.user_message)

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
        read_back: tuple[ReadBack, str | None] | None = None,
    ) -> OutboxItem:
        """Apply one event to one commit (raises ``IllegalTransition`` when not allowed).

        ``results`` (server ids learned) are stored in the same transaction; a transition to
        CONFIRMED requires every write to have a server id by then. ``expect`` guards against
        acting on a state that changed in the meantime (``OutboxStateChanged``).
        ``read_back``: the verdict of the comparison with the EHR's copies, stored with the
        confirmation (instead of a ``record_read_back`` afterwards).
        """
        at = now or self._clock()
        with self._tx(None) as c:
            changes = self._changes.apply(
                c,
                commit_id,
                event_,
                at,
                policy=self.policy,
                expect=expect,
                status=status,
                error=error,
                retry_after=retry_after,
                results=results,
                conflict=conflict,
                strategy=strategy,
                by=by,
                read_back=read_back,
            )
        self._notify(changes)
        return changes[0].item

    def record_writes(self, commit_id: UUID, results: Sequence[WriteResult]) -> None:
        """Store server ids learned while a commit is still being sent (a partial success)."""
        if not results:
            return
        now = self._clock()
        with self._tx(None) as c:
            self._changes.record(c, str(commit_id), results, now)

    def record_read_back(self, commit_id: UUID, result: ReadBack, note: str | None) -> None:
        with self._tx(None) as c:
            c.execute(
                _RECORD_READ_BACK,
                {"key": str(commit_id), "verify_state": result.value, "verify_note": note},
            )

    def recover_after_restart(self, now: datetime | None = None) -> list[OutboxItem]:
        """At start-up: every item left SENDING may have reached the server -> UNKNOWN_OUTCOME."""
        at = now or self._clock()
        with self._tx(None) as c:
            rows = c.execute(select(*ROW_COLUMNS).where(outbox_commits.c.state == S.SENDING.value))
            changes: list[OutboxChange] = []
            for row in list(rows):
                item = item_of(row, self._decoder.open_error)
                recovered = recover_after_restart(item, now=at, rng=self._changes.rng)
                self._changes.write_item(c, recovered)
                self._changes.emit_change(c, item, recovered, E.CRASH_RECOVERED)
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
                    select(*ROW_COLUMNS)
                    .where(in_states(SIGN_IN_STATES))
                    .order_by(outbox_commits.c.sequence)
                )
            )
            changes: list[OutboxChange] = []
            for row in rows:
                changes += self._changes.apply(
                    c, UUID(row.commit_id), E.SIGNED_IN, at, policy=self.policy
                )
        self._notify(changes)
        return [ch.item for ch in changes]

    def make_due_now(self, now: datetime | None = None) -> list[OutboxItem]:
        """ "Sync now": commits waiting to retry, or waiting to check an unknown outcome (also
        one the app could not check by itself), are due at once (what waits for a person's
        decision — needs attention, conflict — stays put)."""
        at = now or self._clock()
        with self._tx(None) as c:
            keys = list(
                c.execute(
                    select(outbox_commits.c.commit_id)
                    .where(in_states({S.RETRY_WAIT} | UNKNOWN_STATES))
                    .order_by(outbox_commits.c.sequence)
                ).scalars()
            )
            changes: list[OutboxChange] = []
            for key in keys:
                changes += self._changes.apply(c, UUID(key), E.USER_RETRY, at, policy=self.policy)
        self._notify(changes)
        return [ch.item for ch in changes]

    def retry(self, commit_id: UUID, *, resend: bool = False, by: str | None = None) -> OutboxItem:
        """The clinician's "Retry now" (``resend``: "send again" although the outcome could not
        be checked — only offered for PARKED and CHECK_PAUSED_FOR_SIGN_IN, after they looked
        in the chart)."""
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
            changes = self._changes.apply(
                c, commit_id, E.USER_DISCARD, now, by=by, reason=reason, policy=self.policy
            )
            c.execute(
                update(outbox_commits)
                .where(commit_is(str(commit_id)))
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

    def _notify(self, changes: Sequence[OutboxChange]) -> None:
        """Tell listeners once the changes are committed (at the end of a group commit, when
        the store thread is in one: app.store.database.Database.group)."""
        self._db.after_commit(lambda: self._notify_now(changes))

    def group(self, mode: GroupMode = GroupMode.SAVEPOINTS) -> AbstractContextManager[None]:
        """One transaction for the state changes made inside on this thread (group commit)."""
        return self._db.group(mode)

    def group_connection_kept(self) -> AbstractContextManager[None]:
        """The groups this thread runs inside share one connection (``Database``)."""
        return self._db.group_connection_kept()

    def _notify_now(self, changes: Sequence[OutboxChange]) -> None:
        log_changes(changes, self._clock)
        for change in changes:
            for listener in list(self._listeners):
                listener(change)

    def _notify_on_commit(self, c: Connection, changes: Sequence[OutboxChange]) -> None:
        """For a transaction the caller owns: tell listeners once it commits (never about a
        rolled-back one)."""
        if changes and (self._listeners or log.isEnabledFor(logging.DEBUG)):
            event.listen(c, "commit", lambda _conn: self._notify_now(changes), once=True)
