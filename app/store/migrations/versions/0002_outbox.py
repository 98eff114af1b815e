"""outbox: approved commits, their immutable writes, dependencies and sync status

Revision ID: 0002_outbox
Revises: 0001_drafts
Create Date: 2025-03-12
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_outbox"
down_revision = "0001_drafts"
branch_labels = None
depends_on = None

# Written out here (not imported from app.store.outbox_tables): a migration must keep
# describing the schema of its time even when the tables module moves on.
_TRIGGERS = (
    (
        "outbox_commits_identity_immutable",
        "CREATE TRIGGER outbox_commits_identity_immutable BEFORE UPDATE OF commit_id, sequence "
        "ON outbox_commits BEGIN SELECT RAISE(ABORT, 'outbox commit identities are immutable'); "
        "END",
    ),
    (
        "outbox_writes_identity_immutable",
        "CREATE TRIGGER outbox_writes_identity_immutable BEFORE UPDATE OF commit_id, position, "
        "write_id, resource_type, identifier_value, depends_on, payload_sha256 ON outbox_writes "
        "BEGIN SELECT RAISE(ABORT, 'approved payload identities are immutable'); END",
    ),
)


def upgrade() -> None:
    op.create_table(
        "outbox_commits",
        sa.Column("sequence", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("commit_id", sa.String(36), nullable=False, unique=True),
        sa.Column("draft_id", sa.String(36), nullable=True),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.String(32), nullable=True),
        sa.Column("last_event", sa.String(32), nullable=True),
        sa.Column("last_status", sa.Integer, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("resource_types", sa.String(255), nullable=False),
        sa.Column("write_count", sa.Integer, nullable=False),
        sa.Column("preconditions", sa.Text, nullable=False),
        sa.Column("strategy", sa.String(32), nullable=True),
        sa.Column("verify_state", sa.String(16), nullable=False),
        sa.Column("verify_note", sa.Text, nullable=True),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.Column("confirmed_at", sa.String(32), nullable=True),
        sa.Column("discarded_by", sa.String(255), nullable=True),
        sa.Column("discard_reason", sa.Text, nullable=True),
        sa.Column("decision_format", sa.Integer, nullable=False),
        sa.Column("decision", sa.LargeBinary, nullable=False),
        sa.Column("conflict_format", sa.Integer, nullable=True),
        sa.Column("conflict", sa.LargeBinary, nullable=True),
        sqlite_autoincrement=True,  # sequence numbers are never reused
    )
    op.create_index("ix_outbox_commits_state_sequence", "outbox_commits", ["state", "sequence"])
    op.create_table(
        "outbox_dependencies",
        sa.Column(
            "commit_id",
            sa.String(36),
            sa.ForeignKey("outbox_commits.commit_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("base_commit_id", sa.String(36), primary_key=True),
    )
    op.create_index("ix_outbox_dependencies_base", "outbox_dependencies", ["base_commit_id"])
    op.create_table(
        "outbox_writes",
        sa.Column(
            "commit_id",
            sa.String(36),
            sa.ForeignKey("outbox_commits.commit_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("write_id", sa.String(36), nullable=False, unique=True),
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("identifier_value", sa.String(80), nullable=False),
        sa.Column("depends_on", sa.String(255), nullable=False),
        sa.Column("payload_sha256", sa.String(64), nullable=False),
        sa.Column("payload_format", sa.Integer, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("server_id", sa.String(64), nullable=True),
        sa.Column("server_version", sa.String(64), nullable=True),
        sa.Column("etag", sa.String(128), nullable=True),
        sa.Column("location", sa.Text, nullable=True),
        sa.Column("response_status", sa.String(64), nullable=True),
        sa.Column("recorded_at", sa.String(32), nullable=True),
    )
    op.create_table(
        "sync_status",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    for _name, sql in _TRIGGERS:
        op.execute(sql)


def downgrade() -> None:
    for name, _sql in reversed(_TRIGGERS):
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("sync_status")
    op.drop_table("outbox_writes")
    op.drop_index("ix_outbox_dependencies_base", table_name="outbox_dependencies")
    op.drop_table("outbox_dependencies")
    op.drop_index("ix_outbox_commits_state_sequence", table_name="outbox_commits")
    op.drop_table("outbox_commits")
