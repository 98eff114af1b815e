"""How long a sign-in lasts, decided from what the EHR actually returned.

An EHR may grant ``offline_access`` and still issue no refresh token (public native clients on
Epic-like sites). Then nothing can be kept in the keyring and nothing can renew the session:
it ends when the access token does, and a new sign-in is needed. Words and decisions follow
the token response, never the scopes asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

# Ask for a new sign-in this long before a session that cannot be renewed ends.
SIGN_IN_LEAD = timedelta(minutes=5)


class SessionKeeping(Enum):
    KEPT = "kept"  # a refresh token is in the keyring: renewed, and restored at the next start
    RENEWABLE = "renewable"  # a refresh token, not kept (keyring unusable): renewed while running
    ENDS = "ends"  # no refresh token: the session ends when the access token expires


@dataclass(frozen=True)
class SessionLifetime:
    keeping: SessionKeeping
    ends_at: datetime | None  # ENDS: when the access token expires (None: the EHR did not say)

    def sign_in_due(self, now: datetime, lead: timedelta = SIGN_IN_LEAD) -> bool:
        """Whether to ask for a new sign-in now: the session ends within ``lead``."""
        return self.keeping is SessionKeeping.ENDS and (
            self.ends_at is None or now >= self.ends_at - lead
        )

    def sentence(self, now: datetime) -> str:
        """What the person signing in should know, in one or two sentences."""
        if self.keeping is SessionKeeping.KEPT:
            return (
                "The session is kept in the system keyring: the app and 'fhir-writeback "
                "outbox sync' continue it without a new sign-in."
            )
        if self.keeping is SessionKeeping.RENEWABLE:
            return "The session is not kept: you will sign in again in the app."
        if self.ends_at is None:
            return (
                "This EHR issued no refresh token, so the session cannot be kept or renewed: "
                "sign in again when it ends ('fhir-writeback outbox sync' opens the browser "
                "to do it)."
            )
        return (
            "This EHR issued no refresh token, so the session cannot be kept or renewed: it "
            f"ends at {ends_words(self.ends_at, now)}. After that, sign in again "
            "('fhir-writeback outbox sync' opens the browser to do it)."
        )


def ends_words(ends_at: datetime, now: datetime) -> str:
    """``14:05 (in about 60 minutes)``: the computer's time, like every time the app shows."""
    minutes = max(0, round((ends_at - now).total_seconds() / 60))
    span = "less than a minute" if minutes < 1 else f"about {minutes} minute{'s' * (minutes != 1)}"
    return f"{ends_at.astimezone().strftime('%H:%M')} (in {span})"
