"""Probe traffic and how fast the status follows the EHR: the sync runner with its reachability
monitor (the app's default policy) against the sandbox, every request counted at a proxy.

    .venv/bin/python benchmarks/bench_probe_traffic.py [--seconds 60]

Phases (each ``--seconds`` long where it is a count):

1. idle and online: signed in, nothing queued: requests after the start-up ones (goal 0);
2. queued and online: one commit the EHR asked to retry in an hour (503 + Retry-After), so
   something is queued and nothing is due: probes per 10 s (goal <= 1), bytes per probe;
3. the EHR goes away just after a probe found it (the worst case; the proxy stops listening:
   connection refused, as when the EHR is down): seconds until the status says Offline
   (goal <= 10), probes tried meanwhile;
4. offline: probes tried per minute while the EHR stays away (the backoff);
5. the EHR comes back: seconds until the status says Online.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.domain.reachability import Connectivity
from app.fhir.client import FhirClient
from app.fhir.profiles import load_profile
from app.store.store import open_store
from app.sync.runner import SyncRunner
from tests.support.fault_proxy import Fault, FaultProxy, ScriptedFaults
from tests.support.servers import start_sandbox
from tests.sync.commits import clinical_commit
from tests.sync.runner_fixtures import TestAuth, launch_token


def probes(proxy: FaultProxy) -> int:
    return sum(1 for method, target, _ in proxy.log if method == "HEAD" and "metadata" in target)


async def until(predicate: Any, timeout: float) -> float:
    """Seconds until ``predicate()`` holds (``timeout`` + 1 if it never did)."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            return timeout + 1
        await asyncio.sleep(0.02)
    return time.monotonic() - start


async def probe_bytes(base: str) -> dict[str, int]:
    """Bytes on the wire for one probe's answer (status line + headers) against a full
    ``GET /metadata``."""
    async with httpx.AsyncClient() as http:
        head = await http.head(f"{base}/metadata")
        get = await http.get(f"{base}/metadata")

    def header_bytes(r: httpx.Response) -> int:
        return 17 + sum(len(k) + len(v) + 4 for k, v in r.headers.raw) + 2

    return {"head_answer": header_bytes(head), "get_answer": header_bytes(get) + len(get.content)}


async def measure(base_origin: str, token: str, seconds: float, workdir: Path) -> dict[str, Any]:
    busy = ScriptedFaults([Fault.http(503, "3600")], match=lambda r: r.method == "POST")
    store = open_store(workdir / "store.db")
    figures: dict[str, Any] = {}
    async with FaultProxy(base_origin, busy) as proxy, httpx.AsyncClient() as http:
        fhir = FhirClient(http, proxy.base + "/fhir", TestAuth(token))
        runner = SyncRunner(
            store.outbox, fhir, profile=load_profile("generic-r4"), probe=fhir.probe
        )
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run_forever(stop))
        online = lambda: runner.status.connectivity is Connectivity.ONLINE  # noqa: E731
        figures["connecting_s"] = round(await until(online, 30), 2)
        await asyncio.sleep(1)
        start = proxy.requests
        await asyncio.sleep(seconds)
        figures["idle_online"] = {"seconds": seconds, "requests": proxy.requests - start}

        store.outbox.enqueue_approval(clinical_commit(), '{"review_status": "approved"}')
        runner.notify_enqueued()
        await until(lambda: busy.remaining == 0, 30)
        start_probes, start_requests = probes(proxy), proxy.requests
        await asyncio.sleep(seconds)
        n = probes(proxy) - start_probes
        figures["queued_online"] = {
            "seconds": seconds,
            "probes": n,
            "other_requests": proxy.requests - start_requests - n,
            "probes_per_10s": round(n * 10 / seconds, 2),
            **await probe_bytes(proxy.base + "/fhir"),
        }

        # the worst case: the EHR goes away just after a probe found it
        answered = probes(proxy)
        await until(lambda: probes(proxy) > answered, 15)
        tried = runner.reachability.probes_sent
        await proxy.go_offline()
        offline = lambda: runner.status.connectivity is Connectivity.OFFLINE  # noqa: E731
        figures["offline_after_s"] = round(await until(offline, 30), 2)
        figures["probes_until_offline"] = runner.reachability.probes_sent - tried
        tried = runner.reachability.probes_sent
        await asyncio.sleep(seconds)
        figures["offline"] = {
            "seconds": seconds,
            "probes_tried": runner.reachability.probes_sent - tried,
        }
        await proxy.go_online()
        figures["online_again_after_s"] = round(await until(online, 90), 2)
        stop.set()
        await asyncio.wait_for(task, 10)
        await runner.aclose()
    store.close()
    return figures


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        server = start_sandbox(workdir / "sandbox")
        try:
            token = launch_token(server)
            origin = server.fhir_base.rsplit("/fhir", 1)[0]
            figures = await measure(origin, token, args.seconds, workdir)
        finally:
            server.stop()
    print(json.dumps(figures, indent=2))
    missed = [name for name, ok in targets(figures).items() if not ok]
    if missed:
        print("targets missed: " + ", ".join(missed), file=sys.stderr)
        sys.exit(1)


def targets(figures: dict[str, Any]) -> dict[str, bool]:
    """Issue 13's targets. Offline "within 10 s" is checked to 0.5 s: a probe is due 10 s after
    the last answer, and a refused connection takes milliseconds more."""
    return {
        "no requests while idle and online": figures["idle_online"]["requests"] == 0,
        "<= 1 probe per 10 s while queued": figures["queued_online"]["probes_per_10s"] <= 1.0,
        "nothing else while queued and not due": figures["queued_online"]["other_requests"] == 0,
        "Connecting for one probe": figures["connecting_s"] < 3.0,
        "Offline within 10 s": figures["offline_after_s"] <= 10.5,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
