"""parked states: an unknown outcome whose check stopped gets a state of its own

Revision ID: 0009_parked_states
Revises: 0008_kpi
Create Date: 2026-05-20

Before, "parked" was ``unknown_outcome`` plus a particular ``last_event``, and every reader
re-derived it. Now the transition table has two states for it (app.domain.outbox):
``check_paused_for_sign_in`` (the check met a 401 after the refresh) and ``parked`` (the EHR
refused the check, or cannot be searched). Their next attempt is cleared: the runner leaves
them alone; a sign-in or the clinician moves them back to ``unknown_outcome``.

Downgrade folds them back into ``unknown_outcome`` (``last_event`` still says which one it was).
"""

from __future__ import annotations

from alembic import op

revision = "0009_parked_states"
down_revision = "0008_kpi"
branch_labels = None
depends_on = None

# Written out here (not imported from app.domain.outbox): the values of this revision's time.
_STATE_OF_LAST_EVENT = {
    "sign_in_required": "check_paused_for_sign_in",
    "permanent_rejection": "parked",
}


def upgrade() -> None:
    for event, state in _STATE_OF_LAST_EVENT.items():
        op.execute(
            f"UPDATE outbox_commits SET state = '{state}', next_attempt_at = NULL "
            f"WHERE state = 'unknown_outcome' AND last_event = '{event}'"
        )


def downgrade() -> None:
    states = ", ".join(f"'{state}'" for state in _STATE_OF_LAST_EVENT.values())
    op.execute(f"UPDATE outbox_commits SET state = 'unknown_outcome' WHERE state IN ({states})")
