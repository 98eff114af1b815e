"""directory cache: task-owner candidates kept for offline use (sealed)

Revision ID: 0006_directory_cache
Revises: 0005_write_operations
Create Date: 2026-06-01

A new table, nothing moved: ``directory_cache`` holds, per key (a patient's care team, a
directory search), the candidates last fetched from the EHR as one sealed JSON value.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_directory_cache"
down_revision = "0005_write_operations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "directory_cache",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("fetched_at", sa.String(32), nullable=False),
        sa.Column("body_format", sa.Integer, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("directory_cache")
