"""Automatic local backups of the store: taken after approvals and daily, off the caller's
thread, rotated, checked, and encrypted at rest like the store (issue 10, item 1)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from keyring.backend import KeyringBackend

from app.store.backup import (
    BackupPolicy,
    StoreBackups,
    backup_time,
    rotate,
    take_backup,
)
from app.store.crypto import StoreKeyring
from app.store.errors import StoreCorrupt
from app.store.protected import ProtectedStore, open_protected_store
from app.store.store import open_store
from app.store.store_files import backup_dir, backup_files, read_anchor
from tests.store.damage import flipped_page_one
from tests.store.protected_support import (
    MARKER,
    decision_json,
    file_keyring,
    files_containing,
    marker_commit,
    marker_draft,
)

T0 = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def keyring_backend(tmp_path: Path) -> KeyringBackend:
    return file_keyring(tmp_path / "keyring")


@pytest.fixture
def keys(keyring_backend: KeyringBackend) -> StoreKeyring:
    return StoreKeyring(keyring_backend)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    return tmp_path / "site"


@pytest.fixture
def protected(site: Path, keys: StoreKeyring) -> Iterator[ProtectedStore]:
    ps = open_protected_store(site / "store.db", keys, actor=lambda: "Practitioner/prac-1")
    yield ps
    ps.close()


def approve(ps: ProtectedStore) -> None:
    draft = ps.store.drafts.save(marker_draft())
    ps.store.outbox.enqueue_approval(marker_commit(), decision_json(draft))


def wait_until(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.02)


def test_an_approval_batch_makes_one_backup_off_the_approving_thread(
    protected: ProtectedStore, keys: StoreKeyring, tmp_path: Path
) -> None:
    backups = StoreBackups(protected.path, settle=0.5, check_every=3600)
    protected.store.outbox.subscribe(backups.on_outbox_change)
    backups.start()
    wait_until(lambda: backups.backups_taken == 1)  # the first start: no backup yet -> one
    started = time.monotonic()
    for _ in range(3):
        approve(protected)
    # Approving did not wait for a backup: waiting would cost at least the 0.5 s settle time
    # per approval (1.5 s); the bound leaves room for a busy machine's fsyncs.
    assert time.monotonic() - started < 1.4
    wait_until(lambda: backups.backups_taken == 2)
    time.sleep(0.7)
    backups.close()
    assert backups.backups_taken == 2 and backups.last_problem is None  # one for the batch
    newest = backup_files(protected.path)[-1]
    copy = tmp_path / "check" / "store.db"
    copy.parent.mkdir()
    shutil.copyfile(newest, copy)
    opened = open_protected_store(copy, keys)  # the store's own key opens it
    try:
        assert opened.store.outbox.summary().pending == 3
        assert opened.audit.verify().ok
    finally:
        opened.close()


def test_close_takes_the_backup_still_asked_for(protected: ProtectedStore) -> None:
    backups = StoreBackups(protected.path, settle=30, check_every=3600)
    protected.store.outbox.subscribe(backups.on_outbox_change)
    backups.start()
    wait_until(lambda: backups.backups_taken == 1)
    approve(protected)
    backups.close()  # does not wait the 30 s settle time
    assert backups.backups_taken == 2
    anchor = read_anchor(protected.path)
    head = protected.audit.head()
    assert anchor is not None and head is not None and anchor.audit_seq == head.seq


def test_an_approval_just_before_closing_is_backed_up(protected: ProtectedStore) -> None:
    """Closing while the first backup of the start runs must not drop the one asked for."""
    backups = StoreBackups(protected.path, settle=30, check_every=3600)
    protected.store.outbox.subscribe(backups.on_outbox_change)
    backups.start()
    approve(protected)
    backups.close()
    assert backups.backups_taken == 2
    assert len(backup_files(protected.path)) == 2


def test_a_daily_backup_is_taken_when_the_newest_is_a_day_old(protected: ProtectedStore) -> None:
    take_backup(protected.path, now=T0)
    clock = {"now": T0 + timedelta(hours=23)}
    backups = StoreBackups(protected.path, clock=lambda: clock["now"], check_every=0.05)
    backups.start()
    time.sleep(0.3)
    assert backups.backups_taken == 0
    clock["now"] = T0 + timedelta(hours=24, minutes=1)
    wait_until(lambda: backups.backups_taken == 1)
    backups.close()
    assert [backup_time(p) for p in backup_files(protected.path)] == [T0, clock["now"]]


def test_rotation_keeps_the_newest_and_one_a_day(protected: ProtectedStore) -> None:
    times = [T0 + timedelta(days=d, hours=h) for d in range(5) for h in (1, 2, 3)]
    for t in times:
        take_backup(protected.path, now=t, policy=BackupPolicy(keep_recent=100, keep_daily=100))
    (backup_dir(protected.path) / "store-x.db.partial").write_bytes(b"left by a crash")
    rotate(protected.path, BackupPolicy(keep_recent=4, keep_daily=3))
    kept = [backup_time(p) for p in backup_files(protected.path)]
    newest_of_last_3_days = [T0 + timedelta(days=d, hours=3) for d in (2, 3, 4)]
    assert kept == sorted({*newest_of_last_3_days, *times[-4:]})
    assert len(kept) == 5
    assert not list(backup_dir(protected.path).glob("*.partial"))


def test_a_damaged_store_gives_no_backup(protected: ProtectedStore, tmp_path: Path) -> None:
    approve(protected)
    protected.close()  # folds the WAL into the file
    broken = tmp_path / "broken" / "store.db"
    broken.parent.mkdir()
    broken.write_bytes(flipped_page_one(protected.path.read_bytes()))
    with pytest.raises(StoreCorrupt):
        take_backup(broken, now=T0)
    assert backup_files(broken) == []
    assert not list(backup_dir(broken).glob("*.partial"))


# ---------------------------------------------------------------- encrypted at rest


def test_backups_hold_no_patient_data_in_the_clear(protected: ProtectedStore, site: Path) -> None:
    """The store is sealed field by field, so its page copies are too: the marker the note,
    names, payloads and decision carry is in no backup (nor any other file of the folder)."""
    approve(protected)
    approve(protected)
    take_backup(protected.path, now=T0)
    assert backup_files(protected.path)
    assert files_containing(site, MARKER) == []


def test_the_scan_finds_the_marker_in_a_backup_of_a_plain_store(tmp_path: Path) -> None:
    """The check above can fail: a store written without encryption leaks into its backup."""
    path = tmp_path / "plain" / "store.db"
    store = open_store(path)
    try:
        store.drafts.save(marker_draft())
        take_backup(path, now=T0)
    finally:
        store.close()
    assert files_containing(backup_dir(path), MARKER)
