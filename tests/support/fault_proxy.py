"""A fault-injecting HTTP/1.1 reverse proxy on 127.0.0.1 for the reliability tests.

    async with FaultProxy("http://127.0.0.1:8080", RandomFaults(seed=7, rate=0.3)) as proxy:
        proxy.base        # http://127.0.0.1:<port>: use it instead of the upstream
        proxy.requests    # requests received; proxy.forwarded: requests the upstream saw
        proxy.injected    # Counter of FaultKind actually applied

    with proxy_in_thread("http://127.0.0.1:8080", ScriptedFaults([Fault.drop_after()])) as proxy:
        proxy.base, proxy.go_offline(), ...   # the same from synchronous tests (own loop + thread)

Each request gets a :class:`Fault` from the plan (a callable on :class:`ProxyRequest`):

============================  ==========================================================
``Fault.pass_through()``      forward, answer with the upstream's response
``Fault.drop_before()``       read the request, close without forwarding (nothing committed)
``Fault.drop_after()``        forward (the server commits), close without answering
``Fault.http(503, "7")``      answer 503 with ``Retry-After: 7`` without forwarding
``Fault.http(500, forward=True)``  forward (the server commits), then answer 500 instead
``Fault.slow(2.0)``           forward, wait 2 s, then answer (drives read timeouts)
``Fault.held(release)``       forward, then answer only once the ``asyncio.Event`` is set
                              (a response held in flight while the test does something else)
``Fault.truncated()``         forward, send the headers and half of the body, close
``Fault.html_page()``         answer 200 with an HTML page without forwarding (a captive
                              portal or a gateway's error page with the wrong status)
``Fault.not_json()``          answer 200 ``application/json`` whose body is not JSON
``Fault.kill(callback)``      call ``callback`` (e.g. SIGKILL the client), then forward:
                              the server acts on a request whose client is gone
============================  ==========================================================

``proxy.go_offline()`` closes the listener and every open connection (clients then get
"connection refused", as when the EHR is down); ``go_online()`` listens on the same port again.
Random plans are deterministic for a given seed and request order. The upstream's own address in
bodies and headers (Location, paging links) is rewritten to the proxy's. A client may also use
the proxy as its configured (forward) proxy (``proxy = proxy.base`` in sites.toml): it then
asks for the upstream's own URLs, and nothing is rewritten (issuers in signed tokens match).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from types import TracebackType
from typing import Any, TypeVar

import httpx

from app.smart.stop_listening import end_what_is_under_way, stop_listening

_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "host",
    "content-encoding",
    "te",
    "upgrade",
}
_T = TypeVar("_T")


class FaultKind(Enum):
    PASS = "pass"
    DROP_BEFORE = "drop_before"  # the server never sees the request
    DROP_AFTER = "drop_after"  # the server committed, the response is lost
    STATUS = "status"  # an injected status (optionally after forwarding)
    SLOW = "slow"  # forwarded, answered late
    HELD = "held"  # forwarded, answered once the test releases it
    TRUNCATED = "truncated"  # forwarded, body cut off
    BODY = "body"  # answered by the proxy with a fixed body (HTML page, not-JSON)
    KILL = "kill"  # a callback first (kill the client), then forwarded


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    status: int = 0
    retry_after: str | None = None  # delta-seconds or an HTTP-date
    forward: bool = False  # STATUS: forward first (the server commits), then answer ``status``
    delay: float = 0.0  # SLOW: seconds before the answer
    content_type: str = ""  # BODY
    body: bytes = b""  # BODY
    callback: Callable[[], None] | None = None  # KILL
    release: asyncio.Event | None = None  # HELD

    @classmethod
    def pass_through(cls) -> Fault:
        return cls(FaultKind.PASS)

    @classmethod
    def drop_before(cls) -> Fault:
        return cls(FaultKind.DROP_BEFORE)

    @classmethod
    def drop_after(cls) -> Fault:
        return cls(FaultKind.DROP_AFTER)

    @classmethod
    def http(cls, status: int, retry_after: str | None = None, *, forward: bool = False) -> Fault:
        return cls(FaultKind.STATUS, status=status, retry_after=retry_after, forward=forward)

    @classmethod
    def slow(cls, delay: float) -> Fault:
        return cls(FaultKind.SLOW, delay=delay)

    @classmethod
    def held(cls, release: asyncio.Event) -> Fault:
        return cls(FaultKind.HELD, release=release)

    @classmethod
    def truncated(cls) -> Fault:
        return cls(FaultKind.TRUNCATED)

    @classmethod
    def html_page(cls, status: int = 200) -> Fault:
        page = b"<!doctype html><html><body><h1>Please wait</h1></body></html>"
        return cls(FaultKind.BODY, status=status, content_type="text/html", body=page)

    @classmethod
    def not_json(cls, status: int = 200) -> Fault:
        return cls(FaultKind.BODY, status=status, content_type="application/json", body=b"{oops")

    @classmethod
    def kill(cls, callback: Callable[[], None]) -> Fault:
        return cls(FaultKind.KILL, callback=callback)

    @property
    def reaches_server(self) -> bool:
        return self.kind not in (FaultKind.DROP_BEFORE, FaultKind.BODY) and not (
            self.kind is FaultKind.STATUS and not self.forward
        )


PASS = Fault.pass_through()


@dataclass(frozen=True)
class ProxyRequest:
    index: int  # 0-based arrival order
    method: str
    target: str  # path and query, as received
    headers: tuple[tuple[str, str], ...]
    body: bytes
    absolute: bool = False  # asked as a forward proxy ("GET http://host/path"): no rewriting

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


FaultPlan = Callable[[ProxyRequest], Fault]


def no_faults(request: ProxyRequest) -> Fault:
    return PASS


class ScriptedFaults:
    """Faults in order for the requests that match, then pass-through."""

    def __init__(
        self, faults: Sequence[Fault], *, match: Callable[[ProxyRequest], bool] | None = None
    ) -> None:
        self._faults = list(faults)
        self._match = match or (lambda r: True)

    def __call__(self, request: ProxyRequest) -> Fault:
        if self._faults and self._match(request):
            return self._faults.pop(0)
        return PASS

    @property
    def remaining(self) -> int:
        return len(self._faults)


WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

DEFAULT_MIX: tuple[Fault, ...] = (
    Fault.drop_before(),
    Fault.drop_after(),
    Fault.http(500, forward=True),
    Fault.http(503, "1"),
    Fault.http(503, "Thu, 01 Jan 1970 00:00:00 GMT"),  # an HTTP-date in the past: now
    Fault.http(429, "1"),
    Fault.truncated(),
)


class RandomFaults:
    """A seeded fault for a share ``rate`` of the matching requests (default: writes only)."""

    def __init__(
        self,
        seed: int,
        rate: float,
        mix: Sequence[Fault] = DEFAULT_MIX,
        *,
        match: Callable[[ProxyRequest], bool] | None = None,
    ) -> None:
        if not 0 <= rate <= 1:
            raise ValueError("rate must be within [0, 1]")
        self._rng = random.Random(seed)
        self._rate = rate
        self._mix = list(mix)
        self._match = match or (lambda r: r.method in WRITE_METHODS)

    def __call__(self, request: ProxyRequest) -> Fault:
        if not self._match(request):
            return PASS
        if self._rng.random() >= self._rate:
            return PASS
        return self._rng.choice(self._mix)


class FaultProxy:
    def __init__(self, upstream: str, plan: FaultPlan = no_faults, *, port: int = 0) -> None:
        self.upstream = upstream.rstrip("/")
        self.plan = plan
        self.requests = 0
        self.forwarded = 0
        self.injected: Counter[FaultKind] = Counter()
        self.log: list[tuple[str, str, FaultKind]] = []
        self.base = ""
        self._port = port
        self._server: asyncio.Server | None = None
        self._client: httpx.AsyncClient | None = None
        self._connections: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> FaultProxy:
        # trust_env=False: an HTTP(S)_PROXY in the environment must not reroute the upstream
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(60.0), trust_env=False)
        await self.go_online()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.go_offline()
        if self._client is not None:
            await self._client.aclose()

    async def go_online(self) -> None:
        if self._server is not None:
            return
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self._port, reuse_address=True
        )
        self._port = int(self._server.sockets[0].getsockname()[1])
        self.base = f"http://127.0.0.1:{self._port}"

    async def go_offline(self) -> None:
        """Stop listening and cut every open connection: clients see the EHR as down."""
        server, self._server = self._server, None
        if server is not None:
            stop_listening(server)
            await asyncio.sleep(0)  # closed now
        for writer in list(self._connections):
            _abort(writer)
        tasks = [t for t in self._tasks if t is not asyncio.current_task()]
        for task in tasks:  # e.g. a slow answer still sleeping
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 5)

    @property
    def online(self) -> bool:
        return self._server is not None

    # ------------------------------------------------------------------ serving

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._server is None:  # accepted just before go_offline(), started after it
            _abort(writer)
            return
        self._connections.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            while True:
                request = await self._read_request(reader)
                if request is None:
                    break
                fault = self.plan(request)
                self.log.append((request.method, request.target, fault.kind))
                if fault.kind is not FaultKind.PASS:
                    self.injected[fault.kind] += 1
                if not await self._answer(request, fault, writer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ValueError, httpx.HTTPError):
            pass  # the client went away, sent garbage, or the upstream is down: drop the line
        except asyncio.CancelledError:
            # go_offline() cancels handlers that are still busy (a slow answer). Ending quietly
            # keeps asyncio's stream callback from logging the cancellation as an error.
            pass
        finally:
            self._connections.discard(writer)
            if task is not None:
                self._tasks.discard(task)
            _abort(writer)

    async def _read_request(self, reader: asyncio.StreamReader) -> ProxyRequest | None:
        line = await reader.readline()
        if not line.strip():
            return None
        method, target, _ = line.decode("latin-1").split(" ", 2)
        absolute = target.startswith(("http://", "https://"))
        if absolute:  # a client configured with this as its proxy: serve the path
            target = "/" + target.split("://", 1)[1].partition("/")[2]
        headers: list[tuple[str, str]] = []
        while (h := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = h.decode("latin-1").partition(":")
            headers.append((name.strip(), value.strip()))
        lowered = {k.lower(): v for k, v in headers}
        if "chunked" in lowered.get("transfer-encoding", "").lower():
            body = await _read_chunked(reader)
        else:
            length = int(lowered.get("content-length", "0") or 0)
            body = await reader.readexactly(length) if length else b""
        index = self.requests
        self.requests += 1
        return ProxyRequest(index, method, target, tuple(headers), body, absolute)

    async def _forward(self, request: ProxyRequest) -> httpx.Response:
        assert self._client is not None
        self.forwarded += 1
        return await self._client.request(
            request.method,
            self.upstream + request.target,
            headers=[(k, v) for k, v in request.headers if k.lower() not in _HOP],
            content=request.body,
        )

    async def _answer(
        self, request: ProxyRequest, fault: Fault, writer: asyncio.StreamWriter
    ) -> bool:
        """Write the answer; False when the connection must be closed."""
        kind = fault.kind
        if kind is FaultKind.DROP_BEFORE:
            return False
        head_only = request.method == "HEAD"  # an answer to HEAD has headers only (RFC 9110)
        if kind is FaultKind.BODY:
            await self._write(
                writer,
                fault.status,
                [("Content-Type", fault.content_type)],
                fault.body,
                head_only=head_only,
            )
            return True
        if kind is FaultKind.KILL and fault.callback is not None:
            fault.callback()
        if kind is FaultKind.STATUS and not fault.forward:
            await self._write(
                writer,
                fault.status,
                _injected_headers(fault),
                _problem(fault.status),
                head_only=head_only,
            )
            return True
        upstream = await self._forward(request)
        if kind is FaultKind.DROP_AFTER:
            return False
        if kind is FaultKind.STATUS:
            await self._write(
                writer,
                fault.status,
                _injected_headers(fault),
                _problem(fault.status),
                head_only=head_only,
            )
            return True
        if kind is FaultKind.SLOW:
            await asyncio.sleep(fault.delay)
        if kind is FaultKind.HELD and fault.release is not None:
            await fault.release.wait()
        payload = upstream.content
        headers = [(k, v) for k, v in upstream.headers.items() if k.lower() not in _HOP]
        if not request.absolute:  # a reverse proxy: the upstream's own links point here
            payload = payload.replace(self.upstream.encode(), self.base.encode())
            headers = [(k, v.replace(self.upstream, self.base)) for k, v in headers]
        if kind is FaultKind.TRUNCATED:
            head = _head(upstream.status_code, headers, len(payload) or 64)
            writer.write(head + payload[: len(payload) // 2])
            await writer.drain()
            return False
        await self._write(writer, upstream.status_code, headers, payload, head_only=head_only)
        return True

    async def _write(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes,
        *,
        head_only: bool = False,
    ) -> None:
        writer.write(_head(status, headers, len(body)) + (b"" if head_only else body))
        await writer.drain()


def _head(status: int, headers: list[tuple[str, str]], length: int) -> bytes:
    reason = httpx.codes.get_reason_phrase(status) or "Unknown"
    lines = [f"HTTP/1.1 {status} {reason}\r\n"]
    lines += [f"{k}: {v}\r\n" for k, v in headers]
    lines.append(f"Content-Length: {length}\r\n\r\n")
    return "".join(lines).encode("latin-1")


def _injected_headers(fault: Fault) -> list[tuple[str, str]]:
    headers = [("Content-Type", "application/fhir+json")]
    if fault.retry_after is not None:
        headers.append(("Retry-After", fault.retry_after))
    return headers


def _problem(status: int) -> bytes:
    reason = httpx.codes.get_reason_phrase(status) or "error"
    return (
        '{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"transient",'
        f'"diagnostics":"injected by the test proxy: {status} {reason}"}}]}}'
    ).encode()


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size = int((await reader.readline()).split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass
            return bytes(body)
        body += await reader.readexactly(size)
        await reader.readexactly(2)


def _abort(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        transport = writer.transport
        if not transport.is_closing():
            transport.abort()


# ---------------------------------------------------------------------- from synchronous tests


class ProxyThread:
    """A :class:`FaultProxy` running on its own event loop in a daemon thread."""

    def __init__(self, proxy: FaultProxy) -> None:
        self.proxy = proxy
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="fault-proxy", daemon=True
        )

    def call(self, coro: Coroutine[Any, Any, _T], timeout: float = 30) -> _T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def start(self) -> FaultProxy:
        self._thread.start()
        self.call(self.proxy.__aenter__())
        return self.proxy

    def stop(self) -> None:
        try:
            self.call(self.proxy.__aexit__(None, None, None))
            self.call(end_what_is_under_way())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()

    def go_offline(self) -> None:
        self.call(self.proxy.go_offline())

    def go_online(self) -> None:
        self.call(self.proxy.go_online())

    @property
    def base(self) -> str:
        return self.proxy.base

    def __getattr__(self, name: str) -> Any:
        # requests, forwarded, injected, log, plan, ...: read them from the proxy
        return getattr(self.proxy, name)


@contextlib.contextmanager
def proxy_in_thread(upstream: str, plan: FaultPlan = no_faults) -> Iterator[ProxyThread]:
    runner = ProxyThread(FaultProxy(upstream, plan))
    runner.start()
    try:
        yield runner
    finally:
        runner.stop()
