"""Charts kept for offline use: the site's bounds, how old a kept chart is, and what the
clinician is told about it. Pure: every function takes the clocks it needs.

How old is a kept chart? The wall clock can jump (a manual change; a time-zone change does not
matter, everything here is UTC), so an age is measured two ways:

    kept during this run of the app   monotonic seconds since it was fetched (jumps of the wall
                                      clock change nothing)
    kept by an earlier run            wall clock now - wall clock at fetch
        ... fetched "in the future"   the clock went back: its age is unknown, so it is counted
                                      again from now (re-anchored once; never kept forever:
                                      it expires one retention later)

A chart older than the retention is purged; the cache is also bounded in count and bytes (the
oldest go first). Forward jumps across a restart do purge early: without the EHR there is no
better clock, and an early purge loses nothing (the chart is fetched again when online).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from enum import Enum

from app.domain.clock import utc_now

CLOCK_SLACK = timedelta(minutes=5)  # "fetched in the future" by less than this: clock skew only


@dataclass(frozen=True)
class OfflinePolicy:
    """What a site allows to be kept (``[sites.<id>.offline]`` in sites.toml, docs/offline.md)."""

    retention: timedelta = timedelta(hours=72)
    max_charts: int = 60
    max_bytes: int = 20 * 1024 * 1024
    refresh_after: timedelta = timedelta(minutes=15)  # a kept chart older than this is re-read
    unlock_window: timedelta = timedelta(hours=12)


DEFAULT_OFFLINE_POLICY = OfflinePolicy()


@dataclass(frozen=True)
class CacheStamp:
    """When a kept chart was fetched (wall clock, UTC: what the clinician is shown), and what
    its age is counted from: the wall clock, the run of the app and its monotonic clock (the
    same moment, unless the clock went back and the age was re-anchored)."""

    fetched_at: datetime
    counted_from: datetime
    run_id: str
    monotonic: float


@dataclass(frozen=True)
class Clocks:
    """The clocks of this run: wall (UTC), monotonic seconds, and this run's id."""

    now: datetime
    monotonic: float
    run_id: str


class AgeBasis(Enum):
    MONOTONIC = "monotonic"  # fetched during this run: true elapsed time
    WALL = "wall"  # fetched by an earlier run: the wall clock
    REANCHORED = "reanchored"  # the clock went back: counted again from now


@dataclass(frozen=True)
class CacheAge:
    age: timedelta
    basis: AgeBasis


def age_of(stamp: CacheStamp, clocks: Clocks) -> CacheAge:
    if stamp.run_id == clocks.run_id:
        elapsed = timedelta(seconds=max(0.0, clocks.monotonic - stamp.monotonic))
        return CacheAge(elapsed, AgeBasis.MONOTONIC)
    wall = clocks.now - stamp.counted_from
    if wall < -CLOCK_SLACK:
        return CacheAge(timedelta(0), AgeBasis.REANCHORED)
    return CacheAge(max(wall, timedelta(0)), AgeBasis.WALL)


def reanchored(stamp: CacheStamp, clocks: Clocks) -> CacheStamp:
    """The stamp counted again from now (the clock went back since it was fetched); what the
    clinician is shown (``fetched_at``) stays as it was."""
    return CacheStamp(stamp.fetched_at, clocks.now, clocks.run_id, clocks.monotonic)


def is_expired(stamp: CacheStamp, clocks: Clocks, policy: OfflinePolicy) -> bool:
    return age_of(stamp, clocks).age > policy.retention


def needs_refresh(stamp: CacheStamp, clocks: Clocks, policy: OfflinePolicy) -> bool:
    return age_of(stamp, clocks).age >= policy.refresh_after


@dataclass(frozen=True)
class KeptEntry:
    """One kept chart as the bounds see it (no content)."""

    key: str
    stamp: CacheStamp
    size: int


def over_bounds(entries: Iterable[KeptEntry], clocks: Clocks, policy: OfflinePolicy) -> list[str]:
    """The keys to drop so what is left fits the count and byte bounds: the oldest first."""
    by_age = sorted(entries, key=lambda e: age_of(e.stamp, clocks).age)  # youngest first
    keep_bytes, drop = 0, []
    for index, entry in enumerate(by_age):
        if index >= policy.max_charts or keep_bytes + entry.size > policy.max_bytes:
            drop.append(entry.key)
        else:
            keep_bytes += entry.size
    return drop


class ChartSource(Enum):
    """Where the chart on screen came from."""

    LIVE = "live"  # read from the EHR just now
    KEPT = "kept"  # read from this computer's offline copy (the EHR could not be reached)


@dataclass(frozen=True)
class ChartFreshness:
    source: ChartSource
    fetched_at: datetime  # UTC: when the EHR gave this chart

    def banner_words(self, zone: tzinfo | None = None, today: datetime | None = None) -> str:
        """'' for a live chart; else "chart as of 08:12, offline" (the day too when not today)."""
        if self.source is ChartSource.LIVE:
            return ""
        local = self.fetched_at.astimezone(zone)
        now = (today or utc_now()).astimezone(local.tzinfo)
        when = (
            local.strftime("%H:%M")
            if local.date() == now.date()
            else (local.strftime("%Y-%m-%d %H:%M"))
        )
        return f"chart as of {when}, offline"


@dataclass(frozen=True)
class ChartBasis:
    """The chart a note was approved from, recorded in the review decision: read live, or the
    copy kept on this computer while the EHR could not be reached (an offline approval), and
    as of when."""

    source: ChartSource
    as_of: datetime  # UTC

    @property
    def offline(self) -> bool:
        return self.source is ChartSource.KEPT

    @classmethod
    def of(cls, freshness: ChartFreshness) -> ChartBasis:
        return cls(freshness.source, freshness.fetched_at)


def offline_approval_words(basis: ChartBasis, amends: bool, zone: tzinfo | None = None) -> str:
    """What the approval dialog says about a note approved on a kept chart ('' when live)."""
    if not basis.offline:
        return ""
    when = ChartFreshness(basis.source, basis.as_of).banner_words(zone).removeprefix("chart as of ")
    words = (
        f"You are approving offline, on the chart as kept at {when.removesuffix(', offline')}. "
        "The note is sent when the EHR can be reached; if the visit's chart changed in the EHR "
        "meanwhile, nothing is written until you have looked at it."
    )
    if amends:
        words += (
            " It changes a note that may have been changed in the EHR meanwhile: that note is "
            "checked first, and if it changed you will be asked to compare before anything is "
            "written."
        )
    return words


NOT_KEPT = (
    "This chart is not kept on this computer and the EHR cannot be reached, so it cannot be "
    "shown. Open a visit from the worklist marked as kept, or try again when the connection is "
    "back."
)
