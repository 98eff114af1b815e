"""The embedded sandbox EHR as the app runs it: its address is known before the sign-in window
paints, the server itself starts once it has (docs/performance.md, "Start-up, third pass").

    reserve_sandbox(paths) -> EmbeddedSandbox   a loopback port bound and listening (standard
                                                library only: the site list needs the address);
                                                SandboxUnavailable, in words, when the computer
                                                refuses one (the app cannot offer the sandbox)
    EmbeddedSandbox.begin()                     the server on that very socket, in a thread
                                                (Flask, Authlib, its RSA key; the seed on the
                                                first start, a few seconds)
    await EmbeddedSandbox.ready()               what talks to it waits here — a sign-in or the
                                                kept session's resume started before it is up;
                                                NetworkError with words when it cannot start

The socket bound at start-up is the one the server accepts on (waitress's ``sockets``
setting): the port is never released and bound again, so nothing else can take it in between,
and a connection made before the server runs waits in the socket's backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import errno
import logging
import socket
import threading
from concurrent.futures import Future, wait
from typing import TYPE_CHECKING

from app.paths import AppPaths
from app.smart.errors import NetworkError

if TYPE_CHECKING:  # Flask and the sandbox's auth and FHIR code load in begin()'s thread
    from app.sandbox.server import SandboxServer

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
# The first start seeds the sandbox's database (2-3 s here): a sign-in waits this long for it
# before it says so; the start itself carries on, and the next try finds it up.
READY_TIMEOUT_S = 120.0
# Closing the app while the sandbox still starts: its start is let finish (its database stays
# whole), at most this long.
CLOSE_TIMEOUT_S = 60.0
STILL_STARTING = (
    "The sandbox EHR is still starting (its first start fills it with sample patients). "
    "Please try again in a minute."
)


def could_not_start(exc: BaseException) -> str:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
    return (
        f"The sandbox EHR could not start ({reason}), so there is nothing to sign in to. "
        "Close the app and start it again; if it happens again, send the log folder to support."
    )


def could_not_reserve(exc: OSError) -> str:
    """Words for a loopback port the computer would not give: the OS's own reason (never the
    errno or a traceback), what it means, and what to do."""
    reason = f" ({exc.strerror})" if exc.strerror else ""
    return (
        f"The sandbox EHR could not open a network port on this computer{reason}. Close "
        "other copies of FHIR Write-back and start it again; if it happens again, restart the "
        "computer or ask IT whether a security program blocks local connections."
    )


class SandboxUnavailable(Exception):
    """The embedded sandbox cannot run here: ``user_message`` says why and what to do."""

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


class SandboxPhase(enum.Enum):
    RESERVED = "reserved"  # its port is bound and listening; the server has not begun
    STARTING = "starting"  # begin(): the server starts in its thread (or has, or failed)
    CLOSED = "closed"  # closed before it began: it never will


class EmbeddedSandbox:
    """The sandbox EHR in this process, on a port reserved before the window paints. Also what
    the Sandbox menu stops and starts (app.services.workbench.SandboxControl)."""

    def __init__(self, paths: AppPaths, listening: socket.socket) -> None:
        self._db_path = paths.data_dir / "sandbox" / "sandbox.db"
        self._listening = listening
        host, port = listening.getsockname()[:2]
        self.base = f"http://{host}:{port}"
        self._started: Future[SandboxServer] = Future()
        self._lock = threading.Lock()
        self.phase = SandboxPhase.RESERVED

    @property
    def fhir_base(self) -> str:
        return f"{self.base}/fhir"  # as app.sandbox.contracts.SandboxUrls says

    def begin(self) -> None:
        """Start the server in a background thread (once; later calls do nothing)."""
        with self._lock:
            if self.phase is not SandboxPhase.RESERVED:
                return
            self.phase = SandboxPhase.STARTING
            self._started.set_running_or_notify_cancel()  # no waiter can cancel it now
        threading.Thread(target=self._start, name="sandbox-start", daemon=True).start()

    def _start(self) -> None:
        server: SandboxServer | None = None
        try:
            from app.sandbox.options import SandboxOptions
            from app.sandbox.server import SandboxServer

            server = SandboxServer(SandboxOptions(host=HOST, db_path=self._db_path))
            server.start(listening=self._listening)
        except BaseException as exc:  # said in words by ready(); the details go to the log
            log.error("the sandbox EHR could not start", exc_info=True)
            if server is not None:
                with contextlib.suppress(Exception):
                    server.close()
            self._listening.close()  # what waits in its backlog is refused, not kept waiting
            self._started.set_exception(exc)
            return
        log.info("the sandbox EHR is up")
        self._started.set_result(server)

    async def ready(self) -> None:
        """Wait until the sandbox answers (starting it if nothing has yet). NetworkError, in
        words, when it could not start or still starts after READY_TIMEOUT_S."""
        self.begin()
        started = asyncio.wrap_future(self._started)
        try:
            await asyncio.wait_for(asyncio.shield(started), READY_TIMEOUT_S)
        except TimeoutError:
            raise NetworkError(STILL_STARTING) from None
        except Exception as exc:
            raise NetworkError(could_not_start(exc)) from exc

    def _server(self) -> SandboxServer | None:
        """The server once its start has ended (waiting for that); None when it failed or
        never began."""
        if self.phase is SandboxPhase.RESERVED:
            return None
        try:
            return self._started.result()
        except Exception:
            return None

    @property
    def running(self) -> bool:
        return self._started.done() and (server := self._server()) is not None and server.running

    def stop(self) -> None:
        """The Sandbox menu's outage (once its start has ended, when it was still starting)."""
        server = self._server()
        if server is not None:
            server.stop()

    def start(self) -> None:
        """The Sandbox menu's start again, on the same port: SandboxUnavailable, in words, when
        the port was taken while it was stopped."""
        server = self._server()
        if server is not None and not server.running:
            try:
                server.restart()
            except OSError as exc:
                raise _refused(exc) from exc

    def close(self) -> None:
        """Stop it and close its port (a start still running is let finish first)."""
        with self._lock:
            never_begun = self.phase is SandboxPhase.RESERVED
            if never_begun:
                self.phase = SandboxPhase.CLOSED
                self._started.set_running_or_notify_cancel()
                self._started.set_exception(ConnectionAbortedError("closed before it started"))
        if never_begun:
            self._listening.close()
            return
        ended, _ = wait([self._started], CLOSE_TIMEOUT_S)
        if not ended:
            log.error("the sandbox EHR was still starting when the app closed")
            return
        server = self._server()
        if server is not None:
            server.close()


def reserve_sandbox(paths: AppPaths) -> EmbeddedSandbox:
    """A loopback port for the sandbox, bound and listening now; the server starts on it with
    ``begin()`` (imported then: a configured EHR never loads it)."""
    try:
        listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    except OSError as exc:  # no socket at all (too many open files, a blocked socket call)
        raise _refused(exc) from exc
    try:
        # as waitress binds its own (the Sandbox menu's restart binds this port again)
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind((HOST, 0))
        listening.listen(socket.SOMAXCONN)
    except OSError as exc:  # every port taken, or bind refused by the system or a firewall
        listening.close()
        raise _refused(exc) from exc
    return EmbeddedSandbox(paths, listening)


def _refused(exc: OSError) -> SandboxUnavailable:
    # the errno's name only: no address, no path, nothing of a patient
    code = errno.errorcode.get(exc.errno or 0, "unknown")
    log.error("the sandbox EHR's loopback port could not be reserved: %s", code)
    return SandboxUnavailable(could_not_reserve(exc))
