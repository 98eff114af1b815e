"""chart cache: charts kept for offline use (sealed, per encounter; issue 19)

Revision ID: 0012_chart_cache
Revises: 0009_parked_states
Create Date: 2026-12-07

A new table, nothing moved: ``chart_cache`` holds the charts prefetched for offline use, each
one sealed value, with its fetch time (wall and monotonic clock of the run) and size in the
clear so the bounds are kept without opening a body.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_chart_cache"
down_revision = "0009_parked_states"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chart_cache",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("patient_id", sa.String(64), nullable=False),
        sa.Column("encounter_id", sa.String(64), nullable=False),
        sa.Column("fetched_at", sa.String(32), nullable=False),
        sa.Column("counted_from", sa.String(32), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("monotonic", sa.Float, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("body_format", sa.Integer, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("chart_cache")
