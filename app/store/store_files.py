"""The files that make up one store on disk, named in one place.

    <site folder>/store.db                 the SQLite file
    <site folder>/store.db-wal, -shm       SQLite's write-ahead log and its index (while open)
    <site folder>/store.db-anchor.json     the store's anchor (below)
    <site folder>/backups/store-<UTC>.db   automatic backups (app.store.backup)

The anchor is a small JSON file written next to the store when it is opened: the store's id
(which names its key in the keyring), the id of that key, and the last audit record seen (its
number and hash, refreshed with every backup). It holds no patient data. It exists so that a
store file that is later found empty or missing is known to have existed (and is refused, not
silently re-created: app.store.file_check), and so that a store put back from an older copy is
noticed (its audit log ends before the anchor's record).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

ANCHOR_SUFFIX = "-anchor.json"
WAL_SUFFIX = "-wal"
SIDE_SUFFIXES = ("-wal", "-shm", "-journal")
BACKUP_DIR = "backups"
BACKUP_PREFIX = "store-"
BACKUP_SUFFIX = ".db"


def anchor_path(store: Path) -> Path:
    return store.with_name(store.name + ANCHOR_SUFFIX)


def wal_path(store: Path) -> Path:
    return store.with_name(store.name + WAL_SUFFIX)


def backup_dir(store: Path) -> Path:
    return store.parent / BACKUP_DIR


def backup_files(store: Path) -> list[Path]:
    """The store's automatic backups, oldest first (their names sort by time)."""
    folder = backup_dir(store)
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.name.startswith(BACKUP_PREFIX) and p.name.endswith(BACKUP_SUFFIX)
    )


@dataclass(frozen=True)
class StoreAnchor:
    store_id: str
    key_id: str
    created_at: str  # ISO-8601 UTC
    updated_at: str
    audit_seq: int = 0
    audit_hash: str | None = None

    @classmethod
    def new(cls, store_id: str, key_id: str, now: datetime) -> StoreAnchor:
        stamp = now.astimezone(UTC).isoformat()
        return cls(store_id, key_id, stamp, stamp)


def read_anchor(store: Path) -> StoreAnchor | None:
    """The anchor next to ``store``; None when there is none or it cannot be read (an
    unreadable anchor still counts as evidence: see ``anchor_path(store).exists()``)."""
    try:
        data = json.loads(anchor_path(store).read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("v") != 1:
            return None
        return StoreAnchor(
            store_id=str(data["store_id"]),
            key_id=str(data["key_id"]),
            created_at=str(data["created_at"]),
            updated_at=str(data["updated_at"]),
            audit_seq=int(data.get("audit_seq") or 0),
            audit_hash=None if data.get("audit_hash") is None else str(data["audit_hash"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_anchor(store: Path, anchor: StoreAnchor) -> None:
    """Replace the anchor atomically (write, flush to disk, rename)."""
    target = anchor_path(store)
    tmp = target.with_name(target.name + ".tmp")
    data = json.dumps({"v": 1, **asdict(anchor)}, indent=1, sort_keys=True) + "\n"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, target)


def fsync_file(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())
