"""IT's side of the backups: list them, check one, put it back in place of the store.

``restore_backup`` replaces nothing until the backup has passed every check, on a copy (the
backup itself is only read):

1. SQLite's ``integrity_check`` passes and the schema is one this app knows (migrated if older);
2. the backup names a store whose key is in this computer's keyring, and that key opens it
   (the sealed check value), and it is the store of this site (the anchor's store id);
3. its audit chain verifies (hashes, links, seals, head).

Then the current files (``store.db`` and any ``-wal``/``-shm``, however damaged) are renamed
``store.db.replaced-<UTC time>`` (never deleted), the checked copy takes the store's place,
and the restored store's audit log records ``store_restored``: which backup, what was set
aside, and how many audit records (the anchor's count) are not in the backup.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from app.domain.audit import AuditEvent, AuditKind
from app.domain.clock import file_stamp, utc_now
from app.domain.outbox import OutboxState
from app.store.audit import AuditLog
from app.store.audit_tables import store_meta
from app.store.backup import backup_time
from app.store.crypto import AesGcmProtector, StoreKeyring
from app.store.database import Database, open_database
from app.store.errors import StoreError
from app.store.file_check import header_problem
from app.store.outbox_tables import outbox_commits
from app.store.protected import STORE_ID, key_check, open_protected_store
from app.store.store_files import (
    SIDE_SUFFIXES,
    StoreAnchor,
    backup_files,
    fsync_file,
    read_anchor,
    write_anchor,
)

_DONE = (OutboxState.CONFIRMED.value, OutboxState.DISCARDED.value)


class BackupUnusable(StoreError):
    """The backup fails a check; nothing was replaced."""

    def __init__(self, backup: Path, why: str) -> None:
        super().__init__(f"The backup {backup} cannot be used: {why}. Nothing was changed.")


@dataclass(frozen=True)
class BackupInfo:
    """One backup as ``store backups`` lists it (plain columns only: no key needed)."""

    path: Path
    taken_at: datetime | None
    size: int
    audit_seq: int | None  # None: unreadable
    unsent: int | None


@dataclass(frozen=True)
class BackupCheck:
    backup: Path
    taken_at: datetime | None
    store_id: str
    key_id: str
    audit_records: int
    audit_seq: int
    audit_hash: str | None
    unsent: int


@dataclass(frozen=True)
class RestoreOutcome:
    check: BackupCheck
    set_aside: tuple[Path, ...]  # the files that were in the store's place
    records_not_in_backup: int | None  # audit records the anchor saw after the backup


def list_backups(store_path: Path) -> list[BackupInfo]:
    """The store's backups, newest first."""
    infos = []
    for path in reversed(backup_files(store_path)):
        seq: int | None = None
        unsent: int | None = None
        try:
            uri = path.resolve().as_uri() + "?mode=ro&immutable=1"
            with closing(sqlite3.connect(uri, uri=True)) as c:
                row = c.execute("SELECT seq FROM audit_head WHERE id = 1").fetchone()
                seq = 0 if row is None else int(row[0])
                unsent = int(
                    c.execute(
                        "SELECT count(*) FROM outbox_commits WHERE state NOT IN (?, ?)", _DONE
                    ).fetchone()[0]
                )
        except sqlite3.Error:
            pass
        infos.append(BackupInfo(path, backup_time(path), path.stat().st_size, seq, unsent))
    return infos


def check_backup(backup: Path, keys: StoreKeyring, *, work: Path) -> BackupCheck:
    """Check ``backup`` on a copy written to ``work`` (left there, checked, for the restore).
    Raises ``BackupUnusable`` (or ``StoreKeyUnavailable``: the keyring cannot be reached)."""
    try:
        _remove(work)
        with open(backup, "rb") as src, open(work, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
    except OSError as exc:
        raise BackupUnusable(backup, f"it cannot be read ({exc.strerror or exc})") from exc
    problem = header_problem(work, work.stat().st_size) if work.stat().st_size else "it is empty"
    if problem is not None:
        _remove(work)
        raise BackupUnusable(backup, problem)
    try:
        db = open_database(work, create=False)
    except StoreError as exc:
        _remove(work)
        raise BackupUnusable(backup, "it is damaged or not a store of this app") from exc
    try:
        check = _check_open(backup, db, keys)
    except BaseException:
        db.close()
        _remove(work)
        raise
    db.close()
    _fold_wal(work)
    return check


def _check_open(backup: Path, db: Database, keys: StoreKeyring) -> BackupCheck:
    with db.read() as c:
        verdict = c.exec_driver_sql("PRAGMA integrity_check").scalar()
        store_id = c.execute(select(store_meta.c.text).where(store_meta.c.key == STORE_ID)).scalar()
        unsent = c.execute(
            select(func.count()).where(outbox_commits.c.state.not_in(_DONE))
        ).scalar_one()
    if verdict != "ok":
        raise BackupUnusable(backup, "SQLite's integrity check fails on it")
    if not store_id:
        raise BackupUnusable(backup, "it is not a store of this app (it has no store id)")
    key = keys.load(str(store_id))
    if key is None:
        raise BackupUnusable(
            backup,
            f"the key of its store ({store_id}) is not in this computer's keyring (a backup made "
            "by another user or computer; restore the keyring first, or IT's recovery key)",
        )
    protector = AesGcmProtector(key)
    if key_check(db, protector, str(store_id)) is not True:
        raise BackupUnusable(backup, "the key in this computer's keyring does not open it")
    db.protector = protector
    result = AuditLog(db, mac_key=protector.audit_key()).verify()
    if not result.ok:
        raise BackupUnusable(backup, "its audit log does not verify: " + result.summary())
    head = result.head
    return BackupCheck(
        backup=backup,
        taken_at=backup_time(backup),
        store_id=str(store_id),
        key_id=protector.key_id,
        audit_records=result.checked,
        audit_seq=0 if head is None else head.seq,
        audit_hash=None if head is None else head.hash,
        unsent=int(unsent),
    )


def restore_backup(
    store_path: Path, backup: Path, keys: StoreKeyring, *, now: datetime | None = None
) -> RestoreOutcome:
    """Check ``backup``, set the current store files aside, put the backup in their place."""
    now = now or utc_now()
    anchor = read_anchor(store_path)
    work = store_path.with_name(store_path.name + ".restoring")
    check = check_backup(backup, keys, work=work)
    if anchor is not None and anchor.store_id != check.store_id:
        _remove(work)
        raise BackupUnusable(
            backup,
            f"it is a backup of another store ({check.store_id}), not of this site's store "
            f"({anchor.store_id})",
        )
    try:
        set_aside = _set_aside(store_path, now)
        os.replace(work, store_path)
        fsync_file(store_path)
        stamp = now.astimezone(UTC).isoformat()
        base = anchor or StoreAnchor.new(check.store_id, check.key_id, now)
        write_anchor(
            store_path,
            StoreAnchor(
                check.store_id,
                check.key_id,
                base.created_at,
                stamp,
                check.audit_seq,
                check.audit_hash,
            ),
        )
    except OSError as exc:
        raise StoreError(
            f"The backup {backup} was checked but could not be put in place ({exc.strerror or exc}). "
            f"The files that were there are kept next to {store_path.name}; ask IT."
        ) from exc
    missing = None if anchor is None else max(0, anchor.audit_seq - check.audit_seq)
    _record(store_path, keys, check, set_aside, anchor, now)
    return RestoreOutcome(check, tuple(set_aside), missing)


def _record(
    store_path: Path,
    keys: StoreKeyring,
    check: BackupCheck,
    set_aside: list[Path],
    anchor: StoreAnchor | None,
    now: datetime,
) -> None:
    restored = open_protected_store(store_path, keys, create=False, clock=lambda: now)
    try:
        restored.audit.append(
            AuditEvent(
                kind=AuditKind.STORE_RESTORED,
                at=now,
                details={
                    "how": "store_restore",
                    "backup": check.backup.name,
                    "taken_at": None if check.taken_at is None else check.taken_at.isoformat(),
                    "backup_seq": check.audit_seq,
                    "anchor_seq": None if anchor is None else anchor.audit_seq,
                    "set_aside": [p.name for p in set_aside],
                },
            )
        )
    finally:
        restored.close()


def _set_aside(store_path: Path, now: datetime) -> list[Path]:
    """Rename the store file and its side files to ``<name>.replaced-<UTC time>[-wal...]``."""
    stamp = file_stamp(now)
    target = store_path.with_name(f"{store_path.name}.replaced-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = store_path.with_name(f"{store_path.name}.replaced-{stamp}-{n}")
    moved: list[Path] = []
    if store_path.exists():
        store_path.rename(target)
        moved.append(target)
    for suffix in SIDE_SUFFIXES:
        side = store_path.with_name(store_path.name + suffix)
        if side.exists():
            new = target.with_name(target.name + suffix)
            side.rename(new)
            moved.append(new)
    return moved


def _fold_wal(path: Path) -> None:
    """Fold a WAL left by the check into ``path`` so the file stands alone."""
    if not path.exists():
        return
    wal = path.with_name(path.name + "-wal")
    if wal.exists():
        with closing(sqlite3.connect(path)) as c:
            c.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            c.execute("PRAGMA journal_mode=DELETE")
    for suffix in SIDE_SUFFIXES:
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def _remove(path: Path) -> None:
    for p in (path, *(path.with_name(path.name + s) for s in SIDE_SUFFIXES)):
        p.unlink(missing_ok=True)
