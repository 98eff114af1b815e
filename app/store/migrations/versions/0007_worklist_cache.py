"""worklist cache: the clinician's day as last read from the EHR (sealed)

Revision ID: 0007_worklist_cache
Revises: 0006_directory_cache
Create Date: 2026-12-07

A new table, nothing moved: ``worklist_cache`` holds, per practitioner and day, the visits last
read from the EHR as one sealed JSON value, so the worklist shows offline with its age.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_worklist_cache"
down_revision = "0006_directory_cache"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "worklist_cache",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("fetched_at", sa.String(32), nullable=False),
        sa.Column("body_format", sa.Integer, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("worklist_cache")
