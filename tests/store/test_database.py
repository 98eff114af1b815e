"""Opening the store: migrations from empty, connection settings, refusing bad files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from app.store.database import head_revision
from app.store.errors import StoreClosed, StoreCorrupt, StoreTooNew, StoreUnavailable
from app.store.schema import metadata
from app.store.store import Store, open_store


def test_migrates_an_empty_file_to_head(store: Store, store_path: Path) -> None:
    assert store_path.exists()
    assert store.schema_revision() == head_revision()
    with sqlite3.connect(store_path) as raw:
        tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"drafts", "alembic_version"} <= tables


def test_migrations_match_the_schema_module(store: Store) -> None:
    with store.db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diffs == []


def test_connection_settings(store: Store) -> None:
    with store.db.read() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 5000


def test_reopening_is_idempotent(store_path: Path) -> None:
    open_store(store_path).close()
    s = open_store(store_path)
    assert s.schema_revision() == head_revision()
    s.close()


def test_store_from_a_newer_version_is_refused(store_path: Path) -> None:
    open_store(store_path).close()
    with sqlite3.connect(store_path) as raw:
        raw.execute("UPDATE alembic_version SET version_num = '9999_future'")
    with pytest.raises(StoreTooNew) as exc:
        open_store(store_path)
    assert "newer version" in exc.value.user_message


def test_a_file_that_is_not_a_database_is_refused_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreCorrupt) as exc:
        open_store(path)
    assert "restore it from a backup" in exc.value.user_message
    assert path.read_bytes() == b"this is not sqlite" * 100


def test_groups_that_keep_their_connection_share_it_and_a_closed_store_still_refuses(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 15: inside ``group_connection_kept`` the groups of a thread use one connection
    (each still its own transaction); once the store is closed the next group is refused and
    the kept connection is closed, not reused."""
    s = open_store(tmp_path / "kept.db")
    drivers = []
    with s.db.group_connection_kept():
        for n in range(2):
            with s.db.group(), s.db.write() as c:
                c.execute(text("INSERT INTO sync_status (key, value) VALUES (:k, 'v')"), {"k": n})
                drivers.append(c.connection.driver_connection)
        assert drivers[0] is drivers[1]
        with s.db.read() as c:  # committed: a read outside the group sees both
            assert c.execute(text("SELECT count(*) FROM sync_status")).scalar() == 2
        s.close()
        with pytest.raises(StoreClosed), s.db.group():
            pass
    with pytest.raises(sqlite3.ProgrammingError):  # closed, not left open for the collector
        drivers[0].execute("SELECT 1")
    assert "used after it was closed" in caplog.text


def test_unwritable_folder_is_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreUnavailable):
        open_store(blocker / "sub" / "store.db")


def test_a_closed_store_refuses_to_be_used_and_does_not_reconnect(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """SQLAlchemy opens a new connection after ``dispose``: a late save to a closed store used
    to reopen the file quietly and keep it open. Now it is refused, in words, and logged."""
    s = open_store(tmp_path / "late.db")
    s.close()
    for use in (lambda: s.db.read(), lambda: s.db.write(), lambda: s.db.write(durable=False)):
        with pytest.raises(StoreClosed) as refused, use():
            pass
        assert "already closed" in refused.value.user_message
    with pytest.raises(StoreClosed), s.db.group():
        pass
    assert isinstance(refused.value, StoreUnavailable)
    assert s.db.engine.pool.checkedin() == 0  # type: ignore[attr-defined]  # nothing reopened
    assert "used after it was closed" in caplog.text
