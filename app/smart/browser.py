"""Opening the sign-in page in the clinician's own browser (RFC 8252: no embedded web views).

``SystemBrowser`` honours the ``BROWSER`` environment variable through the standard
``webbrowser`` module, re-read at every sign-in, so support staff and tests can script it
(``BROWSER="python tests/support/browser.py %s"``). Any object with ``async open(url)`` can
be injected instead.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import webbrowser
from collections.abc import Callable, Mapping
from typing import Protocol

from app.smart.errors import BrowserError

log = logging.getLogger(__name__)


class BrowserLauncher(Protocol):
    async def open(self, url: str) -> None:
        """Show ``url`` to the clinician. Raises ``BrowserError`` when nothing could be opened."""


def _launch(url: str, environ: Mapping[str, str]) -> bool:
    choices = [c for c in environ.get("BROWSER", "").split(os.pathsep) if c.strip()]
    if not choices:
        return webbrowser.open(url, new=2)
    for choice in choices:
        try:
            if webbrowser.get(choice).open(url, new=2):
                return True
        except webbrowser.Error:
            log.info("BROWSER entry not usable: %s", choice.split()[0])
    return False


class SystemBrowser:
    """The default browser, or the one ``BROWSER`` names.

    ``webbrowser`` waits for command-line browsers to exit, so the launch runs in a daemon
    thread; a launcher still running after ``launch_wait`` seconds is taken as opened.
    """

    def __init__(
        self,
        *,
        environ: Mapping[str, str] | None = None,
        launch_wait: float = 3.0,
        launch: Callable[[str, Mapping[str, str]], bool] = _launch,
    ) -> None:
        self._environ = environ
        self._launch_wait = launch_wait
        self._launch = launch

    async def open(self, url: str) -> None:
        loop = asyncio.get_running_loop()
        result: asyncio.Future[bool] = loop.create_future()
        environ = dict(os.environ if self._environ is None else self._environ)

        def run() -> None:
            try:
                ok = self._launch(url, environ)
            except Exception as exc:  # reported, not raised, from a foreign thread
                log.warning("browser launch failed: %s", type(exc).__name__)
                ok = False

            def deliver() -> None:
                if not result.done():
                    result.set_result(ok)

            if not loop.is_closed():
                loop.call_soon_threadsafe(deliver)

        threading.Thread(target=run, name="open-browser", daemon=True).start()
        try:
            opened = await asyncio.wait_for(asyncio.shield(result), self._launch_wait)
        except TimeoutError:
            return  # still running: a browser in the foreground
        if not opened:
            raise BrowserError()
