"""The audit log in the local store: append-only, hash-chained, details sealed.

:meth:`AuditLog.append` takes the next sequence number and the previous hash inside the write
transaction (``BEGIN IMMEDIATE`` serialises writers), so records form one unbroken chain; pass
``conn`` to append inside another repository's transaction (the record then commits or rolls
back with the change it describes). Details are sealed with the store's protector under the
context ``audit:<seq>``; the chain hashes the plain details (so an export can be checked
without the app) and each hash is sealed with the audit key (see app.domain.audit).

The viewer reads with :meth:`query` (patient, time range, kinds, states, commit or draft);
IT uses :meth:`export` (CSV or JSON) and :meth:`verify`.
"""

from __future__ import annotations

import csv
import functools
import io
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from enum import Enum
from typing import Any

from sqlalchemy import Connection, Row, bindparam, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.domain.audit import (
    GENESIS_HASH,
    AuditEvent,
    AuditHead,
    AuditKind,
    AuditRecord,
    VerifyResult,
    canonical_json,
    event_fields,
    head_mac,
    link,
    verify_chain,
)
from app.domain.clock import Clock, format_ts, parse_ts, utc_now
from app.store.audit_tables import audit_head, audit_log
from app.store.database import Database
from app.store.errors import StoreCorrupt
from app.store.prepared import Prepared

EXPORT_FORMAT = "fhir-writeback-audit"
EXPORT_VERSION = 1
CSV_COLUMNS = (
    "seq",
    "at",
    "actor",
    "kind",
    "patient_id",
    "encounter_id",
    "draft_id",
    "commit_id",
    "state",
    "details",
    "prev_hash",
    "hash",
)


class ExportFormat(Enum):
    CSV = "csv"
    JSON = "json"

    @classmethod
    def parse(cls, value: ExportFormat | str) -> ExportFormat:
        if isinstance(value, ExportFormat):
            return value
        try:
            return cls(value.strip().lower())
        except ValueError:
            raise ValueError(f"unknown export format {value!r}: use csv or json") from None


# compiled once and run on the DBAPI cursor: an append is on the path of every outbox state
# change (issue 15, app.store.prepared)
_HEAD = sqlite_insert(audit_head).values(
    id=1, seq=bindparam("seq"), hash=bindparam("hash"), mac=bindparam("mac")
)
_MOVE_HEAD = Prepared(
    _HEAD.on_conflict_do_update(
        index_elements=[audit_head.c.id],
        set_={"seq": _HEAD.excluded.seq, "hash": _HEAD.excluded.hash, "mac": _HEAD.excluded.mac},
    )
)
AuditListener = Callable[[Connection, AuditRecord], None]
_LAST = Prepared(
    select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
)


class AuditLog:
    def __init__(
        self,
        db: Database,
        *,
        mac_key: bytes | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self._db = db
        self._mac_key = mac_key
        self._clock = clock
        self._listeners: list[AuditListener] = []

    def add_listener(self, listener: AuditListener) -> None:
        """Call ``listener`` with each appended record, inside the append's transaction (the
        KPI recorder, app.store.kpi_hooks, measures from here)."""
        self._listeners.append(listener)

    # ------------------------------------------------------------------ writing
    def append(self, event: AuditEvent, *, conn: Connection | None = None) -> AuditRecord:
        """Add ``event`` at the end of the chain (inside ``conn``'s transaction if given)."""
        return self.append_many([event], conn=conn)[0]

    def append_many(
        self, events: Sequence[AuditEvent], *, conn: Connection | None = None
    ) -> list[AuditRecord]:
        """Add ``events`` at the end of the chain, in order: the chain is linked here, the rows
        go in with one INSERT and the head moves once (issue 15: an outbox state change often
        makes two records)."""
        if not events:
            return []
        with self._tx(conn) as c:
            last = _LAST.first(c)
            seq, prev = (1, GENESIS_HASH) if last is None else (int(last.seq) + 1, str(last.hash))
            records: list[AuditRecord] = []
            for event in events:
                records.append(link(seq, event, prev, self._mac_key))
                seq, prev = seq + 1, records[-1].hash
            for start in range(0, len(records), _PER_INSERT):  # one INSERT for an event's records
                chunk = records[start : start + _PER_INSERT]
                rows = {
                    f"{name}_{i}": value
                    for i, record in enumerate(chunk)
                    for name, value in self._row(record).items()
                }
                _append(len(chunk)).execute(c, rows)
            head = records[-1]
            mac = None if self._mac_key is None else head_mac(self._mac_key, head.seq, head.hash)
            _MOVE_HEAD.execute(c, {"seq": head.seq, "hash": head.hash, "mac": mac})
            for record in records:
                for listener in self._listeners:
                    listener(c, record)
        return records

    def _row(self, record: AuditRecord) -> dict[str, Any]:
        event, seq = record.event, record.seq
        protector = self._db.protector
        return {
            "seq": seq,
            **event_fields(event),
            "details_format": protector.format_id,
            "details": protector.protect(
                canonical_json(dict(event.details)), context=_context(seq)
            ),
            "prev_hash": record.prev_hash,
            "hash": record.hash,
            "mac": record.mac,
        }

    # ------------------------------------------------------------------ reading
    def head(self) -> AuditHead | None:
        with self._db.read() as c:
            row = c.execute(select(audit_head).where(audit_head.c.id == 1)).first()
        return None if row is None else AuditHead(int(row.seq), str(row.hash), row.mac)

    def count(self) -> int:
        with self._db.read() as c:
            last = _LAST.first(c)
        return 0 if last is None else int(last.seq)

    def query(
        self,
        *,
        patient_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        kinds: Iterable[AuditKind] | None = None,
        states: Iterable[str] | None = None,
        commit_id: str | None = None,
        draft_id: str | None = None,
        limit: int | None = 500,
        newest_first: bool = True,
    ) -> list[AuditRecord]:
        """Records for the viewer, filtered on the plain columns (no decryption to filter).
        ``since`` is inclusive, ``until`` exclusive."""
        q = select(audit_log)
        if patient_id is not None:
            q = q.where(audit_log.c.patient_id == patient_id)
        if since is not None:
            q = q.where(audit_log.c.at >= format_ts(since))
        if until is not None:
            q = q.where(audit_log.c.at < format_ts(until))
        if kinds is not None:
            q = q.where(audit_log.c.kind.in_([k.value for k in kinds]))
        if states is not None:
            q = q.where(audit_log.c.state.in_(list(states)))
        if commit_id is not None:
            q = q.where(audit_log.c.commit_id == commit_id)
        if draft_id is not None:
            q = q.where(audit_log.c.draft_id == draft_id)
        q = q.order_by(audit_log.c.seq.desc() if newest_first else audit_log.c.seq)
        if limit is not None:
            q = q.limit(limit)
        with self._db.read() as c:
            return [self._record(r) for r in c.execute(q)]

    def records(self, *, since: datetime | None = None) -> Iterator[AuditRecord]:
        """Every record in chain order (read in pages, so a long log is not held in memory)."""
        after = 0
        while True:
            q = select(audit_log).where(audit_log.c.seq > after)
            if since is not None:
                q = q.where(audit_log.c.at >= format_ts(since))
            with self._db.read() as c:
                rows = list(c.execute(q.order_by(audit_log.c.seq).limit(1000)))
            if not rows:
                return
            for r in rows:
                yield self._record(r)
            after = int(rows[-1].seq)

    # ------------------------------------------------------------------ IT
    def verify(self) -> VerifyResult:
        """Check the whole chain: hashes, links, seals and the sealed head."""
        return verify_chain(self.records(), mac_key=self._mac_key, head=self.head())

    def export(
        self,
        since: datetime | date | None,
        fmt: ExportFormat | str,
        *,
        actor: str | None = None,
        record: bool = True,
    ) -> str:
        """Records at or after ``since`` (a date means its start, UTC) as CSV or JSON.

        JSON carries the chain check and the head so IT can file the export as evidence; CSV is
        one row per record with ``details`` as canonical JSON text. With ``record`` the export
        itself is logged (AUDIT_EXPORTED: format, since, how many records) after it was made.
        """
        kind = ExportFormat.parse(fmt)
        start = start_of(since)
        rows = [r.to_json() for r in self.records(since=start)]
        text = self._csv(rows) if kind is ExportFormat.CSV else self._json(rows, start)
        if record:
            details = {
                "format": kind.value,
                "since": None if start is None else format_ts(start),
                "records": len(rows),
            }
            event = AuditEvent(AuditKind.AUDIT_EXPORTED, self._clock(), actor, details=details)
            self.append(event)
        return text

    @staticmethod
    def _csv(rows: list[dict[str, Any]]) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            details = row["details"]
            row["details"] = "" if details is None else canonical_json(details).decode()
            writer.writerow({k: "" if row[k] is None else row[k] for k in CSV_COLUMNS})
        return out.getvalue()

    def _json(self, rows: list[dict[str, Any]], start: datetime | None) -> str:
        result = self.verify()
        document: dict[str, Any] = {
            "format": EXPORT_FORMAT,
            "version": EXPORT_VERSION,
            "exported_at": format_ts(self._clock()),
            "since": None if start is None else format_ts(start),
            "chain": {
                "intact": result.ok,
                "checked": result.checked,
                "head_seq": None if result.head is None else result.head.seq,
                "head_hash": None if result.head is None else result.head.hash,
                "problems": [
                    {"seq": p.seq, "kind": p.kind.value, "message": p.message}
                    for p in result.problems
                ],
            },
            "records": rows,
        }
        return json.dumps(document, ensure_ascii=False, indent=1) + "\n"

    # ------------------------------------------------------------------ internals
    @contextmanager
    def _tx(self, conn: Connection | None) -> Iterator[Connection]:
        if conn is not None:
            yield conn
        else:
            with self._db.write() as c:
                yield c

    def _record(self, r: Row[Any]) -> AuditRecord:
        readable = True
        details: dict[str, Any] = {}
        try:
            if r.details_format != self._db.protector.format_id:
                raise ValueError("sealed with another protection format")
            raw = self._db.protector.unprotect(r.details, context=_context(int(r.seq)))
            loaded = json.loads(raw)
            if not isinstance(loaded, dict):
                raise ValueError("details are not an object")
            details = loaded
        except (StoreCorrupt, ValueError):
            readable = False
        try:
            event = AuditEvent(
                kind=AuditKind(r.kind),
                at=parse_ts(r.at),
                actor=r.actor,
                patient_id=r.patient_id,
                encounter_id=r.encounter_id,
                draft_id=r.draft_id,
                commit_id=r.commit_id,
                state=r.state,
                details=details,
            )
        except ValueError:
            # an edited row (unknown kind, bad time, odd details): keep it visible as edited
            event = AuditEvent(kind=AuditKind.AUDIT_EXPORTED, at=datetime(1970, 1, 1, tzinfo=UTC))
            return AuditRecord(
                int(r.seq), event, r.prev_hash, r.hash, r.mac, readable=False, damaged=True
            )
        return AuditRecord(int(r.seq), event, r.prev_hash, r.hash, r.mac, readable=readable)


def _context(seq: int) -> bytes:
    return f"audit:{seq}".encode()


def start_of(since: datetime | date | None) -> datetime | None:
    if since is None or isinstance(since, datetime):
        return since
    return datetime.combine(since, time(0), tzinfo=UTC)


_PER_INSERT = 8  # records per INSERT: an event makes one or two; a statement per count is kept


@functools.cache
def _append(count: int) -> Prepared:
    """The INSERT of ``count`` records (bind parameters ``seq_0``, ``at_0``, ...): one
    statement for the records of one event, built once per count (issue 15)."""
    return Prepared(
        audit_log.insert().values(
            [{c.name: bindparam(f"{c.name}_{i}") for c in audit_log.c} for i in range(count)]
        )
    )
