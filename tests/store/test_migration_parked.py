"""Migration 0006: stores written while "parked" was UNKNOWN_OUTCOME plus a last event get the
real states, and a downgrade folds them back."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

from alembic import command

from app.domain.commit import DraftWrite, build_commit
from app.domain.outbox import OutboxState, SyncEvent
from app.store.database import alembic_config, current_revision, migrate_to_head
from app.store.store import Store, open_store

S, E = OutboxState, SyncEvent
NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
DECISION = json.dumps({"approved_by": "Practitioner/prac-1"})


def unknown(store: Store, then: SyncEvent | None) -> UUID:
    commit = store.outbox.enqueue_approval(
        build_commit([DraftWrite({"resourceType": "Task"})], sequence=1), DECISION
    )
    store.outbox.apply(commit.commit_id, E.SEND_STARTED, now=NOW)
    store.outbox.apply(commit.commit_id, E.OUTCOME_UNKNOWN, now=NOW, status=504)
    if then is not None:
        store.outbox.apply(commit.commit_id, then, now=NOW, status=401, error="words")
    return commit.commit_id


def states(store: Store) -> dict[UUID, tuple[str, str | None, str | None]]:
    with store.db.read() as c:
        rows = c.exec_driver_sql(
            "SELECT commit_id, state, last_event, next_attempt_at FROM outbox_commits"
        )
        return {UUID(r[0]): (r[1], r[2], r[3]) for r in rows}


def test_parked_rows_of_revision_0005_get_their_states(tmp_path: Path) -> None:
    store = open_store(tmp_path / "store.db")
    checking = unknown(store, None)
    sign_in = unknown(store, E.SIGN_IN_REQUIRED)
    refused = unknown(store, E.PERMANENT_REJECTION)
    assert store.outbox.item(sign_in).state is S.CHECK_PAUSED_FOR_SIGN_IN
    assert store.outbox.item(refused).state is S.PARKED

    with store.db.write() as conn:
        command.downgrade(alembic_config(conn), "0005_write_operations")
    assert current_revision(store.db) == "0005_write_operations"
    old = states(store)
    assert {old[k][:2] for k in (checking, sign_in, refused)} == {
        ("unknown_outcome", "outcome_unknown"),
        ("unknown_outcome", "sign_in_required"),
        ("unknown_outcome", "permanent_rejection"),
    }
    # what the older version stored for a parked check: a next attempt it never used
    with store.db.write() as c:
        c.exec_driver_sql("UPDATE outbox_commits SET next_attempt_at = '2025-03-10T12:05:00Z'")

    migrate_to_head(store.db)
    new = states(store)
    assert new[checking][0] == "unknown_outcome" and new[checking][2] is not None
    assert new[sign_in][0] == "check_paused_for_sign_in" and new[sign_in][2] is None
    assert new[refused][0] == "parked" and new[refused][2] is None
    assert [r.state for r in store.outbox.list_items()] == [
        S.UNKNOWN_OUTCOME,
        S.CHECK_PAUSED_FOR_SIGN_IN,
        S.PARKED,
    ]
    assert store.outbox.waiting_for_sign_in() == 1
    assert [e.commit_id for e in store.outbox.claim_due(NOW.replace(year=2026))] == [checking]
    store.close()
