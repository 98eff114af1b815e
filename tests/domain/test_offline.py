"""The rules of charts kept for offline use: ages under jumping clocks, the bounds, and the
words the clinician reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from app.domain.offline import (
    AgeBasis,
    CacheStamp,
    ChartBasis,
    ChartFreshness,
    ChartSource,
    Clocks,
    KeptEntry,
    OfflinePolicy,
    age_of,
    is_expired,
    needs_refresh,
    offline_approval_words,
    over_bounds,
    reanchored,
)

T0 = datetime(2026, 12, 7, 8, 12, tzinfo=UTC)
STAMP = CacheStamp(T0, T0, "run-1", 100.0)


def test_within_a_run_the_monotonic_clock_decides() -> None:
    jumped = Clocks(T0 + timedelta(days=30), 160.0, "run-1")
    assert age_of(STAMP, jumped) == age_of(STAMP, Clocks(T0 - timedelta(days=3), 160.0, "run-1"))
    assert age_of(STAMP, jumped).age == timedelta(seconds=60)
    assert age_of(STAMP, jumped).basis is AgeBasis.MONOTONIC


def test_across_runs_the_wall_clock_decides_and_a_clock_set_back_re_anchors() -> None:
    later = Clocks(T0 + timedelta(hours=5), 3.0, "run-2")
    assert age_of(STAMP, later).age == timedelta(hours=5)
    back = Clocks(T0 - timedelta(days=2), 3.0, "run-2")
    assert age_of(STAMP, back).basis is AgeBasis.REANCHORED
    fresh = reanchored(STAMP, back)
    assert fresh.fetched_at == T0  # what the clinician is shown does not change
    policy = OfflinePolicy(retention=timedelta(hours=72))
    assert not is_expired(fresh, Clocks(back.now + timedelta(hours=71), 9.0, "run-3"), policy)
    assert is_expired(fresh, Clocks(back.now + timedelta(hours=73), 9.0, "run-3"), policy)


def test_a_little_skew_is_not_a_clock_set_back() -> None:
    skew = Clocks(T0 - timedelta(minutes=2), 3.0, "run-2")
    assert age_of(STAMP, skew) == type(age_of(STAMP, skew))(timedelta(0), AgeBasis.WALL)


def test_refresh_after_and_retention() -> None:
    policy = OfflinePolicy(refresh_after=timedelta(minutes=15), retention=timedelta(hours=1))
    assert not needs_refresh(STAMP, Clocks(T0, 100.0 + 14 * 60, "run-1"), policy)
    assert needs_refresh(STAMP, Clocks(T0, 100.0 + 15 * 60, "run-1"), policy)
    assert is_expired(STAMP, Clocks(T0, 100.0 + 3601, "run-1"), policy)


def test_the_bounds_drop_the_oldest_first() -> None:
    clocks = Clocks(T0, 1000.0, "run-1")
    entries = [
        KeptEntry(f"k{n}", CacheStamp(T0, T0, "run-1", 1000.0 - n * 10), 100) for n in range(5)
    ]
    assert over_bounds(entries, clocks, OfflinePolicy(max_charts=3)) == ["k3", "k4"]
    assert over_bounds(entries, clocks, OfflinePolicy(max_bytes=250)) == ["k2", "k3", "k4"]
    assert over_bounds(entries, clocks, OfflinePolicy()) == []


def test_a_kept_chart_says_its_age_and_a_live_one_says_nothing() -> None:
    zone = timezone(timedelta(hours=1))
    kept = ChartFreshness(ChartSource.KEPT, T0)
    assert kept.banner_words(zone, today=T0) == "chart as of 09:12, offline"
    assert kept.banner_words(zone, today=T0 + timedelta(days=1)) == (
        "chart as of 2026-12-07 09:12, offline"
    )
    assert ChartFreshness(ChartSource.LIVE, T0).banner_words(zone) == ""


def test_the_approval_dialog_marks_an_offline_amendment() -> None:
    zone = UTC
    kept = ChartBasis(ChartSource.KEPT, T0)
    note = offline_approval_words(kept, amends=False, zone=zone)
    assert "offline" in note and "08:12" in note and "compare" not in note
    assert "if the visit's chart changed in the EHR meanwhile, nothing is written" in note
    assert "compare" in offline_approval_words(kept, amends=True, zone=zone)
    assert offline_approval_words(ChartBasis(ChartSource.LIVE, T0), amends=True) == ""
