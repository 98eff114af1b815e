"""kpi: counters and durations of the app's use, PHI-free (issue 17)

Revision ID: 0008_kpi
Revises: 0007_worklist_cache
Create Date: 2026-06-10

Three tables of figures only (app/store/kpi_tables.py): one row per note under a random key,
its edit rate per section and item kind, and counters per day. They start empty: what happened
before this version was not measured.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_kpi"
down_revision = "0007_worklist_cache"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kpi_notes",
        sa.Column("note_key", sa.String(32), primary_key=True),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("open_to_approve_ms", sa.Integer, nullable=True),
        sa.Column("approve_to_confirm_ms", sa.Integer, nullable=True),
        sa.Column("active_edit_ms", sa.Integer, nullable=False),
        sa.Column("send_attempts", sa.Integer, nullable=False),
        sa.Column("person_needed", sa.Integer, nullable=False),
        sa.Column("conflicts", sa.Integer, nullable=False),
        sa.Column("duplicates_prevented", sa.Integer, nullable=False),
        sa.Column("clock_backwards", sa.Integer, nullable=False),
        sa.Column("edits", sa.String(16), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
    )
    op.create_index("ix_kpi_notes_day", "kpi_notes", ["day"])
    op.create_index("ix_kpi_notes_edits", "kpi_notes", ["edits"])
    op.create_table(
        "kpi_note_parts",
        sa.Column("note_key", sa.String(32), nullable=False),
        sa.Column("part", sa.String(48), nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("changed", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("note_key", "part"),
    )
    op.create_table(
        "kpi_days",
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("counter", sa.String(32), nullable=False),
        sa.Column("value", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("day", "counter"),
    )


def downgrade() -> None:
    op.drop_table("kpi_days")
    op.drop_table("kpi_note_parts")
    op.drop_index("ix_kpi_notes_edits", table_name="kpi_notes")
    op.drop_index("ix_kpi_notes_day", table_name="kpi_notes")
    op.drop_table("kpi_notes")
