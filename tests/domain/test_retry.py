"""Backoff with full jitter and Retry-After parsing (app.domain.retry)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.retry import DEFAULT_BACKOFF, BackoffPolicy, parse_retry_after, seeded_rng

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


class FixedRandom:
    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


def test_ceiling_grows_exponentially_then_caps() -> None:
    policy = BackoffPolicy(base=timedelta(seconds=1), factor=2, cap=timedelta(seconds=30))
    assert [policy.ceiling(n).total_seconds() for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
    assert policy.ceiling(0) == timedelta(0)
    assert policy.ceiling(10_000) == timedelta(seconds=30)  # no overflow after a day of failures


def test_full_jitter_draws_below_the_ceiling_with_a_floor() -> None:
    policy = BackoffPolicy(
        base=timedelta(seconds=4), cap=timedelta(seconds=60), floor=timedelta(seconds=1)
    )
    assert policy.delay(3, FixedRandom(0.5)) == timedelta(seconds=8)  # ceiling 16
    assert policy.delay(3, FixedRandom(0.0)) == timedelta(seconds=1)  # never a tight loop
    assert policy.delay(3, FixedRandom(0.999)) < timedelta(seconds=16)


@given(
    attempt=st.integers(min_value=1, max_value=500), seed=st.integers(min_value=0, max_value=2**32)
)
def test_delay_is_always_within_floor_and_cap(attempt: int, seed: int) -> None:
    delay = DEFAULT_BACKOFF.delay(attempt, seeded_rng(seed))
    assert DEFAULT_BACKOFF.floor <= delay <= DEFAULT_BACKOFF.cap


def test_jitter_spreads_clients_apart() -> None:
    rng = seeded_rng(7)
    delays = {DEFAULT_BACKOFF.delay(6, rng) for _ in range(50)}
    assert len(delays) > 40


def test_seeded_rng_is_deterministic() -> None:
    a = [DEFAULT_BACKOFF.delay(4, seeded_rng(3)) for _ in range(3)]
    assert a == [DEFAULT_BACKOFF.delay(4, seeded_rng(3))] * 3


def test_retry_after_replaces_backoff_and_is_clamped() -> None:
    policy = BackoffPolicy(max_retry_after=timedelta(minutes=10))
    rng = FixedRandom(0.9)
    assert policy.next_attempt_at(NOW, 1, rng, timedelta(seconds=120)) == NOW + timedelta(
        seconds=120
    )
    assert policy.next_attempt_at(NOW, 1, rng, timedelta(days=30)) == NOW + timedelta(minutes=10)
    assert policy.next_attempt_at(NOW, 1, rng, timedelta(seconds=-5)) == NOW
    assert policy.next_attempt_at(NOW, 1, rng) == NOW + policy.delay(1, rng)


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        DEFAULT_BACKOFF.next_attempt_at(datetime(2026, 1, 1), 1, FixedRandom(0.1))
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_retry_after("5", datetime(2026, 1, 1))


def test_invalid_policies_are_refused() -> None:
    with pytest.raises(ValueError):
        BackoffPolicy(base=timedelta(0))
    with pytest.raises(ValueError):
        BackoffPolicy(base=timedelta(seconds=10), cap=timedelta(seconds=5))
    with pytest.raises(ValueError):
        BackoffPolicy(factor=0.5)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", timedelta(seconds=120)),
        ("  0 ", timedelta(0)),
        ("Sun, 01 Mar 2026 12:01:30 GMT", timedelta(seconds=90)),  # IMF-fixdate
        ("Sunday, 01-Mar-26 12:00:10 GMT", timedelta(seconds=10)),  # obsolete RFC 850 form
        ("Sun Mar  1 12:00:05 2026", timedelta(seconds=5)),  # obsolete asctime form (GMT)
        ("Sun, 01 Mar 2026 11:00:00 GMT", timedelta(0)),  # in the past: go now
        ("", None),
        ("soon", None),
        ("-5", None),
        ("1.5", None),
        ("Sun, 99 Mar 2026 12:00:00 GMT", None),
        # digits to str.isdigit() but not to HTTP (issue 10 item 3: "²" raised ValueError)
        ("²", None),
        ("³", None),
        ("٣", None),
        ("１２", None),
        ("1²", None),
        ("Sun, ٠١ Mar 2026 12:01:30 GMT", None),
        ("+5", None),
        ("5 ", timedelta(seconds=5)),
    ],
)
def test_parse_retry_after(value: str, expected: timedelta | None) -> None:
    assert parse_retry_after(value, NOW) == expected


@given(st.text())
def test_parse_retry_after_never_raises(value: str) -> None:
    parsed = parse_retry_after(value, NOW)
    assert parsed is None or timedelta(0) <= parsed <= timedelta(days=366)
    if parsed is not None:
        assert value.isascii()


@given(st.lists(st.characters(categories=["Nd", "No"]), min_size=1, max_size=6))
def test_parse_retry_after_takes_only_ascii_digits(chars: list[str]) -> None:
    value = "".join(chars)
    expected = timedelta(seconds=int(value)) if value.isascii() else None
    assert parse_retry_after(value, NOW) == expected


def test_parse_retry_after_beyond_the_int_digit_limit() -> None:
    assert parse_retry_after("9" * 5000, NOW) == timedelta(days=366)
    assert parse_retry_after("0" * 5000 + "7", NOW) == timedelta(seconds=7)


def test_parse_retry_after_huge_seconds_stay_representable() -> None:
    parsed = parse_retry_after("9" * 40, NOW)
    assert parsed is not None
    assert parsed <= timedelta(days=366)
    assert (
        DEFAULT_BACKOFF.next_attempt_at(NOW, 1, FixedRandom(0.5), parsed)
        == NOW + DEFAULT_BACKOFF.max_retry_after
    )
