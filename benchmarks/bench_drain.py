"""Drain the outbox: 1,000 queued commits against the sandbox with 50 ms added per request.

    .venv/bin/python benchmarks/bench_drain.py [--commits 1000] [--latency 0.05]
        [--concurrency 6] [--baseline-commits 1000] [--server sandbox|peer]

Each commit is a note, two observations, a task and a Provenance (5 resources). Measured:

- the sync runner (generic-r4: one transaction Bundle per commit with ifNoneExist per entry,
  up to ``--concurrency`` commits at once, read-back compared from the returned copies);
- the naive baseline: every resource in its own POST, one after the other (no transaction, no
  concurrency), the note first so the others can refer to its server id.

Figures: wall time, HTTP requests (counted by the proxy), requests per commit, the speed-up
(goal >= 10x), and the longest stall of the event loop while the runner drained (a 10 ms
ticker on the same loop; the UI shares its loop with the runner through qasync).
``--baseline-commits`` smaller than ``--commits`` times a sample and scales it linearly.

The latency proxy (benchmarks/latency_proxy.py) runs in its own process, as the network does
for the app: its CPU and its share of the GIL are not the client's. Issue 15: the store is the
one the app opens (app.bootstrap.open_site_store: encrypted, audit hooks), and the time splits into network (the added latency), server (the upstream's answer
times, measured by the proxy), client CPU (the event loop's thread and the store thread,
separately) and store transactions. The physical limit is ceil(N / concurrency) x (requests
per commit x (latency + server time per request)); goal: the drain within 1.25x of it, client
CPU <= 4 ms per commit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.bootstrap import open_site_store, settle_heap
from app.domain.commit import resolve_references
from app.domain.site import Site
from app.fhir.client import FhirClient
from app.fhir.profiles import load_profile
from app.smart.http import create_http_client
from app.sync.runner import SyncRunner
from benchmarks.latency_proxy import ProxyProcess
from tests.support.servers import RunningServer, start_peer, start_sandbox
from tests.sync.commits import clinical_commit
from tests.sync.runner_fixtures import TestAuth, copies_of_many, launch_token


class LoopLag:
    """The longest time the event loop was late for a 10 ms tick."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(0.01)
            self.worst = max(self.worst, loop.time() - start - 0.01)

    def __enter__(self) -> LoopLag:
        self._task = asyncio.ensure_future(self._tick())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


def store_thread_cpu() -> float:
    """CPU seconds of the runner's store thread (app.sync.store_thread), 0 before it exists."""
    for thread in threading.enumerate():
        if thread.name.startswith("outbox-store") and thread.ident is not None:
            return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
    return 0.0


class Transactions:
    """Counts the store's committed transactions and the SQL statements it sent to SQLite
    (BEGIN, SAVEPOINT, RELEASE and COMMIT included; an executemany counts once): those sent
    through SQLAlchemy, and those app.store.prepared runs on the DBAPI cursor where it exists.
    Counted in Python where they are sent: SQLite's trace callback would take the GIL once
    more per statement, in the middle of the store thread's work it measures."""

    def __init__(self, engine: Any) -> None:
        self.count = 0
        self.statements = 0
        from sqlalchemy import event

        event.listen(engine, "commit", self._committed)
        event.listen(engine, "before_cursor_execute", self._statement)
        try:
            from app.store.prepared import Prepared
        except ImportError:  # main before issue 15's third step
            return
        running = Prepared._running  # noqa: SLF001

        def counted(prepared: Any, *args: Any) -> Any:
            self.statements += 1
            return running(prepared, *args)

        Prepared._running = counted  # type: ignore[method-assign]  # noqa: SLF001

    def _committed(self, _conn: object) -> None:
        self.count += 1
        self.statements += 1

    def _statement(self, *_args: object) -> None:
        self.statements += 1


async def drain(server: RunningServer, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    profile = load_profile("generic-r4")
    protected = open_site_store(
        workdir / "runner",
        is_sandbox=True,  # encrypted like any site's; the key in a file (no OS keyring here)
        actor=lambda: "Practitioner/prac-1",
        destination=lambda: server.fhir_base,
    )
    store = protected.store
    commits = []
    with store.db.write() as conn:
        for i in range(args.commits):
            commits.append(
                store.outbox.enqueue_approval(
                    clinical_commit(profile, text=f"bench note {i}"), "{}", conn=conn
                )
            )
    origin = server.fhir_base.rsplit("/fhir", 1)[0]
    with ProxyProcess(origin, args.latency) as proxy:
        # the site's client as the app builds it (app.smart.http: TLS context, event hooks,
        # cookie jar), not a bare httpx.AsyncClient
        site = Site(id="bench", display_name="Bench", fhir_base=proxy.base + "/fhir", client_id="b")
        async with create_http_client(site, timeout=httpx.Timeout(60)) as http:
            fhir = FhirClient(
                http, proxy.base + "/fhir", TestAuth(launch_token(server)), max_concurrency=16
            )
            runner = SyncRunner(
                store.outbox,
                fhir,
                profile=profile,
                concurrency=args.concurrency,
                lock_path=workdir / "runner" / "sync.lock",
            )
            await runner.capabilities()
            settle_heap()  # as the app does once it has started (app.main.run_gui)
            proxy.reset()
            transactions = Transactions(store.db.engine)
            start, loop_cpu, store_cpu = time.perf_counter(), time.thread_time(), store_thread_cpu()
            with LoopLag() as lag:
                summary = await runner.drain(timeout=3600)
            elapsed = time.perf_counter() - start
            loop_cpu, store_cpu = time.thread_time() - loop_cpu, store_thread_cpu() - store_cpu
            await runner.aclose()
        requests, server_seconds = proxy.requests, proxy.upstream_seconds
    copies = copies_of_many(server, commits)
    store.close()
    return {
        "confirmed": summary.confirmed,
        "seconds": elapsed,
        "requests": requests,
        "server_seconds": server_seconds,
        "loop_cpu": loop_cpu,
        "store_cpu": store_cpu,
        "transactions": transactions.count,
        "statements": transactions.statements,
        "loop_lag_ms": lag.worst * 1000,
        "exactly_once": all(n == 1 for n in copies.values()),
        "resources": len(copies),
    }


async def baseline(server: RunningServer, args: argparse.Namespace) -> dict[str, Any]:
    profile = load_profile("generic-r4")
    n = args.baseline_commits
    commits = [clinical_commit(profile, text=f"baseline note {i}") for i in range(n)]
    origin = server.fhir_base.rsplit("/fhir", 1)[0]
    with ProxyProcess(origin, args.latency) as proxy:
        async with httpx.AsyncClient(timeout=60) as http:
            fhir = FhirClient(http, proxy.base + "/fhir", TestAuth(launch_token(server)))
            proxy.reset()
            start = time.perf_counter()
            for commit in commits:
                resolved: dict[str, str] = {}
                for w in commit.writes:
                    body = json.loads(resolve_references(w.payload_json, resolved))
                    response = await fhir.create(body)
                    assert response.body is not None
                    resolved[w.full_url] = f"{w.resource_type}/{response.body['id']}"
            elapsed = time.perf_counter() - start
        requests = proxy.requests
    scale = args.commits / n
    return {
        "commits_measured": n,
        "seconds": elapsed * scale,
        "requests": int(requests * scale),
        "scaled": scale != 1,
    }


async def main_async(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-drain-"))
    start = start_sandbox if args.server == "sandbox" else start_peer
    server = start(workdir / "server", auto_login="prac-1")
    try:
        ours = await drain(server, args, workdir)
        naive = await baseline(server, args)
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)  # the store and the sandbox's files
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"server: {args.server}; {args.commits} commits x 5 resources; "
        f"+{args.latency * 1000:.0f} ms per request; concurrency {args.concurrency}"
    )
    print(
        f"sync runner : {ours['seconds']:7.1f} s  {ours['requests']:6d} requests "
        f"({ours['requests'] / args.commits:.2f}/commit)  confirmed {ours['confirmed']}  "
        f"exactly once: {ours['exactly_once']} ({ours['resources']} resources counted)"
    )
    note = f" (scaled from {naive['commits_measured']} commits)" if naive["scaled"] else ""
    print(
        f"naive POSTs : {naive['seconds']:7.1f} s  {naive['requests']:6d} requests "
        f"({naive['requests'] / args.commits:.2f}/commit){note}"
    )
    print(f"speed-up    : {naive['seconds'] / ours['seconds']:.1f}x (goal >= 10x)")
    print_split(ours, args)
    print(f"event loop  : longest stall {ours['loop_lag_ms']:.0f} ms while draining (goal <= 50)")
    print(f"peak RSS    : {rss:.0f} MB (this process; the latency proxy runs in its own)")


def print_split(ours: dict[str, Any], args: argparse.Namespace) -> None:
    n, rounds = args.commits, -(-args.commits // args.concurrency)
    per_commit = ours["requests"] / n
    server_per_request = ours["server_seconds"] / max(1, ours["requests"])
    limit = rounds * per_commit * (args.latency + server_per_request)
    client_ms = (ours["loop_cpu"] + ours["store_cpu"]) * 1000 / n
    print(
        f"time split  : network {rounds * per_commit * args.latency:.1f} s + server "
        f"{rounds * per_commit * server_per_request:.1f} s on the critical path "
        f"({server_per_request * 1000:.1f} ms per request, {ours['server_seconds']:.1f} s in all) "
        f"= limit {limit:.1f} s; the drain took {ours['seconds']:.1f} s = "
        f"{ours['seconds'] / limit:.2f}x the limit (goal <= 1.25x)"
    )
    print(
        f"client CPU  : {client_ms:.1f} ms per commit (goal <= 4): event loop "
        f"{ours['loop_cpu'] * 1000 / n:.1f} ms, store thread {ours['store_cpu'] * 1000 / n:.1f} ms; "
        f"{ours['transactions'] / n:.2f} store transactions and "
        f"{ours['statements'] / n:.1f} SQL statements per commit"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=6)
    parser.add_argument("--baseline-commits", type=int, default=1000)
    parser.add_argument("--server", choices=("sandbox", "peer"), default="sandbox")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
