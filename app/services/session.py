"""``SessionService``: one site's sign-in, as the UI uses it.

A thin facade over ``app.smart.session.SmartSession``: sign in, continue the last session,
cancel, sign out, listen to state and progress, and who is signed in — as domain values
(``Reference``) and plain words. Errors arrive as ``ServiceError`` (``SignInCancelled`` when the
clinician closed the sign-in). The audit log's "who" comes from :meth:`actor`, so nothing
writes the signed-in user back into a shared object.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import httpx

from app.domain.clinical import Reference
from app.domain.clock import Clock, utc_now
from app.domain.offline_unlock import OfflineIdentity, UnlockRefusal
from app.domain.site import Site
from app.services.errors import ServiceError, user_errors
from app.services.session_states import SessionState as SessionState
from app.services.session_states import SignInProgress as SignInProgress
from app.services.session_states import SignInStep as SignInStep
from app.services.session_states import ehr_unreachable as ehr_unreachable
from app.smart.errors import KeyringError
from app.smart.identity import SignedInUser, resolve_fhir_user
from app.smart.lifetime import SessionKeeping as SessionKeeping
from app.smart.lifetime import SessionLifetime as SessionLifetime
from app.smart.lifetime import ends_words as ends_words
from app.smart.offline_unlock import OfflineUnlockStore

if TYPE_CHECKING:
    from app.smart.session import SmartSession

__all__ = [
    "SessionKeeping",
    "SessionLifetime",
    "SessionService",
    "SessionState",
    "SignInProgress",
    "SignInStep",
    "ehr_unreachable",
    "ends_words",
]

StateListener = Callable[[SessionState], None]
ProgressListener = Callable[[SignInProgress], None]

UNKNOWN_USER = "unknown user"
log = logging.getLogger(__name__)


class SessionService:
    def __init__(
        self,
        session: SmartSession,
        unlock: OfflineUnlockStore | None = None,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self._smart = session
        self._unlock = unlock  # the offline start (None: not offered)
        self._clock = clock
        self.site: Site = session.site

    # ------------------------------------------------------------------ signing in and out
    async def sign_in(self) -> str | None:
        """Interactive sign-in through the browser. Returns the signed-in user's key (stable
        per person, to tell "the same clinician" at the lock page). ServiceError on failure."""
        with user_errors("Sign-in failed. Please try again."):
            user = await self._smart.sign_in()
        await self._signed_in_online()
        return user.key if user is not None else None

    async def has_kept_session(self) -> bool:
        """Whether there is a session to continue (a first launch has none)."""
        return await self._smart.has_kept_session()

    async def restore(self) -> bool:
        """Continue the session kept in the keyring (start-up). True when signed in."""
        with user_errors("The last session could not be continued. Please sign in."):
            restored = await self._smart.restore()
        if restored:
            await self._signed_in_online()
        return restored

    async def renew_if_due(self) -> bool:
        """Renew the access token if it has expired or is about to (never a browser: a
        refused refresh makes the state SIGN_IN_REQUIRED, the lock's prompt). True when
        renewed; ServiceError when it could not be."""
        with user_errors("The session could not be renewed."):
            return await self._smart.renew_if_due()

    def cancel_sign_in(self) -> None:
        self._smart.cancel_sign_in()

    async def sign_out(self) -> None:
        await self._smart.sign_out()
        if self._unlock is not None:
            with contextlib.suppress(KeyringError):
                await asyncio.to_thread(self._unlock.forget)

    # ------------------------------------------------------------------ working offline
    @property
    def working_offline(self) -> bool:
        """Unlocked locally while the EHR could not be reached: nothing is sent until the
        session is renewed (``restore``)."""
        return self._smart.state is SessionState.WORKING_OFFLINE

    async def can_work_offline(self) -> bool:
        """Whether an offline start is set up here (a PIN set; the window and PIN are checked
        by ``work_offline``)."""
        if self._unlock is None or not await self.has_kept_session():
            return False  # nothing to renew once the EHR is back: sign in then
        try:
            return await asyncio.to_thread(self._unlock.load) is not None
        except KeyringError:
            return False

    async def work_offline(self, pin: str) -> None:
        """Unlock locally with the app PIN (OS account: the keyring is this account's).
        ServiceError with the words of the refusal."""
        if self._unlock is None:
            raise ServiceError(UnlockRefusal.NOT_SET_UP.words)
        window = self.site.offline.unlock_window
        with user_errors(UnlockRefusal.NOT_SET_UP.words):
            who = await asyncio.to_thread(self._unlock.unlock, pin, self._clock(), window)
        ref = resolve_fhir_user(who.fhir_user, self.site.fhir_base) if who.fhir_user else None
        self._smart.work_offline(SignedInUser(who.user_key, ref, who.display_name or ""))

    async def check_offline_pin(self, pin: str) -> None:
        """While working offline, the idle lock is lifted with the same PIN (and window).
        ServiceError with the words of the refusal."""
        if self._unlock is None or not self.working_offline:
            raise ServiceError(UnlockRefusal.NOT_SET_UP.words)
        window = self.site.offline.unlock_window
        with user_errors(UnlockRefusal.NOT_SET_UP.words):
            who = await asyncio.to_thread(self._unlock.unlock, pin, self._clock(), window)
        if who.user_key != self.user_key:
            raise ServiceError(UnlockRefusal.NOT_SET_UP.words)

    async def set_offline_pin(self, pin: str) -> None:
        """Set (or change) the app PIN for an offline start; only while signed in online."""
        user = self._smart.user
        if self._unlock is None or user is None or self.working_offline:
            raise ServiceError("An offline PIN can be set only while signed in with the EHR.")
        identity = OfflineIdentity(
            user.key,
            user.fhir_user.url if user.fhir_user else None,
            user.display_name,
            self._clock(),
        )
        with user_errors("The offline PIN could not be kept in this computer's keyring."):
            await asyncio.to_thread(self._unlock.enrol, identity, pin)

    async def _signed_in_online(self) -> None:
        user = self._smart.user
        if self._unlock is not None and user is not None:
            try:
                await asyncio.to_thread(self._unlock.touch, user.key, self._clock())
            except KeyringError:
                log.warning("offline unlock: the keyring could not be updated")

    async def aclose(self) -> None:
        await self._smart.aclose()

    def subscribe(
        self, on_state: StateListener | None = None, on_progress: ProgressListener | None = None
    ) -> Callable[[], None]:
        """Listen to state changes and sign-in progress; returns the unsubscribe function."""
        return self._smart.subscribe(on_state=on_state, on_progress=on_progress)

    @property
    def wait_until_signed_in(self) -> Callable[[], Awaitable[None]]:
        return self._smart.wait_until_signed_in

    @property
    def auth(self) -> httpx.Auth:
        """The session's SMART auth flow, for a FHIR client of its own (bootstrap, tests)."""
        return self._smart.auth

    # ------------------------------------------------------------------ who and what
    @property
    def state(self) -> SessionState:
        return self._smart.state

    @property
    def lifetime(self) -> SessionLifetime | None:
        """How long this session lasts (kept, renewable, or ending at a time)."""
        return self._smart.lifetime

    @property
    def user_key(self) -> str | None:
        user = self._smart.user
        return user.key if user is not None else None

    @property
    def user_name(self) -> str:
        user = self._smart.user
        return user.display_name if user is not None else UNKNOWN_USER

    @property
    def approver(self) -> Reference:
        """The signed-in user as the approver: their fhirUser with their name."""
        user = self._smart.user
        if user is None or user.fhir_user is None:
            return Reference("Unknown", "unknown", UNKNOWN_USER)
        return Reference(user.fhir_user.resource_type, user.fhir_user.id, user.display_name)

    @property
    def user_label(self) -> str:
        """Who acts, for the store's record of a retry or discard."""
        approver = self.approver
        return approver.display or approver.relative

    def actor(self) -> str | None:
        """The fhirUser of whoever is signed in now, for the audit log (None: nobody)."""
        return None if self._smart.user is None else self.approver.relative

    @property
    def launch_patient_id(self) -> str | None:
        return self._smart.context.patient_id

    @property
    def launch_encounter_id(self) -> str | None:
        return self._smart.context.encounter_id

    @property
    def grant_messages(self) -> list[str]:
        """What the EHR did not grant and which features that turns off, in plain words."""
        report = self._smart.scope_report
        return list(report.messages) if report is not None else []

    @property
    def granted_scopes(self) -> tuple[str, ...] | None:
        report = self._smart.scope_report
        return report.granted if report is not None else None

    @property
    def warnings(self) -> list[str]:
        """Non-fatal problems of the sign-in (keyring unavailable, ...), then missing grants."""
        return [*self._smart.warnings, *self.grant_messages]
