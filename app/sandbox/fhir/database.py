"""SQLite storage of the sandbox FHIR server: current versions, history and search indexes.

One connection, shared by the server's threads behind one re-entrant lock. Writes (and whole
transaction Bundles) run inside ``transaction()``, which holds the lock from BEGIN IMMEDIATE to
COMMIT, so a Bundle is atomic and nobody reads its half-written state. WAL journaling with
``synchronous=NORMAL`` keeps a create to about a millisecond and survives a killed process.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.sandbox.fhir.dates import parse_range
from app.sandbox.fhir.indexing import index_rows

SCHEMA_VERSION = "1"

# The *_by_owner indexes serve re-indexing a resource (type, id) and _sort: the sort key of a
# match is one look-up there (type, id, param -> the value), where an index on (type, param)
# would read every resource's value of that parameter for each match (issue 15: 5 s for 5,000
# Observations). They replace the (type, id) indexes of schema 1 (DROP INDEX below).
_SCHEMA = """
CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS resource (
    type TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    last_updated TEXT NOT NULL,
    lu_low TEXT NOT NULL,
    lu_high TEXT NOT NULL,
    json TEXT NOT NULL,
    PRIMARY KEY (type, id)
);
CREATE INDEX IF NOT EXISTS resource_by_update ON resource (type, lu_low, id);
CREATE TABLE IF NOT EXISTS history (
    type TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    last_updated TEXT NOT NULL,
    method TEXT NOT NULL,
    json TEXT NOT NULL,
    PRIMARY KEY (type, id, version)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS idx_token (
    type TEXT NOT NULL, id TEXT NOT NULL, param TEXT NOT NULL,
    system TEXT NOT NULL, code TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_token_lookup ON idx_token (type, param, code, system);
DROP INDEX IF EXISTS idx_token_owner;
CREATE INDEX IF NOT EXISTS idx_token_by_owner ON idx_token (type, id, param, code);
CREATE TABLE IF NOT EXISTS idx_ref (
    type TEXT NOT NULL, id TEXT NOT NULL, param TEXT NOT NULL,
    target_type TEXT NOT NULL, target_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_ref_lookup ON idx_ref (type, param, target_id, target_type);
DROP INDEX IF EXISTS idx_ref_owner;
CREATE INDEX IF NOT EXISTS idx_ref_by_owner ON idx_ref (type, id, param, target_id);
CREATE TABLE IF NOT EXISTS idx_date (
    type TEXT NOT NULL, id TEXT NOT NULL, param TEXT NOT NULL,
    low TEXT NOT NULL, high TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_date_lookup ON idx_date (type, param, low);
DROP INDEX IF EXISTS idx_date_owner;
CREATE INDEX IF NOT EXISTS idx_date_by_owner ON idx_date (type, id, param, low);
CREATE TABLE IF NOT EXISTS idx_string (
    type TEXT NOT NULL, id TEXT NOT NULL, param TEXT NOT NULL,
    value TEXT NOT NULL, raw TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_string_lookup ON idx_string (type, param, value);
DROP INDEX IF EXISTS idx_string_owner;
CREATE INDEX IF NOT EXISTS idx_string_by_owner ON idx_string (type, id, param, value);
"""

_INDEX_TABLES = ("idx_token", "idx_ref", "idx_date", "idx_string")


@dataclass(frozen=True)
class StoredResource:
    resource_type: str
    id: str
    version: int
    last_updated: str  # FHIR instant
    resource: dict[str, Any]
    method: str = ""  # history entries: "POST" (created) or "PUT" (updated)

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'

    @property
    def reference(self) -> str:
        return f"{self.resource_type}/{self.id}"


class ResourceDatabase:
    def __init__(self, db_path: Path) -> None:
        self.path = db_path
        self._conn = sqlite3.connect(str(db_path), check_same_thread=False, isolation_level=None)
        self._lock = threading.RLock()
        self._depth = 0
        self._savepoints = 0
        self._observers: list[Callable[[StoredResource], None]] = []
        self._written: list[StoredResource] = []  # by the open transaction: told at COMMIT
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(_SCHEMA)
            self._conn.execute(
                "INSERT OR IGNORE INTO store_meta (key, value) VALUES ('schema', ?)",
                (SCHEMA_VERSION,),
            )

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # --- transactions -------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside happen together or not at all (re-entrant: the outermost wins)."""
        with self._lock:
            outermost = self._depth == 0
            if outermost:
                self._conn.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if outermost:
                    self._conn.execute("ROLLBACK")
                    self._written.clear()
                raise
            self._depth -= 1
            if outermost:
                self._conn.execute("COMMIT")
                written, self._written = self._written, []
                for stored in written:
                    for observer in self._observers:
                        observer(stored)

    def observe(self, observer: Callable[[StoredResource], None]) -> None:
        """Call ``observer`` with each resource version written, once its transaction committed
        (the HL7 sender; it must return quickly)."""
        self._observers.append(observer)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested unit inside ``transaction()`` that can fail alone (a batch entry)."""
        with self._lock:
            if self._depth == 0:
                raise RuntimeError("savepoint() needs an enclosing transaction()")
            self._savepoints += 1
            name = f"sp{self._savepoints}"
            self._conn.execute(f"SAVEPOINT {name}")
            kept = len(self._written)
            try:
                yield
            except BaseException:
                del self._written[kept:]
                self._conn.execute(f"ROLLBACK TO {name}")
                self._conn.execute(f"RELEASE {name}")
                raise
            self._conn.execute(f"RELEASE {name}")

    # --- reading ------------------------------------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def get(self, resource_type: str, resource_id: str) -> StoredResource | None:
        rows = self.query(
            "SELECT version, last_updated, json FROM resource WHERE type = ? AND id = ?",
            (resource_type, resource_id),
        )
        if not rows:
            return None
        version, last_updated, text = rows[0]
        return StoredResource(resource_type, resource_id, version, last_updated, json.loads(text))

    def get_many(self, keys: Sequence[tuple[str, str]]) -> list[StoredResource]:
        """Current versions of ``(type, id)`` keys, in the order given (missing ones skipped)."""
        found: dict[tuple[str, str], StoredResource] = {}
        for resource_type in {t for t, _ in keys}:
            ids = [i for t, i in keys if t == resource_type]
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for rid, version, last_updated, text in self.query(
                    f"SELECT id, version, last_updated, json FROM resource "
                    f"WHERE type = ? AND id IN ({marks})",
                    (resource_type, *chunk),
                ):
                    found[(resource_type, rid)] = StoredResource(
                        resource_type, rid, version, last_updated, json.loads(text)
                    )
        return [found[k] for k in dict.fromkeys(keys) if k in found]

    def get_version(
        self, resource_type: str, resource_id: str, version: int
    ) -> StoredResource | None:
        rows = self.query(
            "SELECT last_updated, method, json FROM history "
            "WHERE type = ? AND id = ? AND version = ?",
            (resource_type, resource_id, version),
        )
        if not rows:
            return None
        last_updated, method, text = rows[0]
        return StoredResource(
            resource_type, resource_id, version, last_updated, json.loads(text), method
        )

    def history(self, resource_type: str, resource_id: str) -> list[StoredResource]:
        """Every version, newest first."""
        return [
            StoredResource(resource_type, resource_id, version, last_updated, json.loads(text), m)
            for version, last_updated, m, text in self.query(
                "SELECT version, last_updated, method, json FROM history "
                "WHERE type = ? AND id = ? ORDER BY version DESC",
                (resource_type, resource_id),
            )
        ]

    def count(self) -> int:
        return int(self.query("SELECT COUNT(*) FROM resource")[0][0])

    # --- writing ------------------------------------------------------------------------------

    def put(self, stored: StoredResource) -> None:
        """Write ``stored`` as the current version, append it to history, re-index it."""
        if self._depth == 0:
            raise RuntimeError("put() needs an enclosing transaction()")
        rng = parse_range(stored.last_updated)
        assert rng is not None, stored.last_updated
        text = json.dumps(stored.resource, ensure_ascii=False, separators=(",", ":"))
        key = (stored.resource_type, stored.id)
        rows = index_rows(stored.resource)
        with self._lock:
            if self._observers:
                self._written.append(stored)
            c = self._conn
            c.execute(
                "INSERT INTO resource (type, id, version, last_updated, lu_low, lu_high, json) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (type, id) DO UPDATE SET "
                "version = excluded.version, last_updated = excluded.last_updated, "
                "lu_low = excluded.lu_low, lu_high = excluded.lu_high, json = excluded.json",
                (*key, stored.version, stored.last_updated, rng.low, rng.high, text),
            )
            c.execute(
                "INSERT INTO history (type, id, version, last_updated, method, json) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (*key, stored.version, stored.last_updated, stored.method, text),
            )
            for table in _INDEX_TABLES:
                c.execute(f"DELETE FROM {table} WHERE type = ? AND id = ?", key)
            c.executemany(
                "INSERT INTO idx_token VALUES (?, ?, ?, ?, ?)",
                [(*key, *row) for row in rows.tokens],
            )
            c.executemany(
                "INSERT INTO idx_ref VALUES (?, ?, ?, ?, ?)",
                [(*key, *row) for row in rows.references],
            )
            c.executemany(
                "INSERT INTO idx_date VALUES (?, ?, ?, ?, ?)", [(*key, *row) for row in rows.dates]
            )
            c.executemany(
                "INSERT INTO idx_string VALUES (?, ?, ?, ?, ?)",
                [(*key, *row) for row in rows.strings],
            )
