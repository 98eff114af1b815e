"""What the sign-in page knows of a session without the session itself: its states, a sign-in's
steps, and whether a sign-in failed because the EHR was out of reach. Apart from
app.services.session, so the sign-in window paints before the session's machinery (HTTP,
identity, keyring) loads (docs/performance.md, "Start-up")."""

from __future__ import annotations

from app.services.errors import ServiceError
from app.smart.errors import NetworkError
from app.smart.session_states import SessionState as SessionState
from app.smart.session_states import SignInProgress as SignInProgress
from app.smart.session_states import SignInStep as SignInStep


def ehr_unreachable(exc: ServiceError) -> bool:
    """Did a sign-in fail because the EHR could not be reached (not a refusal)?"""
    return isinstance(exc.__cause__, NetworkError)
