"""Checks on a store file made before SQLite opens it, so a damaged or vanished store is
refused with the "damaged" message and left exactly as it is.

SQLite treats an empty (or absent) file as a new database, and reads a file cut short as if the
missing pages were zeros. Either would let the app start over on top of a store that held unsent
notes. So, before SQLite touches it:

- missing or empty: allowed only for a store that never existed. A store existed if its anchor
  is there, or its write-ahead log (``-wal``) is (app.store.store_files); the message then says
  what shows it, and how many automatic backups exist (``StoreMissing``);
- not empty: it must start with the SQLite header, have a valid page size, and (when no
  write-ahead log is pending) be a whole number of pages and at least as long as its header
  says (``StoreCorrupt``).

Reads a few bytes only; nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from app.store.errors import StoreCorrupt, StoreMissing
from app.store.store_files import anchor_path, backup_files, read_anchor, wal_path

HEADER_MAGIC = b"SQLite format 3\x00"
HEADER_BYTES = 100


def check_store_file(
    path: Path,
    *,
    create: bool = True,
    more_evidence: Callable[[], Sequence[str]] = lambda: (),
) -> None:
    """Raise ``StoreMissing`` / ``StoreCorrupt`` for a file SQLite must not be given.

    ``create=False``: a missing or empty file is refused even without evidence (restore, IT
    commands). ``more_evidence`` adds reasons only the caller can know (the keyring).
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        size = 0
    except OSError:
        return  # unreadable for another reason: SQLite says what (StoreUnavailable)
    if size == 0:
        evidence = existence_evidence(path)
        if evidence:
            evidence = (*evidence, *more_evidence())
        if evidence or not create:
            raise StoreMissing(path, evidence, len(backup_files(path)))
        return
    problem = header_problem(path, size)
    if problem is not None:
        raise StoreCorrupt.damaged(path, problem)


def existence_evidence(path: Path) -> tuple[str, ...]:
    """What shows that a store existed at ``path`` (empty: nothing does)."""
    found: list[str] = []
    if anchor_path(path).exists():
        anchor = read_anchor(path)
        if anchor is not None:
            found.append(f"its anchor file names store {anchor.store_id}")
        else:
            found.append(f"its anchor file {anchor_path(path).name} is there")
    if wal_path(path).exists():
        found.append(f"its write-ahead log {wal_path(path).name} is still there")
    return tuple(found)


def header_problem(path: Path, size: int) -> str | None:
    """Why the file at ``path`` (``size`` bytes, not empty) cannot be a healthy store."""
    try:
        with open(path, "rb") as fh:
            header = fh.read(HEADER_BYTES)
    except OSError:
        return None  # SQLite reports it (locked, no permission...)
    if len(header) < HEADER_BYTES:
        return "it is cut short"
    if header[:16] != HEADER_MAGIC:
        return "it is not an SQLite database"
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        return "its header is damaged"
    wal = wal_path(path)
    if wal.exists() and wal.stat().st_size > 0:
        return None  # the log may still hold the newest pages: SQLite replays it
    if size % page_size:
        return "it is cut short"
    change_counter = header[24:28]
    pages = int.from_bytes(header[28:32], "big")
    if pages and header[92:96] == change_counter and size < pages * page_size:
        return "it is cut short"
    return None
