"""The reachability monitor: the thin async shell that sends the probes
``app.domain.reachability`` schedules.

One monitor per signed-in site, run beside the sync runner (``SyncRunner.run_forever`` runs it).
It learns of contacts from the runner's sends (:meth:`ReachabilityMonitor.record_contact`),
sends a probe when the schedule says one is due (a ``HEAD`` of the FHIR base's ``/metadata``:
no sign-in needed, no patient data, a few hundred bytes; ``FhirClient.probe``), and tells its
listeners each change. ``request_check`` (a network change, the sandbox stopped or started,
"Sync now") makes a probe due at once; ``work_changed`` (a note approved) re-reads whether
anything is queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import datetime

from app.domain.clock import utc_now
from app.domain.listeners import Listeners
from app.domain.reachability import (
    DEFAULT_PROBE_POLICY,
    ProbePolicy,
    Reachability,
    became_reachable,
    check_requested,
    contact_failed,
    contact_succeeded,
    next_probe_at,
)
from app.domain.retry import RandomSource

log = logging.getLogger(__name__)

Probe = Callable[[float], Awaitable[bool]]  # timeout in seconds -> did the EHR answer?
ReachabilityListener = Callable[[Reachability, Reachability], None]  # (before, after)


class ReachabilityMonitor:
    def __init__(
        self,
        probe: Probe | None,
        has_work: Callable[[], Awaitable[bool]],
        *,
        policy: ProbePolicy = DEFAULT_PROBE_POLICY,
        clock: Callable[[], datetime] = utc_now,
        rng: RandomSource | None = None,
        on_back: Callable[[], None] | None = None,
    ) -> None:
        """``probe`` None: contacts are recorded but nothing is probed (the command line's
        ``outbox sync``). ``on_back``: a probe found the EHR answering after it had not."""
        self._probe = probe
        self._on_back = on_back
        self._has_work = has_work
        self._policy = policy
        self._clock = clock
        self._rng: RandomSource = rng if rng is not None else random.Random()
        self._state = Reachability()
        self._listeners: Listeners[ReachabilityListener] = Listeners()
        self._wake = asyncio.Event()
        self.probes_sent = 0  # for benchmarks and tests

    @property
    def state(self) -> Reachability:
        return self._state

    @property
    def can_probe(self) -> bool:
        return self._probe is not None

    @property
    def policy(self) -> ProbePolicy:
        return self._policy

    def subscribe(self, listener: ReachabilityListener) -> Callable[[], None]:
        return self._listeners.add(listener)

    # ------------------------------------------------------------------ events
    def record_contact(self, answered: bool) -> None:
        """A request of the app's own got an answer from the EHR, or none."""
        now = self._clock()
        if answered:
            self._set(contact_succeeded(self._state, now))
        else:
            self._set(contact_failed(self._state, now, self._rng, self._policy))

    def request_check(self) -> None:
        """Look again now: the network changed, the sandbox was stopped or started."""
        self._set(check_requested(self._state))

    def work_changed(self) -> None:
        """Something was queued (or the queue emptied): the schedule may change."""
        self._wake.set()

    def _set(self, new: Reachability) -> None:
        old, self._state = self._state, new
        if new.connectivity is not old.connectivity or new.check_requested:
            # a contact that only moves the next probe later needs no wake-up: the loop
            # finds that out when it wakes at the earlier time
            self._wake.set()
        if new.connectivity is not old.connectivity:
            log.info("EHR reachability: %s", new.connectivity.value)
        for listener in self._listeners:
            listener(old, new)

    # ------------------------------------------------------------------ running
    async def probe_now(self) -> Reachability:
        """Send one probe and record its outcome."""
        if self._probe is None:
            return self._state
        timeout = self._policy.timeout.total_seconds()
        self.probes_sent += 1
        before = self._state
        try:
            answered = await asyncio.wait_for(self._probe(timeout), timeout + 0.5)
        except TimeoutError:
            answered = False
        except Exception as exc:  # a bug must not end the monitor; "no answer" is the safe side
            log.error("reachability probe failed: %s", type(exc).__name__)
            answered = False
        self.record_contact(answered)
        if self._on_back is not None and became_reachable(before, self._state):
            self._on_back()
        return self._state

    async def run(self, stop: asyncio.Event) -> None:
        """Probe when due until ``stop`` is set (at once without a probe)."""
        while self._probe is not None and not stop.is_set():
            self._wake.clear()
            now = self._clock()
            has_work = await self._has_work()
            due = next_probe_at(self._state, has_work=has_work, now=now, policy=self._policy)
            if due is not None and due <= now:
                await self.probe_now()
                continue
            wait = None if due is None else (due - now).total_seconds()
            await _wait_any(self._wake, stop, timeout=wait)


async def _wait_any(*events: asyncio.Event, timeout: float | None) -> None:
    waits = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waits:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
