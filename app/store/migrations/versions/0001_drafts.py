"""drafts: one row per note draft (ids, states, times; content in an opaque body blob)

Revision ID: 0001_drafts
Revises:
Create Date: 2025-03-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_drafts"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "drafts",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("patient_id", sa.String(64), nullable=False),
        sa.Column("encounter_id", sa.String(64), nullable=False),
        sa.Column("template_id", sa.String(64), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.Column("body_format", sa.Integer, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_drafts_encounter", "drafts", ["patient_id", "encounter_id", "updated_at"])
    op.create_index("ix_drafts_status_updated", "drafts", ["status", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_drafts_status_updated", table_name="drafts")
    op.drop_index("ix_drafts_encounter", table_name="drafts")
    op.drop_table("drafts")
