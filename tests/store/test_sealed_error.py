"""The EHR's words for a commit's last error are sealed like the other PHI fields, with a
PHI-free class kept in the clear for lists (issue 10, item 7). The marker scan of
tests/store/test_crypto.py covers a refusal text; here: the upgrade of older stores, the
control that the scan would find a plain text, and a damaged sealed text."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from alembic import command

from app.domain.outbox import ErrorClass, OutboxState, SyncEvent
from app.store.crypto import StoreKeyring
from app.store.database import Database, alembic_config, create_store_engine
from app.store.protected import open_protected_store
from app.store.store import open_store
from tests.store.protected_support import (
    MARKER,
    PATIENT_NAME,
    file_keyring,
    files_containing,
    marker_commit,
)
from tests.sync.commits import clinical_commit

FIXTURE = Path(__file__).resolve().parent / "data" / "store-before-encryption.db"
ECHO = f"The EHR said: no coverage on file for {PATIENT_NAME}."


@pytest.fixture
def keys(tmp_path: Path) -> StoreKeyring:
    return StoreKeyring(file_keyring(tmp_path / "keyring"))


def test_a_plain_error_text_is_found_by_the_scan(tmp_path: Path) -> None:
    """The control: without the protector, the error text lands on disk as it is (the commit
    itself holds no marker, so the scan can only find the error text)."""
    path = tmp_path / "plain" / "store.db"
    store = open_store(path)
    try:
        commit = store.outbox.enqueue_approval(clinical_commit(), "{}")
        store.outbox.apply(commit.commit_id, SyncEvent.SEND_STARTED)
        store.outbox.apply(commit.commit_id, SyncEvent.PERMANENT_REJECTION, error=ECHO)
        assert files_containing(path.parent, MARKER)
    finally:
        store.close()


def test_error_texts_of_an_older_store_are_sealed_at_the_upgrade(
    tmp_path: Path, keys: StoreKeyring
) -> None:
    """A store of revision 0003 kept ``last_error`` in plain text: the first open of this
    version moves it into the sealed column, seals it and leaves no plain copy on disk."""
    path = tmp_path / "user" / "store.db"
    path.parent.mkdir()
    shutil.copy(FIXTURE, path)  # revision 0002, plain values
    db = Database(create_store_engine(path), path)
    with db.write() as conn:
        command.upgrade(alembic_config(conn), "0003_encryption_audit")
        conn.exec_driver_sql(
            "UPDATE outbox_commits SET last_error = ? WHERE state = 'conflict'", (ECHO,)
        )
    db.close()
    assert "store.db" in files_containing(path.parent, MARKER)

    ps = open_protected_store(path, keys)
    try:
        (conflict,) = ps.store.outbox.list_items(states=[OutboxState.CONFLICT])
        assert conflict.error_class is ErrorClass.CONFLICT  # from its last event
        assert conflict.item.last_error == ECHO
        assert files_containing(path.parent, MARKER) == []  # file, WAL and free pages
    finally:
        ps.close()
    assert files_containing(path.parent, MARKER) == []


def test_a_damaged_error_text_does_not_break_the_list(tmp_path: Path, keys: StoreKeyring) -> None:
    ps = open_protected_store(tmp_path / "user" / "store.db", keys)
    try:
        outbox = ps.store.outbox
        commit = outbox.enqueue_approval(marker_commit(), "{}")
        outbox.apply(commit.commit_id, SyncEvent.SEND_STARTED)
        outbox.apply(commit.commit_id, SyncEvent.PERMANENT_REJECTION, status=422, error=ECHO)
        with ps.store.db.write() as conn:  # one bit of the sealed text flipped on disk
            blob = conn.exec_driver_sql("SELECT error_text FROM outbox_commits").scalar_one()
            flipped = bytes([*blob[:-1], blob[-1] ^ 1])
            conn.exec_driver_sql("UPDATE outbox_commits SET error_text = ?", (flipped,))
        (row,) = outbox.list_items()
        assert row.error_class is ErrorClass.REFUSED
        assert row.item.last_error is not None and "cannot be read" in row.item.last_error
        assert PATIENT_NAME not in row.item.last_error
    finally:
        ps.close()
