"""Receiving the authorization answer: the loopback redirect (RFC 8252 §7.3).

``RedirectReceiver`` is the strategy; ``LoopbackRedirectReceiver`` listens on 127.0.0.1 on an
ephemeral port, accepts exactly one request on the site's callback path, and keeps the
browser's connection open until the app has finished the sign-in, so the tab shows the real
outcome ("You are signed in" or what went wrong). A custom URL scheme receiver can be added
later with the installer: it only has to implement the same four methods.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import parse_qsl, urlsplit

from app.smart.errors import SignInCancelled, SignInTimedOut
from app.smart.stop_listening import stop_listening

log = logging.getLogger(__name__)

APP_NAME = "FHIR Write-back"
MAX_REQUEST_BYTES = 16 * 1024
READ_TIMEOUT = 10.0


@dataclass(frozen=True)
class ResultPage:
    """What the browser tab shows after the redirect."""

    success: bool
    title: str
    text: str

    @classmethod
    def signed_in(cls) -> ResultPage:
        return cls(True, "You are signed in", f"You are signed in; return to {APP_NAME}.")

    @classmethod
    def failed(cls, message: str) -> ResultPage:
        return cls(False, "Sign-in did not complete", f"{message} Return to {APP_NAME}.")

    def render(self) -> bytes:
        color = "#1b5e20" if self.success else "#b71c1c"
        return (
            "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(self.title)} - {APP_NAME}</title></head>"
            "<body style='font-family:sans-serif;margin:3em'>"
            f"<h1 style='color:{color}'>{html.escape(self.title)}</h1>"
            f"<p>{html.escape(self.text)}</p><p>You can close this tab.</p></body></html>"
        ).encode()


@dataclass
class RedirectCallback:
    """One received redirect: its query parameters, and the way to answer the browser."""

    params: Mapping[str, str]
    _answer: asyncio.Future[ResultPage] = field(repr=False)

    def finish(self, page: ResultPage) -> None:
        if not self._answer.done():
            self._answer.set_result(page)


class RedirectReceiver(Protocol):
    async def start(self) -> str:
        """Start listening; returns the redirect_uri to send in the authorization request."""

    async def wait_for_callback(self, timeout: float) -> RedirectCallback:
        """The one redirect. Raises ``SignInTimedOut`` or ``SignInCancelled``."""

    def cancel(self) -> None:
        """Stop waiting (the UI's Cancel button); ``wait_for_callback`` raises SignInCancelled."""

    async def aclose(self) -> None: ...


class LoopbackRedirectReceiver:
    """HTTP on 127.0.0.1:<ephemeral>; one request on ``callback_path``; then it stops."""

    def __init__(self, callback_path: str = "/callback", *, host: str = "127.0.0.1") -> None:
        if not callback_path.startswith("/"):
            raise ValueError("callback_path must start with '/'")
        self._path = callback_path
        self._host = host
        self._server: asyncio.Server | None = None
        self._callback: asyncio.Future[RedirectCallback] | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._unasked: set[asyncio.StreamWriter] = set()  # connected, no request yet
        self.redirect_uri: str | None = None

    async def start(self) -> str:
        loop = asyncio.get_running_loop()
        self._callback = loop.create_future()
        self._server = await asyncio.start_server(
            self._handle, self._host, 0, limit=MAX_REQUEST_BYTES
        )
        port = self._server.sockets[0].getsockname()[1]
        self.redirect_uri = f"http://{self._host}:{port}{self._path}"
        return self.redirect_uri

    async def wait_for_callback(self, timeout: float) -> RedirectCallback:
        if self._callback is None:
            raise RuntimeError("start() first")
        try:
            return await asyncio.wait_for(asyncio.shield(self._callback), timeout)
        except TimeoutError:
            raise SignInTimedOut() from None
        except asyncio.CancelledError:
            if self._callback.cancelled():
                raise SignInCancelled() from None
            raise
        finally:
            self._stop_listening()

    def cancel(self) -> None:
        if self._callback is not None and not self._callback.done():
            self._callback.cancel()
        self._stop_listening()

    async def aclose(self) -> None:
        self.cancel()
        await asyncio.sleep(0)  # a connection accepted just before: its handler starts
        for writer in set(self._unasked):
            # a browser's spare connection (Chromium opens one ahead) asks nothing: closed now,
            # not kept until READ_TIMEOUT (the sign-in waited 5 s more, then left it open)
            writer.transport.abort()
        handlers = set(self._handlers)
        if handlers:
            # a browser still waiting for its page gets one, then we are done
            await asyncio.wait(handlers, timeout=5)
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)  # their connections closed

    def _stop_listening(self) -> None:
        if self._server is not None:
            stop_listening(self._server)  # closed on the loop's next turn
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        self._unasked.add(writer)
        try:
            await self._serve_one(reader, writer)
        except (
            ConnectionError,
            TimeoutError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ValueError,
        ) as exc:
            log.debug("loopback request dropped: %s", type(exc).__name__)
        except asyncio.CancelledError:
            # aclose() gave up on it. Ending quietly: asyncio's stream callback would log a
            # cancelled handler as an error ("Exception in callback ... CancelledError").
            log.debug("loopback request dropped: the receiver closed")
        finally:
            self._unasked.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()
            if task is not None:
                self._handlers.discard(task)

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
        self._unasked.discard(writer)
        if len(head) > MAX_REQUEST_BYTES:
            await _respond(writer, 431, b"Request too large")
            return
        method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
        url = urlsplit(target)
        callback = self._callback
        if method != "GET" or url.path != self._path or callback is None or callback.done():
            # favicon, stray tabs, a second redirect: not the one we wait for
            await _respond(writer, 404, b"Not found")
            return
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        answer: asyncio.Future[ResultPage] = asyncio.get_running_loop().create_future()
        callback.set_result(RedirectCallback(params, answer))
        self._stop_listening()
        try:
            page = await asyncio.wait_for(answer, 120)
        except TimeoutError:
            page = ResultPage.failed("The app did not finish the sign-in.")
        await _respond(writer, 200, page.render(), "text/html; charset=utf-8")


async def _respond(
    writer: asyncio.StreamWriter, status: int, body: bytes, content_type: str = "text/plain"
) -> None:
    reason = {200: "OK", 404: "Not Found", 431: "Request Header Fields Too Large"}[status]
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\n"
        "Referrer-Policy: no-referrer\r\nConnection: close\r\n\r\n"
    )
    writer.write(head.encode("latin-1") + body)
    await writer.drain()
