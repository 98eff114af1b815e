"""SIGTERM and SIGINT from the app's first moment, not only once its event loop runs.

Until the event loop takes the signals over (app.ui.application), a logoff, a service manager
or Ctrl+C that ends the app while it starts — the imports, the embedded sandbox's start, the
store's migrations: many seconds on a busy computer — met the signal's default action: status
143, no shutdown, nothing said. :class:`QuitRequests` notes such a request instead; the event
loop then ends the app the ordinary way (the same shutdown, exit 0) before it opens a window.

Standard library only: installed before Qt and the rest of the app are imported.
"""

from __future__ import annotations

import contextlib
import signal
from types import FrameType

QUIT_SIGNALS = tuple(
    s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGINT", None)) if s is not None
)


class QuitRequests:
    """Whether the OS asked the app to end before the event loop could answer."""

    def __init__(self) -> None:
        self.requested = False

    @classmethod
    def noted_from_now(cls) -> QuitRequests:
        """Note quit signals from now on (a no-op where signals cannot be set: not the main
        thread)."""
        requests = cls()
        for signum in QUIT_SIGNALS:
            with contextlib.suppress(ValueError, OSError):
                signal.signal(signum, requests.note)
        return requests

    def note(self, _signum: int, _frame: FrameType | None) -> None:
        self.requested = True
