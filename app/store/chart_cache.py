"""Charts kept for offline use: one sealed, compressed ``EncounterContext`` per encounter
(``chart_cache``), and the EHR's CapabilityStatement, so a chart opens and a note can be
approved while the EHR cannot be reached.

    open_session()               -> the session that may keep charts now: the open one, or a
                                 new one after the last ended (a sign-in)
    save(context, policy, session=)  keep the chart as fetched now; expired entries and those
                                 over the site's bounds (count, bytes; oldest first) are
                                 dropped. KeepingEnded when ``session`` has ended: nothing kept
    load(patient, encounter)     -> KeptChart | None. An expired entry is dropped; one that does
                                 not open (broken seal, unreadable JSON, another format) is
                                 dropped too and counted in ``dropped_damaged``: never shown half
    stamps()                     what is kept and when (clear columns only: no body opened)
    enforce(policy)              the retention and the bounds applied now
    purge_all()                  everything, and the session ends (sign-out): one transaction
    save_capability / load_capability   the CapabilityStatement (no PHI; sealed all the same)

Why sessions: a chart read that was in flight at sign-out (a refresh, a chart opened live)
must never land after the purge. Each writer carries the session it started in; ``purge_all``
ends that session inside its write transaction, and ``save`` checks it inside its own, under
SQLite's write lock (BEGIN IMMEDIATE): a save either commits before the purge (and is purged)
or is refused after it. Sessions live in this object's memory (one per store in the app); a
new run of the app starts none until it is asked to.

Ages come from app.domain.offline (monotonic within a run, the wall clock across runs, an entry
"from the future" re-anchored once).
"""

from __future__ import annotations

import itertools
import json
import logging
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.sqlite import insert

from app.domain.clock import Clock, format_ts, parse_ts, utc_now
from app.domain.context import EncounterContext
from app.domain.offline import (
    DEFAULT_OFFLINE_POLICY,
    AgeBasis,
    CacheStamp,
    Clocks,
    KeptEntry,
    OfflinePolicy,
    age_of,
    is_expired,
    over_bounds,
    reanchored,
)
from app.store.chart_codec import ChartCodecError, chart_from_json, chart_to_json
from app.store.crypto_errors import SealBroken
from app.store.database import Database
from app.store.errors import KeepingEnded
from app.store.schema import chart_cache

log = logging.getLogger(__name__)

METADATA_KEY = "metadata"
_insert = insert(chart_cache)
_UPSERT = _insert.on_conflict_do_update(
    index_elements=[chart_cache.c.key],
    set_={c.name: _insert.excluded[c.name] for c in chart_cache.c if c.name != "key"},
)


def chart_key(patient_id: str, encounter_id: str) -> str:
    return f"{patient_id}|{encounter_id}"


def _context(key: str) -> bytes:
    return f"chart:{key}".encode()


@dataclass(frozen=True)
class KeptChart:
    context: EncounterContext
    stamp: CacheStamp


def run_clocks(wall: Clock = utc_now) -> Callable[[], Clocks]:
    """The clocks of this run of the app: one run id, the wall clock and the monotonic one."""
    run_id = str(uuid.uuid4())
    return lambda: Clocks(wall(), time.monotonic(), run_id)


class ChartCache:
    def __init__(self, db: Database, *, clocks: Callable[[], Clocks] | None = None) -> None:
        self._db = db
        self.clocks = clocks or run_clocks()
        self.dropped_damaged = 0
        self._sessions = itertools.count(1)
        self._writing: int | None = None  # the session that may keep charts (None: none)

    # ------------------------------------------------------------------ writing
    def open_session(self) -> int:
        """The session that may keep charts: the open one, or a new one (a sign-in)."""
        if self._writing is None:
            self._writing = next(self._sessions)
        return self._writing

    def save(
        self,
        context: EncounterContext,
        policy: OfflinePolicy = DEFAULT_OFFLINE_POLICY,
        *,
        session: int,
    ) -> CacheStamp:
        key = chart_key(context.patient.id, context.encounter.id)
        plain = chart_to_json(context)
        stamp = self._put(key, context.patient.id, context.encounter.id, plain, session)
        self.enforce(policy)
        return stamp

    def save_capability(self, statement: dict[str, object], *, session: int) -> None:
        self._put(METADATA_KEY, "", "", json.dumps(statement).encode(), session)

    def _put(
        self, key: str, patient_id: str, encounter_id: str, plain: bytes, session: int
    ) -> CacheStamp:
        clocks = self.clocks()
        protector = self._db.protector
        body = protector.protect(zlib.compress(plain, 6), context=_context(key))
        row = {
            "key": key,
            "patient_id": patient_id,
            "encounter_id": encounter_id,
            "fetched_at": format_ts(clocks.now),
            "counted_from": format_ts(clocks.now),
            "run_id": clocks.run_id,
            "monotonic": clocks.monotonic,
            "size": len(body),
            "body_format": protector.format_id,
            "body": body,
        }
        with self._db.write() as conn:
            if session != self._writing:  # checked under the write lock: see the docstring
                raise KeepingEnded()
            conn.execute(_UPSERT, row)
        return CacheStamp(clocks.now, clocks.now, clocks.run_id, clocks.monotonic)

    # ------------------------------------------------------------------ reading
    def load(
        self, patient_id: str, encounter_id: str, policy: OfflinePolicy = DEFAULT_OFFLINE_POLICY
    ) -> KeptChart | None:
        key = chart_key(patient_id, encounter_id)
        found = self._open(key, policy)
        if found is None:
            return None
        plain, stamp = found
        try:
            context = chart_from_json(plain)
        except ChartCodecError as exc:
            self._drop_damaged(key, str(exc))
            return None
        if (context.patient.id, context.encounter.id) != (patient_id, encounter_id):
            self._drop_damaged(key, "it holds another chart")
            return None
        return KeptChart(context, stamp)

    def load_capability(self) -> dict[str, object] | None:
        found = self._open(METADATA_KEY, DEFAULT_OFFLINE_POLICY)
        if found is None:
            return None
        try:
            statement = json.loads(found[0])
        except ValueError:
            self._drop_damaged(METADATA_KEY, "it is not JSON")
            return None
        return statement if isinstance(statement, dict) else None

    def _open(self, key: str, policy: OfflinePolicy) -> tuple[bytes, CacheStamp] | None:
        with self._db.read() as conn:
            row = conn.execute(select(chart_cache).where(chart_cache.c.key == key)).one_or_none()
        if row is None:
            return None
        stamp = _stamp(row)
        clocks = self.clocks()
        if is_expired(stamp, clocks, policy):
            self._delete(key)
            return None
        if age_of(stamp, clocks).basis is AgeBasis.REANCHORED:
            stamp = self._reanchor(key, stamp, clocks)
        try:
            plain = zlib.decompress(self._db.protector.unprotect(row.body, context=_context(key)))
        except (SealBroken, zlib.error) as exc:
            self._drop_damaged(key, type(exc).__name__)
            return None
        return plain, stamp

    def stamps(self) -> dict[tuple[str, str], CacheStamp]:
        """Every kept chart's (patient, encounter) and stamp."""
        c = chart_cache.c
        with self._db.read() as conn:
            rows = conn.execute(
                select(
                    c.patient_id,
                    c.encounter_id,
                    c.fetched_at,
                    c.counted_from,
                    c.run_id,
                    c.monotonic,
                ).where(c.key != METADATA_KEY)
            ).all()
        return {(r.patient_id, r.encounter_id): _stamp(r) for r in rows}

    def kept_encounters(self, policy: OfflinePolicy = DEFAULT_OFFLINE_POLICY) -> set[str]:
        """The encounters whose chart is kept and not past the retention (no body opened)."""
        clocks = self.clocks()
        return {
            e for (_p, e), stamp in self.stamps().items() if not is_expired(stamp, clocks, policy)
        }

    def usage(self) -> tuple[int, int]:
        """(charts kept, bytes of their sealed bodies)."""
        c = chart_cache.c
        with self._db.read() as conn:
            count, size = conn.execute(
                select(func.count(), func.coalesce(func.sum(c.size), 0)).where(
                    c.key != METADATA_KEY
                )
            ).one()
        return int(count), int(size)

    # ------------------------------------------------------------------ dropping
    def enforce(self, policy: OfflinePolicy = DEFAULT_OFFLINE_POLICY) -> int:
        """Drop what is past the retention or over the bounds; how many were dropped."""
        c = chart_cache.c
        with self._db.read() as conn:
            rows = conn.execute(
                select(c.key, c.fetched_at, c.counted_from, c.run_id, c.monotonic, c.size).where(
                    c.key != METADATA_KEY
                )
            ).all()
        clocks = self.clocks()
        entries = [KeptEntry(r.key, _stamp(r), r.size) for r in rows]
        expired = [e.key for e in entries if is_expired(e.stamp, clocks, policy)]
        live = [e for e in entries if e.key not in set(expired)]
        doomed = expired + over_bounds(live, clocks, policy)
        if doomed:
            with self._db.write() as conn:
                conn.execute(delete(chart_cache).where(c.key.in_(doomed)))
        return len(doomed)

    def purge_all(self) -> int:
        """Everything kept, dropped; the session ends in the same transaction, so a save of
        that session that comes later is refused (even when this one fails: fail closed)."""
        with self._db.write() as conn:
            self._writing = None
            return int(conn.execute(delete(chart_cache)).rowcount or 0)

    def drop(self, patient_id: str, encounter_id: str) -> None:
        """This chart is no longer kept (its visit was cancelled since it was kept)."""
        self._delete(chart_key(patient_id, encounter_id))

    def _delete(self, key: str) -> None:
        with self._db.write() as conn:
            conn.execute(delete(chart_cache).where(chart_cache.c.key == key))

    def _drop_damaged(self, key: str, why: str) -> None:
        # the key holds FHIR ids only; ``why`` names the failure, never the content
        log.warning("chart cache: a kept entry could not be opened (%s); dropped", why)
        self.dropped_damaged += 1
        self._delete(key)

    def _reanchor(self, key: str, stamp: CacheStamp, clocks: Clocks) -> CacheStamp:
        fresh = reanchored(stamp, clocks)
        log.info("chart cache: the clock went back; a kept chart's age is counted from now")
        with self._db.write() as conn:
            conn.execute(
                update(chart_cache)
                .where(chart_cache.c.key == key)
                .values(
                    counted_from=format_ts(fresh.counted_from),
                    run_id=fresh.run_id,
                    monotonic=fresh.monotonic,
                )
            )
        return fresh


def _stamp(row: object) -> CacheStamp:
    return CacheStamp(
        parse_ts(row.fetched_at),  # type: ignore[attr-defined]
        parse_ts(row.counted_from),  # type: ignore[attr-defined]
        row.run_id,  # type: ignore[attr-defined]
        float(row.monotonic),  # type: ignore[attr-defined]
    )
