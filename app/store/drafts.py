"""Drafts in the local store: autosave (upsert with a revision), restore, list, delete.

Callers get domain ``Draft`` objects only. Every write runs in one short transaction; hooks
(``DraftHook``) run inside that same transaction, so the audit log (app.store.audit_hooks)
commits or rolls back together with the change it records. Hooks receive ids and counts, never
note text.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import Connection, Row, bindparam, delete, select, update
from sqlalchemy.dialects.sqlite import insert

from app.domain.clock import Clock, format_ts, utc_now
from app.domain.draft import Draft, DraftStatus
from app.store.database import Database
from app.store.draft_codec import decode_body, encode_body
from app.store.errors import DraftNotEditable, DraftNotFound, StaleDraft, StoreCorrupt
from app.store.schema import drafts


class DraftEventKind(Enum):
    CREATED = "created"
    SAVED = "saved"
    STATUS_CHANGED = "status-changed"
    DELETED = "deleted"


@dataclass(frozen=True)
class DraftEvent:
    kind: DraftEventKind
    draft_id: uuid.UUID
    patient_id: str
    encounter_id: str
    source: str
    status: str
    revision: int
    at: datetime
    sections: int = 0
    characters: int = 0
    items: int = 0


DraftHook = Callable[[Connection, DraftEvent], None]

# Built once: autosave runs these every few seconds and must stay well under 10 ms (p95).
_SELECT_STATE = select(drafts.c.revision, drafts.c.status).where(drafts.c.id == bindparam("key"))
_insert = insert(drafts)
_UPSERT = _insert.on_conflict_do_update(
    index_elements=[drafts.c.id],
    set_={c.name: _insert.excluded[c.name] for c in drafts.c if c.name not in ("id", "created_at")},
)


class DraftRepository:
    def __init__(
        self,
        db: Database,
        *,
        hooks: Sequence[DraftHook] = (),
        clock: Clock = utc_now,
    ) -> None:
        self._db = db
        self._hooks = tuple(hooks)
        self._clock = clock

    # ---- writing
    def save(
        self,
        draft: Draft,
        *,
        expected_revision: int | None = None,
        conn: Connection | None = None,
        durable: bool = True,
    ) -> Draft:
        """Insert or update ``draft``; returns it with the new ``revision`` and ``updated_at``.

        ``expected_revision`` (optional) guards against a second window overwriting newer
        work: StaleDraft when the stored revision differs. Approved or discarded drafts are
        never overwritten (DraftNotEditable).
        """
        now = self._clock()
        key = str(draft.id)
        with self._tx(conn, durable=durable) as c:
            row = c.execute(_SELECT_STATE, {"key": key}).first()
            stored_revision = 0 if row is None else int(row.revision)
            if row is not None and row.status != DraftStatus.OPEN.value:
                raise DraftNotEditable(draft.id, row.status)
            if expected_revision is not None and expected_revision != stored_revision:
                raise StaleDraft(draft.id, expected_revision, stored_revision)
            saved = replace(draft, revision=stored_revision + 1, updated_at=now)
            values = self._row_values(saved)
            c.execute(_UPSERT, values)
            kind = DraftEventKind.CREATED if row is None else DraftEventKind.SAVED
            self._emit(c, kind, saved)
        return saved

    def set_status(
        self, draft_id: uuid.UUID, status: DraftStatus, *, conn: Connection | None = None
    ) -> Draft:
        """Change a draft's status (discard; the review gate approves inside its own
        transaction by passing ``conn``). Returns the updated draft."""
        with self._tx(conn) as c:
            current = self._get(c, draft_id)
            now = self._clock()
            c.execute(
                update(drafts)
                .where(drafts.c.id == str(draft_id))
                .values(
                    status=status.value, revision=current.revision + 1, updated_at=format_ts(now)
                )
            )
            changed = replace(current, status=status, revision=current.revision + 1, updated_at=now)
            self._emit(c, DraftEventKind.STATUS_CHANGED, changed)
        return changed

    def delete(self, draft_id: uuid.UUID, *, conn: Connection | None = None) -> None:
        with self._tx(conn) as c:
            current = self._get(c, draft_id)
            c.execute(delete(drafts).where(drafts.c.id == str(draft_id)))
            self._emit(c, DraftEventKind.DELETED, current)

    # ---- reading
    def get(self, draft_id: uuid.UUID) -> Draft:
        with self._db.read() as c:
            return self._get(c, draft_id)

    def find(self, draft_id: uuid.UUID) -> Draft | None:
        with self._db.read() as c:
            row = c.execute(select(drafts).where(drafts.c.id == str(draft_id))).first()
            return None if row is None else self._decode(row)

    def list_for_encounter(
        self, patient_id: str, encounter_id: str, *, include_closed: bool = False
    ) -> list[Draft]:
        """Drafts of one encounter, most recently changed first (open ones only by default)."""
        query = select(drafts).where(
            drafts.c.patient_id == patient_id, drafts.c.encounter_id == encounter_id
        )
        if not include_closed:
            query = query.where(drafts.c.status == DraftStatus.OPEN.value)
        return self._list(query.order_by(drafts.c.updated_at.desc()))

    def list_unfinished(self, limit: int = 50) -> list[Draft]:
        """Open drafts across all patients, newest first: what to restore after a restart."""
        query = (
            select(drafts)
            .where(drafts.c.status == DraftStatus.OPEN.value)
            .order_by(drafts.c.updated_at.desc())
            .limit(limit)
        )
        return self._list(query)

    def list_recent(self, limit: int = 20) -> list[Draft]:
        return self._list(select(drafts).order_by(drafts.c.updated_at.desc()).limit(limit))

    # ---- internals
    @contextmanager
    def _tx(self, conn: Connection | None, *, durable: bool = True) -> Iterator[Connection]:
        if conn is not None:
            with nullcontext(conn) as c:
                yield c
        else:
            with self._db.write(durable=durable) as c:
                yield c

    def _list(self, query: Any) -> list[Draft]:
        with self._db.read() as c:
            return [self._decode(row) for row in c.execute(query)]

    def _get(self, c: Connection, draft_id: uuid.UUID) -> Draft:
        row = c.execute(select(drafts).where(drafts.c.id == str(draft_id))).first()
        if row is None:
            raise DraftNotFound(draft_id)
        return self._decode(row)

    def _row_values(self, d: Draft) -> dict[str, Any]:
        protector = self._db.protector
        key = str(d.id)
        return {
            "id": key,
            "patient_id": d.patient.id,
            "encounter_id": d.encounter.id,
            "template_id": d.template_id,
            "source": d.provenance.source.value,
            "status": d.status.value,
            "revision": d.revision,
            "created_at": format_ts(d.created_at),
            "updated_at": format_ts(d.updated_at),
            "body_format": protector.format_id,
            "body": protector.protect(encode_body(d), context=key.encode()),
        }

    def _decode(self, row: Row[Any]) -> Draft:
        try:
            if row.body_format != self._db.protector.format_id:
                raise ValueError(f"body format {row.body_format} needs another protector")
            body = self._db.protector.unprotect(row.body, context=row.id.encode())
            return decode_body(
                body,
                draft_id=row.id,
                template_id=row.template_id,
                status=row.status,
                revision=row.revision,
                created_at=row.created_at,
                updated_at=row.updated_at,
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreCorrupt(
                f"The draft {row.id} in {self._db.path} cannot be read ({type(exc).__name__}). "
                "It is left untouched; ask IT."
            ) from exc

    def _emit(self, c: Connection, kind: DraftEventKind, d: Draft) -> None:
        if not self._hooks:
            return
        event = DraftEvent(
            kind=kind,
            draft_id=d.id,
            patient_id=d.patient.id,
            encounter_id=d.encounter.id,
            source=d.provenance.source.value,
            status=d.status.value,
            revision=d.revision,
            at=d.updated_at,
            sections=len(d.sections),
            characters=sum(len(s.text) for s in d.sections),
            items=len(d.items),
        )
        for hook in self._hooks:
            hook(c, event)
