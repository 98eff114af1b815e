"""Opening the local store with encryption and the audit log wired in — the one call the app
makes (``open_protected_store``).

At every open:

1. the schema is migrated (Alembic, keyless);
2. the store's random id is read (made on first open) and its data key is looked up in the OS
   keyring; with no key, a new one is made — unless the store already holds sealed values, in
   which case nothing is touched and ``KeyLost`` (with a report of what cannot be read) is
   raised; a sealed check value in ``store_meta`` tells a wrong key (``WrongKey``) at once;
3. rows written in plain text (a store from before encryption, or by any path that bypassed the
   protector) are sealed in place in one transaction, then the file is VACUUMed and its WAL
   truncated so no plain copy survives in free pages (a ``scrub_pending`` flag makes that step
   run again after a crash);
4. the repositories get the protector, and the audit hooks are attached to them.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Connection, func, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.domain.audit import AuditEvent, AuditKind
from app.domain.clock import Clock, utc_now
from app.store.audit import AuditLog
from app.store.audit_hooks import AuditHooks
from app.store.audit_tables import store_meta
from app.store.crypto import AesGcmProtector, DataKey, StoreKeyring
from app.store.crypto_errors import KeyLost, SealBroken, StoreKeyUnavailable, WrongKey
from app.store.database import Database, PlainPayload, open_database
from app.store.drafts import DraftHook
from app.store.key_escrow import RecoveryKeyInvalid, ensure_escrow
from app.store.key_report import inspect_store
from app.store.kpi_hooks import KpiRecorder, local_day
from app.store.outbox_tables import outbox_commits
from app.store.sealed_columns import SEALED_COLUMNS
from app.store.store import Store
from app.store.store_files import StoreAnchor, read_anchor, write_anchor

log = logging.getLogger(__name__)

PLAIN = PlainPayload.format_id
STORE_ID, KEY_ID, KEY_CHECK, SCRUB_PENDING = "store_id", "key_id", "key_check", "scrub_pending"
_CHECK_TEXT = b"fhir-writeback store key check v1"


@dataclass
class ProtectedStore:
    """The open store, its audit log and the hooks that feed it."""

    store: Store
    audit: AuditLog
    hooks: AuditHooks
    protector: AesGcmProtector
    store_id: str
    key_created: bool = False
    sealed_rows: int = 0
    warnings: tuple[str, ...] = ()  # for the clinician / IT (e.g. an unusable recovery key)

    @property
    def path(self) -> Path:
        return self.store.path

    def close(self) -> None:
        self.store.close()


def open_protected_store(
    path: Path,
    keys: StoreKeyring,
    *,
    actor: Callable[[], str | None] = lambda: None,
    destination: Callable[[], str | None] = lambda: None,
    draft_hooks: Sequence[DraftHook] = (),
    clock: Clock = utc_now,
    edit_interval: timedelta = timedelta(minutes=5),
    recovery_public_key: bytes | None = None,
    create: bool = True,
    day_of: Callable[[datetime], date] = local_day,
) -> ProtectedStore:
    """Open (creating if needed), migrate, unlock and seal the store at ``path``.

    A missing or empty file is a new store only when nothing shows a store existed there
    (app.store.file_check: its anchor, its WAL, its key); else, and always with
    ``create=False``, ``StoreMissing`` is raised and nothing is touched.

    ``day_of`` gives the calendar day the KPI figures count an event on (the workstation's).

    ``recovery_public_key`` (PEM, from the site configuration) keeps the data key wrapped for
    clinic IT (app.store.key_escrow); an unusable one is reported in ``warnings``, not fatal.

    Raises ``StoreKeyUnavailable`` (keyring unreachable: retry later), ``KeyLost`` /
    ``WrongKey`` (see app.store.key_loss for the recovery), or the store's other errors.
    """
    db = open_database(path, create=create, more_evidence=lambda: _key_evidence(path, keys))
    try:
        store_id = ensure_store_id(db)
        key = keys.load(store_id)
        created = False
        if key is None:
            if sealed_value_count(db):
                raise KeyLost(inspect_store(db))
            key = DataKey.generate()
            keys.save(store_id, key)
            created = True
            log.info("store %s: new data key %s", store_id, key.kid)
        protector = AesGcmProtector(key)
        _check_key(db, protector, store_id)
        warnings: list[str] = []
        if recovery_public_key is not None:
            try:
                ensure_escrow(db, key, recovery_public_key)
            except RecoveryKeyInvalid as exc:
                log.warning("store %s: recovery key unusable", store_id)
                warnings.append(exc.user_message)
        counts = seal_plaintext_rows(db, protector)
        sealed = sum(counts.values())
        if sealed or _meta_text(db, SCRUB_PENDING):
            scrub_free_space(db)
        db.protector = protector
        audit = AuditLog(db, mac_key=protector.audit_key(), clock=clock)
        hooks = AuditHooks(
            audit, db, actor=actor, destination=destination, edit_interval=edit_interval
        )
        if sealed:
            log.info("store %s: %d plain value(s) sealed in place", store_id, sealed)
            audit.append(AuditEvent(kind=AuditKind.STORE_SEALED, at=clock(), details=dict(counts)))
        warnings += check_anchor(path, store_id, protector.key_id, audit, clock())
        store = Store(db, draft_hooks=[*draft_hooks, hooks.on_draft], clock=clock)
        store.outbox.add_hook(hooks.on_outbox)
        audit.add_listener(KpiRecorder(store.kpi, day_of=day_of).on_audit)
    except BaseException:
        db.close()
        raise
    return ProtectedStore(
        store, audit, hooks, protector, store_id, created, sealed, tuple(warnings)
    )


# ---------------------------------------------------------------- the anchor


def _key_evidence(path: Path, keys: StoreKeyring) -> tuple[str, ...]:
    anchor = read_anchor(path)
    if anchor is None:
        return ()
    try:
        present = keys.load(anchor.store_id) is not None
    except StoreKeyUnavailable:
        return ()
    return ("its key is still in this computer's keyring",) if present else ()


def check_anchor(
    path: Path, store_id: str, key_id: str, audit: AuditLog, now: datetime
) -> list[str]:
    """Write the anchor next to the store (app.store.store_files), or bring it up to date.

    When the anchor saw a later audit record than the store now ends with, an older copy of
    the store was put back without ``store restore``: that is recorded in the audit log and
    returned as a warning for IT (notes approved after that copy was made are not in it).
    """
    anchor = read_anchor(path)
    head = audit.head()
    seq, digest = (0, None) if head is None else (head.seq, head.hash)
    warnings: list[str] = []
    if anchor is None or anchor.store_id != store_id or anchor.key_id != key_id:
        anchor = StoreAnchor.new(store_id, key_id, now)
    elif anchor.audit_seq > seq:
        log.warning(
            "store %s: audit log ends at %d, anchor saw %d", store_id, seq, anchor.audit_seq
        )
        audit.append(
            AuditEvent(
                kind=AuditKind.STORE_RESTORED,
                at=now,
                details={"how": "older_copy_found", "anchor_seq": anchor.audit_seq, "seq": seq},
            )
        )
        warnings.append(
            f"The local store {path} is an older copy: its audit log ends at record {seq}, but "
            f"this computer had already recorded up to {anchor.audit_seq}. Notes approved after "
            "that copy was made are not in it: check the outbox against the chart, and tell IT."
        )
        head = audit.head()
        seq, digest = (0, None) if head is None else (head.seq, head.hash)
    elif anchor.audit_seq == seq and anchor.audit_hash == digest:
        return warnings
    stamp = now.astimezone(UTC).isoformat()
    try:
        write_anchor(path, replace(anchor, audit_seq=seq, audit_hash=digest, updated_at=stamp))
    except OSError as exc:  # the store itself is fine; the next open tries again
        log.warning("store %s: anchor not written (%s)", store_id, type(exc).__name__)
    return warnings


# ---------------------------------------------------------------- store facts


def ensure_store_id(db: Database) -> str:
    existing = _meta_text(db, STORE_ID)
    if existing:
        return existing
    with db.write() as c:
        _set_meta(c, STORE_ID, text=str(uuid.uuid4()), only_if_missing=True)
    value = _meta_text(db, STORE_ID)
    assert value is not None
    return value


def _meta_text(db: Database, key: str) -> str | None:
    with db.read() as c:
        value = c.execute(select(store_meta.c.text).where(store_meta.c.key == key)).scalar()
    return None if value is None else str(value)


def _set_meta(
    c: Connection,
    key: str,
    *,
    text: str | None = None,
    blob: bytes | None = None,
    only_if_missing: bool = False,
) -> None:
    stmt = sqlite_insert(store_meta).values(key=key, text=text, blob=blob)
    if only_if_missing:
        c.execute(stmt.on_conflict_do_nothing(index_elements=[store_meta.c.key]))
    else:
        c.execute(
            stmt.on_conflict_do_update(
                index_elements=[store_meta.c.key], set_={"text": text, "blob": blob}
            )
        )


def key_check(db: Database, protector: AesGcmProtector, store_id: str) -> bool | None:
    """Whether ``protector``'s key opens this store's sealed check value (None: no check value
    yet, a store that never had a key)."""
    with db.read() as c:
        check = c.execute(select(store_meta.c.blob).where(store_meta.c.key == KEY_CHECK)).scalar()
    if check is None:
        return None
    try:
        return protector.unprotect(check, context=_check_context(store_id)) == _CHECK_TEXT
    except SealBroken:
        return False


def _check_context(store_id: str) -> bytes:
    return f"store-meta:{KEY_CHECK}:{store_id}".encode()


def _check_key(db: Database, protector: AesGcmProtector, store_id: str) -> None:
    """The sealed check value opens with this key, or is written now (first open)."""
    opens = key_check(db, protector, store_id)
    if opens:
        return
    if opens is False:
        if sealed_value_count(db):
            raise WrongKey(inspect_store(db))
        log.warning("store %s: key check failed but nothing is sealed; re-keyed", store_id)
    with db.write() as c:
        _set_meta(
            c, KEY_CHECK, blob=protector.protect(_CHECK_TEXT, context=_check_context(store_id))
        )
        _set_meta(c, KEY_ID, text=protector.key_id)


def sealed_value_count(db: Database) -> int:
    """How many values in the store need a key to be read."""
    total = 0
    with db.read() as c:
        for table, fmt, _blob, _ctx in SEALED_COLUMNS:
            column = table.c[fmt]
            total += int(
                c.execute(
                    select(func.count()).where(column.is_not(None), column != PLAIN)
                ).scalar_one()
            )
    return total


# ---------------------------------------------------------------- sealing in place


def seal_plaintext_rows(db: Database, protector: AesGcmProtector) -> dict[str, int]:
    """Seal every value still stored in plain text, in one transaction (idempotent).

    Returns the number of values sealed per column (``"drafts.body": 3``...). Marks the store
    ``scrub_pending`` in the same transaction when anything was sealed.
    """
    counts: dict[str, int] = {}
    with db.write() as c:
        for table, fmt, blob, context_of in SEALED_COLUMNS:
            key_cols = [col for col in table.primary_key.columns]
            if table is outbox_commits:
                key_cols = [table.c.commit_id]
            rows = c.execute(select(*key_cols, table.c[blob]).where(table.c[fmt] == PLAIN)).all()
            for r in rows:
                sealed = protector.protect(bytes(r[-1]), context=context_of(r).encode())
                where = [col == getattr(r, col.name) for col in key_cols]
                c.execute(
                    update(table).where(*where).values({fmt: protector.format_id, blob: sealed})
                )
            if rows:
                counts[f"{table.name}.{blob}"] = len(rows)
        if counts:
            _set_meta(c, SCRUB_PENDING, text="1")
    return counts


def scrub_free_space(db: Database) -> None:
    """Rewrite the file without free pages (VACUUM) and empty the WAL, so plain text that was
    replaced by sealed values does not linger on disk; then clear ``scrub_pending``."""
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA temp_store=MEMORY")  # VACUUM's copy stays in memory
        cursor.execute("VACUUM")
        cursor.execute("PRAGMA temp_store=DEFAULT")
        cursor.close()
    finally:
        raw.close()
    with db.write() as c:
        c.execute(store_meta.delete().where(store_meta.c.key == SCRUB_PENDING))
    checkpoint(db)


def checkpoint(db: Database) -> None:
    """Copy the WAL into the database file and truncate the WAL to zero bytes."""
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cursor.fetchall()
        cursor.close()
    finally:
        raw.close()
