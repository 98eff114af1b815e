"""Automatic local backups of a store: after each approval batch and daily, rotating.

Where: ``<site folder>/backups/store-<UTC time>.db`` (app.store.store_files), one file each,
made with SQLite's online backup API from a separate connection: a consistent copy of the
committed store that never blocks the app's writers (WAL mode), then checked
(``PRAGMA quick_check``; a damaged copy is dropped so it never pushes a good one out) and
renamed into place (a crash leaves at most a ``.partial`` file, removed at the next backup).

Encrypted like the store: a backup is a page copy of the store file, and every value that can
hold patient data is sealed (AES-GCM, app.store.crypto) before SQLite ever sees it — so the
copies hold those values only in sealed form, opened only with the store's key from the OS
keyring (tests/store/test_backup.py scans the backups for a marker). What the store keeps in
the clear (ids, states, times) is in the copies too, as in the store.

Kept (``BackupPolicy``): the newest 10, plus the newest of each of the last 7 days that had
one. A restore (app.store.restore) checks the key and the audit chain of a backup before it
replaces anything.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.domain.clock import Clock, utc_now
from app.store.errors import StoreCorrupt, StoreError, StoreUnavailable, is_damage
from app.store.outbox_records import OutboxChange
from app.store.store_files import (
    BACKUP_PREFIX,
    BACKUP_SUFFIX,
    backup_dir,
    backup_files,
    fsync_file,
    read_anchor,
    write_anchor,
)

log = logging.getLogger(__name__)

_STAMP = "%Y%m%dT%H%M%S%fZ"
PARTIAL_SUFFIX = ".partial"


@dataclass(frozen=True)
class BackupPolicy:
    keep_recent: int = 10  # the newest backups, whatever their age
    keep_daily: int = 7  # plus the newest backup of each of this many most recent days
    daily_every: timedelta = timedelta(days=1)  # a backup at least this often while in use


DEFAULT_POLICY = BackupPolicy()


def backup_time(path: Path) -> datetime | None:
    """When a backup was taken (from its name); None for a file not named by this module."""
    stem = path.name.removeprefix(BACKUP_PREFIX).removesuffix(BACKUP_SUFFIX)
    try:
        return datetime.strptime(stem, _STAMP).replace(tzinfo=UTC)
    except ValueError:
        return None


def take_backup(store_path: Path, *, now: datetime, policy: BackupPolicy = DEFAULT_POLICY) -> Path:
    """Copy the committed store into a new backup, check it, rotate. Returns the backup.

    Raises ``StoreUnavailable`` (disk full, folder not writable) or ``StoreCorrupt`` (the copy
    does not pass SQLite's check: the store itself is damaged); no backup is kept then.
    """
    folder = backup_dir(store_path)
    target = folder / f"{BACKUP_PREFIX}{now.astimezone(UTC).strftime(_STAMP)}{BACKUP_SUFFIX}"
    partial = target.with_name(target.name + PARTIAL_SUFFIX)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with (
            closing(sqlite3.connect(store_path, timeout=10)) as source,
            closing(sqlite3.connect(partial)) as copy,
        ):
            source.backup(copy)  # one step: a consistent snapshot of the committed store
            copy.execute("PRAGMA journal_mode=DELETE")  # one file, no -wal beside it
            verdict = copy.execute("PRAGMA quick_check").fetchone()[0]
        if verdict != "ok":
            partial.unlink(missing_ok=True)
            raise StoreCorrupt.damaged(store_path, "its backup copy failed SQLite's check")
        fsync_file(partial)
        os.replace(partial, target)
    except (OSError, sqlite3.Error) as exc:
        partial.unlink(missing_ok=True)
        if isinstance(exc, sqlite3.DatabaseError) and is_damage(str(exc)):
            raise StoreCorrupt.damaged(store_path) from exc
        raise StoreUnavailable(
            f"The local store {store_path} could not be backed up to {folder} "
            f"({type(exc).__name__}). Check the free disk space; nothing was lost."
        ) from exc
    rotate(store_path, policy)
    _refresh_anchor(store_path, target)
    return target


def rotate(store_path: Path, policy: BackupPolicy = DEFAULT_POLICY) -> list[Path]:
    """Delete the backups the policy does not keep (and leftover partial copies); returns
    what was deleted."""
    backups = [p for p in backup_files(store_path) if backup_time(p) is not None]
    keep = set(backups[-policy.keep_recent :] if policy.keep_recent else [])
    newest_per_day: dict[str, Path] = {}
    for p in backups:  # oldest first: the last one seen of a day is its newest
        newest_per_day[p.name[len(BACKUP_PREFIX) : len(BACKUP_PREFIX) + 8]] = p
    days = sorted(newest_per_day)[-policy.keep_daily :] if policy.keep_daily else []
    keep.update(newest_per_day[d] for d in days)
    removed = [p for p in backups if p not in keep]
    folder = backup_dir(store_path)
    if folder.is_dir():
        removed += [p for p in folder.iterdir() if p.name.endswith(PARTIAL_SUFFIX)]
    for p in removed:
        p.unlink(missing_ok=True)
    return removed


def _refresh_anchor(store_path: Path, backup: Path) -> None:
    """Move the anchor's audit record forward to the backup's (plain columns, no key)."""
    anchor = read_anchor(store_path)
    if anchor is None:
        return
    try:
        with closing(sqlite3.connect(backup.resolve().as_uri() + "?mode=ro", uri=True)) as c:
            row = c.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
    except sqlite3.Error:
        return
    if row is not None and int(row[0]) > anchor.audit_seq:
        stamp = utc_now().isoformat()
        try:
            write_anchor(
                store_path,
                replace(anchor, audit_seq=int(row[0]), audit_hash=str(row[1]), updated_at=stamp),
            )
        except OSError as exc:
            log.warning("anchor not updated after a backup (%s)", type(exc).__name__)


class StoreBackups:
    """Backs up one store on its own thread, so an approval never waits for it.

    ``on_outbox_change`` (an outbox listener) asks for a backup when a commit was queued;
    approvals queued within ``settle`` seconds of each other share one backup (a batch). The
    thread also takes one when the newest backup is older than ``policy.daily_every`` (checked
    at start and every ``check_every``). ``close`` takes a backup still asked for, then ends.
    """

    def __init__(
        self,
        store_path: Path,
        *,
        policy: BackupPolicy = DEFAULT_POLICY,
        clock: Clock = utc_now,
        settle: float = 1.0,
        check_every: float = 3600.0,
    ) -> None:
        self.store_path = store_path
        self.policy = policy
        self._clock = clock
        self._settle = settle
        self._check_every = check_every
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._asked = False
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.last_backup: Path | None = None
        self.last_problem: str | None = None  # words for IT when the last backup failed
        self.backups_taken = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="store-backup", daemon=True)
            self._thread.start()

    def on_outbox_change(self, change: OutboxChange) -> None:
        if change.old_state is None:  # a commit was queued: an approval was recorded
            self.request()

    def request(self) -> None:
        with self._lock:
            self._asked = True
        self._wake.set()

    def close(self, timeout: float = 60.0) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        self._wake.set()
        thread.join(timeout)

    def backup_now(self) -> Path | None:
        """Take a backup on the calling thread (the worker and tests); None if it failed."""
        try:
            self.last_backup = take_backup(self.store_path, now=self._clock(), policy=self.policy)
        except StoreError as exc:
            self.last_problem = exc.user_message
            log.error("store backup failed: %s", type(exc).__name__)
            return None
        except Exception:  # a bug must not end the thread: the next backup tries again
            log.exception("store backup failed unexpectedly")
            return None
        self.last_problem = None
        self.backups_taken += 1
        return self.last_backup

    def _run(self) -> None:
        self._backup_if_old()
        while not self._stop.is_set():
            self._wake.wait(self._check_every)
            self._wake.clear()
            if self._take_asked(settle=not self._stop.is_set()):
                continue
            if not self._stop.is_set():
                self._backup_if_old()
        self._take_asked(settle=False)  # asked for while stopping: still taken

    def _take_asked(self, *, settle: bool) -> bool:
        with self._lock:
            asked = self._asked
        if not asked:
            return False
        if settle:
            self._stop.wait(self._settle)  # let the rest of an approval batch commit first
        with self._lock:
            self._asked = False
        self.backup_now()
        return True

    def _backup_if_old(self) -> None:
        backups = [t for p in backup_files(self.store_path) if (t := backup_time(p)) is not None]
        if not backups or self._clock() - max(backups) >= self.policy.daily_every:
            self.backup_now()
