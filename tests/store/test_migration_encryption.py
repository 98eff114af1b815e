"""Stores written before encryption are upgraded in place: schema 0003, every plain value sealed,
no plain copy left in the file or its WAL, nothing lost — including after a crash halfway."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from alembic import command

from app.domain.audit import AuditKind
from app.domain.draft import DraftStatus
from app.domain.outbox import OutboxState
from app.store import database
from app.store.crypto import FORMAT_ID, AesGcmProtector, DataKey, StoreKeyring
from app.store.database import (
    Database,
    alembic_config,
    create_store_engine,
    head_revision,
    open_database,
)
from app.store.drafts import DraftRepository
from app.store.protected import (
    SCRUB_PENDING,
    ensure_store_id,
    open_protected_store,
    seal_plaintext_rows,
)
from tests.store.conftest import Clock
from tests.store.protected_support import (
    MARKER,
    PATIENT_NAME,
    file_keyring,
    files_containing,
    marker_draft,
)

FIXTURE = Path(__file__).resolve().parent / "data" / "store-before-encryption.db"
NAME_IN_FIXTURE = f"Elena {MARKER} Garcia"


@pytest.fixture
def keys(tmp_path: Path) -> StoreKeyring:
    return StoreKeyring(file_keyring(tmp_path / "keyring"))


@pytest.fixture(autouse=True)
def windows_like_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    """Debian builds SQLite with secure_delete on (freed space is zeroed); the SQLite bundled
    with Python on Windows does not. Turn it off so the tests see what a Windows laptop keeps
    in free pages."""
    original = database._on_connect

    def on_connect(dbapi_connection: sqlite3.Connection, record: Any) -> None:
        original(dbapi_connection, record)
        dbapi_connection.execute("PRAGMA secure_delete=OFF")

    monkeypatch.setattr(database, "_on_connect", on_connect)


@pytest.fixture
def old_store(tmp_path: Path) -> Path:
    """The file the previous version wrote (see data/make_store_before_encryption.py)."""
    folder = tmp_path / "user"
    folder.mkdir()
    shutil.copy(FIXTURE, folder / "store.db")
    return folder / "store.db"


def _revision(path: Path) -> str:
    with sqlite3.connect(path) as raw:
        return str(raw.execute("SELECT version_num FROM alembic_version").fetchone()[0])


def test_the_fixture_is_a_plain_store_of_the_previous_version(old_store: Path) -> None:
    assert _revision(old_store) == "0002_outbox"
    assert files_containing(old_store.parent, MARKER) == ["store.db"]


def test_a_store_from_before_encryption_is_upgraded_in_place(
    old_store: Path, keys: StoreKeyring
) -> None:
    ps = open_protected_store(old_store, keys, clock=Clock())
    try:
        assert ps.store.schema_revision() == head_revision() == "0012_chart_cache"
        assert (
            ps.key_created and ps.sealed_rows == 16
        )  # 5 drafts, 6 payloads, 3 decisions, 1 conflict, 1 error text
        # everything is still there, through the repositories
        (open_draft,) = ps.store.drafts.list_unfinished()
        assert open_draft.patient.display == NAME_IN_FIXTURE
        assert all(MARKER in s.text for s in open_draft.sections)
        assert open_draft.revision == 2
        every = ps.store.drafts.list_recent(limit=10)
        assert sorted(d.status.value for d in every) == sorted(
            ["open", "discarded", "approved", "approved", "approved"]
        )
        rows = ps.store.outbox.list_items()
        assert [r.state for r in rows] == [
            OutboxState.CONFIRMED,
            OutboxState.CONFLICT,
            OutboxState.QUEUED,
        ]
        confirmed = ps.store.outbox.get(rows[0].commit_id)
        assert [w.server_id for w in confirmed.writes] == ["doc-9", "task-9"]
        conflict = ps.store.outbox.get(rows[1].commit_id)
        assert conflict.conflict is not None and conflict.conflict.mine == {"description": MARKER}
        queued = ps.store.outbox.get(rows[2].commit_id)
        assert queued.commit.verify() and NAME_IN_FIXTURE in queued.commit.writes[1].payload_json
        assert queued.decision_json is not None and NAME_IN_FIXTURE in queued.decision_json
        (sealed,) = ps.audit.query(kinds=[AuditKind.STORE_SEALED])
        assert sealed.event.details == {
            "drafts.body": 5,
            "outbox_writes.payload": 6,
            "outbox_commits.decision": 3,
            "outbox_commits.conflict": 1,
            "outbox_commits.error_text": 1,
        }
        # the upgrade left no plain copy: not in the file, not in its WAL, not in free pages
        assert files_containing(old_store.parent, MARKER) == []
        assert files_containing(old_store.parent, "chest pain") == []
    finally:
        ps.close()
    with sqlite3.connect(old_store) as raw:
        formats = raw.execute(
            "SELECT DISTINCT body_format FROM drafts UNION SELECT DISTINCT payload_format "
            "FROM outbox_writes UNION SELECT DISTINCT decision_format FROM outbox_commits"
        ).fetchall()
    assert formats == [(FORMAT_ID,)]
    again = open_protected_store(old_store, keys)
    try:
        assert again.sealed_rows == 0 and not again.key_created
        assert again.audit.verify().ok
    finally:
        again.close()


def test_a_store_at_the_first_revision_is_upgraded_too(tmp_path: Path, keys: StoreKeyring) -> None:
    path = tmp_path / "user" / "store.db"
    path.parent.mkdir()
    db = Database(create_store_engine(path), path)
    with db.write() as conn:
        command.upgrade(alembic_config(conn), "0001_drafts")
    draft = DraftRepository(db).save(marker_draft())
    db.close()
    assert _revision(path) == "0001_drafts"
    assert files_containing(path.parent, MARKER)

    ps = open_protected_store(path, keys)
    try:
        assert ps.store.drafts.get(draft.id).patient.display == PATIENT_NAME
        assert ps.store.outbox.list_items() == []
        assert files_containing(path.parent, MARKER) == []
    finally:
        ps.close()


def test_a_crash_while_sealing_leaves_the_store_as_it_was(
    old_store: Path, keys: StoreKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    real = AesGcmProtector.protect

    def flaky(self: AesGcmProtector, plaintext: bytes, *, context: bytes) -> bytes:
        calls["n"] += 1
        if calls["n"] == 8:
            raise OSError("power cut (simulated)")
        return real(self, plaintext, context=context)

    monkeypatch.setattr(AesGcmProtector, "protect", flaky)
    with pytest.raises(OSError):
        open_protected_store(old_store, keys)
    monkeypatch.undo()
    with sqlite3.connect(old_store) as raw:
        plain = raw.execute("SELECT count(*) FROM drafts WHERE body_format = 1").fetchone()[0]
    assert plain == 5  # all or nothing
    ps = open_protected_store(old_store, keys)
    try:
        assert ps.sealed_rows == 16 and not ps.key_created  # same key as the first attempt
        assert files_containing(old_store.parent, MARKER) == []
    finally:
        ps.close()


def test_a_crash_between_sealing_and_scrubbing_is_finished_at_the_next_open(
    old_store: Path, keys: StoreKeyring
) -> None:
    db = open_database(old_store)  # schema 0003, values still plain
    store_id = ensure_store_id(db)
    key = DataKey.generate()
    keys.save(store_id, key)
    assert sum(seal_plaintext_rows(db, AesGcmProtector(key)).values()) == 16
    db.close()  # "crash": no VACUUM, no WAL truncate
    with sqlite3.connect(old_store) as raw:
        pending = raw.execute(
            "SELECT text FROM store_meta WHERE key = ?", (SCRUB_PENDING,)
        ).fetchone()
    assert pending == ("1",)
    assert files_containing(old_store.parent, MARKER), "sealing alone leaves plain remnants"

    again = open_protected_store(old_store, keys)
    try:
        assert again.sealed_rows == 0 and not again.key_created
        assert again.store.drafts.list_unfinished()[0].status is DraftStatus.OPEN
        assert files_containing(old_store.parent, MARKER) == []
    finally:
        again.close()
    with sqlite3.connect(old_store) as raw:
        left = raw.execute("SELECT count(*) FROM store_meta WHERE key = ?", (SCRUB_PENDING,))
        assert left.fetchone() == (0,)
