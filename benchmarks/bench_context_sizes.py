"""Issue 15, items 1 and 2: the context load at any chart size, near the round-trip limit.

    .venv/bin/python benchmarks/bench_context_sizes.py [--server sandbox|peer]
        [--sizes 10,100,1000,5000,20000] [--latency 0.1] [--runs 3]

Patients ``pat-obs-<n>`` with n Observations (a quarter vital signs, the rest laboratory) and
200 notes (app/sandbox/large_chart.py) are written to the server, then each is loaded, median
of ``--runs``, three ways in the same run, all getting the same data (the patient, the
encounter, problems, medications, allergies, the newest 200 vital signs, the newest 200 labs,
the newest 50 notes):

    app        load_encounter_context, the session's CapabilityStatement cached (as at sign-in)
    httpx      plain sequential httpx: one request after the other, JSON decoded, no mapping
    fhirclient SMART's Python client 4.4 (requests), its models built, in sequence

once through benchmarks/latency_proxy.py with ``--latency`` added to each request, once
straight to the server (the local link). Reported: when the banner (patient + encounter) can
show, when the whole context is ready, the round trips (requests that could not overlap), and
the ratios; the three ways take turns, run after run. Targets: banner <= 350 ms and
everything <= 600 ms and <= 2 round trips at 100 ms, for every size; growth per size at most
linear; on the local link the app no slower than plain httpx. Exits 1 when one is missed.

The sandbox holds every size at once (its search is indexed); the peer EHR is started afresh
for each size with only that patient's chart (Medplum's MemoryRepository scans every stored
resource of the type on each search, so other patients' charts would be measured too).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.fhir.client import FhirClient
from app.fhir.context_loader import ContextLoadOptions, load_encounter_context
from app.sandbox.fhir.store import FhirStore
from app.sandbox.large_chart import large_chart, write_chart
from app.sandbox.options import DEFAULT_SEED
from benchmarks.latency_proxy import LatencyProxy, ProxyProcess
from tests.fhir.conftest import BearerAuth, access_token
from tests.support.servers import RunningServer, start_peer, start_sandbox

OPTIONS = ContextLoadOptions()
# whether the loader tells when the banner can show (before issue 15 it did not)
HEADER = "on_header" in inspect.signature(load_encounter_context).parameters
LIMITS = {"vitals": OPTIONS.vitals_limit, "labs": OPTIONS.labs_limit, "notes": OPTIONS.notes_limit}


def patient_of(size: int) -> tuple[str, str]:
    return f"pat-obs-{size}", f"enc-obs-{size}"


def chart(size: int) -> dict[str, Any]:
    patient, _ = patient_of(size)
    return large_chart(size, patient=patient, mrn=f"MRN-OBS-{size}")


# ---------------------------------------------------------------- the same data, three ways


def searches(patient: str) -> list[tuple[str, dict[str, str], int]]:
    """What the naive clients ask for: the app's sections, newest first, up to its limits, by
    the same search parameters (``subject`` where the type has it, as the app asks)."""
    ref = f"Patient/{patient}"
    return [
        ("Condition", {"subject": ref, "clinical-status": "active,recurrence,relapse"}, 500),
        ("MedicationRequest", {"subject": ref, "status": "active"}, 500),
        ("AllergyIntolerance", {"patient": ref}, 500),
        ("Observation", {"subject": ref, "category": "vital-signs", "_sort": "-date"}, 200),
        ("Observation", {"subject": ref, "category": "laboratory", "_sort": "-date"}, 200),
        ("DocumentReference", {"subject": ref, "_sort": "-date"}, 50),
    ]


async def plain_httpx(http: httpx.AsyncClient, base: str, patient: str, encounter: str) -> int:
    found = 0
    for path in (f"Patient/{patient}", f"Encounter/{encounter}"):
        (await http.get(f"{base}/{path}")).raise_for_status()
    for rtype, params, limit in searches(patient):
        url: str | None = f"{base}/{rtype}"
        query: dict[str, str] | None = {**params, "_count": str(min(limit, 100))}
        got = 0
        while url is not None and got < limit:
            response = await http.get(url, params=query)
            response.raise_for_status()
            bundle = response.json()
            got += len(bundle.get("entry") or [])
            url = next(
                (lk["url"] for lk in bundle.get("link", []) if lk["relation"] == "next"), None
            )
            query = None
        found += min(got, limit)
    return found


def with_fhirclient(base: str, token: str, patient: str, encounter: str) -> int:
    from fhirclient.models.allergyintolerance import AllergyIntolerance
    from fhirclient.models.condition import Condition
    from fhirclient.models.documentreference import DocumentReference
    from fhirclient.models.encounter import Encounter
    from fhirclient.models.medicationrequest import MedicationRequest
    from fhirclient.models.observation import Observation
    from fhirclient.models.patient import Patient
    from fhirclient.server import FHIRServer

    models = {
        "Condition": Condition,
        "MedicationRequest": MedicationRequest,
        "AllergyIntolerance": AllergyIntolerance,
        "Observation": Observation,
        "DocumentReference": DocumentReference,
    }
    server = FHIRServer(None, base_uri=base)
    server.session.headers["Authorization"] = f"Bearer {token}"
    Patient.read(patient, server)
    Encounter.read(encounter, server)
    found = 0
    for rtype, params, limit in searches(patient):
        search = models[rtype].where(struct={**params, "_count": str(min(limit, 100))})
        got = 0
        for _resource in search.perform_resources_iter(server):
            got += 1
            if got >= limit:
                break
        found += got
    server.session.close()
    return found


# ---------------------------------------------------------------- measuring


@dataclass
class Timing:
    banner: float
    ready: float
    round_trips: float


async def timed(
    runs: int,
    proxy: LatencyProxy | ProxyProcess | None,
    loads: dict[str, Callable[[], Awaitable[float | None]]],
) -> dict[str, Timing]:
    """Each way ``runs`` times, interleaved (app, httpx, fhirclient, app, ...): a burst of load
    from elsewhere on this shared machine hits all three alike, not one of them."""
    samples: dict[str, tuple[list[float], list[float], list[float]]] = {
        name: ([], [], []) for name in loads
    }
    for _ in range(runs):
        for name, load in loads.items():
            banners, readies, trips = samples[name]
            before = proxy.round_trips if proxy else 0
            t0 = time.perf_counter()
            banner_at = await load()
            ready = time.perf_counter() - t0
            readies.append(ready)
            banners.append((banner_at - t0) if banner_at is not None else ready)
            trips.append((proxy.round_trips - before) if proxy else 0)
    return {
        name: Timing(*(statistics.median(values) for values in sample))
        for name, sample in samples.items()
    }


async def measure_size(
    size: int,
    base: str,
    token: str,
    runs: int,
    proxy: LatencyProxy | ProxyProcess | None,
    app_client: FhirClient,
    http: httpx.AsyncClient,
) -> dict[str, Timing]:
    patient, encounter = patient_of(size)

    async def app() -> float | None:
        shown: list[float] = []
        extra = {"on_header": lambda *_: shown.append(time.perf_counter())} if HEADER else {}
        await load_encounter_context(app_client, patient, encounter, **extra)
        return shown[0] if shown else None

    async def naive_httpx() -> None:
        await plain_httpx(http, base, patient, encounter)

    async def naive_fhirclient() -> None:
        await asyncio.to_thread(with_fhirclient, base, token, patient, encounter)

    await app()  # warm the server's caches for this patient
    loads = {"app": app, "httpx": naive_httpx, "fhirclient": naive_fhirclient}
    return await timed(runs, proxy, {name: loads[name] for name in CLIENTS})


CLIENTS = ["app", "httpx", "fhirclient"]  # --clients
_ABSENT = Timing(float("nan"), float("nan"), float("nan"))


def report(title: str, results: dict[int, dict[str, Timing]], latency: float) -> list[str]:
    missed: list[str] = []
    print(title)
    print(
        f"  {'Observations':>12} | {'app banner':>10} {'app ready':>9} {'RTs':>3} | {'httpx':>8} {'RTs':>4} | {'fhirclient':>10} | {'vs httpx':>8} {'vs fhirclient':>13}"
    )
    for size, row in results.items():
        app, hx, fc = (row.get(name, _ABSENT) for name in ("app", "httpx", "fhirclient"))
        print(
            f"  {size:>12} | {app.banner * 1000:8.0f}ms {app.ready * 1000:7.0f}ms {app.round_trips:3.0f} | "
            f"{hx.ready * 1000:6.0f}ms {hx.round_trips:4.0f} | {fc.ready * 1000:8.0f}ms | "
            f"{hx.ready / app.ready:7.1f}x {fc.ready / app.ready:12.1f}x"
        )
        if latency >= 0.1:
            if app.banner > 0.35:
                missed.append(f"{size}: banner {app.banner * 1000:.0f} ms > 350 ms")
            if app.ready > 0.6:
                missed.append(f"{size}: ready {app.ready * 1000:.0f} ms > 600 ms")
            if app.round_trips > 2:
                missed.append(f"{size}: {app.round_trips:.0f} round trips > 2")
        elif latency == 0 and app.ready > hx.ready:
            missed.append(
                f"{size}: local link {app.ready * 1000:.0f} ms > httpx {hx.ready * 1000:.0f} ms"
            )
    sizes = list(results)
    for small, big in zip(sizes, sizes[1:], strict=False):
        grow = results[big]["app"].ready / results[small]["app"].ready
        if grow > big / small:
            missed.append(
                f"{small} -> {big}: grew {grow:.1f}x, more than linear ({big / small:.0f}x)"
            )
    return missed


SECTIONS = ("latency", "local")
PROXY_PROCESS: list[bool] = [False]  # --proxy-process


@contextlib.asynccontextmanager
async def latency_proxy(
    upstream: str, latency: float
) -> AsyncIterator[LatencyProxy | ProxyProcess]:
    """The latency proxy in this process, or (``--proxy-process``) in its own: then its CPU
    (a large chart's answers are copied and rewritten there, megabytes) is not the measured
    clients' and does not hold their GIL, as on a real network."""
    if PROXY_PROCESS[0]:
        with ProxyProcess(upstream, latency) as process:
            yield process
    else:
        async with LatencyProxy(upstream, latency=latency, timeout=600) as proxy:
            yield proxy


async def measure_server(
    server: RunningServer, sizes: list[int], latency: float, runs: int, latency_only: bool
) -> dict[str, dict[int, dict[str, Timing]]]:
    """Every size on one running server, with ``latency`` added and on the local link."""
    token = access_token(server)
    upstream = server.fhir_base.rsplit("/fhir", 1)[0]
    auth = BearerAuth(token)
    results: dict[str, dict[int, dict[str, Timing]]] = {name: {} for name in SECTIONS}
    async with httpx.AsyncClient(timeout=600, auth=auth) as http:
        if server.name == "peer":
            await load_into_peer(http, server.fhir_base, sizes)
        for name, wait in zip(SECTIONS, (latency, 0.0), strict=True):
            if wait == 0 and latency_only:
                continue
            async with latency_proxy(upstream, wait) as proxy:
                base = server.fhir_base.replace(upstream, proxy.base) if wait else server.fhir_base
                client = FhirClient(http, base, auth)
                await client.capabilities()  # read once at sign-in
                for size in sizes:
                    results[name][size] = await measure_size(
                        size, base, token, runs, proxy if wait else None, client, http
                    )
    return results


def report_all(
    server: str, results: dict[str, dict[int, dict[str, Timing]]], latency: float, runs: int
) -> list[str]:
    labels = {
        "latency": (f"+{latency * 1000:.0f} ms per request", latency),
        "local": ("local link (no added latency)", 0.0),
    }
    missed: list[str] = []
    for name in SECTIONS:
        label, wait = labels[name]
        if not results[name]:
            continue  # --latency-only
        missed += report(f"{server}, {label}, median of {runs}:", results[name], wait)
    return missed


async def load_into_peer(http: httpx.AsyncClient, base: str, sizes: list[int]) -> None:
    for size in sizes:
        entries = chart(size)["entry"]
        for start in range(0, len(entries), 1000):
            bundle = {
                "resourceType": "Bundle",
                "type": "batch",
                "entry": entries[start : start + 1000],
            }
            (await http.post(base, json=bundle)).raise_for_status()


def sandbox_with_charts(workdir: Path, sizes: list[int]) -> RunningServer:
    db = workdir / "sandbox.db"
    store = FhirStore(db)
    store.ensure_seeded(DEFAULT_SEED)
    for size in sizes:
        write_chart(store.db, chart(size))
    store.close()
    return start_sandbox(workdir, db=db, auto_login="prac-1")


def on_server(
    server: RunningServer, sizes: list[int], args: argparse.Namespace
) -> dict[str, dict[int, dict[str, Timing]]]:
    try:
        return asyncio.run(
            measure_server(server, sizes, args.latency, args.runs, args.latency_only)
        )
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", choices=["sandbox", "peer"], default="sandbox")
    parser.add_argument("--sizes", default="10,100,1000,5000,20000")
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--latency-only", action="store_true", help="skip the local link (the peer at 20,000)"
    )
    parser.add_argument(
        "--proxy-process", action="store_true", help="the latency proxy in its own process"
    )
    parser.add_argument(
        "--clients", default=",".join(CLIENTS), help="which of app,httpx,fhirclient to run"
    )
    args = parser.parse_args()
    CLIENTS[:] = [c for c in args.clients.split(",") if c]
    PROXY_PROCESS[0] = args.proxy_process
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        if args.server == "sandbox":
            results = on_server(sandbox_with_charts(Path(tmp), sizes), sizes, args)
        else:  # a fresh peer per size: its in-memory search scans every stored resource
            results = {name: {} for name in SECTIONS}
            for size in sizes:
                server = start_peer(Path(tmp) / f"peer-{size}", auto_login="prac-1")
                for name, rows in on_server(server, [size], args).items():
                    results[name].update(rows)
    missed = report_all(args.server, results, args.latency, args.runs)
    for line in missed:
        print("MISSED:", line)
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
