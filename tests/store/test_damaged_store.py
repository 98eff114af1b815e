"""A damaged or vanished store is refused with the "damaged, ask IT to restore" message, and
every file (and the keyring) is left exactly as it was (issue 10, items 1 and 4)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from keyring.backend import KeyringBackend

from app.domain.audit import AuditKind
from app.store.crypto import StoreKeyring
from app.store.errors import StoreCorrupt, StoreMissing
from app.store.protected import open_protected_store
from app.store.store import open_store
from app.store.store_files import anchor_path, read_anchor, wal_path
from tests.store.damage import DAMAGE, make_store, snapshot
from tests.store.protected_support import (
    decision_json,
    file_keyring,
    marker_commit,
    marker_draft,
)


@pytest.fixture
def keyring_backend(tmp_path: Path) -> KeyringBackend:
    return file_keyring(tmp_path / "keyring")


@pytest.fixture
def keys(keyring_backend: KeyringBackend) -> StoreKeyring:
    return StoreKeyring(keyring_backend)


@pytest.fixture
def store_path(tmp_path: Path, keys: StoreKeyring) -> Path:
    path = tmp_path / "site" / "store.db"
    make_store(path, keys)
    return path


def refused_untouched(path: Path, keys: StoreKeyring, tmp_path: Path) -> StoreCorrupt:
    """Open ``path`` as the app does; it must fail as damaged and change no file anywhere
    (store folder and keyring)."""
    before = snapshot(tmp_path)
    with pytest.raises(StoreCorrupt) as exc:
        open_protected_store(path, keys)
    assert snapshot(tmp_path) == before
    assert "is damaged" in exc.value.user_message
    assert "restore it from a backup" in exc.value.user_message
    return exc.value


# ---------------------------------------------------------------- item 1: vanished stores


def test_a_store_cut_to_zero_bytes_is_refused_not_recreated(
    store_path: Path, keys: StoreKeyring, tmp_path: Path
) -> None:
    anchor = read_anchor(store_path)
    assert anchor is not None and keys.load(anchor.store_id) is not None
    store_path.write_bytes(b"")
    error = refused_untouched(store_path, keys, tmp_path)
    assert isinstance(error, StoreMissing)
    assert "it is empty" in error.user_message and anchor.store_id in error.user_message
    assert "key is still in this computer's keyring" in error.user_message


def test_a_store_file_that_is_gone_is_refused_when_its_anchor_is_there(
    store_path: Path, keys: StoreKeyring, tmp_path: Path
) -> None:
    store_path.unlink()
    error = refused_untouched(store_path, keys, tmp_path)
    assert isinstance(error, StoreMissing) and "it is missing" in error.user_message
    assert not store_path.exists()


def test_a_write_ahead_log_alone_shows_a_store_existed(
    store_path: Path, keys: StoreKeyring, tmp_path: Path
) -> None:
    anchor_path(store_path).unlink()  # a store from before anchors: only its WAL is left
    wal_path(store_path).write_bytes(b"\x37\x7f\x06\x82" + b"\0" * 28)
    store_path.write_bytes(b"")
    error = refused_untouched(store_path, keys, tmp_path)
    assert "write-ahead log" in error.user_message


def test_a_new_store_is_still_created_where_none_existed(
    tmp_path: Path, keys: StoreKeyring
) -> None:
    path = tmp_path / "fresh" / "store.db"
    path.parent.mkdir()
    path.write_bytes(b"")  # a first start that stopped before anything was written
    ps = open_protected_store(path, keys)
    try:
        assert ps.key_created and read_anchor(path) is not None
    finally:
        ps.close()


def test_without_create_an_empty_file_is_refused_even_without_evidence(
    tmp_path: Path, keys: StoreKeyring
) -> None:
    with pytest.raises(StoreMissing):
        open_protected_store(tmp_path / "nothing" / "store.db", keys, create=False)
    assert not (tmp_path / "nothing" / "store.db").exists()


def test_the_anchor_follows_the_audit_log_and_an_older_copy_is_noticed(
    store_path: Path, keys: StoreKeyring, tmp_path: Path
) -> None:
    old_copy = store_path.read_bytes()
    ps = open_protected_store(store_path, keys)
    draft = ps.store.drafts.save(marker_draft())
    ps.store.outbox.enqueue_approval(marker_commit(), decision_json(draft))
    head = ps.audit.head()
    ps.close()
    ps = open_protected_store(store_path, keys)  # the anchor now knows the newer head
    ps.close()
    anchor = read_anchor(store_path)
    assert anchor is not None and head is not None and anchor.audit_seq == head.seq
    store_path.write_bytes(old_copy)  # someone put an older copy back by hand
    for side in ("-wal", "-shm"):
        store_path.with_name(store_path.name + side).unlink(missing_ok=True)
    ps = open_protected_store(store_path, keys)
    try:
        assert any("older copy" in w for w in ps.warnings)
        (record,) = ps.audit.query(kinds=[AuditKind.STORE_RESTORED])
        assert record.event.details["anchor_seq"] == head.seq
    finally:
        ps.close()


# ---------------------------------------------------------------- item 4: damaged files


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_every_kind_of_damage_is_refused_as_damaged_and_nothing_changes(
    store_path: Path, keys: StoreKeyring, tmp_path: Path, damage: str
) -> None:
    store_path.write_bytes(DAMAGE[damage](store_path.read_bytes()))
    refused_untouched(store_path, keys, tmp_path)


def test_flipped_schema_text_used_to_escape_as_a_unicode_error(store_path: Path) -> None:
    """The reproduction of issue 10: Python's sqlite3 cannot decode SQLite's message, which
    quotes the damaged schema; that must be the damaged store, not a UnicodeDecodeError."""
    store_path.write_bytes(DAMAGE["flipped schema text"](store_path.read_bytes()))
    raw = sqlite3.connect(store_path)
    with pytest.raises(UnicodeDecodeError):
        raw.execute("PRAGMA journal_mode=WAL")
    raw.close()
    with pytest.raises(StoreCorrupt):
        open_store(store_path)


def test_a_schema_version_that_is_not_ours_is_damage_not_a_newer_app(store_path: Path) -> None:
    with sqlite3.connect(store_path) as raw:
        raw.execute("UPDATE alembic_version SET version_num = '0003_encryptiïn_audit'")
    raw.close()
    with pytest.raises(StoreCorrupt) as exc:
        open_store(store_path)
    assert "schema version is unreadable" in exc.value.user_message


def test_a_renamed_column_is_damage(store_path: Path) -> None:
    with sqlite3.connect(store_path) as raw:
        raw.execute("ALTER TABLE sync_status RENAME COLUMN value TO valuf")
    raw.close()
    with pytest.raises(StoreCorrupt) as exc:
        open_store(store_path)
    assert "sync_status" in exc.value.user_message
