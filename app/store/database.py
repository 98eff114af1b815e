"""The one place that opens SQLite: engine, connection settings, transactions, migrations.

Every repository works through a ``Database``; content blobs are sealed by its
``PayloadProtector`` (app.store.crypto) here, without repositories knowing. Settings on every
connection: WAL journal (readers never block the writer), ``synchronous=FULL`` (a committed
transaction survives power loss), foreign keys on, a busy timeout instead of instant "locked".
Write transactions start with ``BEGIN IMMEDIATE`` so two writers queue instead of deadlocking.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy.exc
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL

from app.store.errors import (
    StoreClosed,
    StoreCorrupt,
    StoreError,
    StoreMigrationFailed,
    StoreTooNew,
    StoreUnavailable,
    translate,
)
from app.store.file_check import check_store_file
from app.store.group_mode import GroupMode, GroupWriteFailed
from app.store.schema import metadata

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
BUSY_TIMEOUT_MS = 5000
# Every revision is named like this (four digits first, in order); anything else in
# alembic_version is damage, not a store from a newer version of the app.
_REVISION_NAME = re.compile(r"^\d{4}_[a-z0-9_]+$")


class PayloadProtector(Protocol):
    """Turns a content blob into what is stored and back (app.store.crypto: AES-GCM with a
    keyring key).
    ``context`` (the row id) is bound to the blob so it cannot be moved to another row."""

    format_id: int

    def protect(self, plaintext: bytes, *, context: bytes) -> bytes: ...

    def unprotect(self, stored: bytes, *, context: bytes) -> bytes: ...


class PlainPayload:
    """Stores payloads as they are: format 1, the format of values written before the store
    was encrypted (sealed at the next open) and of stores opened without a key (tests, the
    self-test)."""

    format_id = 1

    def protect(self, plaintext: bytes, *, context: bytes) -> bytes:
        return plaintext

    def unprotect(self, stored: bytes, *, context: bytes) -> bytes:
        return stored


def create_store_engine(path: Path) -> Engine:
    engine = create_engine(
        URL.create("sqlite+pysqlite", database=str(path)),
        connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
    )
    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "begin", _on_begin)
    return engine


def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event emits BEGIN itself
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    except UnicodeDecodeError as exc:
        # SQLite's error message quotes the damaged schema text, which Python cannot decode:
        # the first statement on a file with flipped bytes in its schema pages ends here.
        raise sqlite3.DatabaseError("database disk image is malformed (schema)") from exc
    finally:
        cursor.close()


def _on_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


log = logging.getLogger(__name__)


class _GroupOnThisThread(threading.local):
    """The connection of the group transaction this thread is in (``Database.group``)."""

    def __init__(self) -> None:
        self.connection: Connection | None = None
        self.kept: Connection | None = None  # between groups, inside ``group_connection_kept``
        self.keeping = False
        self.after: list[Callable[[], None]] = []
        self.mode = GroupMode.SAVEPOINTS
        self.write_failed = False


class Database:
    """An open store file. ``read()``/``write()`` give a Connection inside a transaction."""

    def __init__(
        self, engine: Engine, path: Path, protector: PayloadProtector | None = None
    ) -> None:
        self.engine = engine
        self.path = path
        self.protector: PayloadProtector = protector or PlainPayload()
        self._group = _GroupOnThisThread()
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def _connect(self) -> Connection:
        """A connection of the open store; StoreClosed (logged) once ``close`` ran: SQLAlchemy
        would quietly open new connections after the dispose, which nothing closes again."""
        if self._closed:
            log.error("the local store was used after it was closed; refused")
            raise StoreClosed(self.path)
        return self.engine.connect()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        group = self._group.connection
        if group is not None:  # what the group wrote so far is what there is
            yield group
            return
        with self._errors(), self._connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def group(self, mode: GroupMode = GroupMode.SAVEPOINTS) -> Iterator[None]:
        """Group commit: every ``write()`` (and ``read()``) this thread makes inside shares one
        transaction, each write in its own SAVEPOINT (one that fails is rolled back alone and
        raises as before), and one fully synchronous COMMIT makes them all durable at once.
        ``after_commit`` callbacks run after that COMMIT; on a failed COMMIT nothing was stored
        and the error is raised here. Used by the sync runner's store thread: the state
        changes of several commits in flight cost one fsync. ``mode`` ALL_OR_NOTHING: no
        SAVEPOINTs; a write that failed (even one whose error was caught) rolls the whole
        group back (``GroupWriteFailed`` when nothing else was raised)."""
        if self._group.connection is not None:
            yield
            return
        try:
            with self._errors(), self._group_connection() as conn, conn.begin():
                self._group.connection = conn
                self._group.mode, self._group.write_failed = mode, False
                try:
                    yield
                    if self._group.write_failed:
                        raise GroupWriteFailed("a write of the group failed")
                finally:
                    self._group.connection = None
                    self._group.mode = GroupMode.SAVEPOINTS
        finally:
            callbacks, self._group.after = self._group.after, []
        for callback in callbacks:  # (only reached when the COMMIT succeeded)
            try:
                callback()
            except Exception as exc:  # committed is committed, for every caller of the group
                log.error("a listener failed after a group commit: %s", type(exc).__name__)

    @contextmanager
    def group_connection_kept(self) -> Iterator[None]:
        """The groups this thread runs inside share one connection, taken by the first and
        given back at the end (issue 15: taking a connection from the pool and giving it back
        for every group was a tenth of the sync runner's store thread). A group that fails
        gives it back (the next takes a fresh one); a closed store still refuses
        (StoreClosed)."""
        self._group.keeping = True
        try:
            yield
        finally:
            self._group.keeping = False
            self._give_back_kept()

    @contextmanager
    def _group_connection(self) -> Iterator[Connection]:
        if not self._group.keeping:
            with self._connect() as raw:
                yield raw.execution_options(sqlite_begin="IMMEDIATE")
            return
        if self._group.kept is None or self._closed:
            self._give_back_kept()
            self._group.kept = self._connect().execution_options(sqlite_begin="IMMEDIATE")
        try:
            yield self._group.kept
        except BaseException:
            self._give_back_kept()
            raise

    def _give_back_kept(self) -> None:
        kept, self._group.kept = self._group.kept, None
        if kept is not None:
            try:
                if self._closed:  # its pool was disposed: closed now, not by the collector
                    kept.invalidate()
                kept.close()
            except Exception as exc:  # the group's own outcome is what its callers hear
                log.warning("a kept store connection did not close: %s", type(exc).__name__)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once what was written is committed: now, or at the end of the
        group this thread is in (never for a group that failed)."""
        if self._group.connection is None:
            callback()
        else:
            self._group.after.append(callback)

    @contextmanager
    def write(self, *, durable: bool = True) -> Iterator[Connection]:
        """One write transaction (BEGIN IMMEDIATE ... COMMIT); rolled back on any exception.

        ``durable=False`` (draft autosaves only) commits with ``synchronous=NORMAL``: in WAL
        mode that survives a crash or kill of the app, and skips the fsync that makes a save
        cost 5-15 ms, but the last saves before a power loss may be rolled back. Approvals and
        the outbox always use the default, fully synchronous commit.
        """
        group = self._group.connection
        if group is not None and self._group.mode is GroupMode.ALL_OR_NOTHING:
            try:
                with self._errors():
                    yield group
            except BaseException:
                self._group.write_failed = True
                raise
            return
        if group is not None:
            with self._errors(), group.begin_nested():
                yield group
            return
        with self._errors(), self._connect() as raw:
            driver = raw.connection.driver_connection
            if not durable and driver is not None:
                driver.execute("PRAGMA synchronous=NORMAL")
            try:
                conn = raw.execution_options(sqlite_begin="IMMEDIATE")
                with conn.begin():
                    yield conn
            finally:
                if not durable and driver is not None:
                    driver.execute("PRAGMA synchronous=FULL")

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlalchemy.exc.DBAPIError as exc:
            translated = translate(exc, self.path)
            if translated is None:
                raise
            raise translated from exc

    def close(self) -> None:
        """Close the store's connections; every later ``read``/``write``/``group`` raises
        StoreClosed. (A transaction in progress on another thread still ends: its connection
        goes back to a pool that no longer keeps it.)"""
        self._closed = True
        self.engine.dispose()


def alembic_config(conn: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if conn is not None:
        cfg.attributes["connection"] = conn
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(db: Database) -> str | None:
    with db.read() as conn:
        exists = conn.execute(
            text("SELECT 1 FROM sqlite_master WHERE type='table' AND name='alembic_version'")
        ).first()
        if exists is None:
            return None
        row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        return None if row is None else str(row[0])


def migrate_to_head(db: Database) -> None:
    """Bring the schema to the newest migration, in one transaction (all or nothing)."""
    current = current_revision(db)
    scripts = ScriptDirectory.from_config(alembic_config())
    if current is not None:
        try:
            known = scripts.get_revision(current)
        except CommandError:
            known = None
        if known is None:
            head = scripts.get_current_head() or ""
            if not _REVISION_NAME.match(current) or current[:4] <= head[:4]:
                # a newer app numbers its revisions after ours; anything else is damage
                raise StoreCorrupt.damaged(db.path, "its schema version is unreadable")
            raise StoreTooNew(
                f"The local store {db.path} was created by a newer version of the app "
                f"(schema {current}). Install that version again, or ask IT."
            )
    if current == scripts.get_current_head():
        return
    try:
        with db.write() as conn:
            command.upgrade(alembic_config(conn), "head")
    except StoreError:
        raise
    except Exception as exc:  # any failure leaves the file as it was (rolled back)
        raise StoreMigrationFailed(
            f"The local store {db.path} could not be upgraded ({type(exc).__name__}); "
            "it was left unchanged. Ask IT; do not delete the file (it may hold unsent notes)."
        ) from exc


def check_schema(db: Database) -> None:
    """Every table and column the app uses is in the file (flipped bytes in the schema text
    can leave it readable but naming other things): StoreCorrupt otherwise."""
    with db.read() as conn:
        for table in metadata.sorted_tables:
            rows = conn.exec_driver_sql(f'PRAGMA table_info("{table.name}")').all()
            present = {str(r[1]) for r in rows}
            missing = [c.name for c in table.columns if c.name not in present]
            if missing:
                raise StoreCorrupt.damaged(
                    db.path, f"table {table.name} lost {len(missing)} column(s)"
                )


def open_database(
    path: Path,
    protector: PayloadProtector | None = None,
    *,
    create: bool = True,
    more_evidence: Callable[[], Sequence[str]] = lambda: (),
) -> Database:
    """Open (creating if needed) and migrate the store file at ``path``.

    ``create=False`` refuses (``StoreMissing``) when the file is missing or empty; with
    ``create=True`` that is refused too when a store existed there (app.store.file_check).
    Every way a damaged file fails raises ``StoreCorrupt``, and the file is left as it was.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreUnavailable(
            f"The folder for the local store {path.parent} cannot be created: {exc.strerror}."
        ) from exc
    check_store_file(path, create=create, more_evidence=more_evidence)
    db = Database(create_store_engine(path), path, protector)
    try:
        with db.read() as conn:
            conn.execute(text("SELECT count(*) FROM sqlite_master")).scalar()
        migrate_to_head(db)
        check_schema(db)
    except (sqlalchemy.exc.DatabaseError, sqlite3.DatabaseError) as exc:
        db.close()
        raise StoreCorrupt.damaged(path) from exc
    except BaseException:
        db.close()
        raise
    return db
