"""Moves the window between pages: sign in -> choose patient/encounter -> work on the note.

Holds no business state of its own: it reacts to view-model signals and starts tracked tasks.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from app.domain.site import Site
from app.services.session_states import SessionState
from app.ui.main_window import NO_SITE_CHOSEN, MainWindow
from app.ui.signin_model import SignInViewModel
from app.ui.signin_view import SignInView
from app.ui.tasks import TaskTracker

if TYPE_CHECKING:  # the session's machinery loads after the sign-in window has painted
    from app.services.session import SessionService

log = logging.getLogger(__name__)


class AppController(QObject):
    session_started = Signal(object)  # SessionService: signed in; the site's pages follow

    def __init__(
        self,
        window: MainWindow,
        signin_model: SignInViewModel,
        tasks: TaskTracker,
    ) -> None:
        super().__init__(window)
        self.window = window
        self.tasks = tasks
        self.signin_model = signin_model
        self.signin_view = SignInView(signin_model)
        self.session: SessionService | None = None
        self.signin_view.sign_in_requested.connect(self.request_sign_in)
        self.signin_view.work_offline_requested.connect(self.request_work_offline)
        self.signin_view.site_list.currentItemChanged.connect(lambda *_: self._show_chosen_site())
        signin_model.signed_in.connect(self._on_signed_in)

    def start(self, restore_site: Site | None = None) -> None:
        self.window.show_page(self.signin_view)
        self.signin_view.site_list.setFocus()  # Enter signs in to the chosen EHR
        self._show_chosen_site()
        self.show_waiting()
        if restore_site is not None:
            self.resume(restore_site)

    def resume(self, site: Site) -> None:
        """Sign in again with the session kept for ``site`` (no browser when it is still good)."""
        if not self.tasks.is_running("sign-in"):  # the clinician has asked already: theirs goes
            self.tasks.start("resume", self.signin_model.restore(site))

    def show_waiting(self) -> None:
        """List on the sign-in page the notes the chosen site's store holds unsent (again once
        the store has opened: at start-up it opens after the page is shown)."""
        self.signin_model.show_waiting(self.signin_view.selected_site())

    def request_sign_in(self, site: Site) -> None:
        self.window.set_site(str(site))
        self.tasks.start("sign-in", self._sign_in_once_resumed(site))

    async def _sign_in_once_resumed(self, site: Site) -> None:
        """Enter pressed while the kept session is still being looked for (right after start)
        is not lost: the browser opens once that look has found nothing to continue."""
        await self.tasks.finished("resume")
        if self.session is None:
            await self.signin_model.sign_in(site)

    def request_work_offline(self, site: Site, pin: str) -> None:
        self.window.set_site(str(site))
        self.tasks.start("sign-in", self.signin_model.work_offline(site, pin))

    def _on_signed_in(self, session: SessionService) -> None:
        self.session = session
        self.window.bring_to_front()  # the browser had the screen during the sign-in
        self.window.set_site(str(session.site))
        if session.working_offline:
            self.window.set_user(
                f"{session.user_name} — working offline (unlocked on this computer)"
            )
        else:
            self.window.set_user(f"Signed in as {session.user_name}")
        session.subscribe(on_state=self._on_session_state)
        self.session_started.emit(session)

    def _on_session_state(self, state: SessionState) -> None:
        if state is SessionState.SIGN_IN_REQUIRED:
            self.window.set_user(
                "Session ended — sign in again (queued notes wait, nothing is lost)"
            )
        elif state is SessionState.SIGNED_OUT:
            self.window.set_user("Not signed in")
        elif state is SessionState.SIGNED_IN and self.session is not None:
            self.window.set_user(f"Signed in as {self.session.user_name}")  # renewed after offline

    async def sign_out(self) -> None:
        if self.session is not None:
            await self.session.sign_out()
            self.session = None
        self.window.show_page(self.signin_view)
        self._show_chosen_site()
        self.show_waiting()

    def _show_chosen_site(self) -> None:
        """On the sign-in page the status bar names the EHR chosen in the list (the one Enter
        signs in to), not "No EHR selected" while one is highlighted."""
        if self.session is not None:
            return  # signed in: the bar names the session's site
        site = self.signin_view.selected_site()
        self.window.set_site(str(site) if site is not None else NO_SITE_CHOSEN)
