"""The worklist kept for offline use, and the note facts it shows per visit.

WorklistCache.save(worklist) / load(practitioner, day) -> Worklist (CACHED) | None
    one sealed JSON value per practitioner and day (``worklist_cache``); days older than
    ``KEEP_DAYS`` before the saved one are dropped
note_facts(db, encounter_ids) -> {encounter id: NoteFacts}
    two indexed reads of columns in the clear (drafts by encounter, their outbox commits):
    no sealed value is opened to know a note's state
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.sqlite import insert

from app.domain.clock import format_ts, parse_ts, utc_now
from app.domain.draft import DraftSource, DraftStatus
from app.domain.outbox import OutboxState
from app.domain.worklist import NoteFacts, Visit, VisitStatus, Worklist, WorklistSource
from app.store.database import Database
from app.store.outbox_tables import outbox_commits
from app.store.schema import drafts, worklist_cache

KEEP_DAYS = 14
_insert = insert(worklist_cache)
_UPSERT = _insert.on_conflict_do_update(
    index_elements=[worklist_cache.c.key],
    set_={c.name: _insert.excluded[c.name] for c in worklist_cache.c if c.name != "key"},
)


def cache_key(practitioner: str, day: date) -> str:
    return f"{practitioner}|{day.isoformat()}"


def _context(key: str) -> bytes:
    return f"worklist:{key}".encode()


def _visit_json(v: Visit) -> dict[str, Any]:
    return {
        "key": v.key,
        "patient_id": v.patient_id,
        "patient_name": v.patient_name,
        "start": v.start.isoformat() if v.start else None,
        "type_text": v.type_text,
        "status": v.status.value,
        "encounter_id": v.encounter_id,
        "birth_date": v.birth_date.isoformat() if v.birth_date else None,
        "mrn": v.mrn,
        "patient_identifiers": list(v.patient_identifiers),
        "visit_number": v.visit_number,
        "new_results": v.new_results,
    }


def _visit_of(row: dict[str, Any]) -> Visit:
    return Visit(
        key=row["key"],
        patient_id=row["patient_id"],
        patient_name=row["patient_name"],
        start=datetime.fromisoformat(row["start"]) if row.get("start") else None,
        type_text=row["type_text"],
        status=VisitStatus.from_encounter(row["status"]),
        encounter_id=row.get("encounter_id"),
        birth_date=date.fromisoformat(row["birth_date"]) if row.get("birth_date") else None,
        mrn=row.get("mrn"),
        patient_identifiers=tuple(row.get("patient_identifiers") or ()),
        visit_number=row.get("visit_number"),
        new_results=bool(row.get("new_results")),
    )


class WorklistCache:
    def __init__(self, db: Database, *, clock: Callable[[], datetime] = utc_now) -> None:
        self._db = db
        self._clock = clock

    def save(self, worklist: Worklist) -> None:
        key = cache_key(worklist.practitioner, worklist.day)
        body = json.dumps(
            {"visits": [_visit_json(v) for v in worklist.visits]}, ensure_ascii=False
        ).encode()
        protector = self._db.protector
        row = {
            "key": key,
            "day": worklist.day.isoformat(),
            "fetched_at": format_ts(worklist.fetched_at),
            "body_format": protector.format_id,
            "body": protector.protect(body, context=_context(key)),
        }
        oldest = (worklist.day - timedelta(days=KEEP_DAYS)).isoformat()
        with self._db.write() as conn:
            conn.execute(_UPSERT, row)
            conn.execute(delete(worklist_cache).where(worklist_cache.c.day < oldest))

    def load(self, practitioner: str, day: date) -> Worklist | None:
        key = cache_key(practitioner, day)
        with self._db.read() as conn:
            row = conn.execute(
                select(worklist_cache).where(worklist_cache.c.key == key)
            ).one_or_none()
        if row is None:
            return None
        body = json.loads(self._db.protector.unprotect(row.body, context=_context(key)))
        return Worklist(
            practitioner=practitioner,
            day=day,
            visits=tuple(_visit_of(v) for v in body["visits"]),
            fetched_at=parse_ts(row.fetched_at),
            source=WorklistSource.CACHED,
        )


def note_facts(db: Database, encounter_ids: Iterable[str]) -> dict[str, NoteFacts]:
    """What the store holds about each encounter's notes (encounters without any: absent)."""
    wanted = sorted(set(encounter_ids))
    if not wanted:
        return {}
    d, c = drafts.c, outbox_commits.c
    with db.read() as conn:
        rows = conn.execute(
            select(d.id, d.encounter_id, d.status, d.source).where(d.encounter_id.in_(wanted))
        ).all()
        draft_ids = [r.id for r in rows]
        commits = (
            conn.execute(select(c.draft_id, c.state).where(c.draft_id.in_(draft_ids))).all()
            if draft_ids
            else []
        )
    encounter_of = {r.id: r.encounter_id for r in rows}
    found: dict[str, tuple[list[tuple[DraftStatus, DraftSource]], list[OutboxState]]] = {}
    for r in rows:
        entry = found.setdefault(r.encounter_id, ([], []))
        entry[0].append((DraftStatus(r.status), DraftSource(r.source)))
    for commit in commits:
        encounter = encounter_of.get(commit.draft_id)
        if encounter is not None:
            found[encounter][1].append(OutboxState(commit.state))
    return {enc: NoteFacts(tuple(ds), tuple(cs)) for enc, (ds, cs) in found.items()}
