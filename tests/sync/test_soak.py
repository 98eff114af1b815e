"""Exactly-once soak: approved commits through a proxy that fails 30% of requests, while the
process sending them is killed with SIGKILL at random moments.

Afterwards the server holds exactly one copy of every resource of every commit (counted on the
server by identifier, not through the proxy), none is missing, and the local store shows every
commit confirmed. Once per vendor profile: generic-r4 (transaction Bundles with ifNoneExist),
epic-like (create + read-back), oracle-like (201 with an empty body and a Location, emulated by
the proxy rewriting the answers).

Size: ``SOAK_COMMITS`` and ``SOAK_KILLS``: 300 and 10 by default (the issue's figures, about
3.5 minutes for the three profiles on 2 cores); 50 and 5 when ``CI`` is set, to keep the suite
fast. The fault plan is seeded per profile, so a failure replays.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from app.domain.outbox import OutboxState
from app.fhir.profiles import load_profile
from app.store.store import open_store
from tests.support.fault_proxy import DEFAULT_MIX, Fault, ProxyRequest, ProxyThread, RandomFaults
from tests.support.servers import REPO, RunningServer
from tests.sync.commits import clinical_commit
from tests.sync.runner_fixtures import PROFILES, RewritingProxy, copies_of_many, launch_token

CI = bool(os.environ.get("CI"))
COMMITS = int(os.environ.get("SOAK_COMMITS", "50" if CI else "300"))
KILLS = int(os.environ.get("SOAK_KILLS", "5" if CI else "10"))
RATE = 0.3
MIX = (*DEFAULT_MIX, Fault.slow(1.5))  # + an answer later than the worker's 1 s read timeout

pytestmark = pytest.mark.slow


def not_metadata(request: ProxyRequest) -> bool:
    return not request.path.endswith("/metadata")


@pytest.mark.parametrize("profile_name", PROFILES)
def test_exactly_once_through_faults_and_kills(
    sandbox_server: RunningServer, tmp_path: Path, profile_name: str
) -> None:
    profile = load_profile(profile_name)
    # epic-like writes one resource per commit (the others five): give it as many resources to
    # send, so the kills land while it is still sending
    n_commits = COMMITS * (5 if profile_name == "epic-like" else 1)
    store_path = tmp_path / "user" / "store.db"
    store = open_store(store_path)
    with store.db.write() as conn:
        commits = [
            store.outbox.enqueue_approval(
                clinical_commit(profile, text=f"soak {i}"), "{}", conn=conn
            )
            for i in range(n_commits)
        ]
    store.close()
    rng = random.Random(f"soak-{profile_name}")
    plan = RandomFaults(seed=rng.randrange(1 << 30), rate=RATE, mix=MIX, match=not_metadata)
    upstream = sandbox_server.fhir_base.rsplit("/fhir", 1)[0]
    proxy = ProxyThread(
        RewritingProxy(upstream, plan, empty_create_body=profile_name == "oracle-like")
    )
    proxy.start()
    env = dict(os.environ, SOAK_TOKEN=launch_token(sandbox_server))
    args = [
        sys.executable,
        "-m",
        "tests.sync.soak_worker",
        str(store_path),
        proxy.base + "/fhir",
        profile_name,
    ]
    kills = 0
    log = tmp_path / "worker.log"
    started = time.monotonic()
    try:
        while True:
            with open(log, "ab") as out:
                worker = subprocess.Popen(
                    args,
                    cwd=REPO,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            if kills < KILLS:
                time.sleep(rng.uniform(0.8, 2.5))  # start-up is ~0.7 s: kill mid-sync
                if worker.poll() is None:
                    os.kill(worker.pid, signal.SIGKILL)
                    worker.wait(10)
                    kills += 1
                    continue
            code = worker.wait(timeout=600)
            assert code == 0, log.read_text()[-3000:]
            break
    finally:
        if worker.poll() is None:
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(10)
        injected = Counter(proxy.injected)
        requests = proxy.requests
        proxy.stop()
    elapsed = time.monotonic() - started

    store = open_store(store_path)
    try:
        summary = store.outbox.summary()
        states = Counter(row.state for row in store.outbox.list_items())
    finally:
        store.close()
    copies = copies_of_many(sandbox_server, commits)
    print(
        f"\nsoak {profile_name}: {n_commits} commits, {len(copies)} resources, {kills} SIGKILLs, "
        f"{requests} requests, faults {dict((k.value, n) for k, n in injected.items())}, "
        f"{elapsed:.0f} s"
    )
    # Every kill that could land did (a worker that finished all the work cannot be killed
    # mid-sync any more); at least one landed while commits were still being sent.
    assert kills >= 1
    assert kills == KILLS or worker.returncode == 0
    assert sum(injected.values()) >= RATE / 3 * requests  # the faults really happened
    assert states == Counter({OutboxState.CONFIRMED: n_commits}), summary.counts
    missing = [k for k, n in copies.items() if n == 0]
    doubled = [k for k, n in copies.items() if n > 1]
    assert not missing and not doubled, (missing[:5], doubled[:5])
    assert len(copies) == sum(len(c.writes) for c in commits)
