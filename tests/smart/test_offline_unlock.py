"""The offline unlock's keyring entry (a real file keyring): the PIN is never stored, only a
salted scrypt verifier; the window counts from the last online sign-in; a clock set back, five
wrong PINs, another clinician signing in, or a sign-out each end offline unlocking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.domain.offline_unlock import OfflineIdentity, UnlockRefusal, pin_problem
from app.smart.errors import SmartError
from app.smart.offline_unlock import OfflineUnlockRefused, OfflineUnlockStore
from tests.store.protected_support import file_keyring

T0 = datetime(2026, 12, 7, 7, 30, tzinfo=UTC)
WINDOW = timedelta(hours=12)
PIN = "482916"
ME = OfflineIdentity("sub-alice", "https://ehr/fhir/Practitioner/prac-1", "Dr. Alice Smith", T0)


@pytest.fixture
def store(tmp_path: Path) -> OfflineUnlockStore:
    unlock = OfflineUnlockStore("clinic", backend=file_keyring(tmp_path))
    unlock.enrol(ME, PIN)
    return unlock


def refusal(store: OfflineUnlockStore, pin: str, now: datetime) -> UnlockRefusal:
    with pytest.raises(OfflineUnlockRefused) as raised:
        store.unlock(pin, now, WINDOW)
    return raised.value.refusal


def test_the_right_pin_within_the_window_unlocks(store: OfflineUnlockStore, tmp_path: Path) -> None:
    assert store.unlock(PIN, T0 + timedelta(hours=11), WINDOW) == ME
    assert PIN not in (tmp_path / "keyring_pass.cfg").read_text()  # only its verifier is kept


def test_the_window_the_clock_and_the_tries(store: OfflineUnlockStore) -> None:
    assert refusal(store, PIN, T0 + timedelta(hours=13)) is UnlockRefusal.WINDOW_PASSED
    assert refusal(store, PIN, T0 - timedelta(hours=1)) is UnlockRefusal.CLOCK_UNTRUSTED
    for _ in range(5):
        assert refusal(store, "111999", T0) is UnlockRefusal.WRONG_PIN
    assert refusal(store, PIN, T0) is UnlockRefusal.TOO_MANY_TRIES  # even the right one now
    store.touch("sub-alice", T0 + timedelta(hours=20))  # an online sign-in: a new window
    assert store.unlock(PIN, T0 + timedelta(hours=21), WINDOW).signed_in_at == T0 + timedelta(
        hours=20
    )


def test_another_clinician_or_a_sign_out_ends_it(store: OfflineUnlockStore) -> None:
    store.touch("sub-bob", T0)
    assert refusal(store, PIN, T0) is UnlockRefusal.NOT_SET_UP
    store.enrol(ME, PIN)
    store.forget()
    assert refusal(store, PIN, T0) is UnlockRefusal.NOT_SET_UP


@pytest.mark.parametrize("pin", ["12345", "1234567890123", "12a456", "111111", "123456", "654321"])
def test_weak_or_malformed_pins_are_refused(pin: str, tmp_path: Path) -> None:
    assert pin_problem(pin) is not None
    with pytest.raises(SmartError):
        OfflineUnlockStore("clinic", backend=file_keyring(tmp_path)).enrol(ME, pin)
