"""Context load: HTTP round trips and wall time with 100 ms added per request, against a naive
load (one request per resource type, in sequence, with the same queries and mapping).

    .venv/bin/python benchmarks/bench_context.py [--server sandbox|peer] [--latency 0.1] [--runs 5]

Starts the server (tests/support/servers.py), signs in with a real standalone launch, and puts
benchmarks/latency_proxy.py between the client and the server. Reported per strategy: requests
per load and median wall time; the goal (issue 4) is <= 2 round trips with batch support and
>= 4x faster than the naive load.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.fhir.client import FhirClient
from app.fhir.context_loader import ContextLoadOptions, LoadStrategy, load_encounter_context
from app.fhir.fhir_reading import preload_models
from benchmarks.latency_proxy import LatencyProxy
from tests.fhir.conftest import BearerAuth, access_token
from tests.support.servers import RunningServer, start_peer, start_sandbox


async def measure(
    proxy: LatencyProxy,
    runs: int,
    load: Callable[[FhirClient], Awaitable[object]],
    make: Callable[[], FhirClient],
) -> tuple[float, float]:
    times, counts = [], []
    for _ in range(runs):
        client = make()
        before = proxy.requests
        t0 = time.perf_counter()
        await load(client)
        times.append(time.perf_counter() - t0)
        counts.append(proxy.requests - before)
    return statistics.median(times), statistics.median(counts)


async def run(server: RunningServer, latency: float, runs: int) -> None:
    token = access_token(server)
    upstream = server.fhir_base.rsplit("/fhir", 1)[0]
    preload_models()
    async with (
        LatencyProxy(upstream, latency=latency) as proxy,
        httpx.AsyncClient(timeout=60) as http,
    ):
        base = server.fhir_base.replace(upstream, proxy.base)
        auth = BearerAuth(token)
        warm = FhirClient(http, base, auth)
        await warm.capabilities()

        def fresh() -> FhirClient:
            return FhirClient(http, base, auth)

        def batch(strategy: LoadStrategy) -> Callable[[FhirClient], Awaitable[object]]:
            options = ContextLoadOptions(strategy=strategy)
            return lambda c: load_encounter_context(c, "pat-1", "enc-1", options=options)

        await load_encounter_context(warm, "pat-1", "enc-1")  # warm the server's caches
        rows = {
            # The naive baseline gets the same queries and mapping, one request at a time,
            # and is even spared the metadata request.
            "naive sequential (one request per type)": await measure(
                proxy, runs, batch(LoadStrategy.SEQUENTIAL), lambda: warm
            ),
            "batch, cold (metadata + batch)": await measure(
                proxy, runs, batch(LoadStrategy.AUTO), fresh
            ),
            "batch, metadata cached at sign-in": await measure(
                proxy, runs, batch(LoadStrategy.AUTO), lambda: warm
            ),
            "concurrent searches, cold": await measure(
                proxy, runs, batch(LoadStrategy.CONCURRENT), fresh
            ),
        }
    naive_time = rows["naive sequential (one request per type)"][0]
    print(
        f"context load for pat-1/enc-1 on the {server.name}, +{latency * 1000:.0f} ms per request, median of {runs}"
    )
    for name, (seconds, requests) in rows.items():
        print(
            f"  {name:42s} {requests:4.0f} requests  {seconds * 1000:7.0f} ms  {naive_time / seconds:5.1f}x vs naive"
        )
    cold = rows["batch, cold (metadata + batch)"]
    warm_row = rows["batch, metadata cached at sign-in"]
    print(
        f"  round trips with batch support: {cold[1]:.0f} cold, {warm_row[1]:.0f} with cached metadata (goal <= 2) -> {'PASS' if cold[1] <= 2 else 'MISS'}"
    )
    print(
        f"  speed-up vs naive: {naive_time / cold[0]:.1f}x cold, {naive_time / warm_row[0]:.1f}x with the session's cached "
        f"CapabilityStatement (goal >= 4x) -> {'PASS' if naive_time / warm_row[0] >= 4 else 'MISS'}"
    )
    print(
        "  (cold includes the one-off /metadata request; with 9 naive requests the cold ceiling is 4.5x)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", choices=["sandbox", "peer"], default="sandbox")
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        start = start_sandbox if args.server == "sandbox" else start_peer
        server = start(Path(tmp), auto_login="prac-1")
        try:
            asyncio.run(run(server, args.latency, args.runs))
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
