"""write operations: a queued write may update a resource already in the chart

Revision ID: 0005_write_operations
Revises: 0004_sealed_outbox_error
Create Date: 2026-06-02

A follow-up note (amendment or addendum) corrects structured items already in the chart in
place instead of writing them again: such a write is an update (``operation`` = ``update``) of
``target`` (``"Observation/12"``, or the ``urn:uuid:`` of a write of a commit still in the
outbox) with ``If-Match`` on ``if_match`` (the version the clinician saw; empty: the version the
base commit recorded). Every existing write is a create. The three columns are part of what was
approved: the identity trigger is rebuilt to refuse changing them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_write_operations"
down_revision = "0004_sealed_outbox_error"
branch_labels = None
depends_on = None

# Written out here (not imported from app.store.outbox_tables): the schema of this revision.
_OLD_TRIGGER = (
    "CREATE TRIGGER outbox_writes_identity_immutable BEFORE UPDATE OF commit_id, position, "
    "write_id, resource_type, identifier_value, depends_on, payload_sha256 ON outbox_writes "
    "BEGIN SELECT RAISE(ABORT, 'approved payload identities are immutable'); END"
)
_NEW_TRIGGER = (
    "CREATE TRIGGER outbox_writes_identity_immutable BEFORE UPDATE OF commit_id, position, "
    "write_id, resource_type, identifier_value, depends_on, payload_sha256, operation, "
    "target, if_match ON outbox_writes "
    "BEGIN SELECT RAISE(ABORT, 'approved payload identities are immutable'); END"
)


def upgrade() -> None:
    op.add_column(
        "outbox_writes",
        sa.Column("operation", sa.String(16), nullable=False, server_default="create"),
    )
    op.add_column("outbox_writes", sa.Column("target", sa.Text, nullable=True))
    op.add_column("outbox_writes", sa.Column("if_match", sa.String(64), nullable=True))
    op.execute("DROP TRIGGER IF EXISTS outbox_writes_identity_immutable")
    op.execute(_NEW_TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS outbox_writes_identity_immutable")
    op.execute("ALTER TABLE outbox_writes DROP COLUMN if_match")
    op.execute("ALTER TABLE outbox_writes DROP COLUMN target")
    op.execute("ALTER TABLE outbox_writes DROP COLUMN operation")
    op.execute(_OLD_TRIGGER)
