"""Tables of the audit log and the store's own facts (SQLAlchemy Core), created by migration
``0003_encryption_audit``. Same ``metadata`` as ``schema.py``.

``audit_log`` is append-only: triggers refuse DELETE, and UPDATE of anything but the sealed
details (which may be re-sealed under a new key without changing their content or the chain).
``audit_head`` holds the newest record's number and hash, sealed; it can only move forward.
The hash chain (app.domain.audit) detects what a person with the file and no key does anyway.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, LargeBinary, String, Table, Text

from app.store.schema import metadata

# Facts about the store itself: its random id (names its key in the keyring), the id of the
# key its values are sealed with, and a sealed check value that tells a wrong key at open.
store_meta = Table(
    "store_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("text", Text, nullable=True),
    Column("blob", LargeBinary, nullable=True),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),  # 1, 2, 3 ... no gaps
    Column("at", String(32), nullable=False),  # ISO-8601 UTC, fixed width
    Column("actor", String(255), nullable=True),  # fhirUser reference
    Column("kind", String(32), nullable=False),
    Column("patient_id", String(64), nullable=True),
    Column("encounter_id", String(64), nullable=True),
    Column("draft_id", String(36), nullable=True),
    Column("commit_id", String(36), nullable=True),
    Column("state", String(32), nullable=True),
    Column("details_format", Integer, nullable=False),
    Column("details", LargeBinary, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("mac", String(64), nullable=True),
    Index("ix_audit_patient", "patient_id", "seq"),
    Index("ix_audit_at", "at"),
    Index("ix_audit_commit", "commit_id", "seq"),
    Index("ix_audit_draft", "draft_id", "seq"),
    Index("ix_audit_kind", "kind", "seq"),
)

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always 1
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("mac", String(64), nullable=True),
)

AUDIT_TRIGGERS = (
    (
        "audit_log_no_delete",
        "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    ),
    (
        "audit_log_no_update",
        "CREATE TRIGGER audit_log_no_update BEFORE UPDATE OF seq, at, actor, kind, patient_id, "
        "encounter_id, draft_id, commit_id, state, prev_hash, hash, mac ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    ),
    (
        "audit_head_no_delete",
        "CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head "
        "BEGIN SELECT RAISE(ABORT, 'the audit head cannot be removed'); END",
    ),
    (
        "audit_head_forward_only",
        "CREATE TRIGGER audit_head_forward_only BEFORE UPDATE ON audit_head "
        "WHEN NEW.seq <= OLD.seq "
        "BEGIN SELECT RAISE(ABORT, 'the audit head only moves forward'); END",
    ),
)
