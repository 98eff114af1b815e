"""A waitress server on a thread of its own, and a stop that leaves nothing open.

waitress's own ``close()`` closes only the listening socket. The connections it accepted (a
client's keep-alive connection) stay in its socket map: its loop goes on polling them, so a
``join`` waits out the whole join timeout, and each is closed only when the garbage collector
finds it, with a ResourceWarning in whatever runs then (once a CI failure in an unrelated
test). ``stop()`` asks the loop itself, through waitress's trigger, to close the listener and
every connection (no other thread touches its socket map while it polls), waits for the loop
to end, then for the worker threads.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

from waitress import wasyncore
from waitress.server import create_server

log = logging.getLogger(__name__)

WORKERS_TIMEOUT_S = 2.0  # a request still being answered when the server stops


class WaitressThread:
    """``WaitressThread(wsgi_app, name=..., **create_server_options)``; ``start()``, ``stop()``."""

    def __init__(self, wsgi_app: Any, *, name: str, **options: Any) -> None:
        self._channels: dict[int, Any] = {}  # the listener, the trigger, every connection
        self.server: Any = create_server(wsgi_app, map=self._channels, **options)
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.effective_port)

    def start(self) -> None:
        self._thread.start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):  # a socket closed under a poll that was under way
            self.server.run()

    def _close_every_channel(self) -> None:
        wasyncore.close_all(self._channels, ignore_all=True)

    def stop(self, timeout: float = 5.0) -> None:
        """Close the listener and every accepted connection (their clients read the end at
        once), end the loop and the worker threads. Safe to call twice."""
        if self._thread.is_alive():
            try:
                self.server.trigger.pull_trigger(self._close_every_channel)
            except OSError:  # its wake-up pipe is gone (seen once under load): the loop ends
                log.warning("the server's loop could not be woken; waiting for it to end")
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("the server's loop did not end within %.0f s", timeout)
                return  # its map stays its own: closing under its poll would race it
        self._close_every_channel()  # a loop that never ran: its listener and trigger
        # waitress's close leaves its worker threads waiting for work
        self.server.task_dispatcher.shutdown(timeout=WORKERS_TIMEOUT_S)
