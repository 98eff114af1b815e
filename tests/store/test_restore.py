"""Restoring a store from one of its backups: every check passes before anything is replaced,
and the replaced files are kept (issue 10, item 1)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from keyring.backend import KeyringBackend

from app.domain.audit import AuditKind
from app.store.backup import take_backup
from app.store.crypto import StoreKeyring
from app.store.errors import StoreMissing
from app.store.protected import open_protected_store
from app.store.restore import BackupUnusable, list_backups, restore_backup
from app.store.store_files import backup_files, read_anchor
from tests.store.damage import make_store, snapshot, zeroed_header
from tests.store.protected_support import decision_json, file_keyring, marker_commit, marker_draft

T0 = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def keyring_backend(tmp_path: Path) -> KeyringBackend:
    return file_keyring(tmp_path / "keyring")


@pytest.fixture
def keys(keyring_backend: KeyringBackend) -> StoreKeyring:
    return StoreKeyring(keyring_backend)


@pytest.fixture
def store_path(tmp_path: Path, keys: StoreKeyring) -> Path:
    """A store with two unsent approved notes and a backup of it; then one more approval
    that only the store holds."""
    path = tmp_path / "site" / "store.db"
    make_store(path, keys, commits=2)
    take_backup(path, now=T0)
    ps = open_protected_store(path, keys)
    draft = ps.store.drafts.save(marker_draft())
    ps.store.outbox.enqueue_approval(marker_commit(), decision_json(draft))
    ps.close()
    ps = open_protected_store(path, keys)  # the anchor learns the newest audit record
    ps.close()
    return path


def test_a_store_cut_to_zero_comes_back_from_its_backup(
    store_path: Path, keys: StoreKeyring
) -> None:
    anchor = read_anchor(store_path)
    assert anchor is not None
    store_path.write_bytes(b"")
    with pytest.raises(StoreMissing) as refused:
        open_protected_store(store_path, keys)
    assert refused.value.backups == 1
    (info,) = list_backups(store_path)
    assert info.unsent == 2 and info.taken_at == T0
    outcome = restore_backup(store_path, info.path, keys, now=T0 + timedelta(days=1))
    assert outcome.check.unsent == 2 and outcome.check.store_id == anchor.store_id
    assert outcome.records_not_in_backup and outcome.records_not_in_backup > 0
    (kept,) = outcome.set_aside
    assert kept.name == "store.db.replaced-20250311T120000Z" and kept.read_bytes() == b""
    ps = open_protected_store(store_path, keys)
    try:
        assert ps.store.outbox.summary().pending == 2  # the two notes the backup held
        assert not ps.key_created
        assert ps.audit.verify().ok
        (record,) = ps.audit.query(kinds=[AuditKind.STORE_RESTORED])
        assert record.event.details["backup"] == info.path.name
        assert record.event.details["set_aside"] == [kept.name]
    finally:
        ps.close()


def test_a_damaged_store_is_set_aside_unchanged(
    store_path: Path, keys: StoreKeyring, tmp_path: Path
) -> None:
    store_path.write_bytes(zeroed_header(store_path.read_bytes()))
    damaged = store_path.read_bytes()
    outcome = restore_backup(store_path, backup_files(store_path)[-1], keys, now=T0)
    assert [p.read_bytes() for p in outcome.set_aside[:1]] == [damaged]


def _refused_unchanged(store_path: Path, backup: Path, keys: StoreKeyring, root: Path) -> str:
    before = snapshot(root)
    with pytest.raises(BackupUnusable) as exc:
        restore_backup(store_path, backup, keys, now=T0)
    assert snapshot(root) == before
    assert "Nothing was changed" in exc.value.user_message
    return exc.value.user_message


def test_a_backup_with_an_altered_audit_log_is_refused(
    store_path: Path, keys: StoreKeyring, tmp_path: Path
) -> None:
    backup = backup_files(store_path)[-1]
    with sqlite3.connect(backup) as c:
        c.execute("DROP TRIGGER audit_log_no_update")
        c.execute("UPDATE audit_log SET actor = 'Practitioner/mallory' WHERE seq = 1")
    c.close()
    assert "audit log does not verify" in _refused_unchanged(store_path, backup, keys, tmp_path)


def test_a_backup_whose_key_is_not_here_is_refused(store_path: Path, tmp_path: Path) -> None:
    other_keys = StoreKeyring(file_keyring(tmp_path / "other-keyring"))
    message = _refused_unchanged(store_path, backup_files(store_path)[-1], other_keys, tmp_path)
    assert "is not in this computer's keyring" in message


def test_a_backup_of_another_store_is_refused(
    store_path: Path, keys: StoreKeyring, tmp_path: Path
) -> None:
    other = tmp_path / "other-site" / "store.db"
    make_store(other, keys, commits=1)
    backup = take_backup(other, now=T0)
    assert "another store" in _refused_unchanged(store_path, backup, keys, tmp_path)


def test_a_damaged_backup_is_refused(store_path: Path, keys: StoreKeyring, tmp_path: Path) -> None:
    backup = backup_files(store_path)[-1]
    backup.write_bytes(zeroed_header(backup.read_bytes()))
    assert "not an SQLite database" in _refused_unchanged(store_path, backup, keys, tmp_path)
