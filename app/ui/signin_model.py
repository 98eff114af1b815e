"""Sign-in view-model: which site, progress while the browser is open, errors in plain words.

No widgets here: the logic is plain ``async def`` methods, testable without a window. The view
subscribes to the signals and renders them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeAlias

from PySide6.QtCore import QObject, Signal

from app.domain.site import Site
from app.services.errors import ServiceError, SignInCancelled
from app.services.session_states import (
    SessionState,
    SignInProgress,
    SignInStep,
    ehr_unreachable,
)
from app.ui.waiting_words import waiting_words

log = logging.getLogger(__name__)

if TYPE_CHECKING:  # the session's machinery and the store load after the window painted
    from app.services.session import SessionService
    from app.services.waiting import WaitingNotes

SessionFactory: TypeAlias = "Callable[[Site], SessionService]"
WaitingSource: TypeAlias = "Callable[[Site], WaitingNotes | None]"


class SignInViewModel(QObject):
    busy_changed = Signal(bool)
    progress = Signal(str)  # a sentence for the clinician
    link_available = Signal(str)  # the sign-in URL, when the browser could not be opened
    error = Signal(str)  # what happened and what to do; "" clears
    warnings = Signal(list)  # non-fatal: missing grants, keyring problems
    signed_in = Signal(object)  # the SessionService
    waiting_changed = Signal(str)  # notes approved earlier and not sent yet, in words
    offline_offered = Signal(bool)  # the EHR cannot be reached and an offline start is set up

    def __init__(
        self,
        sites: Sequence[Site],
        session_factory: SessionFactory,
        parent: QObject | None = None,
        *,
        waiting: WaitingSource | None = None,
    ) -> None:
        super().__init__(parent)
        self.sites = list(sites)
        self._factory = session_factory
        self._waiting = waiting
        self._sessions: dict[str, SessionService] = {}  # the factory's, remembered to cancel
        self.session: SessionService | None = None
        self.busy = False

    def session_for(self, site: Site) -> SessionService:
        session = self._sessions.get(site.id)
        if session is None:
            session = self._factory(site)
            self._sessions[site.id] = session
        return session

    def show_waiting(self, site: Site | None) -> None:
        """List the notes approved at ``site`` that wait to be sent (readable before a
        sign-in: the store is on this computer)."""
        notes = self._waiting(site) if site is not None and self._waiting is not None else None
        self.waiting_changed.emit(waiting_words(notes))

    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.busy_changed.emit(busy)

    def _on_progress(self, p: SignInProgress) -> None:
        self.progress.emit(p.step.value)
        if p.step is SignInStep.BROWSER_NOT_OPENED and p.authorize_url:
            self.link_available.emit(p.authorize_url)

    async def sign_in(self, site: Site) -> bool:
        """Interactive sign-in. True when signed in; errors are emitted, never raised."""
        if self.busy:
            return False
        session = self.session_for(site)
        unsubscribe = session.subscribe(on_progress=self._on_progress)
        self.error.emit("")
        self._set_busy(True)
        try:
            await session.sign_in()
        except SignInCancelled:
            self.progress.emit("Sign-in cancelled.")
            return False
        except ServiceError as exc:
            log.warning("sign-in failed: %s", type(exc.__cause__).__name__)
            self.error.emit(exc.words)
            await self._offer_offline(session, exc)
            return False
        finally:
            unsubscribe()
            self._set_busy(False)
        return self._finish(session)

    async def restore(self, site: Site) -> bool:
        """Continue the stored session of this site (at start-up), quietly when there is none."""
        session = self.session_for(site)
        if not await session.has_kept_session():
            return False  # a first launch, or signed out last time: nothing to say
        self._set_busy(True)
        self.progress.emit("Continuing your last session…")
        try:
            ok = await session.restore()
        except ServiceError as exc:
            self.error.emit(exc.words)
            await self._offer_offline(session, exc)
            return False
        finally:
            self._set_busy(False)
        if not ok:
            self.progress.emit("")
            if session.state is SessionState.SIGN_IN_REQUIRED:
                self.progress.emit("Your last session has ended. Please sign in again.")
            return False
        return self._finish(session)

    async def _offer_offline(self, session: SessionService, exc: ServiceError) -> None:
        """The EHR did not answer: offer the local unlock when it is set up here."""
        self.offline_offered.emit(ehr_unreachable(exc) and await session.can_work_offline())

    async def work_offline(self, site: Site, pin: str) -> bool:
        """Unlock locally with the app PIN and work on the kept charts. True when unlocked;
        the refusal's words are emitted, never raised."""
        if self.busy:
            return False
        session = self.session_for(site)
        self.error.emit("")
        try:
            await session.work_offline(pin)
        except ServiceError as exc:
            self.error.emit(exc.words)
            return False
        self.offline_offered.emit(False)
        self.session = session
        self.progress.emit("Working offline: the EHR cannot be reached.")
        self.signed_in.emit(session)
        return True

    def _finish(self, session: SessionService) -> bool:
        self.session = session
        self.warnings.emit(session.warnings)
        self.progress.emit("Signed in.")
        self.signed_in.emit(session)
        return True

    def cancel(self) -> None:
        for session in self._sessions.values():
            session.cancel_sign_in()
