"""The site's HL7 v2 listener: MLLP over TCP (optionally TLS), one ACK per message.

    MllpListener(settings, deliver)
        start() / aclose()                 on the running loop (tests, benchmarks)
        start_in_thread() / close_thread() on a thread of its own (the app: the GUI loop
                                           never parses, never waits for a sender)

Framing is the ``hl7`` package's asyncio MLLP support (``hl7.mllp``), parsing its ``parse``.
What a connection may do: come from an allowed address (``allow``; everyone on loopback when
it is empty), send framed messages of at most ``max_message_kb``, finish a frame within
``frame_timeout_seconds`` of a pause, stay silent at most ``idle_timeout_seconds``. Anything
else gets a NAK (when there is something to answer) and the connection is closed; the listener
goes on serving the others.

Duplicates (the same sender and MSH-10 as an accepted message) get the same ACK again and are
not delivered twice. The log names a message by type and control id only.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace

from hl7.mllp import HL7StreamReader, HL7StreamWriter, InvalidBlockError
from hl7.mllp.streams import HL7StreamProtocol

from app.domain.site import Hl7Listener
from app.domain.visit_events import ListenerCounts, VisitEvent
from app.hl7.messages import (
    Accepted,
    AckCode,
    Hl7Error,
    Rejected,
    acknowledgement,
    new_control_id,
    parse,
    read_message,
)
from app.smart.hl7_settings import server_context
from app.smart.stop_listening import end_what_is_under_way, stop_listening

log = logging.getLogger(__name__)

REMEMBERED_CONTROL_IDS = 50_000  # accepted messages whose ACK a duplicate gets again
# Pause after each message, on the listener's thread: the GIL goes to the GUI thread, which
# would otherwise wait a whole switch interval each time it re-enters Python during a burst
# (measured: longest GUI stall 146 ms flat out without it; see docs/performance.md). It caps a
# single sender near 1,000 messages/s, twice the target.
YIELD_SECONDS = 0.0004
Deliver = Callable[[VisitEvent], None]


class _Reader(HL7StreamReader):  # type: ignore[misc]  # the hl7 package has no types
    """The library's MLLP reader, able to say whether a frame has begun (a stalled half frame
    is closed; a silent connection between messages is normal for MLLP)."""

    @property
    def pending_bytes(self) -> int:
        return len(self._buffer)


class MllpListener:
    def __init__(self, settings: Hl7Listener, deliver: Deliver) -> None:
        self.settings = settings
        self._deliver = deliver
        self._allowed = [ipaddress.ip_network(a, strict=False) for a in settings.allow]
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._answered: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._sequence = 0
        self.counts = ListenerCounts()
        self.port: int | None = None
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None
        self._closing = False  # a connection that arrives while the listener closes: closed

    # ------------------------------------------------------------------ on the running loop
    async def start(self) -> int:
        """Bind and serve; the port it listens on (``port = 0`` in tests: a free one)."""
        s = self.settings
        loop = asyncio.get_running_loop()
        self._closing = False
        limit = s.max_message_kb * 1024
        tls = server_context(s.tls_cert, s.tls_key, s.tls_client_ca) if s.tls_cert else None

        def protocol() -> HL7StreamProtocol:
            reader = _Reader(limit=limit, loop=loop)
            return HL7StreamProtocol(reader, self._connected, loop=loop)

        self._server = await loop.create_server(
            protocol,
            s.listen,
            s.port,
            ssl=tls,
            ssl_handshake_timeout=s.frame_timeout_seconds if tls else None,
            reuse_address=True,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("HL7 v2 listener on %s port %s%s", s.listen, self.port, " (TLS)" if tls else "")
        return self.port

    async def aclose(self) -> None:
        if self._server is not None:
            self._closing = True
            stop_listening(self._server)
            await asyncio.sleep(0)  # closed now
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None
            log.info("HL7 v2 listener stopped")

    # ------------------------------------------------------------------ on a thread of its own
    def start_in_thread(self, timeout: float = 10.0) -> int:
        """Serve on a thread with its own event loop; the port once bound (OSError when the
        port cannot be had)."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            # A plain selector loop, not the policy's: under qasync the policy makes Qt loops,
            # which only work on the GUI thread.
            loop = self._thread_loop = asyncio.SelectorEventLoop()
            try:
                loop.run_until_complete(self.start())
            except OSError as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self.aclose())
                loop.run_until_complete(end_what_is_under_way())
                loop.close()

        self._thread = threading.Thread(target=run, name="hl7-listener", daemon=True)
        self._thread.start()
        ready.wait(timeout)
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        assert self.port is not None
        return self.port

    def close_thread(self) -> None:
        loop, thread = self._thread_loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
        self._thread = None
        self._thread_loop = None

    # ------------------------------------------------------------------ one connection
    def _connected(self, reader: _Reader, writer: HL7StreamWriter) -> None:
        if self._closing:  # accepted just before the listener closed
            writer.transport.abort()
            return
        task = asyncio.ensure_future(self._serve(reader, writer))
        self._connections.add(task)
        task.add_done_callback(self._connections.discard)
        # however the task ends: also cancelled before it began (then its finally never runs)
        task.add_done_callback(lambda _: _abort(writer))

    def _is_allowed(self, writer: HL7StreamWriter) -> bool:
        if not self._allowed:
            return True
        peer = writer.get_extra_info("peername")
        try:
            address = ipaddress.ip_address(peer[0])
        except (TypeError, ValueError, IndexError):
            return False
        return any(address in network for network in self._allowed)

    async def _serve(self, reader: _Reader, writer: HL7StreamWriter) -> None:
        if not self._is_allowed(writer):
            peer = writer.get_extra_info("peername")
            log.warning("HL7 connection from %s refused: not in the allow-list", peer[0])
            writer.transport.abort()
            return
        try:
            while await self._next(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the sender hung up
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _next(self, reader: _Reader, writer: HL7StreamWriter) -> bool:
        """Read one frame and answer it; False when the connection is to be closed."""
        s = self.settings
        silent = 0.0
        while True:
            try:
                block = await asyncio.wait_for(reader.readblock(), s.frame_timeout_seconds)
                break
            except TimeoutError:
                if reader.pending_bytes:
                    log.warning("HL7 connection closed: a message was begun and not finished")
                    return False
                silent += s.frame_timeout_seconds
                if silent >= s.idle_timeout_seconds:
                    log.info("HL7 connection closed after %.0f s without messages", silent)
                    return False
            except InvalidBlockError:
                await self._refuse(writer, "The data is not MLLP-framed (no start block).")
                return False
            except ValueError:  # the library's limit: larger than max_message_kb
                await self._refuse(
                    writer, f"The message is larger than {s.max_message_kb} KB; it was not read."
                )
                await self._discard_rest(reader)
                return False
        writer.writeblock(self.answer(block))
        await writer.drain()
        time.sleep(YIELD_SECONDS)  # the GIL to the GUI thread (see YIELD_SECONDS)
        return True

    async def _discard_rest(self, reader: _Reader) -> None:
        """Read and drop the rest of a refused frame (closing with unread data would reset the
        connection and lose the NAK), for at most a frame timeout."""
        deadline = asyncio.get_running_loop().time() + self.settings.frame_timeout_seconds
        tail = b""
        with contextlib.suppress(TimeoutError, ConnectionError):
            while (left := deadline - asyncio.get_running_loop().time()) > 0:
                chunk = await asyncio.wait_for(reader.read(1 << 16), left)
                if not chunk or b"\x1c\r" in tail[-1:] + chunk:
                    return
                tail = chunk

    async def _refuse(self, writer: HL7StreamWriter, words: str) -> None:
        outcome = Rejected(AckCode.REJECT, Hl7Error.INTERNAL, words)
        self._count(rejected=1)
        log.warning("HL7 message refused: %s", words)
        writer.writeblock(acknowledgement(b"", outcome, self._ack_id()))
        with contextlib.suppress(ConnectionError):
            await writer.drain()

    def answer(self, block: bytes) -> bytes:
        """The ACK for one framed message (and the event delivered, once per control id)."""
        message = parse(block)  # once: the event and the ACK are read from it
        outcome = read_message(message)
        if isinstance(outcome, Rejected):
            self._count(rejected=1)
            log.warning(
                "HL7 %s %s rejected (%s %s)",
                outcome.message_type or "(not HL7)",
                outcome.control_id or "-",
                outcome.code.value,
                outcome.error.code,
            )
            return acknowledgement(message, outcome, self._ack_id())
        key = (outcome.sender, outcome.event.control_id)
        remembered = self._answered.get(key)
        if remembered is not None:
            self._count(duplicates=1)
            log.info("HL7 %s %s is a duplicate: acknowledged again", outcome.message_type,
                     outcome.event.control_id)  # fmt: skip
            return remembered
        ack = acknowledgement(message, outcome, self._ack_id())
        self._remember(key, ack)
        self._count(accepted=1)
        log.debug("HL7 %s %s accepted", outcome.message_type, outcome.event.control_id)
        self._deliver(outcome.event)
        return ack

    def _remember(self, key: tuple[str, str], ack: bytes) -> None:
        self._answered[key] = ack
        while len(self._answered) > REMEMBERED_CONTROL_IDS:
            self._answered.popitem(last=False)

    def _ack_id(self) -> str:
        self._sequence += 1
        return new_control_id(self._sequence)

    def _count(self, **more: int) -> None:
        counts = self.counts
        self.counts = replace(counts, **{k: getattr(counts, k) + v for k, v in more.items()})


def _abort(writer: HL7StreamWriter) -> None:
    if not writer.transport.is_closing():
        writer.transport.abort()


__all__ = ["Accepted", "Deliver", "MllpListener"]
