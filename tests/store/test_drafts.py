"""DraftRepository: round trips of every kind of content, revisions, listing, hooks."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Connection, text

from app.domain.clinical import Reference
from app.domain.draft import (
    Draft,
    DraftStatus,
    MessageItem,
    ObservationItem,
    Priority,
    TaskItem,
    TaskStatus,
)
from app.domain.draft_import import import_draft
from app.domain.prefill import amendment_draft
from app.store.drafts import DraftEvent, DraftEventKind
from app.store.errors import DraftNotEditable, DraftNotFound, StaleDraft
from app.store.store import Store, open_store
from tests.domain.conftest import NOW, make_context
from tests.domain.test_draft_import import SAMPLE
from tests.store.conftest import Clock

NewDraft = Callable[..., Draft]


def with_items(d: Draft) -> Draft:
    return (
        d.with_section_text("subjective", "Kopfschmerzen seit 2 Wochen — 头痛 🙂\nline two")
        .with_item(
            ObservationItem(
                "o1",
                "8867-4",
                "Heart rate",
                Decimal("78.50"),
                "/min",
                datetime(2025, 3, 10, 9, 15, tzinfo=UTC),
            )
        )
        .with_item(
            TaskItem(
                "t1",
                "Recheck A1c",
                Reference("Practitioner", "prac-2", "Dr. Jones"),
                date(2025, 6, 10),
                TaskStatus.REQUESTED,
                Priority.URGENT,
            )
        )
        .with_item(MessageItem("m1", None, "FYI", Priority.ROUTINE))
    )


def test_round_trip_of_a_prefilled_draft_with_items(store: Store, new_draft: NewDraft) -> None:
    draft = with_items(new_draft())
    saved = store.drafts.save(draft)
    assert saved.revision == 1
    loaded = store.drafts.get(draft.id)
    assert loaded == saved
    assert loaded.items[0].value == Decimal("78.50")  # type: ignore[union-attr]
    assert loaded.updated_at.tzinfo is not None


def test_round_trip_of_imported_and_amendment_drafts(store: Store) -> None:
    ctx = make_context()
    imported = import_draft(SAMPLE.read_bytes(), ctx, now=NOW)
    amendment = amendment_draft(ctx, ctx.notes.items[0], now=NOW)
    for d in (imported, amendment):
        assert store.drafts.get(store.drafts.save(d).id) == replace(
            d, revision=1, updated_at=store.drafts.get(d.id).updated_at
        )
    got = store.drafts.get(imported.id)
    assert got.provenance == imported.provenance
    assert store.drafts.get(amendment.id).amends == amendment.amends


def test_each_save_increments_the_revision(store: Store, new_draft: NewDraft) -> None:
    d = store.drafts.save(new_draft())
    d = store.drafts.save(d.with_section_text("plan", "a"))
    d = store.drafts.save(d.with_section_text("plan", "ab"))
    assert d.revision == 3
    assert store.drafts.get(d.id).section("plan").text == "ab"


def test_expected_revision_detects_a_second_writer(store: Store, new_draft: NewDraft) -> None:
    d = store.drafts.save(new_draft())
    store.drafts.save(d.with_section_text("plan", "other window"), expected_revision=1)
    with pytest.raises(StaleDraft) as exc:
        store.drafts.save(d.with_section_text("plan", "mine"), expected_revision=1)
    assert (exc.value.expected, exc.value.actual) == (1, 2)
    assert store.drafts.get(d.id).section("plan").text == "other window"


def test_approved_drafts_are_never_overwritten(store: Store, new_draft: NewDraft) -> None:
    d = store.drafts.save(new_draft())
    store.drafts.set_status(d.id, DraftStatus.APPROVED)
    with pytest.raises(DraftNotEditable):
        store.drafts.save(replace(d, sections=d.sections))
    assert store.drafts.get(d.id).status is DraftStatus.APPROVED


def test_listing(store: Store, new_draft: NewDraft) -> None:
    first = store.drafts.save(new_draft())
    second = store.drafts.save(new_draft())
    other = store.drafts.save(
        new_draft(encounter=Reference("Encounter", "enc-9"), patient=Reference("Patient", "pat-9"))
    )
    store.drafts.save(first.with_section_text("plan", "touched last"))
    ids = [d.id for d in store.drafts.list_for_encounter("pat-1", "enc-1")]
    assert ids == [first.id, second.id]
    store.drafts.set_status(second.id, DraftStatus.DISCARDED)
    assert [d.id for d in store.drafts.list_for_encounter("pat-1", "enc-1")] == [first.id]
    assert len(store.drafts.list_for_encounter("pat-1", "enc-1", include_closed=True)) == 2
    assert [d.id for d in store.drafts.list_unfinished()] == [first.id, other.id]
    assert [d.id for d in store.drafts.list_recent(limit=2)] == [second.id, first.id]


def test_delete_and_not_found(store: Store, new_draft: NewDraft) -> None:
    d = store.drafts.save(new_draft())
    store.drafts.delete(d.id)
    assert store.drafts.find(d.id) is None
    with pytest.raises(DraftNotFound):
        store.drafts.get(d.id)
    with pytest.raises(DraftNotFound):
        store.drafts.delete(uuid.uuid4())


def test_hooks_run_inside_the_transaction(
    store_path: object, new_draft: NewDraft, tmp_path: object
) -> None:
    events: list[DraftEvent] = []

    def record(conn: Connection, event: DraftEvent) -> None:
        assert conn.in_transaction()
        events.append(event)

    s = open_store(store_path, draft_hooks=[record], clock=Clock())  # type: ignore[arg-type]
    d = s.drafts.save(new_draft())
    d = s.drafts.save(d.with_section_text("plan", "12345"))
    s.drafts.set_status(d.id, DraftStatus.DISCARDED)
    s.drafts.delete(d.id)
    assert [e.kind for e in events] == [
        DraftEventKind.CREATED,
        DraftEventKind.SAVED,
        DraftEventKind.STATUS_CHANGED,
        DraftEventKind.DELETED,
    ]
    assert events[1].characters >= 5 and events[1].revision == 2
    assert not any("12345" in repr(v) for e in events for v in vars(e).values())  # counts, not text
    s.close()


def test_a_failing_hook_rolls_the_change_back(store_path: object, new_draft: NewDraft) -> None:
    def explode(conn: Connection, event: DraftEvent) -> None:
        raise RuntimeError("audit failed")

    s = open_store(store_path, draft_hooks=[explode])  # type: ignore[arg-type]
    with pytest.raises(RuntimeError):
        s.drafts.save(new_draft())
    assert s.drafts.list_recent() == []
    s.close()


def test_shared_transaction_across_calls(store: Store, new_draft: NewDraft) -> None:
    d = new_draft()
    with pytest.raises(ZeroDivisionError), store.db.write() as conn:
        store.drafts.save(d, conn=conn)
        conn.execute(text("SELECT 1"))
        raise ZeroDivisionError  # the caller's later step fails: nothing is kept
    assert store.drafts.find(d.id) is None
