"""Starting the app while the EHR cannot be reached: the local unlock's rules. Pure.

Who may work offline: the clinician whose session is kept on this workstation (the OS account
that runs the app owns the keyring holding it), who signed in online here within the site's
window (default 12 h), and who types the app PIN they set while online. Windows Hello is not
implemented.

    unlock_refusal(identity, pin_ok, now, window) -> UnlockRefusal | None

The window counts from the last online sign-in (or session renewal) on this workstation; a
sign-in time in the future (the clock was set back) is not trusted: the unlock is refused and
an online sign-in is needed. Five wrong PINs in a row end offline unlocking until the next
online sign-in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

PIN_DIGITS = (6, 12)
MAX_WRONG_PINS = 5
CLOCK_SLACK = timedelta(minutes=5)


def pin_problem(pin: str) -> str | None:
    """Why ``pin`` cannot be the offline PIN (None: it can)."""
    low, high = PIN_DIGITS
    if not pin.isascii() or not pin.isdigit() or not low <= len(pin) <= high:
        return f"The offline PIN must be {low} to {high} digits."
    if len(set(pin)) == 1 or pin in "01234567890123" or pin in "98765432109876":
        return "The offline PIN must not be one repeated digit or a run like 123456."
    return None


@dataclass(frozen=True)
class OfflineIdentity:
    """Who signed in online on this workstation, as kept for an offline start (no secrets)."""

    user_key: str
    fhir_user: str | None  # absolute fhirUser URL
    display_name: str | None
    signed_in_at: datetime  # UTC: the last online sign-in or renewal here
    wrong_pins: int = 0


class UnlockRefusal(Enum):
    NOT_SET_UP = (
        "Working offline is not set up on this computer for you: sign in while the EHR can be "
        "reached and set an offline PIN (Tools ▸ Offline PIN)."
    )
    WINDOW_PASSED = (
        "Your last sign-in on this computer was too long ago to work offline. Sign in when the "
        "EHR can be reached."
    )
    CLOCK_UNTRUSTED = (
        "This computer's clock is earlier than your last sign-in, so the time since cannot be "
        "trusted. Sign in when the EHR can be reached, or ask IT to check the clock."
    )
    TOO_MANY_TRIES = (
        "Too many wrong PINs: working offline is locked until you sign in with the EHR again."
    )
    WRONG_PIN = "That PIN is not right. Try again."

    @property
    def words(self) -> str:
        return str(self.value)


def unlock_refusal(
    identity: OfflineIdentity | None, pin_ok: bool, now: datetime, window: timedelta
) -> UnlockRefusal | None:
    if identity is None:
        return UnlockRefusal.NOT_SET_UP
    if identity.wrong_pins >= MAX_WRONG_PINS:
        return UnlockRefusal.TOO_MANY_TRIES
    since = now - identity.signed_in_at
    if since < -CLOCK_SLACK:
        return UnlockRefusal.CLOCK_UNTRUSTED
    if since > window:
        return UnlockRefusal.WINDOW_PASSED
    return None if pin_ok else UnlockRefusal.WRONG_PIN
