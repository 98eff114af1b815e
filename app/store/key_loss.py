"""Recovery when the store's key is lost: keep the old file, start a new store, say what is gone.

Nothing here runs by itself. First choice, when the store keeps its key wrapped for IT
(app.store.key_escrow): ``restore_key_from_escrow`` puts the key back and nothing is lost.
Otherwise, after ``open_protected_store`` raised ``KeyLost`` (or ``WrongKey``) and the clinician
read its message and chose "Start a new local store":

1. the key is looked up once more (if IT restored it meanwhile, the store simply opens);
2. the old file is checkpointed (its WAL folded in) and renamed, never deleted:
   ``store.db`` -> ``store.db.locked-<UTC time>`` (with ``-wal``/``-shm`` and the store's
   anchor renamed alongside if any remain). If the key turns up later, IT renames it back and the notes are readable;
3. a new, empty store with a new key is created at the old path;
4. its audit log starts with a ``KEY_LOST`` record naming the locked file, the unsent commit ids
   (and how many may already have reached the EHR) and the old log's last record (so the old
   and new chains stay linked for an auditor).

The approved notes that were not confirmed cannot be sent: they must be written again (the
report lists patient and encounter ids and approval times; those marked "may have arrived" were
being sent when the key was lost — check the chart first).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from app.domain.audit import AuditEvent, AuditKind
from app.domain.clock import Clock, file_stamp, utc_now
from app.store.crypto import AesGcmProtector, StoreKeyring
from app.store.crypto_errors import KeyLossReport, KeyLost, WrongKey
from app.store.database import open_database
from app.store.errors import StoreUnavailable
from app.store.key_escrow import RecoveryKeyInvalid, unwrap
from app.store.protected import (
    ProtectedStore,
    ensure_store_id,
    key_check,
    open_protected_store,
)
from app.store.store_files import ANCHOR_SUFFIX, SIDE_SUFFIXES

MAX_LISTED = 200


@dataclass(frozen=True)
class KeyLossRecovery:
    """The outcome of a confirmed recovery (``locked_copy`` None: the key was back)."""

    store: ProtectedStore
    locked_copy: Path | None
    report: KeyLossReport | None


def recover_from_key_loss(
    path: Path,
    keys: StoreKeyring,
    *,
    confirmed: bool,
    clock: Clock = utc_now,
    actor: Callable[[], str | None] = lambda: None,
    **open_options: Any,
) -> KeyLossRecovery:
    """Set the unreadable store aside and open a new one (see the module docstring)."""
    if not confirmed:
        raise ValueError("setting the local store aside needs the clinician's confirmation")
    try:
        opened = open_protected_store(path, keys, actor=actor, clock=clock, **open_options)
        return KeyLossRecovery(opened, None, None)
    except KeyLost as exc:
        report = exc.report
        wrong_key = isinstance(exc, WrongKey)
    now = clock()
    locked = set_aside(path, now)
    fresh = open_protected_store(path, keys, actor=actor, clock=clock, **open_options)
    try:
        fresh.audit.append(key_lost_event(report, locked, now, actor(), wrong_key=wrong_key))
    except BaseException:
        fresh.close()
        raise
    return KeyLossRecovery(fresh, locked, report)


def key_lost_event(
    report: KeyLossReport, locked: Path, at: datetime, actor: str | None, *, wrong_key: bool
) -> AuditEvent:
    return AuditEvent(
        kind=AuditKind.KEY_LOST,
        at=at,
        actor=actor,
        details={
            "reason": "wrong_key" if wrong_key else "key_missing",
            "locked_copy": locked.name,
            "unsent": len(report.unsent),
            "may_have_arrived": report.may_have_arrived,
            "unsent_commits": [u.commit_id for u in report.unsent[:MAX_LISTED]],
            "open_drafts": report.open_drafts,
            "old_audit_records": report.audit_records,
            "old_audit_head": None
            if report.audit_head is None
            else {"seq": report.audit_head[0], "hash": report.audit_head[1]},
        },
    )


def restore_key_from_escrow(
    path: Path, keys: StoreKeyring, private_key_pem: bytes, *, password: bytes | None = None
) -> str:
    """IT's recovery: unwrap the store's data key with the clinic's recovery private key, check
    that it opens the store, and put it back into this user's keyring. Returns the store id.
    Run as the user whose store it is; afterwards the app opens normally."""
    db = open_database(path)
    try:
        store_id = ensure_store_id(db)
        key = unwrap(db, private_key_pem, password)
        if key_check(db, AesGcmProtector(key), store_id) is False:
            raise RecoveryKeyInvalid(
                f"The recovered key does not open the local store {path}; nothing was changed."
            )
        keys.save(store_id, key)
    finally:
        db.close()
    return store_id


def set_aside(path: Path, now: datetime) -> Path:
    """Fold the WAL into ``path`` and rename it (and any leftover -wal/-shm) to a locked copy."""
    stamp = file_stamp(now)
    target = path.with_name(f"{path.name}.locked-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.locked-{stamp}-{n}")
    try:
        conn = sqlite3.connect(str(path), timeout=5)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        finally:
            conn.close()
        path.rename(target)
        for suffix in (*SIDE_SUFFIXES, ANCHOR_SUFFIX):  # the anchor goes with its store
            side = path.with_name(path.name + suffix)
            if side.exists():
                side.rename(target.with_name(target.name + suffix))
    except (OSError, sqlite3.Error) as exc:
        raise StoreUnavailable(
            f"The local store {path} could not be set aside ({type(exc).__name__}). Close other "
            "copies of the app and try again; nothing was deleted."
        ) from exc
    return target
