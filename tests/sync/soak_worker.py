"""The process the soak test kills: opens the store and syncs until nothing is left to send.

    python -m tests.sync.soak_worker STORE FHIR_BASE PROFILE   (the kept sign-in: $SOAK_SIGN_IN)

Exactly what the app does on start (lock, crash recovery, passes), with a fast backoff so the
test does not wait minutes for retries, and the app's own auth flow (SmartAuth, TokenManager,
TokenEndpoint): short-lived access tokens are renewed with the kept refresh token, and each
rotated refresh token is saved (atomically, as the keyring would) before it is used.
Prints "ready" once it holds the lock; exits 0 ("done") when nothing is left to send, 3
("paused") when the sign-in has ended (the test signs in again and starts it anew).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import timedelta
from pathlib import Path

import httpx

from app.domain.retry import BackoffPolicy
from app.fhir.client import FhirClient
from app.fhir.profiles import load_profile
from app.smart.tokens import TokenSet
from app.store.store import open_store
from app.sync.runner import SyncRunner
from tests.sync.runner_fixtures import refreshing_auth

FAST = BackoffPolicy(
    base=timedelta(milliseconds=50),
    cap=timedelta(milliseconds=500),
    floor=timedelta(milliseconds=10),
)
EXIT_DONE, EXIT_SIGN_IN_ENDED = 0, 3


def save_sign_in(path: Path, token_url: str, client_id: str, refresh_token: str) -> None:
    """Replace the kept sign-in in one step: a kill leaves the old one or the new one."""
    data = {"token_url": token_url, "client_id": client_id, "refresh_token": refresh_token}
    partial = path.with_suffix(".partial")
    with open(partial, "w", encoding="utf-8") as out:
        json.dump(data, out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, path)


async def main(store_path: Path, fhir_base: str, profile_name: str) -> int:
    kept_path = Path(os.environ["SOAK_SIGN_IN"])
    kept = json.loads(kept_path.read_text(encoding="utf-8"))
    store = open_store(store_path)
    store.outbox.policy = FAST
    timeout = httpx.Timeout(5.0, read=1.0)  # a slow answer becomes a read timeout
    async with httpx.AsyncClient(timeout=timeout) as http:

        async def keep(tokens: TokenSet) -> None:
            if tokens.refresh_token is not None:
                await asyncio.to_thread(
                    save_sign_in, kept_path, kept["token_url"], kept["client_id"],
                    tokens.refresh_token,
                )  # fmt: skip

        _tokens, auth = refreshing_auth(
            http, kept["token_url"], kept["client_id"], kept["refresh_token"], on_rotated=keep
        )
        signed_in = asyncio.Event()
        signed_in.set()  # started with a kept sign-in, as the app after restoring it
        runner = SyncRunner(
            store.outbox,
            FhirClient(http, fhir_base, auth),
            profile=load_profile(profile_name),
            lock_path=store_path.with_name("sync.lock"),
            wait_until_signed_in=signed_in.wait,
            idle_poll=0.5,
        )
        await runner.start()
        print("ready", flush=True)
        summary = await runner.drain(timeout=600)
        ended = runner.status.paused_for_sign_in
        await runner.aclose()
    store.close()
    counts = {s.value: n for s, n in summary.counts.items() if n}
    print("paused" if ended else "done", counts, flush=True)
    return EXIT_SIGN_IN_ENDED if ended else EXIT_DONE


if __name__ == "__main__":
    sys.exit(asyncio.run(main(Path(sys.argv[1]), sys.argv[2], sys.argv[3])))
