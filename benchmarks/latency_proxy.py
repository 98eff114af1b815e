"""A small asyncio HTTP/1.1 reverse proxy that adds a fixed latency to every request.

    async with LatencyProxy("http://127.0.0.1:8080", latency=0.1) as proxy:
        proxy.base            # http://127.0.0.1:<port>, use it instead of the upstream
        proxy.requests        # how many requests went through
        proxy.upstream_seconds  # the upstream's answer times, summed (server time + local hop)
        proxy.round_trips     # how many of them started while none was in flight (requests
                              # sent together count once: the waits a client could not overlap)

Each request waits ``latency`` seconds before it is forwarded, like a WAN round trip. The
upstream's own address in bodies and Location headers is rewritten to the proxy's, so paging
links keep going through the proxy. Requests on separate connections are served concurrently.
"""

from __future__ import annotations

import asyncio
import time
from types import TracebackType

import httpx

_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "host",
    "content-encoding",
}


class LatencyProxy:
    def __init__(self, upstream: str, *, latency: float, timeout: float = 60) -> None:
        self.upstream = upstream.rstrip("/")
        self.latency = latency
        self.requests = 0
        self.round_trips = 0
        self.upstream_seconds = 0.0  # time the upstream server took, summed over requests
        self._in_flight = 0
        self.base = ""
        self._server: asyncio.Server | None = None
        self._client = httpx.AsyncClient(timeout=timeout)  # the upstream's answer

    async def __aenter__(self) -> LatencyProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.base = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        await self._client.aclose()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line.strip():
                    break
                method, target, _ = line.decode("latin-1").split(" ", 2)
                headers: list[tuple[str, str]] = []
                while (h := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = h.decode("latin-1").partition(":")
                    headers.append((name.strip(), value.strip()))
                length = next((int(v) for k, v in headers if k.lower() == "content-length"), 0)
                body = await reader.readexactly(length) if length else b""
                self.requests += 1
                self.round_trips += self._in_flight == 0
                self._in_flight += 1
                try:
                    await asyncio.sleep(self.latency)
                    asked = time.perf_counter()
                    upstream = await self._client.request(
                        method,
                        self.upstream + target,
                        headers=[(k, v) for k, v in headers if k.lower() not in _HOP],
                        content=body,
                    )
                    self.upstream_seconds += time.perf_counter() - asked
                finally:
                    self._in_flight -= 1
                payload = upstream.content.replace(self.upstream.encode(), self.base.encode())
                out = [f"HTTP/1.1 {upstream.status_code} {upstream.reason_phrase}\r\n"]
                for k, v in upstream.headers.items():
                    if k.lower() not in _HOP:
                        out.append(f"{k}: {v.replace(self.upstream, self.base)}\r\n")
                out.append(f"Content-Length: {len(payload)}\r\n\r\n")
                writer.write("".join(out).encode("latin-1") + payload)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
