"""Rows of the outbox tables -> the records callers get; payloads unprotected and verified.

Every payload read is checked against the SHA-256 recorded at approval, and the commit is
rebuilt through ``ApprovedCommit`` (which checks identifiers and positions again): damaged
content is refused (``OutboxPayloadCorrupt``), never sent.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, Row, bindparam, select

from app.domain.commit import (
    IDENTIFIER_SYSTEM,
    ApprovedCommit,
    CommitInvalid,
    Identifier,
    PlannedWrite,
    WriteOperation,
    sha256_hex,
)
from app.domain.outbox import OutboxItem, OutboxState, SyncEvent
from app.store.database import Database, PlainPayload
from app.store.outbox_errors import OutboxPayloadCorrupt
from app.store.outbox_records import (
    ROW_FIELDS,
    ConflictDetail,
    ErrorOpener,
    OutboxEntry,
    OutboxRow,
    WriteRecord,
)
from app.store.outbox_tables import outbox_commits, outbox_dependencies, outbox_writes
from app.store.prepared import Prepared
from app.store.sealed_columns import error_context

S, E = OutboxState, SyncEvent
_OPERATIONS = {o.value: o for o in WriteOperation}


class OutboxDecoder:
    """Decodes rows for one database (its payload protector and path, for messages)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # ---- the last error: sealed like the other PHI fields (the EHR's text may name a patient)
    def seal_error(self, commit_id: str, text: str | None) -> tuple[int | None, bytes | None]:
        """``(error_format, error_text)`` to store for ``text``."""
        if text is None:
            return None, None
        protector = self._db.protector
        sealed = protector.protect(text.encode("utf-8"), context=error_context(commit_id).encode())
        return protector.format_id, sealed

    def open_error(self, commit_id: str, fmt: int | None, blob: bytes | None) -> str | None:
        """The words of a sealed last error (an ``ErrorOpener``); never raises."""
        if blob is None:
            return None
        protector = self._db.protector
        try:
            if fmt == PlainPayload.format_id:  # written before sealing, sealed at the next open
                return bytes(blob).decode("utf-8", "replace")
            if fmt != protector.format_id:
                raise OutboxPayloadCorrupt(f"error text format {fmt}")
            raw = protector.unprotect(bytes(blob), context=error_context(commit_id).encode())
            return raw.decode("utf-8", "replace")
        except OutboxPayloadCorrupt:
            return (
                "The words of the last error cannot be read (the local store was altered); "
                "see the error class."
            )

    def entries(
        self,
        c: Connection,
        rows: Sequence[Row[Any]],
        *,
        with_decision: bool,
        corrupt: list[tuple[UUID, OutboxPayloadCorrupt]] | None = None,
    ) -> list[OutboxEntry]:
        """Decode ``rows``. With a ``corrupt`` list, damaged commits are collected there and
        left out instead of raising (one damaged commit must not hold up the others)."""
        if not rows:
            return []
        keys = [r.commit_id for r in rows]
        writes: dict[str, list[Row[Any]]] = {k: [] for k in keys}
        bases: dict[str, list[str]] = {k: [] for k in keys}
        for start in range(0, len(keys), _PER_READ):
            chunk = keys[start : start + _PER_READ]
            named = {f"key_{i}": key for i, key in enumerate(chunk)}
            writes_of, bases_of = _reads_for(len(chunk))
            for w in writes_of.all(c, named):
                writes[w.commit_id].append(w)
            for d in bases_of.all(c, named):
                bases[d.commit_id].append(d.base_commit_id)
        out: list[OutboxEntry] = []
        for r in rows:
            try:
                out.append(self.entry(r, writes[r.commit_id], bases[r.commit_id], with_decision))
            except OutboxPayloadCorrupt as exc:
                if corrupt is None:
                    raise
                corrupt.append((UUID(r.commit_id), exc))
        return out

    def entry(
        self, r: Row[Any], writes: list[Row[Any]], bases: list[str], with_decision: bool
    ) -> OutboxEntry:
        planned = tuple(
            PlannedWrite(
                position=w.position,
                write_id=UUID(w.write_id),
                resource_type=w.resource_type,
                payload_json=self.payload_text(w),
                payload_sha256=w.payload_sha256,
                identifier=Identifier(IDENTIFIER_SYSTEM, w.identifier_value),
                depends_on=tuple(int(p) for p in w.depends_on.split(",") if p),
                operation=_OPERATIONS.get(w.operation, WriteOperation.CREATE),
                target=w.target,
                if_match=w.if_match,
            )
            for w in writes
        )
        try:
            commit = ApprovedCommit(
                UUID(r.commit_id), int(r.sequence), planned, tuple(UUID(b) for b in sorted(bases))
            )
        except CommitInvalid as exc:
            raise OutboxPayloadCorrupt(
                f"The queued commit {r.commit_id} in {self._db.path} is damaged ({exc}). "
                "It is left untouched and will not be sent; ask IT."
            ) from exc
        if len(planned) != r.write_count:
            raise OutboxPayloadCorrupt(
                f"The queued commit {r.commit_id} in {self._db.path} lost some of its content. "
                "It will not be sent; ask IT."
            )
        conflict = None
        if r.conflict is not None:
            raw = self.unprotect(r.conflict_format, r.conflict, f"{r.commit_id}:conflict")
            conflict = ConflictDetail.from_json(json.loads(raw))
        decision = None
        if with_decision:
            decision = self.unprotect(
                r.decision_format, r.decision, f"{r.commit_id}:decision"
            ).decode("utf-8")
        return OutboxEntry(
            row=row_of(r, self.open_error),
            commit=commit,
            writes=tuple(write_record(w) for w in writes),
            preconditions=json.loads(r.preconditions),
            conflict=conflict,
            decision_json=decision,
        )

    def payload_text(self, w: Row[Any]) -> str:
        text = self.unprotect(w.payload_format, w.payload, f"{w.commit_id}.{w.position}").decode(
            "utf-8"
        )
        if sha256_hex(text) != w.payload_sha256:
            raise OutboxPayloadCorrupt(
                f"The approved content of commit {w.commit_id} (write {w.position}) in "
                f"{self._db.path} no longer matches what was approved. It will not be sent; "
                "ask IT."
            )
        return text

    def unprotect(self, fmt: int, blob: bytes, context: str) -> bytes:
        protector = self._db.protector
        if fmt != protector.format_id:
            raise OutboxPayloadCorrupt(
                f"Outbox content in {self._db.path} needs another protection format ({fmt}); ask IT."
            )
        return protector.unprotect(blob, context=context.encode())


ROW_COLUMNS = tuple(outbox_commits.c[name] for name in ROW_FIELDS)

# Commits whose writes and bases are read with one statement (a claim takes up to 48).
_PER_READ = 64


@functools.cache
def _reads_for(count: int) -> tuple[Prepared, Prepared]:
    """The statements reading the writes and the bases of ``count`` commits (``key_0``,
    ``key_1``, ...), compiled once per count and run on the DBAPI cursor: a claim went through
    SQLAlchemy's statement compiling and result rows for every batch (issue 15)."""
    keys: list[Any] = [bindparam(f"key_{i}") for i in range(count)]
    return (
        Prepared(
            select(outbox_writes)
            .where(outbox_writes.c.commit_id.in_(keys))
            .order_by(outbox_writes.c.commit_id, outbox_writes.c.position)
        ),
        Prepared(select(outbox_dependencies).where(outbox_dependencies.c.commit_id.in_(keys))),
    )


def item_of(r: Any, open_error: ErrorOpener) -> OutboxItem:
    """The item of a row that has (at least) the ROW_FIELDS, by name."""
    return row_of(r, open_error).item


def row_of(r: Any, open_error: ErrorOpener) -> OutboxRow:
    return OutboxRow(tuple(getattr(r, name) for name in ROW_FIELDS), open_error)


def write_record(w: Row[Any]) -> WriteRecord:
    return WriteRecord(
        position=int(w.position),
        resource_type=w.resource_type,
        server_id=w.server_id,
        version_id=w.server_version,
        etag=w.etag,
        location=w.location,
        response_status=w.response_status,
    )
