"""Tables of the local store (SQLAlchemy Core). Every change here needs a migration in
``app/store/migrations/versions``; ``tests/store/test_migrations.py`` checks they agree."""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, LargeBinary, MetaData, String, Table

metadata = MetaData()

# One row per draft. Columns hold ids, states and times only (for listing and restore); the
# draft's content (text, items, baseline, provenance) is the ``body`` blob, sealed as one field
# (app.store.crypto) without touching queries.
drafts = Table(
    "drafts",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("patient_id", String(64), nullable=False),
    Column("encounter_id", String(64), nullable=False),
    Column("template_id", String(64), nullable=False),
    Column("source", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("created_at", String(32), nullable=False),  # ISO-8601 UTC, fixed width: sorts as text
    Column("updated_at", String(32), nullable=False),
    Column("body_format", Integer, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Index("ix_drafts_encounter", "patient_id", "encounter_id", "updated_at"),
    Index("ix_drafts_status_updated", "status", "updated_at"),
)

# Task-owner candidates as last fetched from the EHR (care team per patient, directory searches),
# so the owner picker works offline. ``body`` is sealed (names and roles of care teams are PHI
# in context: who treats the patient).
directory_cache = Table(
    "directory_cache",
    metadata,
    Column("key", String(200), primary_key=True),  # "care-team:Patient/pat-1", "directory:jones"
    Column("fetched_at", String(32), nullable=False),  # ISO-8601 UTC, fixed width
    Column("body_format", Integer, nullable=False),
    Column("body", LargeBinary, nullable=False),
)

# The clinician's day as last read from the EHR (app.store.worklist_cache), so the worklist
# shows offline with its age. ``body`` is sealed: names, birth dates and MRNs of the day.
worklist_cache = Table(
    "worklist_cache",
    metadata,
    Column("key", String(200), primary_key=True),  # "Practitioner/prac-1|2026-12-07"
    Column("day", String(10), nullable=False),  # ISO date: old days are dropped by it
    Column("fetched_at", String(32), nullable=False),  # ISO-8601 UTC, fixed width
    Column("body_format", Integer, nullable=False),
    Column("body", LargeBinary, nullable=False),
)

# Charts kept for offline use (app.store.chart_cache, docs/offline.md): one sealed, compressed
# ``EncounterContext`` per encounter, and the EHR's CapabilityStatement (key "metadata"). The
# clear columns hold ids, times and sizes only: the bounds and the prefetch never open a body.
chart_cache = Table(
    "chart_cache",
    metadata,
    Column("key", String(200), primary_key=True),  # "pat-1|enc-1", or "metadata"
    Column("patient_id", String(64), nullable=False),
    Column("encounter_id", String(64), nullable=False),
    Column("fetched_at", String(32), nullable=False),  # ISO-8601 UTC, fixed width: shown
    Column("counted_from", String(32), nullable=False),  # its age counts from (app.domain.offline)
    Column("run_id", String(36), nullable=False),  # the app's run that fetched it ...
    Column("monotonic", Float, nullable=False),  # ... and its monotonic clock then
    Column("size", Integer, nullable=False),  # bytes of body
    Column("body_format", Integer, nullable=False),
    Column("body", LargeBinary, nullable=False),
)
