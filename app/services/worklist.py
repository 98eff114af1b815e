"""``WorklistService``: the signed-in clinician's day — read from the EHR, kept in the store
for offline use, each note's state from the store, and kept current by the site's HL7 v2
listener when it has one.

    load(day)              the EHR's answer (saved to the cache); the cache when the EHR cannot
                           be reached (``source`` CACHED, its age in ``fetched_at``); words
                           (ServiceError) when there is neither
    refresh_notes()        note states again (after a draft was saved or a note sent), and
                           which charts are kept for offline use
    subscribe(listener)    every new Worklist (loads, HL7 events, note states) on the GUI loop
    start_listener()       the HL7 v2 listener on a thread of its own; its events are applied
                           in batches on the loop (one notification per batch, never one per
                           message), visits not on the list fetched from the EHR by visit number
    counts                 what the listener did (accepted, rejected, duplicates, unknown)
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, tzinfo
from typing import TYPE_CHECKING

from app.domain.clock import utc_now
from app.domain.listeners import Listeners
from app.domain.visit_events import ListenerCounts, VisitEvent
from app.domain.worklist import (
    NoteFacts,
    Visit,
    Worklist,
    apply_events,
    day_bounds,
    merge_fetched,
    note_state,
)
from app.fhir.errors import FhirError
from app.fhir.worklist import load_worklist, visits_by_number
from app.services.errors import ServiceError, user_errors
from app.services.session import SessionService
from app.sync.store_thread import StoreThread

if TYPE_CHECKING:
    from app.fhir.client import FhirClient
    from app.hl7.listener import MllpListener
    from app.store.database import Database
    from app.store.worklist_cache import WorklistCache

log = logging.getLogger(__name__)

NO_WORKLIST = (
    "The day's visits could not be read from the EHR, and none are kept on this computer for "
    "that day. Check the connection and press F5, or open a patient by name."
)
EVENT_BATCH_SECONDS = 0.05  # HL7 events are applied at most this often (a burst: one batch)

WorklistListener = Callable[[Worklist], None]
ListenerFactory = Callable[[Callable[[VisitEvent], None]], "MllpListener"]


class WorklistService:
    def __init__(
        self,
        fhir: FhirClient,
        session: SessionService,
        db: Database,
        cache: WorklistCache,
        worker: StoreThread,
        *,
        listener: ListenerFactory | None = None,
        kept: Callable[[], set[str]] | None = None,
        zone: tzinfo | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._fhir = fhir
        self._session = session
        self._db = db
        self._cache = cache
        self._worker = worker
        self._make_listener = listener
        self._kept = kept  # the encounters whose chart is kept offline (on the store thread)
        self._zone = zone or datetime.now().astimezone().tzinfo or UTC
        self._clock = clock
        self._listener: MllpListener | None = None
        self._subscribers: Listeners[WorklistListener] = Listeners()
        self._pending: list[VisitEvent] = []
        self._inbox: list[VisitEvent] = []  # from the listener's thread, not yet on the loop
        self._inbox_lock = threading.Lock()
        self._drain: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unknown = 0
        self.current: Worklist | None = None

    # ------------------------------------------------------------------ the day
    @property
    def zone(self) -> tzinfo:
        return self._zone

    def today(self) -> date:
        return self._clock().astimezone(self._zone).date()

    @property
    def practitioner(self) -> str:
        return self._session.approver.relative

    async def load(self, day: date | None = None) -> Worklist:
        day = day or self.today()
        practitioner = self.practitioner
        if self._session.working_offline:  # unlocked locally: no session to ask the EHR with
            return await self._from_cache(practitioner, day, None)
        try:
            live = await load_worklist(self._fhir, practitioner, day, self._zone, now=self._clock())
        except FhirError as exc:
            log.info(
                "worklist: the EHR could not be read (%s); trying the cache", type(exc).__name__
            )
            return await self._from_cache(practitioner, day, exc)
        with user_errors("The worklist could not be kept on this computer."):
            await self._worker.run(self._cache.save, live)
        return await self._publish(await self._with_notes(live))

    async def _from_cache(self, practitioner: str, day: date, cause: Exception | None) -> Worklist:
        with user_errors(NO_WORKLIST):
            cached = await self._worker.run(self._cache.load, practitioner, day)
        if cached is None:
            raise ServiceError(NO_WORKLIST) from cause
        return await self._publish(await self._with_notes(cached))

    async def refresh_notes(self) -> Worklist | None:
        if self.current is None:
            return None
        return await self._publish(await self._with_notes(self.current))

    async def marks_changed(self) -> None:
        """More charts were kept for offline use: the list shows which (an OfflineCharts
        listener)."""
        await self.refresh_notes()

    async def _with_notes(self, worklist: Worklist) -> Worklist:
        ids = [v.encounter_id for v in worklist.visits if v.encounter_id]
        with user_errors("The notes' states could not be read from this computer's store."):
            facts = await self._worker.run(_note_facts, self._db, ids)
            kept = await self._worker.run(self._kept) if self._kept is not None else set()
        visits = [
            replace(v, note=note_state(facts[v.encounter_id])) if v.encounter_id in facts else v
            for v in worklist.visits
        ]
        visits = [replace(v, kept_offline=v.encounter_id in kept) for v in visits]
        return replace(worklist, visits=tuple(visits))

    async def _publish(self, worklist: Worklist) -> Worklist:
        self.current = worklist
        for listener in self._subscribers:
            listener(worklist)
        return worklist

    def subscribe(self, listener: WorklistListener) -> Callable[[], None]:
        return self._subscribers.add(listener)

    def clear_results(self, key: str) -> None:
        """The clinician saw the new results of the visit ``key``."""
        current = self.current
        visit = current.visit(key) if current else None
        if current is not None and visit is not None and visit.new_results:
            fresh = [replace(v, new_results=False) if v.key == key else v for v in current.visits]
            self.current = replace(current, visits=tuple(fresh))
            for listener in self._subscribers:
                listener(self.current)

    # ------------------------------------------------------------------ HL7 v2
    @property
    def has_listener(self) -> bool:
        return self._make_listener is not None

    @property
    def counts(self) -> ListenerCounts:
        base = self._listener.counts if self._listener is not None else ListenerCounts()
        return replace(base, unknown_patients=self._unknown)

    @property
    def listener_port(self) -> int | None:
        return self._listener.port if self._listener is not None else None

    async def start_listener(self) -> None:
        """Start the site's listener (nothing when the site has none). ServiceError with words
        when its port cannot be had."""
        if self._make_listener is None or self._listener is not None:
            return
        self._loop = asyncio.get_running_loop()
        listener = self._make_listener(self._from_listener_thread)
        try:
            await asyncio.get_running_loop().run_in_executor(None, listener.start_in_thread)
        except OSError as exc:
            raise ServiceError(
                f"The HL7 listener could not use port {listener.settings.port} "
                f"({exc.strerror or type(exc).__name__}). The worklist still works; it is "
                "refreshed with F5. Ask IT to check the port in sites.toml."
            ) from exc
        self._listener = listener

    async def stop_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            await asyncio.get_running_loop().run_in_executor(None, listener.close_thread)
        if self._drain is not None:
            self._drain.cancel()

    def _from_listener_thread(self, event: VisitEvent) -> None:
        """On the listener's thread: queue the event; wake the GUI loop only for the first of
        a batch (a burst of messages costs the loop one wake-up, not one per message)."""
        with self._inbox_lock:
            self._inbox.append(event)
            first = len(self._inbox) == 1
        loop = self._loop
        if first and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._take_inbox)

    def _take_inbox(self) -> None:
        with self._inbox_lock:
            events, self._inbox = self._inbox, []
        for event in events:
            self.receive(event)

    def receive(self, event: VisitEvent) -> None:
        """An accepted event, on the loop: applied with the others of its batch."""
        self._pending.append(event)
        if self._drain is None or self._drain.done():
            self._drain = asyncio.ensure_future(self._apply_pending())

    async def settle(self) -> None:
        """Wait until every received event was applied (tests, benchmarks)."""
        while self._inbox or (self._drain is not None and not self._drain.done()):
            if self._drain is not None and not self._drain.done():
                await asyncio.shield(self._drain)
            else:
                await asyncio.sleep(0.01)

    async def _apply_pending(self) -> None:
        await asyncio.sleep(EVENT_BATCH_SECONDS)
        while self._pending:
            events, self._pending = self._pending, []
            current = self.current
            if current is None or current.day != self.today():
                continue  # the day shown is another: reading it again from the EHR is the truth
            outcome = apply_events(current.visits, events)
            self._unknown += outcome.unknown
            visits = outcome.visits
            if outcome.to_fetch:
                fetched = await self._fetch(outcome.to_fetch, current.day)
                self._unknown += len(set(outcome.to_fetch) - {v.visit_number for v in fetched})
                visits = merge_fetched(visits, await self._noted(fetched))
            if outcome.changed or outcome.to_fetch:
                await self._publish(replace(current, visits=visits))

    async def _fetch(self, numbers: tuple[str, ...], day: date) -> list[Visit]:
        start, end = day_bounds(day, self._zone)
        try:
            found = await visits_by_number(self._fhir, numbers, practitioner=self.practitioner)
        except FhirError as exc:
            log.warning(
                "worklist: visits announced by HL7 could not be read (%s)", type(exc).__name__
            )
            return []
        return [v for v in found if v.start is None or start <= v.start < end]

    async def _noted(self, visits: list[Visit]) -> list[Visit]:
        ids = [v.encounter_id for v in visits if v.encounter_id]
        facts = await self._worker.run(_note_facts, self._db, ids)
        return [
            replace(v, note=note_state(facts[v.encounter_id])) if v.encounter_id in facts else v
            for v in visits
        ]


def _note_facts(db: Database, encounter_ids: list[str]) -> dict[str, NoteFacts]:
    """The store's facts about the notes of these encounters (on the store thread; the store
    stack is imported when it is first needed, not at start-up)."""
    from app.store.worklist_cache import note_facts

    return note_facts(db, encounter_ids)
