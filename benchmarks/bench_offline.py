"""Offline charts (issue 19): prefetch of 20 charts over a slow, lossy link with the clinician's
own requests timed side by side; opening a kept chart with the EHR gone; the cache's size.

    .venv/bin/python benchmarks/bench_offline.py [--latency 0.3] [--drops 0.01] [--charts 20]

Starts the sandbox EHR (tests/support/servers.py), signs in with a real standalone launch, and
puts the fault proxy (tests/support/fault_proxy.py) between the app's FHIR client and the EHR:
every request waits ``latency`` seconds, and a seeded ``drops`` share of the connections is
closed before it reaches the EHR. The store is a real encrypted store (AES-GCM, a file keyring)
in a temp folder. Targets (docs/performance.md): prefetch of 20 charts within 60 s while the
clinician's requests keep their latency; a kept chart opens offline in <= 300 ms; 20 charts
take <= 20 MB on disk.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.domain.clinical import Reference
from app.domain.reachability import Connectivity
from app.fhir.client import FhirClient
from app.fhir.mapping_in import preload_models
from app.services.chart import ChartService
from app.services.errors import ServiceError
from app.services.offline import OfflineCharts
from app.services.session import SessionService
from app.store.crypto import StoreKeyring
from app.store.protected import open_protected_store
from app.sync.runner import RunnerStatus
from app.sync.store_thread import StoreThread
from tests.fhir.conftest import BearerAuth, access_token
from tests.store.protected_support import file_keyring
from tests.support.fault_proxy import Fault, FaultProxy, ProxyRequest
from tests.support.servers import start_sandbox


class Clinician:
    approver = Reference("Practitioner", "prac-1", "Dr. Alice Smith")
    working_offline = False
    granted_scopes = None


async def _record(*_args: Any, **_kwargs: Any) -> None:
    return None


def lossy(latency: float, drops: float, seed: int = 19) -> Callable[[ProxyRequest], Fault]:
    rng = random.Random(seed)
    return lambda _request: Fault.drop_before() if rng.random() < drops else Fault.slow(latency)


async def timed(call: Callable[[], Awaitable[object]]) -> float:
    t0 = time.perf_counter()
    await call()
    return time.perf_counter() - t0


async def clinician_latency(
    chart: ChartService, patients: list[str], stop: asyncio.Event
) -> list[float]:
    """The clinician's own requests (the encounters of a patient), one a second."""
    times = []
    for n in range(1000):
        if stop.is_set():
            break
        with contextlib.suppress(ServiceError):  # a dropped request of the clinician: not timed
            times.append(
                await timed(lambda n=n: chart.list_encounters(patients[n % len(patients)]))
            )
        await asyncio.sleep(1.0)
    return times


async def timed_alone(chart: ChartService, patients: list[str]) -> list[float]:
    stop = asyncio.Event()
    task = asyncio.ensure_future(clinician_latency(chart, patients, stop))
    await asyncio.sleep(12)
    stop.set()
    return await task


async def measure_prefetch(
    built: tuple[OfflineCharts, ChartService],
    patients: list[str],
    targets: list[tuple[str, str]],
    proxy: FaultProxy,
    usage: Callable[[], tuple[int, int]],
) -> None:
    offline, chart = built
    stop = asyncio.Event()
    beside_task = asyncio.ensure_future(clinician_latency(chart, patients, stop))
    t0 = time.perf_counter()
    rounds = 0
    while rounds < 5:  # asked again as on reconnection, when a run stopped
        rounds += 1
        if not (await offline.prefetch(targets)).unreachable:
            break
    took = time.perf_counter() - t0
    stop.set()
    beside = await beside_task
    kept, _size = usage()
    print(f"prefetch: {kept}/{len(targets)} charts kept in {took:.1f} s ({rounds} run(s))")
    print(f"  requests through the proxy: {proxy.requests}; injected: {dict(proxy.injected)}")
    print(f"clinician's request beside prefetch: {median_ms(beside)}")


async def measure_open(
    services: Callable[[], tuple[OfflineCharts, ChartService]], targets: list[tuple[str, str]]
) -> None:
    _o, cold = services()  # a fresh start, the EHR gone: connection refused
    refused = [await timed(lambda p=p, e=e: cold.open(p, e)) for p, e in targets]
    known, known_chart = services()
    known.on_status(RunnerStatus(connectivity=Connectivity.OFFLINE))
    at_once = [await timed(lambda p=p, e=e: known_chart.open(p, e)) for p, e in targets]
    print(
        f"open a kept chart offline (connection refused): {median_ms(refused)}, "
        f"max {max(refused) * 1000:.0f} ms"
    )
    print(
        f"open a kept chart offline (known offline):      {median_ms(at_once)}, "
        f"max {max(at_once) * 1000:.0f} ms"
    )


def median_ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.0f} ms (n={len(values)})" if values else "-"


async def run(latency: float, drops: float, count: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-offline-"))
    server = start_sandbox(work / "sandbox")
    preload_models()
    keys = StoreKeyring(file_keyring(work / "keyring"))
    (work / "site").mkdir()
    protected = open_protected_store(work / "site" / "store.db", keys)
    worker = StoreThread()
    try:
        token = access_token(server)
        async with (
            FaultProxy(server.fhir_base) as proxy,
            httpx.AsyncClient(timeout=30) as http,
        ):
            plain = FhirClient(http, server.fhir_base, BearerAuth(token))
            found = await plain.search("Encounter", [("_count", "100")], limit=500)
            targets = [
                (str(r["subject"]["reference"]).split("/")[-1], str(r["id"]))
                for r in found.resources
            ][:count]
            patients = sorted({p for p, _e in targets})

            def services() -> tuple[OfflineCharts, ChartService]:
                fhir = FhirClient(http, proxy.base, BearerAuth(token))
                offline = OfflineCharts(fhir, protected.store.charts, worker)
                session = cast(SessionService, Clinician())
                return offline, ChartService(fhir, session, None, _record, offline)

            proxy.plan = lossy(latency, 0)
            alone = await timed_alone(services()[1], patients)
            proxy.plan = lossy(latency, drops)
            usage = protected.store.charts.usage
            await measure_prefetch(services(), patients, targets, proxy, usage)
            kept, size = protected.store.charts.usage()
            print(f"link: {latency * 1000:.0f} ms per request, {drops:.0%} connections dropped")
            print(f"clinician's request alone:           {median_ms(alone)}")
            await proxy.go_offline()
            await measure_open(services, targets)
        db = work / "site" / "store.db"
        on_disk = sum(p.stat().st_size for p in db.parent.glob("store.db*"))
        print(
            f"cache: {kept} charts, sealed bodies {size / 1024:.0f} kB; "
            f"store file with WAL {on_disk / 1024:.0f} kB"
        )
    finally:
        worker.close()
        protected.store.close()
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--drops", type=float, default=0.01)
    parser.add_argument("--charts", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(run(args.latency, args.drops, args.charts))


if __name__ == "__main__":
    main()
