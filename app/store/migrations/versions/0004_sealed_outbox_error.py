"""sealed outbox error: the last error's words sealed like the other PHI fields, its class kept

Revision ID: 0004_sealed_outbox_error
Revises: 0003_encryption_audit
Create Date: 2026-05-10

``outbox_commits.last_error`` held the EHR's error text in the clear (it can echo a patient's
name). It becomes ``error_text`` (a sealed value, ``error_format`` 2) and ``error_class``
(a short code without PHI, for lists: app.domain.outbox.ErrorClass).

Schema and a keyless data step, like 0003: existing texts move to ``error_text`` marked plain
(``error_format`` = 1) and ``last_error`` is dropped; in the same open, right after this
migration, ``app.store.protected.open_protected_store`` seals every plain value in place
(``seal_plaintext_rows``, one transaction) and rewrites the file without its free pages
(VACUUM, WAL truncated) so no plain copy of the old text is left on disk.

Downgrade keeps the schema of 0003 but not the texts (they are sealed; migrations have no key).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_sealed_outbox_error"
down_revision = "0003_encryption_audit"
branch_labels = None
depends_on = None

# Written out here (not imported from app.domain.outbox): the classes of this revision's time.
_CLASS_OF_EVENT = {
    "not_sent": "not_reached",
    "retryable_rejection": "ehr_busy",
    "outcome_unknown": "no_answer",
    "crash_recovered": "app_stopped",
    "sign_in_required": "sign_in",
    "permanent_rejection": "refused",
    "conflict_detected": "conflict",
    "cannot_send": "cannot_send",
    "duplicates_found": "duplicates",
    "base_discarded": "base_discarded",
}


def upgrade() -> None:
    op.add_column("outbox_commits", sa.Column("error_class", sa.String(32), nullable=True))
    op.add_column("outbox_commits", sa.Column("error_format", sa.Integer, nullable=True))
    op.add_column("outbox_commits", sa.Column("error_text", sa.LargeBinary, nullable=True))
    cases = " ".join(f"WHEN '{event}' THEN '{cls}'" for event, cls in _CLASS_OF_EVENT.items())
    op.execute(
        "UPDATE outbox_commits SET error_text = CAST(last_error AS BLOB), error_format = 1, "
        f"error_class = CASE last_event {cases} ELSE 'other' END "
        "WHERE last_error IS NOT NULL"
    )
    op.execute("ALTER TABLE outbox_commits DROP COLUMN last_error")


def downgrade() -> None:
    op.add_column("outbox_commits", sa.Column("last_error", sa.Text, nullable=True))
    op.execute("ALTER TABLE outbox_commits DROP COLUMN error_text")
    op.execute("ALTER TABLE outbox_commits DROP COLUMN error_format")
    op.execute("ALTER TABLE outbox_commits DROP COLUMN error_class")
