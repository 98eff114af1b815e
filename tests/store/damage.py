"""Real damaged store files, made from a real store: what a disk fault, a sync tool or an
antivirus leaves behind (used by the store and command-line tests)."""

from __future__ import annotations

import hashlib
import os
import random
import re
from collections.abc import Callable
from pathlib import Path

from app.store.crypto import StoreKeyring
from app.store.protected import open_protected_store
from tests.store.protected_support import decision_json, marker_commit, marker_draft

PAGE = 4096


def make_store(path: Path, keys: StoreKeyring, *, commits: int = 2) -> None:
    """A store with drafts, ``commits`` unsent approved commits and an audit log, closed."""
    ps = open_protected_store(path, keys, actor=lambda: "Practitioner/prac-1")
    try:
        for _ in range(commits):
            draft = ps.store.drafts.save(marker_draft())
            ps.store.outbox.enqueue_approval(marker_commit(), decision_json(draft))
    finally:
        ps.close()


def snapshot(folder: Path) -> dict[str, str]:
    """name -> SHA-256 of every file under ``folder`` (to prove nothing changed), except log
    files: the app and the command line log what they refused, which is the point."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.suffix != ".log"
    }


def schema_offsets(data: bytes) -> list[int]:
    """Where the CREATE statements are (the pages of sqlite_schema)."""
    return [m.start() for m in re.finditer(rb"CREATE (?:TABLE|INDEX|TRIGGER) ", data)]


def truncated_to_half(data: bytes) -> bytes:
    return data[: len(data) // 2 // PAGE * PAGE]


def cut_mid_page(data: bytes) -> bytes:
    return data[:-1000]


def zeroed_header(data: bytes) -> bytes:
    return b"\0" * 100 + data[100:]


def flipped_page_one(data: bytes) -> bytes:
    """Page 1's b-tree header and cell pointers (bytes 100-120) inverted."""
    b = bytearray(data)
    for pos in range(100, 120):
        b[pos] ^= 0xFF
    return bytes(b)


def flipped_schema_text(data: bytes) -> bytes:
    """Invalid UTF-8 in each schema record: in the statement (it no longer parses) and in the
    object's name, which SQLite quotes in its error — the traceback of issue 10
    (``UnicodeDecodeError`` at ``PRAGMA journal_mode=WAL``)."""
    b = bytearray(data)
    for m in re.finditer(rb"CREATE (?:TABLE|INDEX|TRIGGER) ([a-z_]+)", data):
        name = m.group(1)
        b[m.start(1)] = 0xFF
        before = m.start() - 2 * len(name) - 16
        at = data.find(name, before, m.start())
        if at >= 0:
            b[at + 1] = 0xFF
    return bytes(b)


def flipped_schema_bytes(data: bytes, seed: int = 7) -> bytes:
    """Random bytes changed inside the schema statements."""
    rng = random.Random(seed)
    b = bytearray(data)
    offsets = schema_offsets(data)
    for _ in range(40):
        b[rng.choice(offsets) + rng.randrange(0, 60)] = rng.randrange(256)
    return bytes(b)


def random_garbage(data: bytes) -> bytes:
    return os.urandom(len(data))


DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "truncated": truncated_to_half,
    "cut mid-page": cut_mid_page,
    "zeroed header": zeroed_header,
    "flipped page 1": flipped_page_one,
    "flipped schema text": flipped_schema_text,
    "flipped schema bytes": flipped_schema_bytes,
    "random garbage": random_garbage,
}
