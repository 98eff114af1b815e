"""The sync runner: a thin async loop over the outbox store, the planner and a FhirWriter.

One runner per user store (an OS lock file, :class:`~app.sync.lock.RunnerLock`): a second app
instance does not send. At start, items left SENDING by a crash become UNKNOWN_OUTCOME (they
are checked before anything is resent), and items an earlier session left PAUSED_FOR_SIGN_IN
are resumed when the runner's session is signed in (``wait_until_signed_in`` returns at once).
A pass takes due commits in sequence order and sends up to ``concurrency`` at once (6 by
default: the per-host connection limit browsers use, a polite client that still hides a WAN
round trip: docs/performance.md; app.sync.due_queue.SendSlots keeps the store's fsyncs off the
round trips' path); each commit is atomic on its own (a transaction Bundle where the server
allows it) and an amendment waits for its base in the store
(WAITING_FOR_BASE), so order is kept where it matters and nowhere else.

While the EHR cannot be reached the pass stops at the first commit that could not be sent
(the others keep their place in the queue instead of all counting failed attempts). When the
sign-in has ended (401 after the one refresh) the pass stops, the commit waits in
PAUSED_FOR_SIGN_IN, and :meth:`SyncRunner.run_forever` waits on ``wait_until_signed_in()``;
nothing fails. "Sync now" and a reconnection make waiting commits due at once. The UI follows
commit changes (:meth:`subscribe`), the runner's status (:meth:`subscribe_status`: online or
not, paused, running) and ``in_flight`` (which SENDING commits are being sent now).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from app.domain.clock import utc_now
from app.domain.errors import words_for
from app.domain.outbox import SIGN_IN_STATES, OutboxItem, OutboxState, SyncEvent
from app.domain.reachability import DEFAULT_PROBE_POLICY, ProbePolicy, Reachability
from app.domain.reachability import Connectivity as Connectivity  # the status's vocabulary
from app.fhir.errors import FhirError
from app.fhir.profiles import VendorProfile
from app.smart.errors import SignInRequired, SmartError
from app.store.outbox_records import OutboxEntry, OutboxSummary
from app.store.site_refusals import SiteRefusals
from app.sync.due_queue import DueQueue, InFlight, PassTally, SendSlots
from app.sync.errors import SyncSetupFailed
from app.sync.lock import RunnerLock
from app.sync.planner import WriteCapabilities, capabilities_from
from app.sync.reachability import Probe, ReachabilityMonitor
from app.sync.send import CommitSender
from app.sync.store_thread import GROUP_WINDOW, StoreThread
from app.sync.writer import FhirWriter

if TYPE_CHECKING:
    from app.store.outbox import OutboxListener, OutboxRepository

log = logging.getLogger(__name__)

S = OutboxState


@dataclass(frozen=True)
class RunnerStatus:
    running: bool = False
    connectivity: Connectivity = Connectivity.UNKNOWN
    paused_for_sign_in: bool = False
    last_run_at: datetime | None = None
    problem: str | None = None  # plain words: why nothing is being sent (setup failed, ...)
    last_contact_at: datetime | None = None  # the EHR's last answer (a send, a probe)
    offline_since: datetime | None = None  # the first request without an answer since then


@dataclass(frozen=True)
class RunReport:
    processed: int = 0  # commits worked on in this pass
    confirmed: int = 0
    paused: bool = False
    offline: bool = False
    failed: bool = False  # the pass met an unexpected error (logged; the next pass goes on)

    @property
    def stalled(self) -> bool:
        """Queued commits should not be retried at once (EHR unreachable, or a failed pass)."""
        return self.offline or self.failed


# An unexpected error (a bug, a failing store) while working on a commit: the event that takes
# it out of the state it was in, so nothing stays "Sending" for the rest of the session. While
# sending, a request may have gone out: the commit is checked before anything is resent.
AFTER_UNEXPECTED = {
    S.SENDING: SyncEvent.OUTCOME_UNKNOWN,
    S.UNKNOWN_OUTCOME: SyncEvent.OUTCOME_UNKNOWN,
    S.QUEUED: SyncEvent.CANNOT_SEND,
    S.RETRY_WAIT: SyncEvent.CANNOT_SEND,
}
_UNEXPECTED_WORDS = {
    SyncEvent.OUTCOME_UNKNOWN: (
        "The app met an unexpected problem while sending this ({kind}). It checks whether it "
        "arrived before sending it again; if this keeps happening, tell clinic IT."
    ),
    SyncEvent.CANNOT_SEND: (
        "The app met an unexpected problem before sending this ({kind}); nothing was sent. "
        "Retry; if it happens again, tell clinic IT."
    ),
}
_NOT_REACHED = "The EHR could not be reached; the app will try again."
_PASS_FAILED = (
    "The app met an unexpected problem while sending; it will try again. If this keeps "
    "happening, tell clinic IT."
)


StatusListener = Callable[[RunnerStatus], None]
_STATUS_RESOLUTION = timedelta(seconds=1)


class SyncRunner:
    def __init__(
        self,
        store: OutboxRepository,
        writer: FhirWriter,
        *,
        profile: VendorProfile | None = None,
        capabilities: WriteCapabilities | None = None,
        lock_path: Path | None = None,
        wait_until_signed_in: Callable[[], Awaitable[None]] | None = None,
        concurrency: int = 6,
        clock: Callable[[], datetime] = utc_now,
        idle_poll: float = 60.0,
        resume_delay: float = 2.0,
        read_back: bool = True,
        probe: Probe | None = None,
        probe_policy: ProbePolicy = DEFAULT_PROBE_POLICY,
        refusals: SiteRefusals | None = None,
    ) -> None:
        """``refusals``: what this site refused although it declares it (optional companions
        such as Provenance are then confirmed without, and no longer sent)."""
        if profile is None and capabilities is None:
            raise ValueError("give the vendor profile (or ready-made capabilities)")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._store = store
        self._writer = writer
        self._profile = profile
        self._caps = capabilities
        self._lock = RunnerLock(lock_path) if lock_path is not None else None
        self._wait_signed_in = wait_until_signed_in
        self._signed_in = asyncio.Event()
        self._concurrency = concurrency
        self._clock = clock
        self._idle_poll = idle_poll
        self._resume_delay = resume_delay
        self._read_back = read_back
        self._refusals = refusals
        self._wake = asyncio.Event()
        self._paused = False
        self._offline_pass = False
        self._started = False
        self._status = RunnerStatus()
        self._status_listeners: list[StatusListener] = []
        self.in_flight = InFlight()  # the commits whose requests started (due_queue.SendSlots)
        self._run_lock = asyncio.Lock()
        # group commit: one fsync for the changes made within GROUP_WINDOW of each other
        keep = store.group_connection_kept  # one connection for all the store thread's groups
        self._db = StoreThread(group=store.group, gather=GROUP_WINDOW, keep=keep)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._make_due = False
        self._stranded = False  # a failure could not be recorded: sweep SENDING next pass
        # awaited before the first send once the EHR is back (app.services.reconnect)
        self.before_drain: Callable[[], Awaitable[None]] | None = None
        self._back = False
        # Every answer (or none) from the EHR goes through the monitor; with a probe it also
        # keeps "Online"/"Offline" true between sends (run beside run_forever).
        self.reachability = ReachabilityMonitor(
            probe,
            lambda: self._db.run(self._store.has_work),
            policy=probe_policy,
            clock=clock,
            on_back=self.sync_now,
        )
        self.reachability.subscribe(self._reachability_changed)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Take the store's sync lock (``SyncAlreadyRunning`` if another instance has it) and
        turn commits a crash left SENDING into UNKNOWN_OUTCOME."""
        if self._started:
            return
        self._loop = asyncio.get_running_loop()
        if self._lock is not None:
            self._lock.acquire()
        recovered = await self._db.run(self._store.recover_after_restart, self._clock())
        if recovered:
            log.info(
                "%d commit(s) were being sent when the app stopped: checking them", len(recovered)
            )
        waiting = await self._db.run(self._store.waiting_for_sign_in) > 0
        if waiting and await self._signed_in_now():
            # What an earlier session left waiting for a sign-in goes on with this one (the
            # CLI's `outbox sync` after `login`; the app after the clinician signed in).
            await self._db.run(self._store.resume_after_sign_in, self._clock())
            waiting = False
        self._paused = waiting
        self._started = True
        self._set_status(running=True, paused_for_sign_in=self._paused)

    async def aclose(self) -> None:
        """Stop sending and release the store's lock (after ``run_forever`` returned)."""
        self._started = False
        self._wake.set()
        async with self._run_lock:  # a pass in progress finishes its current requests first
            pass
        await asyncio.get_running_loop().run_in_executor(None, self._db.close)
        if self._lock is not None:
            self._lock.release()
        self._set_status(running=False)

    async def __aenter__(self) -> SyncRunner:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ triggers
    def sync_now(self) -> None:
        """ "Sync now": commits waiting to retry or to be checked are due at once; wake up.
        (Returns at once; the store is updated by the running loop, off the UI thread.)"""
        self._make_due = True
        self._wake.set()
        if not self.reachability.state.online:
            self.reachability.request_check()

    def notify_reconnected(self) -> None:
        """The network came back (the UI hears it from the OS): same as "Sync now", and the
        EHR is probed at once."""
        self.reachability.request_check()
        self.sync_now()

    def network_changed(self) -> None:
        """The OS reports a network change (or the sandbox was stopped or started): probe
        at once, so the status is true within one probe."""
        self.reachability.request_check()

    def notify_enqueued(self) -> None:
        """A commit was approved: wake up (it is QUEUED, so it is due at once)."""
        self._wake.set()
        self.reachability.work_changed()

    # ------------------------------------------------------------------ events
    def subscribe(self, listener: OutboxListener) -> Callable[[], None]:
        """Commit state changes ("commit X is now CONFIRMED"), after they are stored; delivered
        on the event loop the runner runs on (the UI's), whichever thread stored them."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = self._loop or asyncio.get_event_loop_policy().get_event_loop()
        return self._store.subscribe(StoreThread.deliver_on_loop(loop, listener))

    def subscribe_status(self, listener: StatusListener) -> Callable[[], None]:
        self._status_listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._status_listeners:
                self._status_listeners.remove(listener)

        return unsubscribe

    @property
    def in_pass(self) -> bool:
        """A pass is sending or checking now (a sign-in prompt waits until it is over)."""
        return self._run_lock.locked()

    @property
    def status(self) -> RunnerStatus:
        return self._status

    def _set_status(self, **changes: object) -> None:
        new = replace(self._status, **changes)  # type: ignore[arg-type]
        if new == self._status:
            return
        self._status = new
        for listener in list(self._status_listeners):
            listener(new)

    def _contact(self, reached: bool) -> None:
        if not reached:
            self._offline_pass = True
        self.reachability.record_contact(reached)  # the status follows (_reachability_changed)
        if reached:
            self._set_status(problem=None)

    def _reachability_changed(self, before: Reachability, after: Reachability) -> None:
        if before.connectivity is Connectivity.OFFLINE and after.online:
            self._back = True  # the next pass runs ``before_drain`` first
        shown = self._status.last_contact_at
        contact = after.last_contact_at
        if (
            after.connectivity is self._status.connectivity
            and contact is not None
            and shown is not None
            and contact - shown < _STATUS_RESOLUTION
        ):
            return  # the status shows seconds: a burst of answers is one update, not hundreds
        self._set_status(
            connectivity=after.connectivity,
            last_contact_at=contact,
            offline_since=after.offline_since,
        )

    # ------------------------------------------------------------------ running
    async def capabilities(self) -> WriteCapabilities:
        """What the planner may use here (read once from the CapabilityStatement)."""
        if self._caps is None:
            assert self._profile is not None
            statement = await self._writer.capability()
            self._caps = capabilities_from(statement, self._profile)
            if not any(t.create for t in self._caps.types.values()):
                raise SyncSetupFailed(
                    "The EHR declares no resource this app may create with the "
                    f"{self._profile.display_name} profile. Ask clinic IT to check the site "
                    "configuration."
                )
        return self._caps

    async def run_once(self) -> RunReport:
        """One pass over the commits that are due now."""
        if not self._started:
            await self.start()
        if self._paused:
            return RunReport(paused=True)
        async with self._run_lock:
            return await self._pass()

    async def _pass(self) -> RunReport:
        """One pass; an unexpected error is logged (class and place, no PHI) and reported, and
        never ends sending for the session."""
        try:
            if self._stranded:
                await self._recover_stranded()
            return await self._work()
        except Exception as exc:
            self._stranded = True
            log.error("sync pass failed: %s", _describe(exc))
            self._set_status(problem=_PASS_FAILED)
            return RunReport(failed=True)

    async def _recover_stranded(self) -> None:
        """Between passes no request is in flight (one runner per store, and a pass waits for
        all its workers): a commit still SENDING was left by a failure that could not be
        recorded. It is checked before anything is resent, as after a crash."""
        recovered = await self._db.run(self._store.recover_after_restart, self._clock())
        self._stranded = False
        if recovered:
            log.warning("%d commit(s) left sending by a failed pass: checking them", len(recovered))

    async def _after_unexpected(self, entry: OutboxEntry, exc: Exception) -> OutboxItem | None:
        """Record an unexpected error of one commit's step on the commit (see
        ``AFTER_UNEXPECTED``); None when even that failed (swept at the next pass)."""
        log.error("sync step failed for commit %s: %s", entry.commit_id, _describe(exc))
        try:
            current = await self._db.run(self._store.item, entry.commit_id)
            event = AFTER_UNEXPECTED.get(current.state)
            if event is None:
                return current
            words = _UNEXPECTED_WORDS[event].format(kind=type(exc).__name__)
            return await self._db.run(
                self._store.apply, entry.commit_id, event, expect=current.state, error=words
            )
        except Exception as inner:
            self._stranded = True
            log.error("could not record it for commit %s: %s", entry.commit_id, _describe(inner))
            return None

    async def _work(self) -> RunReport:
        sender = await self._sender()
        if isinstance(sender, RunReport):
            return sender
        self._offline_pass = False
        if self._make_due:
            self._make_due = False
            await self._db.run(self._store.make_due_now, self._clock())

        def go_on() -> bool:
            return not (self._paused or self._offline_pass or not self._started)

        slots = SendSlots(self._concurrency, go_on, self.in_flight)
        due = DueQueue(self._store, self._db, self._clock, batch=slots.claimed, go_on=go_on)
        tally = PassTally()

        async def worker() -> None:
            while (entry := await due.take()) is not None:
                await self._handle(sender, entry, tally, slots)

        await self._back_online()
        if self._status.connectivity is not Connectivity.ONLINE:
            # Not known to be reachable: one commit probes first, so an unreachable EHR costs
            # one failed attempt, not one per queued commit.
            probe = await due.take()
            if probe is not None:
                await self._handle(sender, probe, tally, slots)
        # more workers than slots: commits are marked (or stored) while others are in flight
        # return_exceptions: every worker has finished before the pass ends, even when one failed
        ended = await asyncio.gather(
            *(worker() for _ in range(slots.workers)), return_exceptions=True
        )
        for outcome in ended:
            if isinstance(outcome, BaseException):
                raise outcome
        self._set_status(last_run_at=self._clock())
        return RunReport(tally.processed, tally.confirmed, self._paused, self._offline_pass)

    async def _back_online(self) -> None:
        """With ``before_drain``: while the EHR is known offline a pass probes it first (the
        commit that probes after that is sent only when the probe got no answer), so once it is
        back ``before_drain`` runs before anything is sent."""
        if self.before_drain is None:
            return
        if self.reachability.can_probe and self._status.connectivity is Connectivity.OFFLINE:
            await self.reachability.probe_now()
        if self._back:
            self._back = False
            try:
                await self.before_drain()
            except Exception as exc:  # the steps must never keep the notes from being sent
                log.error("steps before sending failed: %s", _describe(exc))

    async def _sender(self) -> CommitSender | RunReport:
        """The pass's CommitSender, or the report of a pass that cannot start (the server's
        capabilities could not be read: signed out, or unreachable)."""
        try:
            caps = await self.capabilities()
        except SignInRequired:
            self._pause()
            return RunReport(paused=True)
        except (FhirError, SmartError) as exc:
            self._contact(False)
            self._set_status(problem=words_for(exc, _NOT_REACHED))
            return RunReport(offline=True)
        return CommitSender(
            self._store,
            self._writer,
            caps,
            clock=self._clock,
            on_contact=self._contact,
            read_back=self._read_back,
            db=self._db,
            refusals=self._refusals,
        )

    async def _handle(
        self, sender: CommitSender, entry: OutboxEntry, tally: PassTally, slots: SendSlots
    ) -> None:
        tally.processed += 1
        with slots.turn(entry.commit_id) as slot:  # the probe's is free at once
            try:
                item = await sender.process(entry, slot)
            except Exception as exc:
                # A bug must not stop the other commits, nor leave this one "Sending".
                recorded = await self._after_unexpected(entry, exc)
                if recorded is None:
                    return
                item = recorded
        if item.state is S.CONFIRMED:
            tally.confirmed += 1
        elif item.state in SIGN_IN_STATES:
            self._pause()

    def _pause(self) -> None:
        log.debug("sync paused: the EHR asks for a new sign-in")
        self._paused = True
        self._signed_in.clear()
        self._set_status(paused_for_sign_in=True)

    async def _signed_in_now(self) -> bool:
        """Whether the session is signed in right now (without waiting for a sign-in)."""
        if self._wait_signed_in is None:
            return self._signed_in.is_set()
        waiter = asyncio.ensure_future(self._wait_signed_in())
        await asyncio.wait([waiter], timeout=0)
        if not waiter.done():
            waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiter
            return False
        return not waiter.cancelled() and waiter.exception() is None

    async def _resume_after_sign_in(self, stop: asyncio.Event | None) -> bool:
        """Wait for a new sign-in; False when ``stop`` came first."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        waiter = (
            asyncio.ensure_future(self._wait_signed_in())
            if self._wait_signed_in is not None
            else asyncio.ensure_future(self._signed_in.wait())
        )
        stopper = asyncio.ensure_future(stop.wait()) if stop is not None else None
        try:
            await asyncio.wait(
                [t for t in (waiter, stopper) if t is not None],
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            for task in (waiter, stopper):
                if task is not None and not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        if not waiter.done() or waiter.cancelled():
            return False
        if loop.time() - started < 0.05:
            # "Signed in" at once although the EHR said 401: do not hammer it in a loop.
            await asyncio.sleep(self._resume_delay)
        await self._db.run(self._store.resume_after_sign_in, self._clock())
        log.debug("sync resumed after a new sign-in")
        self._paused = False
        self._set_status(paused_for_sign_in=False)
        return True

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Send until ``stop`` is set: passes when something is due, sleeps in between; the
        reachability probes run beside it."""
        await self.start()
        probing = asyncio.ensure_future(self.reachability.run(stop))
        try:
            await self._send_until(stop)
        finally:
            probing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await probing

    async def _send_until(self, stop: asyncio.Event) -> None:
        while not stop.is_set() and self._started:
            if self._paused:
                if not await self._resume_after_sign_in(stop):
                    break
                continue
            self._wake.clear()
            try:
                report = await self.run_once()
                if report.paused:
                    continue
                delay = await self._delay(offline=report.stalled)
            except Exception as exc:  # the store failing between passes: try again later
                log.error("sync loop step failed: %s", _describe(exc))
                self._set_status(problem=_PASS_FAILED)
                delay = self._idle_poll
            await self._sleep(stop, delay)

    async def drain(self, *, timeout: float | None = None) -> OutboxSummary:
        """Run passes until nothing is left to send by itself (everything confirmed, or waiting
        for a person), the sign-in ends, or ``timeout`` seconds pass. For the command line,
        tests and benchmarks; the app uses :meth:`run_forever`."""
        await self.start()
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            self._wake.clear()
            report = await self.run_once()
            if report.paused or not await self._db.run(self._store.has_work):
                return await self._db.run(self._store.summary)
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                return await self._db.run(self._store.summary)
            delay = await self._delay(offline=report.stalled)
            await self._sleep(None, delay if left is None else min(delay, left))

    async def _delay(self, *, offline: bool) -> float:
        if self._make_due:
            return 0.0
        due = await self._db.run(self._store.next_due_at, include_queued=not offline)
        if due is None:
            return self._idle_poll
        return min(max((due - self._clock()).total_seconds(), 0.0), self._idle_poll)

    async def _sleep(self, stop: asyncio.Event | None, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        waits = [asyncio.ensure_future(self._wake.wait())]
        if stop is not None:
            waits.append(asyncio.ensure_future(stop.wait()))
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


def _describe(exc: BaseException) -> str:
    """The error's class and where it was raised: enough for support, and free of PHI (the
    message, which may quote a patient's data, is left out)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return type(exc).__name__
    last = frames[-1]
    return f"{type(exc).__name__} in {Path(last.filename).name}:{last.lineno} ({last.name})"
