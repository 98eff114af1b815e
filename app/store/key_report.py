"""What a store tells without its key: which approved notes were not sent, which drafts exist.

Only plain columns are read (ids, states, times, resource types), so this works when the data
key is gone; it is what ``KeyLost`` shows the clinician.
"""

from __future__ import annotations

from sqlalchemy import func, select

from app.domain.clock import parse_ts
from app.domain.outbox import OutboxState
from app.store.audit_tables import audit_head, audit_log, store_meta
from app.store.crypto_errors import KeyLossReport, UnsentCommit
from app.store.database import Database, PlainPayload
from app.store.key_escrow import ESCROW
from app.store.outbox_tables import outbox_commits
from app.store.schema import drafts
from app.store.sealed_columns import SEALED_COLUMNS

_DONE = (OutboxState.CONFIRMED.value, OutboxState.DISCARDED.value)


def inspect_store(db: Database) -> KeyLossReport:
    plain = PlainPayload.format_id
    with db.read() as c:
        commits = c.execute(
            select(
                outbox_commits.c.commit_id,
                outbox_commits.c.sequence,
                outbox_commits.c.state,
                outbox_commits.c.created_at,
                outbox_commits.c.resource_types,
                drafts.c.patient_id,
                drafts.c.encounter_id,
            )
            .select_from(outbox_commits.outerjoin(drafts, drafts.c.id == outbox_commits.c.draft_id))
            .where(outbox_commits.c.state.not_in(_DONE))
            .order_by(outbox_commits.c.sequence)
        ).all()
        open_drafts = (
            c.execute(
                select(drafts.c.patient_id)
                .where(drafts.c.status == "open")
                .order_by(drafts.c.updated_at)
            )
            .scalars()
            .all()
        )
        head = c.execute(select(audit_head.c.seq, audit_head.c.hash)).first()
        escrow = c.execute(select(store_meta.c.key).where(store_meta.c.key == ESCROW)).first()
        records = c.execute(select(func.count()).select_from(audit_log)).scalar_one()
        sealed = 0
        for table, fmt, _blob, _context in SEALED_COLUMNS:
            column = table.c[fmt]
            sealed += int(
                c.execute(
                    select(func.count()).where(column.is_not(None), column != plain)
                ).scalar_one()
            )
    unsent = []
    for r in commits:
        created = parse_ts(r.created_at)
        assert created is not None
        unsent.append(
            UnsentCommit(
                commit_id=str(r.commit_id),
                sequence=int(r.sequence),
                state=str(r.state),
                created_at=created,
                resource_types=tuple(t for t in str(r.resource_types).split(",") if t),
                patient_id=r.patient_id,
                encounter_id=r.encounter_id,
            )
        )
    return KeyLossReport(
        path=db.path,
        unsent=tuple(unsent),
        open_drafts=len(open_drafts),
        open_draft_patients=tuple(dict.fromkeys(str(p) for p in open_drafts)),
        audit_records=int(records),
        audit_head=None if head is None else (int(head.seq), str(head.hash)),
        encrypted_values=sealed,
        it_can_recover=escrow is not None,
    )
