"""Task-owner candidates kept for offline use: the last care team fetched per patient and the
last directory searches, each a sealed JSON value (``directory_cache`` table).

Callers get domain ``OwnerCandidate`` objects. Entries are replaced whole; older directory
searches beyond ``MAX_SEARCHES`` are dropped (the care teams stay).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.sqlite import insert

from app.domain.clinical import Reference
from app.domain.clock import format_ts, parse_ts, utc_now
from app.domain.owners import OwnerCandidate, OwnerSource
from app.store.database import Database
from app.store.schema import directory_cache

MAX_SEARCHES = 200
_insert = insert(directory_cache)
_UPSERT = _insert.on_conflict_do_update(
    index_elements=[directory_cache.c.key],
    set_={c.name: _insert.excluded[c.name] for c in directory_cache.c if c.name != "key"},
)


@dataclass(frozen=True)
class CachedCandidates:
    candidates: tuple[OwnerCandidate, ...]
    fetched_at: datetime


def care_team_key(patient: Reference) -> str:
    return f"care-team:{patient.relative}"


def search_key(text: str) -> str:
    return "directory:" + " ".join(text.lower().split())[:150]


def _encode(candidates: Sequence[OwnerCandidate]) -> bytes:
    rows = [
        {"type": c.reference.resource_type, "id": c.reference.id, "name": c.name,
         "role": c.role, "source": c.source.value}
        for c in candidates
    ]  # fmt: skip
    return json.dumps(rows, ensure_ascii=False).encode()


def _decode(body: bytes) -> tuple[OwnerCandidate, ...]:
    rows: list[dict[str, Any]] = json.loads(body)
    return tuple(
        OwnerCandidate(
            Reference(r["type"], r["id"], r["name"]),
            r["name"],
            r.get("role"),
            OwnerSource(r["source"]),
        )
        for r in rows
    )


class OwnerDirectoryCache:
    def __init__(self, db: Database, *, clock: Callable[[], datetime] = utc_now) -> None:
        self._db = db
        self._clock = clock

    def save(self, key: str, candidates: Sequence[OwnerCandidate]) -> None:
        protector = self._db.protector
        row = {
            "key": key,
            "fetched_at": format_ts(self._clock()),
            "body_format": protector.format_id,
            "body": protector.protect(_encode(candidates), context=f"directory:{key}".encode()),
        }
        with self._db.write() as conn:
            conn.execute(_UPSERT, row)
            if key.startswith("directory:"):
                stale = (
                    select(directory_cache.c.key)
                    .where(directory_cache.c.key.like("directory:%"))
                    .order_by(directory_cache.c.fetched_at.desc())
                    .offset(MAX_SEARCHES)
                )
                conn.execute(delete(directory_cache).where(directory_cache.c.key.in_(stale)))

    def load(self, key: str) -> CachedCandidates | None:
        with self._db.read() as conn:
            row = conn.execute(
                select(directory_cache).where(directory_cache.c.key == key)
            ).one_or_none()
        if row is None:
            return None
        body = self._db.protector.unprotect(row.body, context=f"directory:{row.key}".encode())
        return CachedCandidates(_decode(body), parse_ts(row.fetched_at))

    def everyone(self) -> tuple[OwnerCandidate, ...]:
        """Every candidate kept (care teams and searches), to match names offline."""
        with self._db.read() as conn:
            rows = conn.execute(select(directory_cache)).all()
        found: list[OwnerCandidate] = []
        for row in rows:
            body = self._db.protector.unprotect(row.body, context=f"directory:{row.key}".encode())
            found.extend(_decode(body))
        return tuple(found)
