"""A SMART session's states and a sign-in's steps, for the UI: apart from app.smart.session so
the sign-in page can show them without loading the session's machinery before it paints."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class SessionState(enum.Enum):
    SIGNED_OUT = "signed out"
    SIGNING_IN = "signing in"
    SIGNED_IN = "signed in"
    SIGN_IN_REQUIRED = "sign-in required"
    WORKING_OFFLINE = "working offline"  # unlocked locally (app.smart.offline_unlock): no tokens


class SignInStep(enum.Enum):
    """Progress of one sign-in, for the UI. The value is a sentence to show."""

    DISCOVERING = "Contacting the EHR…"
    WAITING_FOR_BROWSER = "Sign in in the browser window that opened…"
    BROWSER_NOT_OPENED = "The browser did not open: open the sign-in link yourself…"
    EXCHANGING_CODE = "Completing sign-in…"
    VERIFYING_IDENTITY = "Checking who you are…"
    DONE = "Signed in."


@dataclass(frozen=True)
class SignInProgress:
    step: SignInStep
    authorize_url: str | None = None  # while waiting for the browser: for "copy link"
