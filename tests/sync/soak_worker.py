"""The process the soak test kills: opens the store and syncs until nothing is left to send.

    python -m tests.sync.soak_worker STORE FHIR_BASE PROFILE   (token in $SOAK_TOKEN)

Exactly what the app does on start (lock, crash recovery, passes), with a fast backoff so the
test does not wait minutes for retries; prints "ready" once it holds the lock, "done" at the end.
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import timedelta
from pathlib import Path

import httpx

from app.domain.retry import BackoffPolicy
from app.fhir.client import FhirClient
from app.fhir.profiles import load_profile
from app.store.store import open_store
from app.sync.runner import SyncRunner
from tests.sync.runner_fixtures import TestAuth

FAST = BackoffPolicy(
    base=timedelta(milliseconds=50),
    cap=timedelta(milliseconds=500),
    floor=timedelta(milliseconds=10),
)


async def main(store_path: Path, fhir_base: str, profile_name: str) -> int:
    store = open_store(store_path)
    store.outbox.policy = FAST
    timeout = httpx.Timeout(5.0, read=1.0)  # a slow answer becomes a read timeout
    async with httpx.AsyncClient(timeout=timeout) as http:
        fhir = FhirClient(http, fhir_base, TestAuth(os.environ["SOAK_TOKEN"]))
        runner = SyncRunner(
            store.outbox,
            fhir,
            profile=load_profile(profile_name),
            lock_path=store_path.with_name("sync.lock"),
            idle_poll=0.5,
        )
        await runner.start()
        print("ready", flush=True)
        summary = await runner.drain(timeout=600)
        await runner.aclose()
    store.close()
    print("done", dict((s.value, n) for s, n in summary.counts.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(Path(sys.argv[1]), sys.argv[2], sys.argv[3])))
