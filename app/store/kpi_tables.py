"""Tables of the KPI measurements (SQLAlchemy Core), created by migration ``0008_kpi``. Same
``metadata`` as ``schema.py``.

Counters and durations only (app.domain.kpi): a note is known by a random key (a keyed hash of
its draft id, the key derived from the store's data key), never by a patient, encounter, draft
or commit id, a name or any text. Nothing here is sealed: there is nothing to hide, and "My
week" sums a year of it in a few milliseconds.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, PrimaryKeyConstraint, String, Table

from app.store.schema import metadata

kpi_notes = Table(
    "kpi_notes",
    metadata,
    Column("note_key", String(32), primary_key=True),
    Column("day", String(10), nullable=False),  # local day of its outcome, YYYY-MM-DD
    Column("source", String(16), nullable=False),  # app.domain.kpi.NoteSource
    Column("outcome", String(16), nullable=False),  # app.domain.kpi.NoteOutcome
    Column("open_to_approve_ms", Integer, nullable=True),
    Column("approve_to_confirm_ms", Integer, nullable=True),
    Column("active_edit_ms", Integer, nullable=False),
    Column("send_attempts", Integer, nullable=False),
    Column("person_needed", Integer, nullable=False),
    Column("conflicts", Integer, nullable=False),
    Column("duplicates_prevented", Integer, nullable=False),
    Column("clock_backwards", Integer, nullable=False),
    Column("edits", String(16), nullable=False),  # EditsState: none, pending, measured, ...
    Column("revision", Integer, nullable=False),
    Index("ix_kpi_notes_day", "day"),
    Index("ix_kpi_notes_edits", "edits"),
)

kpi_note_parts = Table(
    "kpi_note_parts",
    metadata,
    Column("note_key", String(32), nullable=False),
    Column("part", String(48), nullable=False),  # "section:<key>" or "items:<kind>"
    Column("total", Integer, nullable=False),
    Column("changed", Integer, nullable=False),
    PrimaryKeyConstraint("note_key", "part"),
)

kpi_days = Table(
    "kpi_days",
    metadata,
    Column("day", String(10), nullable=False),
    Column("counter", String(32), nullable=False),  # app.domain.kpi.DayCounter
    Column("value", Integer, nullable=False),
    PrimaryKeyConstraint("day", "counter"),
)
