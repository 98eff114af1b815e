"""Can the EHR be reached? A pure state machine and the schedule of cheap probes.

No I/O and no clock of its own: every function takes ``now`` (timezone-aware UTC) and, where
jitter is drawn, a random source, so the rules are tested without waiting.

    UNKNOWN ──contact ok──▶ ONLINE ◀──contact ok──┐
       │                     │                    │
       └──contact failed──▶ OFFLINE ◀──failed─────┘

A *contact* is any answer from the EHR (a probe, a send, a check); a failed contact is a request
that got no answer (connection refused, timeout, TLS, DNS). "Online" is only ever the result of
a successful contact, and "Connecting" (UNKNOWN) lasts one probe: the first probe is due at
once.

When to probe (:func:`next_probe_at`):

    state     anything queued       nothing queued
    UNKNOWN   now                   now
    ONLINE    last contact + 10 s   never (the EHR is not bothered while nobody waits)
    OFFLINE   last failure + backoff (10 s, then up to 20, 40, 60 s, jittered)

A network change (the OS says so), the sandbox being stopped or started, and "Sync now" ask for
a check: the next probe is then due at once, whatever the table says. The interval is counted
from the last contact of any kind, so while notes are being sent no probe goes out at all; at
most one probe per interval is ever due, which keeps a clinic's laptops polite to its EHR.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import Enum

from app.domain.retry import BackoffPolicy, RandomSource


class Connectivity(Enum):
    """What the app knows about the EHR's reachability."""

    UNKNOWN = "unknown"  # no contact yet (shown as "Connecting", for one probe at most)
    ONLINE = "online"  # the last contact got an answer
    OFFLINE = "offline"  # the last contact got none


OFFLINE_BACKOFF = BackoffPolicy(
    base=timedelta(seconds=10),
    factor=2.0,
    cap=timedelta(seconds=60),
    floor=timedelta(seconds=10),
)


@dataclass(frozen=True)
class ProbePolicy:
    """How often to look. ``interval``: between contacts while anything is queued and the EHR
    answered last time; ``offline``: the backoff while it did not; ``timeout``: how long one
    probe may take (a probe that takes longer counts as no answer)."""

    interval: timedelta = timedelta(seconds=10)
    offline: BackoffPolicy = OFFLINE_BACKOFF
    timeout: timedelta = timedelta(seconds=3)

    def __post_init__(self) -> None:
        if self.interval <= timedelta(0) or self.timeout <= timedelta(0):
            raise ValueError("probe interval and timeout must be positive")
        if self.timeout >= self.interval:
            raise ValueError("a probe must time out before the next one is due")


DEFAULT_PROBE_POLICY = ProbePolicy()


@dataclass(frozen=True)
class Reachability:
    """The EHR's reachability as last seen. Immutable: each event returns a new value."""

    connectivity: Connectivity = Connectivity.UNKNOWN
    last_contact_at: datetime | None = None  # the last answer from the EHR
    offline_since: datetime | None = None  # the first failed contact after the last answer
    last_failure_at: datetime | None = None
    failures: int = 0  # failed contacts since the last answer
    retry_delay: timedelta = field(default=timedelta(0))  # drawn at the last failure
    check_requested: bool = False  # a network change or "Sync now": probe at once

    @property
    def online(self) -> bool:
        return self.connectivity is Connectivity.ONLINE


def contact_succeeded(state: Reachability, now: datetime) -> Reachability:
    """The EHR answered (any HTTP status: a 4xx is an answer too)."""
    return Reachability(Connectivity.ONLINE, last_contact_at=now)


def contact_failed(
    state: Reachability, now: datetime, rng: RandomSource, policy: ProbePolicy
) -> Reachability:
    """A request got no answer. The next probe waits a jittered, growing delay."""
    failures = state.failures + 1
    return replace(
        state,
        connectivity=Connectivity.OFFLINE,
        offline_since=state.offline_since or now,
        last_failure_at=now,
        failures=failures,
        retry_delay=policy.offline.delay(failures, rng),
        check_requested=False,
    )


def check_requested(state: Reachability) -> Reachability:
    """The network changed (or the clinician asked): look again now."""
    return replace(state, check_requested=True)


def next_probe_at(
    state: Reachability, *, has_work: bool, now: datetime, policy: ProbePolicy
) -> datetime | None:
    """When the next probe is due (``now`` or earlier: at once); None: no probe needed."""
    if state.check_requested or state.connectivity is Connectivity.UNKNOWN:
        return now
    if state.connectivity is Connectivity.OFFLINE:
        assert state.last_failure_at is not None
        return state.last_failure_at + state.retry_delay
    if not has_work:
        return None
    assert state.last_contact_at is not None
    return state.last_contact_at + policy.interval


def became_reachable(before: Reachability, after: Reachability) -> bool:
    """The EHR answered after it had not: what waits for it can go now."""
    return before.connectivity is Connectivity.OFFLINE and after.online
