"""When a session cannot be renewed (the EHR issued no refresh token), say when it ends and ask
for a new sign-in shortly before — never while the outbox is in the middle of sending.

:class:`SessionEndNotice` is a view-model: :meth:`check` decides (testable without widgets or
timers), a QTimer calls it, and the window only renders ``notice`` and reacts to
``sign_in_due`` (the site flow locks the window with a sign-in prompt).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from PySide6.QtCore import QObject, QTimer, Signal

from app.services.session import SessionKeeping, SessionService, ends_words

CHECK_EVERY_MS = 15_000


def sign_in_soon_reason(ends: str) -> str:
    return (
        f"Your EHR session ends at {ends} and this EHR cannot renew it. Sign in again now so "
        "sending is not interrupted; notes in the outbox wait for you and nothing is lost."
    )


class SessionEndNotice(QObject):
    notice = Signal(str)  # the user line: who is signed in, and until when
    sign_in_due = Signal(str)  # the reason to show with the sign-in prompt

    def __init__(
        self,
        session: SessionService,
        sending_now: Callable[[], bool],
        clock: Callable[[], datetime],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._session = session
        self._sending_now = sending_now
        self._clock = clock
        self._asked_for: datetime | None = None  # the end already asked about (once each)
        self._timer = QTimer(self)
        self._timer.setInterval(CHECK_EVERY_MS)
        self._timer.timeout.connect(self.check)

    def start(self) -> None:
        self.check()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def check(self) -> None:
        """Render the notice; ask for a sign-in when the end is near and no send is running
        (a pass in progress finishes first: the next check, or the end of the pass, asks)."""
        lifetime = self._session.lifetime
        if lifetime is None or lifetime.keeping is not SessionKeeping.ENDS:
            return
        now = self._clock()
        name = self._session.user_name
        if lifetime.ends_at is None:
            self.notice.emit(f"Signed in as {name} — this EHR cannot renew the session")
            return
        ends = ends_words(lifetime.ends_at, now)
        self.notice.emit(f"Signed in as {name} — session ends at {ends}")
        if (
            lifetime.sign_in_due(now)
            and self._asked_for != lifetime.ends_at
            and not self._sending_now()
        ):
            self._asked_for = lifetime.ends_at
            self.sign_in_due.emit(sign_in_soon_reason(ends))
