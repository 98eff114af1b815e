"""Tables of the outbox (SQLAlchemy Core), created by migration ``0002_outbox``.

Kept beside ``schema.py`` (same ``metadata``) so the outbox's columns live next to the code
that reads them. Listing and the status summary read the narrow ``outbox_commits`` table only
(index ``(state, sequence)``); payloads live in ``outbox_writes`` and are loaded per commit.

Identities are immutable once approved: SQLite triggers refuse an UPDATE of a commit's id or
sequence, or of a write's id, identifier, type or payload hash (see the migration). The payload
blob itself may be re-protected (sealed after a migration, or under a new key); its SHA-256 is
of the plain JSON text
and is checked on every read.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from app.store.schema import metadata

# One row per approved commit. ``sequence`` is the local, monotonic order (AUTOINCREMENT: never
# reused, never wall-clock); the runner sends in this order.
outbox_commits = Table(
    "outbox_commits",
    metadata,
    Column("sequence", Integer, primary_key=True, autoincrement=True),
    Column("commit_id", String(36), nullable=False, unique=True),
    Column("draft_id", String(36), nullable=True),
    Column("state", String(24), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", String(32), nullable=True),
    Column("last_event", String(32), nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("resource_types", String(255), nullable=False),  # sorted, comma separated
    Column("write_count", Integer, nullable=False),
    Column("preconditions", Text, nullable=False),  # JSON {"Type/id": "versionId"}
    Column("strategy", String(32), nullable=True),
    Column("verify_state", String(16), nullable=False),
    Column("verify_note", Text, nullable=True),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
    Column("confirmed_at", String(32), nullable=True),
    Column("discarded_by", String(255), nullable=True),
    Column("discard_reason", Text, nullable=True),
    Column("decision_format", Integer, nullable=False),
    Column("decision", LargeBinary, nullable=False),
    Column("conflict_format", Integer, nullable=True),
    Column("conflict", LargeBinary, nullable=True),
    # The last error (migration 0004): its class in the clear (app.domain.outbox.ErrorClass, no
    # PHI, for lists), its words sealed (the EHR's text can echo a patient's name).
    Column("error_class", String(32), nullable=True),
    Column("error_format", Integer, nullable=True),
    Column("error_text", LargeBinary, nullable=True),
    Index("ix_outbox_commits_state_sequence", "state", "sequence"),
    sqlite_autoincrement=True,
)

# An amendment waits for its base: one row per (commit, base commit).
outbox_dependencies = Table(
    "outbox_dependencies",
    metadata,
    Column(
        "commit_id",
        String(36),
        ForeignKey("outbox_commits.commit_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("base_commit_id", String(36), primary_key=True),
    Index("ix_outbox_dependencies_base", "base_commit_id"),
)

# One row per planned write: the immutable payload and, once known, where the server keeps it.
outbox_writes = Table(
    "outbox_writes",
    metadata,
    Column(
        "commit_id",
        String(36),
        ForeignKey("outbox_commits.commit_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("position", Integer, primary_key=True),
    Column("write_id", String(36), nullable=False, unique=True),
    Column("resource_type", String(64), nullable=False),
    Column("identifier_value", String(80), nullable=False),
    Column("depends_on", String(255), nullable=False),  # positions, comma separated
    Column("payload_sha256", String(64), nullable=False),
    Column("payload_format", Integer, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("server_id", String(64), nullable=True),
    Column("server_version", String(64), nullable=True),
    Column("etag", String(128), nullable=True),
    Column("location", Text, nullable=True),
    Column("response_status", String(64), nullable=True),
    Column("recorded_at", String(32), nullable=True),
    # migration 0005: an update of a resource already in the chart (app.domain.commit)
    Column("operation", String(16), nullable=False, server_default="create"),
    Column("target", Text, nullable=True),
    Column("if_match", String(64), nullable=True),
)

# Small key/value facts about syncing (the last successful sync for the status bar).
sync_status = Table(
    "sync_status",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

IMMUTABLE_TRIGGERS = (
    (
        "outbox_commits_identity_immutable",
        "CREATE TRIGGER outbox_commits_identity_immutable BEFORE UPDATE OF commit_id, sequence "
        "ON outbox_commits BEGIN SELECT RAISE(ABORT, 'outbox commit identities are immutable'); "
        "END",
    ),
    (
        "outbox_writes_identity_immutable",
        "CREATE TRIGGER outbox_writes_identity_immutable BEFORE UPDATE OF commit_id, position, "
        "write_id, resource_type, identifier_value, depends_on, payload_sha256, operation, "
        "target, if_match ON outbox_writes "
        "BEGIN SELECT RAISE(ABORT, 'approved payload identities are immutable'); END",
    ),
)
