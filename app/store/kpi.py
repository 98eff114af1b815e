"""The KPI tables as the rest of the app uses them: figures in, figures out (app.domain.kpi).

Writes come from two places: :class:`app.store.kpi_hooks.KpiRecorder`, a listener of the audit
log that runs inside the transaction of the event it measures, and the editor's active time
(``add_active_time``, after an autosave). How much of a draft the clinician changed is
measured after its approval, off the approval's path (``measure_pending``): the diff of a long
note would cost more than the 1 ms a measurement may add to what it measures.

A note's key is ``HMAC-SHA256(key, draft id)``, cut to 32 hex digits, with a key derived from
the store's data key: the same draft always gets the same key, and no one without the store's
key can tell which draft (or patient) a row belongs to.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from enum import Enum
from typing import Any

from sqlalchemy import Connection, Row, bindparam, delete, select, update

from app.domain.draft import DraftStatus
from app.domain.kpi import (
    DayCounter,
    DayFigures,
    NoteFigures,
    NoteOutcome,
    NoteSource,
    PartEdit,
    measure_edits,
)
from app.store.crypto import AesGcmProtector
from app.store.database import Database
from app.store.drafts import DraftRepository
from app.store.errors import DraftNotFound, StoreCorrupt
from app.store.kpi_tables import kpi_days, kpi_note_parts, kpi_notes
from app.store.schema import drafts

log = logging.getLogger(__name__)

_COUNTS = (
    "active_edit_ms",
    "send_attempts",
    "person_needed",
    "conflicts",
    "duplicates_prevented",
    "clock_backwards",
)


class EditsState(Enum):
    NONE = "none"  # not approved yet: nothing to measure
    PENDING = "pending"  # approved: measured at the next read
    MEASURED = "measured"
    UNAVAILABLE = "unavailable"  # the draft is gone (or unreadable): no edit rate


class KpiRepository:
    def __init__(self, db: Database, drafts_repo: DraftRepository) -> None:
        self._db = db
        self._drafts = drafts_repo
        self._secret: tuple[object, bytes] | None = None

    # ------------------------------------------------------------------ keys
    def note_key(self, draft_id: str | uuid.UUID) -> str:
        protector = self._db.protector
        if self._secret is None or self._secret[0] is not protector:
            self._secret = (protector, _note_secret(self._db))
        secret = self._secret[1]
        digest = hmac.new(secret, str(draft_id).encode("ascii"), hashlib.sha256)
        return digest.hexdigest()[:32]

    # ------------------------------------------------------------------ writing
    def change_note(
        self,
        c: Connection,
        key: str,
        day: date,
        *,
        source: NoteSource | None = None,
        outcome: NoteOutcome | None = None,
        set_day: bool = False,
        values: Mapping[str, Any] | None = None,
        add: Mapping[str, int] | None = None,
    ) -> None:
        """Insert or update a note's row inside ``c`` (the event's own transaction).

        One prepared statement on the connection's own SQLite handle: measuring must add well
        under a millisecond to the event it measures (benchmarks/bench_kpi.py)."""
        values = dict(values or {})
        add = dict(add or {})
        row: dict[str, Any] = {
            "note_key": key,
            "day": day.isoformat(),
            "source": (source or NoteSource.PREFILLED).value,
            "outcome": (outcome or NoteOutcome.OPEN).value,
            "open_to_approve_ms": None,
            "approve_to_confirm_ms": None,
            "edits": EditsState.NONE.value,
            "revision": 1,
            **dict.fromkeys(_COUNTS, 0),
        }
        unknown = (set(values) | set(add)) - set(_NOTE_COLUMNS)
        if unknown:
            raise ValueError(f"not a column of kpi_notes: {sorted(unknown)}")
        row.update(values)
        row.update(add)
        replaced = tuple(sorted(values)) + (
            ("outcome",) * (outcome is not None)
            + ("day",) * set_day
            + ("source",) * (source is not None)
        )
        sql = _upsert_sql(replaced, tuple(sorted(add)))
        _sqlite(c).execute(sql, [row[name] for name in _NOTE_COLUMNS])

    def bump_day(self, c: Connection, day: date, counter: DayCounter, by: int = 1) -> None:
        _sqlite(c).execute(_BUMP_DAY, (day.isoformat(), counter.value, by))

    def add_active_time(self, draft_id: uuid.UUID, ms: int, day: date) -> None:
        """Add editing time to a note (its own short transaction, like an autosave)."""
        if ms <= 0:
            return
        with self._db.write(durable=False) as c:
            self.change_note(c, self.note_key(draft_id), day, add={"active_edit_ms": ms})

    # ------------------------------------------------------------------ edit rates
    def measure_pending(self) -> int:
        """Measure the edit rate of every approved note not measured yet; returns how many."""
        with self._db.read() as c:
            pending = {
                str(r.note_key): date.fromisoformat(str(r.day))
                for r in c.execute(
                    select(kpi_notes.c.note_key, kpi_notes.c.day).where(
                        kpi_notes.c.edits == EditsState.PENDING.value
                    )
                )
            }
            if not pending:
                return 0
            since = (min(pending.values()) - timedelta(days=2)).isoformat()
            candidates = [
                str(r.id)
                for r in c.execute(
                    select(drafts.c.id).where(
                        drafts.c.status == DraftStatus.APPROVED.value, drafts.c.updated_at >= since
                    )
                )
            ]
        measured: dict[str, tuple[PartEdit, ...] | None] = {}
        for draft_id in candidates:
            key = self.note_key(draft_id)
            if key in pending:
                measured[key] = self._measure(draft_id)
        for key in pending:
            measured.setdefault(key, None)
        with self._db.write(durable=False) as c:
            for key, parts in measured.items():
                self._store_parts(c, key, parts)
        return sum(parts is not None for parts in measured.values())

    def _measure(self, draft_id: str) -> tuple[PartEdit, ...] | None:
        try:
            return measure_edits(self._drafts.get(uuid.UUID(draft_id)))
        except (DraftNotFound, StoreCorrupt, ValueError) as exc:
            log.warning("kpi: edits of a note not measured (%s)", type(exc).__name__)
            return None

    @staticmethod
    def _store_parts(c: Connection, key: str, parts: Sequence[PartEdit] | None) -> None:
        c.execute(delete(kpi_note_parts).where(kpi_note_parts.c.note_key == key))
        if parts:
            c.execute(
                kpi_note_parts.insert(),
                [{"note_key": key, "part": p.part, "total": p.total, "changed": p.changed}
                 for p in parts],
            )  # fmt: skip
        state = EditsState.MEASURED if parts is not None else EditsState.UNAVAILABLE
        c.execute(
            update(kpi_notes)
            .where(kpi_notes.c.note_key == key)
            .values(edits=state.value, revision=kpi_notes.c.revision + 1)
        )

    # ------------------------------------------------------------------ reading
    def notes(self, first: date, last: date) -> list[NoteFigures]:
        """Every note whose day is within ``first`` .. ``last`` (inclusive), with its parts."""
        with self._db.read() as c:
            rows = list(
                c.execute(
                    select(kpi_notes)
                    .where(kpi_notes.c.day.between(first.isoformat(), last.isoformat()))
                    .order_by(kpi_notes.c.day, kpi_notes.c.note_key)
                )
            )
            parts = _parts_of(c, first, last)
        return [_note(r, parts.get(str(r.note_key), ())) for r in rows]

    def days(self, first: date, last: date) -> list[DayFigures]:
        with self._db.read() as c:
            rows = c.execute(
                select(kpi_days).where(kpi_days.c.day.between(first.isoformat(), last.isoformat()))
            )
            counts: dict[str, dict[str, int]] = {}
            for r in rows:
                counts.setdefault(str(r.day), {})[str(r.counter)] = int(r.value)
        return [
            DayFigures(
                date.fromisoformat(day),
                sign_ins=c.get(DayCounter.SIGN_INS.value, 0),
                charts_opened=c.get(DayCounter.CHARTS_OPENED.value, 0),
            )
            for day, c in sorted(counts.items())
        ]


_NOTE_COLUMNS = tuple(col.name for col in kpi_notes.columns)
_BUMP_DAY = (
    "INSERT INTO kpi_days (day, counter, value) VALUES (?, ?, ?) "
    "ON CONFLICT (day, counter) DO UPDATE SET value = value + excluded.value"
)


@functools.lru_cache(maxsize=64)
def _upsert_sql(replaced: tuple[str, ...], added: tuple[str, ...]) -> str:
    """The upsert of a note's row that sets ``replaced`` and adds to ``added``."""
    names = ", ".join(_NOTE_COLUMNS)
    marks = ", ".join("?" * len(_NOTE_COLUMNS))
    changes = ["revision = revision + 1"]
    changes += [f"{name} = excluded.{name}" for name in replaced]
    changes += [f"{name} = {name} + excluded.{name}" for name in added]
    return (
        f"INSERT INTO kpi_notes ({names}) VALUES ({marks}) "
        f"ON CONFLICT (note_key) DO UPDATE SET {', '.join(changes)}"
    )


def _sqlite(c: Connection) -> Any:
    """The SQLite handle under ``c``, inside ``c``'s transaction."""
    return c.connection.driver_connection


def _note_secret(db: Database) -> bytes:
    protector = db.protector
    if isinstance(protector, AesGcmProtector):
        return protector.key.derive("kpi-note-key")
    return b"fhir-writeback kpi: a store without a key (tests)"


_PARTS_OF = (
    select(kpi_note_parts)
    .join(kpi_notes, kpi_notes.c.note_key == kpi_note_parts.c.note_key)
    .where(kpi_notes.c.day.between(bindparam("first"), bindparam("last")))
)


def _parts_of(c: Connection, first: date, last: date) -> dict[str, tuple[PartEdit, ...]]:
    found: dict[str, list[PartEdit]] = {}
    for r in c.execute(_PARTS_OF, {"first": first.isoformat(), "last": last.isoformat()}):
        found.setdefault(str(r.note_key), []).append(
            PartEdit(str(r.part), int(r.total), int(r.changed))
        )
    return {k: tuple(sorted(v, key=lambda p: p.part)) for k, v in found.items()}


def _note(r: Row[Any], parts: Iterable[PartEdit]) -> NoteFigures:
    return NoteFigures(
        note=str(r.note_key),
        day=date.fromisoformat(str(r.day)),
        source=NoteSource.parse(r.source),
        outcome=NoteOutcome(str(r.outcome)),
        open_to_approve_ms=r.open_to_approve_ms,
        approve_to_confirm_ms=r.approve_to_confirm_ms,
        active_edit_ms=int(r.active_edit_ms),
        send_attempts=int(r.send_attempts),
        person_needed=int(r.person_needed),
        conflicts=int(r.conflicts),
        duplicates_prevented=int(r.duplicates_prevented),
        clock_backwards=int(r.clock_backwards),
        parts=tuple(parts),
        revision=int(r.revision),
    )
