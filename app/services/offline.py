"""``OfflineCharts``: the charts kept on this computer for when the EHR cannot be reached, and
the background prefetch that keeps them (docs/offline.md).

    keep(context, session)   a chart just read from the EHR, kept (sealed) within the bounds
                             — if the cache ``session`` it was read in is still open (a read
                             begun before a sign-out is refused by the cache: None)
    session                  the cache session of this sign-in (None after ``purge``);
                             ``begin_session()`` at sign-in opens a new one
    kept(patient, encounter) the kept chart, or None (expired, damaged: dropped, or never kept)
    prefetch(targets)        keep the given encounters (the day's worklist): one chart at a
                             time, each only when no request of the clinician is in flight
                             (``foreground()``), skipping those kept less than ``refresh_after``
                             ago; stops at the first "no answer" (the EHR is gone: the rest
                             would only time out one by one)
    start() / aclose()       the background prefetcher: ``request(targets)`` hands it the latest
                             list (a newer list replaces an older one not yet done); it also
                             applies the retention (``sweep()``) when it starts (sign-in), after
                             each round and every ``SWEEP_EVERY`` seconds, so an expired chart
                             is removed from the disk even when nothing new is kept
    refresh_kept()           the stale kept charts re-read now (the EHR is back: before sending)
    purge()                  everything kept, dropped, and the session ended (sign-out: the
                             caller stops the writers first; a late one is refused anyway)
    on_status(status)        the outbox runner's reachability (one fact, app.sync.reachability):
                             while the EHR is known to be offline a chart opens from the kept
                             copy at once (no connect timeout first) and nothing is prefetched;
                             when it answers again the kept charts are refreshed

A dropped connection during the prefetch is tried once more after ``RETRY_PAUSE``; a second
one in a row stops the prefetch until the EHR is reachable again: a flapping link costs at most
two requests per chart, never a storm.

Why no ``_lastUpdated``/ETag check before re-reading a kept chart: a chart is one batch (one
round trip once the CapabilityStatement is known), and a check of the six searches for anything
newer is one batch too — it saves bytes, not round trips, and the bytes are small (a chart is a
few kB to a few tens of kB). A kept chart is re-read when older than ``refresh_after``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from app.domain.clinical import EncounterStatus
from app.domain.context import EncounterContext
from app.domain.offline import DEFAULT_OFFLINE_POLICY, CacheStamp, OfflinePolicy, needs_refresh
from app.domain.reachability import Connectivity
from app.domain.worklist import Worklist, WorklistSource
from app.fhir.context_loader import load_encounter_context
from app.fhir.errors import FhirError, FhirServerError, FhirTransportError
from app.services.errors import ServiceError, user_errors
from app.store.errors import KeepingEnded

if TYPE_CHECKING:  # the store stack loads after the sign-in window (issue 15)
    from app.fhir.client import FhirClient
    from app.store.chart_cache import ChartCache, KeptChart
    from app.sync.runner import RunnerStatus
    from app.sync.store_thread import StoreThread

log = logging.getLogger(__name__)

GATEWAY_DOWN = frozenset({502, 503, 504})
RETRY_PAUSE = 1.0  # seconds before the one retry of a chart whose request got no answer
START_DELAY = 2.0  # a background prefetch starts this long after it was asked for (sign-in:
# the clinician's first clicks, the worklist and the sender's first probe go first)
PAUSE = 0.1  # between two charts of a background prefetch
# a kept chart whose visit is found in one of these when it is read again is dropped
VISITS_NOT_KEPT = frozenset({EncounterStatus.CANCELLED, EncounterStatus.ENTERED_IN_ERROR})
SWEEP_EVERY = 600.0  # seconds: the retention is applied this often while the app runs
CHART_KEY = tuple[str, str]  # (patient id, encounter id)


def no_answer(exc: BaseException) -> bool:
    """Did the EHR not answer at all (so a kept chart may stand in)?"""
    if isinstance(exc, FhirTransportError):
        return True
    return isinstance(exc, FhirServerError) and exc.status in GATEWAY_DOWN


@dataclass
class PrefetchReport:
    kept: list[CHART_KEY] = field(default_factory=list)
    fresh: list[CHART_KEY] = field(default_factory=list)  # kept recently enough: not re-read
    failed: list[CHART_KEY] = field(default_factory=list)  # the EHR refused or sent junk
    dropped: list[CHART_KEY] = field(default_factory=list)  # visit cancelled: no longer kept
    unreachable: bool = False  # stopped: the EHR did not answer


class ForegroundGate:
    """The clinician's requests in flight; the prefetch waits until there are none."""

    def __init__(self) -> None:
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @contextlib.asynccontextmanager
    async def foreground(self) -> AsyncIterator[None]:
        self._busy += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._busy -= 1
            if self._busy == 0:
                self._idle.set()

    async def idle(self) -> None:
        await self._idle.wait()


class OfflineCharts:
    def __init__(
        self,
        fhir: FhirClient,
        cache: ChartCache,
        worker: StoreThread,
        *,
        policy: OfflinePolicy = DEFAULT_OFFLINE_POLICY,
        gate: ForegroundGate | None = None,
    ) -> None:
        self._fhir = fhir
        self._cache = cache
        self._worker = worker
        self.policy = policy
        self.gate = gate or ForegroundGate()
        self._wanted: list[CHART_KEY] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._running = False
        self._listeners: list[Callable[[], Awaitable[None]]] = []
        self.connectivity = Connectivity.UNKNOWN
        self.retry_pause = RETRY_PAUSE
        self.start_delay = START_DELAY
        self.sweep_every = SWEEP_EVERY
        self.last_report: PrefetchReport | None = None
        self.session: int | None = cache.open_session()

    # ------------------------------------------------------------------ one chart
    def begin_session(self) -> None:
        """A sign-in (an offline start too): charts read from now on may be kept (until
        ``purge``), and the background loop starts with the retention applied at once."""
        self.session = self._cache.open_session()
        self.start()

    async def keep(self, context: EncounterContext, session: int | None) -> CacheStamp | None:
        """Keep ``context``, read in ``session`` (``self.session`` when the read began); None
        when that session has ended (signed out meanwhile): nothing is kept."""
        if session is None:
            return None
        try:
            with user_errors("The chart could not be kept on this computer for offline use."):
                stamp = await self._worker.run(
                    self._cache.save, context, self.policy, session=session
                )
                if await self._worker.run(self._cache.load_capability) is None:
                    statement = await self._fhir.capability()
                    await self._worker.run(self._cache.save_capability, statement, session=session)
        except ServiceError as exc:
            if isinstance(exc.__cause__, KeepingEnded):
                log.info("a chart read before the sign-out was not kept")
                return None
            raise
        return stamp

    async def kept(self, patient_id: str, encounter_id: str) -> KeptChart | None:
        with user_errors("The chart kept on this computer could not be read."):
            kept = await self._worker.run(self._cache.load, patient_id, encounter_id, self.policy)
            if kept is not None:
                statement = await self._worker.run(self._cache.load_capability)
                if statement is None:
                    return None  # without the EHR's capabilities nothing could be approved
                self._fhir.adopt_capability(statement)
        return kept

    async def kept_encounters(self) -> set[str]:
        stamps = await self._worker.run(self._cache.stamps)
        return {encounter for _patient, encounter in stamps}

    async def purge(self) -> int:
        self.session = None  # from now on nothing is kept until the next sign-in
        with user_errors("The charts kept on this computer could not be removed."):
            return await self._worker.run(self._cache.purge_all)

    # ------------------------------------------------------------------ prefetch
    async def prefetch(self, targets: Sequence[CHART_KEY], *, pause: float = 0.0) -> PrefetchReport:
        """Keep ``targets`` (see the module's docstring); ``pause`` seconds between charts."""
        report = PrefetchReport()
        session = self.session  # a sign-out meanwhile ends it: what is read then is not kept
        if session is None:  # signed out: nothing would be kept, so nothing is read
            self.last_report = report
            return report
        stamps = await self._worker.run(self._cache.stamps)
        clocks = self._cache.clocks()
        for target in dict.fromkeys(targets):  # once each, in the worklist's order
            stamp = stamps.get(target)
            if stamp is not None and not needs_refresh(stamp, clocks, self.policy):
                report.fresh.append(target)
                continue
            if self.known_offline:
                report.unreachable = True
                break
            if report.kept:
                await asyncio.sleep(pause)
            try:
                context = await self._fetch(target)
            except FhirError as exc:
                if no_answer(exc):
                    report.unreachable = True
                    break
                log.info("prefetch: a chart could not be read (%s)", type(exc).__name__)
                report.failed.append(target)
                continue
            if context.encounter.status in VISITS_NOT_KEPT:  # cancelled since the list was read
                await self._worker.run(self._cache.drop, *target)
                report.dropped.append(target)
                continue
            try:
                stamp = await self.keep(context, session)
            except ServiceError:
                report.failed.append(target)
                continue
            if stamp is None:  # signed out meanwhile: nothing more is kept
                break
            report.kept.append(target)
        self.last_report = report
        return report

    async def refresh_kept(self) -> PrefetchReport:
        """Re-read the kept charts that are stale: the worklist's first, then the others."""
        stamps = await self._worker.run(self._cache.stamps)
        return await self.prefetch([*self._wanted, *stamps])

    async def _fetch(self, target: CHART_KEY) -> EncounterContext:
        """One chart, after the clinician's requests; a request without an answer once more."""
        for attempt in (1, 2):
            await self.gate.idle()  # the clinician first
            try:
                return await load_encounter_context(self._fhir, *target)
            except FhirError as exc:
                if attempt == 2 or not no_answer(exc):
                    raise
                await asyncio.sleep(self.retry_pause)
        raise AssertionError("unreachable")  # pragma: no cover

    @property
    def known_offline(self) -> bool:
        return self.connectivity is Connectivity.OFFLINE

    def on_status(self, status: RunnerStatus | None) -> None:
        """The sender's reachability: when the EHR answers again, the kept charts are
        refreshed (the same list as last time)."""
        before = self.connectivity
        self.connectivity = status.connectivity if status is not None else Connectivity.UNKNOWN
        back = before is Connectivity.OFFLINE and self.connectivity is Connectivity.ONLINE
        if back and self._wanted:
            log.info("prefetch: the EHR answers again; refreshing the kept charts")
            self.request(self._wanted)

    def request(self, targets: Sequence[CHART_KEY]) -> None:
        """Prefetch these in the background (the latest list wins)."""
        self._wanted = list(targets)
        self._wake.set()
        self.start()

    def prefetch_worklist(self, worklist: Worklist) -> None:
        """A worklist listener: the day's encounters, as read from the EHR, are kept."""
        if worklist.source is WorklistSource.LIVE:
            self.request(worklist.charts_to_keep())  # not the cancelled visits

    def subscribe(self, listener: Callable[[], Awaitable[None]]) -> None:
        """``listener`` is awaited after each background prefetch that kept charts."""
        self._listeners.append(listener)

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())

    async def sweep(self) -> int:
        """The retention (and bounds) applied now: how many kept charts were dropped."""
        with user_errors("The charts kept on this computer could not be checked."):
            return await self._worker.run(self._cache.enforce, self.policy)

    async def _woken(self) -> bool:
        """True when a prefetch was asked for; False after ``sweep_every`` seconds without."""
        try:
            await asyncio.wait_for(self._wake.wait(), self.sweep_every)
        except TimeoutError:
            return False
        self._wake.clear()
        return True

    async def _run(self) -> None:
        while True:
            try:  # an expired chart does not wait on disk for the next chart to be kept
                await self.sweep()
            except ServiceError as exc:
                log.warning("the retention could not be applied: %s", type(exc.__cause__).__name__)
            if not await self._woken():
                continue
            self._running = True
            try:
                await asyncio.sleep(self.start_delay)
                report = await self.prefetch(self._wanted, pause=PAUSE)
                if report.kept:
                    for listener in list(self._listeners):
                        await listener()
            except ServiceError as exc:  # the store: said in the log, tried again next time
                log.warning("prefetch stopped: %s", type(exc.__cause__).__name__)
            except Exception as exc:  # a background loop must not die (a closed client, a bug)
                log.warning("prefetch stopped: %s", type(exc).__name__)
            finally:
                self._running = False

    async def settle(self) -> None:
        """Wait until the requested prefetch is done (tests, benchmarks)."""
        while self._task is not None and (self._wake.is_set() or self._running):
            await asyncio.sleep(0.02)

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
