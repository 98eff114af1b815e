"""Charts kept for offline use: sealed like the other PHI (nothing of the chart in the clear in
the file or its WAL), read back whole, bounded by age, count and bytes, purged at sign-out; a
damaged entry is dropped (never shown half); a clock that jumps neither keeps stale charts
forever nor purges fresh ones within a run."""

from __future__ import annotations

import sqlite3
import zlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.domain.context import EncounterContext
from app.domain.offline import DEFAULT_OFFLINE_POLICY, CacheStamp, Clocks, OfflinePolicy
from app.store.chart_cache import ChartCache, chart_key
from app.store.crypto import StoreKeyring
from app.store.errors import KeepingEnded
from app.store.protected import open_protected_store
from app.store.store import Store, open_store
from tests.domain.conftest import make_context
from tests.store.protected_support import MARKER, PATIENT_NAME, file_keyring, files_containing

T0 = datetime(2026, 12, 7, 8, 12, tzinfo=UTC)


class FakeClocks:
    """The wall clock, the monotonic clock and the run id, each moved by the test."""

    def __init__(self) -> None:
        self.now = T0
        self.monotonic = 1000.0
        self.run_id = "run-1"

    def __call__(self) -> Clocks:
        return Clocks(self.now, self.monotonic, self.run_id)

    def elapse(self, delta: timedelta) -> None:
        self.now += delta
        self.monotonic += delta.total_seconds()

    def restart(self) -> None:
        self.run_id += "'"
        self.monotonic = 5.0  # a new boot: monotonic clocks start again


def chart(patient: str = "pat-1", encounter: str = "enc-1") -> EncounterContext:
    base = make_context()
    return replace(
        base,
        patient=replace(base.patient, id=patient, name=PATIENT_NAME, mrn=f"MRN-{MARKER}"),
        encounter=replace(base.encounter, id=encounter),
    )


@pytest.fixture
def clocks() -> FakeClocks:
    return FakeClocks()


@pytest.fixture
def cache(tmp_path: Path, clocks: FakeClocks) -> Iterator[ChartCache]:
    store = open_store(tmp_path / "store.db")
    yield ChartCache(store.db, clocks=clocks)
    store.close()


def keep(
    cache: ChartCache, context: EncounterContext, policy: OfflinePolicy = DEFAULT_OFFLINE_POLICY
) -> CacheStamp:
    return cache.save(context, policy, session=cache.open_session())


def raw_body(db_path: Path, key: str) -> bytes:
    with sqlite3.connect(db_path) as conn:
        (body,) = conn.execute("SELECT body FROM chart_cache WHERE key = ?", (key,)).fetchone()
    return bytes(body)


def test_a_kept_chart_is_sealed_and_read_back_whole(tmp_path: Path) -> None:
    keys = StoreKeyring(file_keyring(tmp_path / "keyring"))
    folder = tmp_path / "site"
    folder.mkdir()
    protected = open_protected_store(folder / "store.db", keys)
    try:
        keep(protected.store.charts, chart())
        assert files_containing(folder, MARKER) == []
        back = protected.store.charts.load("pat-1", "enc-1")
    finally:
        protected.store.close()
    assert back is not None and back.context == chart()
    with pytest.raises(zlib.error):  # what is on disk is not even the compressed chart
        zlib.decompress(raw_body(folder / "store.db", chart_key("pat-1", "enc-1")))


def test_the_scan_would_find_a_plain_copy(tmp_path: Path) -> None:
    """The control: without the protector the chart is on disk (compressed) as it is."""
    store = open_store(tmp_path / "store.db")
    try:
        keep(store.charts, chart())
    finally:
        store.close()
    body = raw_body(tmp_path / "store.db", chart_key("pat-1", "enc-1"))
    assert MARKER.encode() in zlib.decompress(body)


def test_retention_drops_old_charts(cache: ChartCache, clocks: FakeClocks) -> None:
    policy = OfflinePolicy(retention=timedelta(hours=72))
    keep(cache, chart(), policy)
    clocks.elapse(timedelta(hours=71))
    assert cache.load("pat-1", "enc-1", policy) is not None
    clocks.elapse(timedelta(hours=2))
    assert cache.load("pat-1", "enc-1", policy) is None
    assert cache.stamps() == {}  # dropped, not just hidden


def test_bounds_drop_the_oldest_first(cache: ChartCache, clocks: FakeClocks) -> None:
    policy = OfflinePolicy(max_charts=2)
    for n in range(3):
        keep(cache, chart(encounter=f"enc-{n}"), policy)
        clocks.elapse(timedelta(minutes=1))
    assert sorted(cache.stamps()) == [("pat-1", "enc-1"), ("pat-1", "enc-2")]
    count, size = cache.usage()
    assert count == 2
    tight = OfflinePolicy(max_bytes=size // 2 + 1)
    assert cache.enforce(tight) == 1
    assert list(cache.stamps()) == [("pat-1", "enc-2")]


def test_purge_all_empties_the_cache(cache: ChartCache) -> None:
    keep(cache, chart())
    cache.save_capability({"resourceType": "CapabilityStatement"}, session=cache.open_session())
    assert cache.purge_all() == 2
    assert cache.load("pat-1", "enc-1") is None and cache.load_capability() is None


def test_a_save_of_a_session_that_ended_is_refused(cache: ChartCache) -> None:
    """Sign-out's purge ends the session: a chart read before it and saved after it is not
    kept (the check runs inside the save's own write transaction); the next sign-in's session
    keeps charts again, and an old session never comes back."""
    before = cache.open_session()
    cache.save(chart(encounter="enc-1"), session=before)
    cache.purge_all()
    with pytest.raises(KeepingEnded):
        cache.save(chart(encounter="enc-2"), session=before)
    with pytest.raises(KeepingEnded):
        cache.save_capability({"resourceType": "CapabilityStatement"}, session=before)
    assert cache.stamps() == {} and cache.load_capability() is None
    after = cache.open_session()
    assert after != before
    cache.save(chart(encounter="enc-3"), session=after)
    with pytest.raises(KeepingEnded):
        cache.save(chart(encounter="enc-2"), session=before)
    assert list(cache.stamps()) == [("pat-1", "enc-3")]


def test_a_damaged_entry_is_dropped_never_shown_half(tmp_path: Path, clocks: FakeClocks) -> None:
    keys = StoreKeyring(file_keyring(tmp_path / "keyring"))
    protected = open_protected_store(tmp_path / "store.db", keys)
    store: Store = protected.store
    cache = ChartCache(store.db, clocks=clocks)
    try:
        keep(cache, chart())
        body = bytearray(raw_body(tmp_path / "store.db", chart_key("pat-1", "enc-1")))
        body[-5] ^= 0x01  # one bit flipped on disk
        with store.db.write() as conn:
            conn.exec_driver_sql(
                "UPDATE chart_cache SET body = ? WHERE key = ?",
                (bytes(body), chart_key("pat-1", "enc-1")),
            )
        assert cache.load("pat-1", "enc-1") is None
        assert cache.dropped_damaged == 1 and cache.stamps() == {}
    finally:
        store.close()


def test_an_entry_that_opens_but_does_not_parse_is_dropped(
    cache: ChartCache, tmp_path: Path
) -> None:
    keep(cache, chart())
    half = zlib.compress(b'{"format":1,"chart":{"patient":{"id":"pat-1"')
    with sqlite3.connect(tmp_path / "store.db") as conn:
        conn.execute("UPDATE chart_cache SET body = ?", (half,))
    assert cache.load("pat-1", "enc-1") is None
    assert cache.dropped_damaged == 1 and cache.stamps() == {}


def test_a_wall_clock_jump_within_a_run_changes_nothing(
    cache: ChartCache, clocks: FakeClocks
) -> None:
    keep(cache, chart())
    clocks.now += timedelta(days=10)  # set forward by hand: the monotonic clock did not move
    assert cache.load("pat-1", "enc-1") is not None
    clocks.now -= timedelta(days=20)  # and back
    assert cache.load("pat-1", "enc-1") is not None
    clocks.monotonic += timedelta(hours=73).total_seconds()  # real time passed: expired
    assert cache.load("pat-1", "enc-1") is None


def test_a_clock_set_back_between_runs_does_not_keep_a_chart_forever(
    cache: ChartCache, clocks: FakeClocks
) -> None:
    kept = keep(cache, chart())
    clocks.restart()
    clocks.now -= timedelta(days=30)  # the next run starts with the clock a month back
    back = cache.load("pat-1", "enc-1")
    assert back is not None and back.stamp.fetched_at == kept.fetched_at  # shown as it was
    clocks.restart()
    clocks.now += timedelta(hours=73)  # counted from the re-anchoring, not from the fetch
    assert cache.load("pat-1", "enc-1") is None


def test_a_time_zone_change_changes_nothing(cache: ChartCache, clocks: FakeClocks) -> None:
    keep(cache, chart())
    clocks.restart()
    clocks.now = clocks.now.astimezone(datetime.now().astimezone().tzinfo)  # same instant
    back = cache.load("pat-1", "enc-1")
    assert back is not None and back.stamp.fetched_at == T0
