"""encryption and audit: store facts (id, key check), the hash-chained audit log and its head

Revision ID: 0003_encryption_audit
Revises: 0002_outbox
Create Date: 2025-03-14

Schema only. Encrypting the rows a store written before this version holds in plain text
(``*_format`` = 1) is a keyed data step, and migrations here are keyless by design (env.py gets
a connection and nothing else; ``alembic upgrade`` must never need the keyring). It runs in the
same open, right after this migration: ``app.store.protected.open_protected_store`` ->
``seal_plaintext_rows`` (one transaction, idempotent, then VACUUM and a WAL truncate so no
plain copy is left in free pages). See docs/security.md, "Stores from before encryption".
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Side effect only: registers the audit tables on app.store.schema.metadata wherever a store is
# opened (every open loads the revision scripts), so the metadata always matches a migrated file
# (tests/store/test_database.py compares them). The schema below stays written out.
import app.store.audit_tables  # noqa: F401

revision = "0003_encryption_audit"
down_revision = "0002_outbox"
branch_labels = None
depends_on = None

# Written out here (not imported from app.store.audit_tables): a migration keeps describing
# the schema of its time.
_TRIGGERS = (
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


def upgrade() -> None:
    op.create_table(
        "store_meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("text", sa.Text, nullable=True),
        sa.Column("blob", sa.LargeBinary, nullable=True),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(255), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("patient_id", sa.String(64), nullable=True),
        sa.Column("encounter_id", sa.String(64), nullable=True),
        sa.Column("draft_id", sa.String(36), nullable=True),
        sa.Column("commit_id", sa.String(36), nullable=True),
        sa.Column("state", sa.String(32), nullable=True),
        sa.Column("details_format", sa.Integer, nullable=False),
        sa.Column("details", sa.LargeBinary, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("mac", sa.String(64), nullable=True),
    )
    op.create_index("ix_audit_patient", "audit_log", ["patient_id", "seq"])
    op.create_index("ix_audit_at", "audit_log", ["at"])
    op.create_index("ix_audit_commit", "audit_log", ["commit_id", "seq"])
    op.create_index("ix_audit_draft", "audit_log", ["draft_id", "seq"])
    op.create_index("ix_audit_kind", "audit_log", ["kind", "seq"])
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("mac", sa.String(64), nullable=True),
    )
    for _name, sql in _TRIGGERS:
        op.execute(sql)


def downgrade() -> None:
    for name, _sql in reversed(_TRIGGERS):
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("audit_head")
    for index in ("ix_audit_kind", "ix_audit_draft", "ix_audit_commit", "ix_audit_at"):
        op.drop_index(index, table_name="audit_log")
    op.drop_index("ix_audit_patient", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("store_meta")
