"""The EHR's reachability and the probe schedule (app.domain.reachability)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.reachability import (
    DEFAULT_PROBE_POLICY,
    Connectivity,
    ProbePolicy,
    Reachability,
    became_reachable,
    check_requested,
    contact_failed,
    contact_succeeded,
    next_probe_at,
)
from app.domain.retry import seeded_rng

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
POLICY = DEFAULT_PROBE_POLICY


def s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def test_connecting_lasts_one_probe_the_first_is_due_at_once() -> None:
    start = Reachability()
    assert start.connectivity is Connectivity.UNKNOWN
    assert next_probe_at(start, has_work=False, now=T0, policy=POLICY) == T0
    assert next_probe_at(start, has_work=True, now=T0, policy=POLICY) == T0


def test_online_only_after_an_answer() -> None:
    state = contact_succeeded(Reachability(), T0)
    assert state.connectivity is Connectivity.ONLINE
    assert state.last_contact_at == T0
    failed = contact_failed(Reachability(), T0, seeded_rng(1), POLICY)
    assert failed.connectivity is Connectivity.OFFLINE
    assert failed.last_contact_at is None


def test_online_and_idle_no_probe_online_and_queued_one_per_interval() -> None:
    state = contact_succeeded(Reachability(), T0)
    assert next_probe_at(state, has_work=False, now=T0 + s(3600), policy=POLICY) is None
    assert next_probe_at(state, has_work=True, now=T0 + s(1), policy=POLICY) == T0 + s(10)


def test_a_send_in_between_moves_the_probe_later() -> None:
    state = contact_succeeded(contact_succeeded(Reachability(), T0), T0 + s(7))
    assert next_probe_at(state, has_work=True, now=T0 + s(8), policy=POLICY) == T0 + s(17)


def test_offline_backs_off_from_ten_seconds_to_a_minute() -> None:
    rng = seeded_rng(3)
    state = Reachability()
    delays = []
    now = T0
    for _ in range(8):
        state = contact_failed(state, now, rng, POLICY)
        due = next_probe_at(state, has_work=True, now=now, policy=POLICY)
        assert due is not None
        delays.append((due - now).total_seconds())
        now = due
    assert delays[0] == 10
    assert all(10 <= d <= 60 for d in delays)
    assert state.offline_since == T0  # the first failure, not the last
    assert state.failures == 8


def test_offline_and_idle_still_looks_again_so_online_can_come_back() -> None:
    state = contact_failed(Reachability(), T0, seeded_rng(1), POLICY)
    assert next_probe_at(state, has_work=False, now=T0, policy=POLICY) == T0 + s(10)


def test_a_network_change_asks_for_a_probe_now() -> None:
    state = check_requested(contact_succeeded(Reachability(), T0))
    assert next_probe_at(state, has_work=False, now=T0 + s(1), policy=POLICY) == T0 + s(1)
    assert not contact_succeeded(state, T0 + s(2)).check_requested
    assert not contact_failed(state, T0 + s(2), seeded_rng(1), POLICY).check_requested


def test_an_answer_after_failures_resets_the_backoff() -> None:
    rng = seeded_rng(2)
    state = contact_failed(contact_failed(Reachability(), T0, rng, POLICY), T0 + s(10), rng, POLICY)
    back = contact_succeeded(state, T0 + s(30))
    assert became_reachable(state, back)
    assert back.failures == 0 and back.offline_since is None
    assert not became_reachable(back, contact_succeeded(back, T0 + s(31)))
    again = contact_failed(back, T0 + s(40), rng, POLICY)
    assert next_probe_at(again, has_work=True, now=T0 + s(40), policy=POLICY) == T0 + s(50)


def test_policy_refuses_a_timeout_as_long_as_the_interval() -> None:
    with pytest.raises(ValueError):
        ProbePolicy(interval=s(3), timeout=s(3))


@given(
    events=st.lists(
        st.tuples(st.sampled_from(["ok", "fail", "check"]), st.floats(0, 120)), max_size=40
    ),
    has_work=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_probes_are_never_more_often_than_one_per_ten_seconds_unless_asked(
    events: list[tuple[str, float]], has_work: bool, seed: int
) -> None:
    """Whatever happened, the next scheduled probe (when nobody asked for a check) is at least
    ten seconds after the last contact or failure: the traffic target (≤ 1 per 10 s)."""
    rng = seeded_rng(seed)
    state = Reachability()
    now = T0
    for kind, gap in events:
        now += s(gap)
        if kind == "ok":
            state = contact_succeeded(state, now)
        elif kind == "fail":
            state = contact_failed(state, now, rng, POLICY)
        else:
            state = check_requested(state)
    due = next_probe_at(state, has_work=has_work, now=now, policy=POLICY)
    if state.check_requested or state.connectivity is Connectivity.UNKNOWN:
        assert due == now
        return
    last = (
        state.last_failure_at
        if state.connectivity is Connectivity.OFFLINE
        else state.last_contact_at
    )
    assert last is not None
    if due is None:
        assert state.online and not has_work
    else:
        assert due - last >= s(10)
