"""When to try again: exponential backoff with full jitter, a cap, and HTTP ``Retry-After``.

Pure: the random source and the clock are arguments, so tests and the Hypothesis model are
deterministic. Full jitter (a uniform draw in ``[0, min(cap, base * 2**attempt)]``) spreads a
clinic's laptops out after an EHR outage instead of having them all return in the same second.

A server's ``Retry-After`` is honoured as "not before": it replaces the jittered delay, clamped to
``max_retry_after`` so a buggy or hostile value cannot park a commit for days.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Protocol

from app.domain.clock import require_aware

_DELTA_SECONDS = re.compile(r"[0-9]+")


class RandomSource(Protocol):
    """The one method of :class:`random.Random` the backoff needs."""

    def random(self) -> float: ...


@dataclass(frozen=True)
class BackoffPolicy:
    """Exponential backoff with full jitter.

    ``attempt`` counts failures so far (1 after the first failure). The ceiling grows as
    ``base * factor**(attempt-1)`` up to ``cap``; the delay is a uniform draw below the ceiling,
    never less than ``floor`` (so a tight loop is impossible even when the draw is 0).
    """

    base: timedelta = timedelta(seconds=2)
    factor: float = 2.0
    cap: timedelta = timedelta(minutes=5)
    floor: timedelta = timedelta(milliseconds=500)
    max_retry_after: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        if self.base <= timedelta(0) or self.cap < self.base or self.factor < 1:
            raise ValueError("backoff needs base > 0, cap >= base and factor >= 1")
        if self.floor < timedelta(0) or self.floor > self.cap:
            raise ValueError("backoff floor must lie in [0, cap]")

    def ceiling(self, attempt: int) -> timedelta:
        """The largest delay allowed after ``attempt`` failures (before jitter)."""
        if attempt < 1:
            return timedelta(0)
        # Exponent clamped: 2**64 seconds would overflow timedelta long before the cap applies.
        exponent = min(attempt - 1, 64)
        seconds = self.base.total_seconds() * self.factor**exponent
        return min(self.cap, timedelta(seconds=min(seconds, self.cap.total_seconds())))

    def delay(self, attempt: int, rng: RandomSource) -> timedelta:
        """Full-jitter delay after ``attempt`` failures."""
        ceiling = self.ceiling(attempt)
        drawn = timedelta(seconds=ceiling.total_seconds() * rng.random())
        return max(self.floor, drawn) if attempt >= 1 else timedelta(0)

    def next_attempt_at(
        self,
        now: datetime,
        attempt: int,
        rng: RandomSource,
        retry_after: timedelta | None = None,
    ) -> datetime:
        """When to try next: the server's ``Retry-After`` if it gave one, else jittered backoff."""
        require_aware(now)
        if retry_after is not None:
            wait = min(max(retry_after, timedelta(0)), self.max_retry_after)
        else:
            wait = self.delay(attempt, rng)
        return now + wait

    @property
    def longest_wait(self) -> timedelta:
        """The longest wait :meth:`next_attempt_at` can produce (the floor lies below the cap)."""
        return max(self.cap, self.max_retry_after)


DEFAULT_BACKOFF = BackoffPolicy()

# Slack above the longest wait before a next attempt counts as set by a clock that jumped.
_CLOCK_JUMP_SLACK = timedelta(seconds=1)


@dataclass(frozen=True)
class DueWindow:
    """The due-time rule at one moment, as two bounds (the store's SQL is built from them).

    A next attempt at ``t`` is due when ``t <= due_by`` — or when ``t > clock_jumped_after``:
    further ahead than any wait the policy can produce, so the wall clock jumped backwards since
    it was set, and the item acts now rather than waiting out the jump.
    """

    due_by: datetime
    clock_jumped_after: datetime

    def is_due(self, next_attempt_at: datetime | None) -> bool:
        return (
            next_attempt_at is None
            or next_attempt_at <= self.due_by
            or next_attempt_at > self.clock_jumped_after
        )


def due_window(now: datetime, policy: BackoffPolicy = DEFAULT_BACKOFF) -> DueWindow:
    """The one due-time rule (the planner asks :func:`is_due`; ``app.store.outbox`` builds its
    ``claim_due`` query from these bounds, and a test checks the two agree)."""
    require_aware(now)
    return DueWindow(now, now + policy.longest_wait + _CLOCK_JUMP_SLACK)


def is_due(
    next_attempt_at: datetime | None, now: datetime, policy: BackoffPolicy = DEFAULT_BACKOFF
) -> bool:
    """Whether an item whose next attempt is ``next_attempt_at`` (None: at once) may act now."""
    return due_window(now, policy).is_due(next_attempt_at)


def seeded_rng(seed: int) -> random.Random:
    """A deterministic random source for tests and simulations."""
    return random.Random(seed)


# Longer waits are nonsense; kept representable, and the policy clamps them further.
_MAX_RETRY_AFTER_SECONDS = 366 * 24 * 3600


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """Parse an HTTP ``Retry-After`` value: delta-seconds (``"120"``) or an HTTP-date.

    The one parser of the header in the app (the FHIR client uses it too). Returns how long to
    wait from ``now`` (never negative; a date in the past means "now"), or None for anything
    else — missing, malformed, non-ASCII (``"²"`` or ``"٣"`` pass ``str.isdigit()`` but are no
    HTTP digits) — so the caller falls back to its backoff. Never raises on the value.
    """
    require_aware(now)
    text = (value or "").strip()
    if not text or not text.isascii():
        return None
    if _DELTA_SECONDS.fullmatch(text):  # delta-seconds: 1*DIGIT (RFC 9110 §10.2.3)
        digits = text.lstrip("0") or "0"
        seconds = _MAX_RETRY_AFTER_SECONDS if len(digits) > 9 else int(digits)
        return timedelta(seconds=min(seconds, _MAX_RETRY_AFTER_SECONDS))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # asctime form or "-0000": an HTTP-date is always GMT (RFC 9110)
        when = when.replace(tzinfo=UTC)
    try:
        wait = when - now
    except OverflowError:
        return None
    return min(max(wait, timedelta(0)), timedelta(seconds=_MAX_RETRY_AFTER_SECONDS))
