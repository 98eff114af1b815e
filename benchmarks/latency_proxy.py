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

In its own process (so its CPU and its share of the GIL are not the measured client's):

    python -m benchmarks.latency_proxy UPSTREAM --latency 0.05   # prints "proxy: <base>"

``GET /__proxy__/stats`` answers the counters as JSON and ``POST /__proxy__/reset`` zeroes them
(neither is forwarded nor counted); :class:`ProxyProcess` drives it from a benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
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
                if target.startswith(_CONTROL):
                    writer.write(self._control(method, target))
                    await writer.drain()
                    continue
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

    def _control(self, method: str, target: str) -> bytes:
        """The answer to a control request (the counters, or zeroing them)."""
        if method == "POST" and target == f"{_CONTROL}reset":
            self.requests = self.round_trips = 0
            self.upstream_seconds = 0.0
        stats = {
            "requests": self.requests,
            "round_trips": self.round_trips,
            "upstream_seconds": self.upstream_seconds,
        }
        payload = json.dumps(stats).encode()
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}"
        )
        return head.encode("latin-1") + b"\r\n\r\n" + payload


_CONTROL = "/__proxy__/"


class ProxyProcess:
    """A :class:`LatencyProxy` in a child process, with the same counters (read over HTTP)."""

    def __init__(self, upstream: str, latency: float) -> None:
        self._args = [sys.executable, "-m", "benchmarks.latency_proxy", upstream]
        self._args += ["--latency", str(latency)]
        self._proc: subprocess.Popen[str] | None = None
        self.base = ""

    def __enter__(self) -> ProxyProcess:
        root = Path(__file__).resolve().parents[1]
        self._proc = subprocess.Popen(self._args, cwd=root, stdout=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line.startswith("proxy: "):
            self._proc.kill()
            raise RuntimeError(f"the latency proxy did not start: {line!r}")
        self.base = line.split(" ", 1)[1].strip()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(10)

    def _stats(self, method: str = "GET", what: str = "stats") -> dict[str, float]:
        answer = httpx.request(method, f"{self.base}{_CONTROL}{what}", timeout=10)
        answer.raise_for_status()
        return dict(answer.json())

    def reset(self) -> None:
        self._stats("POST", "reset")

    @property
    def requests(self) -> int:
        return int(self._stats()["requests"])

    @property
    def upstream_seconds(self) -> float:
        return float(self._stats()["upstream_seconds"])

    @property
    def round_trips(self) -> int:
        return int(self._stats()["round_trips"])


async def _serve_forever(upstream: str, latency: float) -> None:
    async with LatencyProxy(upstream, latency=latency) as proxy:
        print(f"proxy: {proxy.base}", flush=True)
        await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description="add a fixed latency to every request")
    parser.add_argument("upstream")
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    try:
        asyncio.run(_serve_forever(args.upstream, args.latency))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
