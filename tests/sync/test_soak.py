"""Exactly-once soak: approved commits through a proxy that fails 30% of requests, while the
process sending them is killed with SIGKILL at random moments and while its token is rotated.

Afterwards the server holds exactly one copy of every resource of every commit (counted on the
server by identifier, not through the proxy), none is missing, and the local store shows every
commit confirmed. Once per vendor profile: generic-r4 (transaction Bundles with ifNoneExist),
epic-like (create + read-back), oracle-like (201 with an empty body and a Location, emulated by
the proxy rewriting the answers).

The worker signs in as the app does after a restart (a kept refresh token) against a sandbox
whose access tokens live 3 s, so it renews them through the proxy all along: the token endpoint
fails too (503/429 with Retry-After, also "²"; an HTML page or a body that is not JSON with
status 200; unreachable), each kind at least once. Every other kill lands at the moment the
proxy sees a token renewal (the server rotates the refresh token, the worker dies before it can
keep the new one): the next worker finds its refresh token retired, stops with "sign-in ended",
the test signs in again, and the commits paused for the sign-in go on with the new one.

Size: ``SOAK_COMMITS`` and ``SOAK_KILLS``: 300 and 10 by default (the issue's figures; figures in
docs/performance.md); 50 and 5 when ``CI`` is set, to keep the suite fast. The fault plans are
seeded per profile, so a failure replays as far as timing allows.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from app.domain.outbox import OutboxState
from app.fhir.profiles import load_profile
from app.store.store import open_store
from tests.support.fault_proxy import (
    DEFAULT_MIX,
    PASS,
    Fault,
    FaultKind,
    ProxyRequest,
    ProxyThread,
    RandomFaults,
    ScriptedFaults,
)
from tests.support.servers import REPO, RunningServer, start_sandbox
from tests.sync.commits import clinical_commit
from tests.sync.runner_fixtures import PROFILES, RewritingProxy, copies_of_many, offline_launch
from tests.sync.soak_worker import EXIT_DONE, EXIT_SIGN_IN_ENDED, save_sign_in

CI = bool(os.environ.get("CI"))
COMMITS = int(os.environ.get("SOAK_COMMITS", "50" if CI else "300"))
KILLS = int(os.environ.get("SOAK_KILLS", "5" if CI else "10"))
RATE = 0.3
TOKEN_TTL = 3  # seconds: the worker renews its access token all along
# + an answer later than the worker's 1 s read timeout, and Retry-After values that are no
# HTTP values ("²"; "٣" sent as its UTF-8 bytes): ignored, the backoff applies
MIX = (
    *DEFAULT_MIX,
    Fault.slow(1.5),
    Fault.http(503, "²"),
    Fault.http(429, "٣".encode().decode("latin-1")),
)
TOKEN_MIX = (
    Fault.http(503, "1"),
    Fault.http(429, "²"),
    Fault.html_page(),
    Fault.not_json(),
    Fault.drop_before(),
)

pytestmark = pytest.mark.slow


def not_metadata(request: ProxyRequest) -> bool:
    return not request.path.endswith("/metadata")


@pytest.fixture(scope="module")
def soak_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_sandbox(
        tmp_path_factory.mktemp("soak"), token_ttl=TOKEN_TTL, auto_login="prac-1"
    )
    yield server
    server.stop()


class SoakPlan:
    """The proxy's faults: ``MIX`` on FHIR requests; on the token endpoint, each kind of
    ``TOKEN_MIX`` once, then ``TOKEN_MIX`` at random; and, when armed, a kill of the worker at
    the next token renewal (then forwarded: the server rotates, nobody keeps the new token)."""

    def __init__(self, seed: int, token_path: str) -> None:
        self.fhir = RandomFaults(seed, RATE, MIX, match=not_metadata)
        # each kind once, between renewals that go through (so that sending goes on)
        self.token_first = ScriptedFaults([f for fault in TOKEN_MIX for f in (PASS, fault)])
        self.token_random = RandomFaults(seed + 1, RATE, TOKEN_MIX, match=lambda r: True)
        self.token_path = token_path
        self.token_requests = 0
        self.token_faults: Counter[Fault] = Counter()
        self.rotation_kills = 0
        self._kill: Callable[[], None] | None = None
        self._lock = threading.Lock()

    def kill_at_renewal(self, kill: Callable[[], None] | None) -> None:
        with self._lock:
            self._kill = kill

    def __call__(self, request: ProxyRequest) -> Fault:
        if request.path != self.token_path:
            return self.fhir(request)
        self.token_requests += 1
        with self._lock:
            kill, self._kill = self._kill, None
        if kill is not None:
            self.rotation_kills += 1
            return Fault.kill(kill)
        fault = self.token_first(request)
        if fault.kind is FaultKind.PASS:
            fault = self.token_random(request)
        if fault.kind is not FaultKind.PASS:
            self.token_faults[fault] += 1
        return fault


def sigkill(pid: int) -> Callable[[], None]:
    def kill() -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)

    return kill


@pytest.mark.parametrize("profile_name", PROFILES)
def test_exactly_once_through_faults_and_kills(
    soak_sandbox: RunningServer, tmp_path: Path, profile_name: str
) -> None:
    server = soak_sandbox
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
    upstream = server.fhir_base.rsplit("/fhir", 1)[0]
    proxy = ProxyThread(
        RewritingProxy(upstream, lambda r: Fault.pass_through(),
                       empty_create_body=profile_name == "oracle-like")
    )  # fmt: skip
    proxy.start()
    kept = tmp_path / "user" / "sign-in.json"

    def sign_in() -> None:
        token_url, refresh_token = offline_launch(server, via=proxy.base)
        save_sign_in(kept, token_url, server.client_id, refresh_token)

    sign_in()
    token_url = json_of(kept)["token_url"]
    plan = SoakPlan(rng.randrange(1 << 30), urlsplit(token_url).path)
    proxy.proxy.plan = plan
    env = dict(os.environ, SOAK_SIGN_IN=str(kept))
    args = [
        sys.executable,
        "-m",
        "tests.sync.soak_worker",
        str(store_path),
        proxy.base + "/fhir",
        profile_name,
    ]
    kills = sign_ins = 0
    exits: list[int] = []
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
                if kills % 2 == 0:
                    if worker.poll() is None:
                        sigkill(worker.pid)()
                else:
                    # at the next token renewal the proxy sees (within TOKEN_TTL): the server
                    # rotates the refresh token, the worker dies before it can keep the new one
                    plan.kill_at_renewal(sigkill(worker.pid))
                    try:
                        worker.wait(timeout=4 * TOKEN_TTL)
                    except subprocess.TimeoutExpired:
                        sigkill(worker.pid)()
                    plan.kill_at_renewal(None)
            code = worker.wait(timeout=600)
            exits.append(code)
            if code == -signal.SIGKILL:
                kills += 1
                continue
            if code == EXIT_SIGN_IN_ENDED:
                assert sign_ins <= 2 * KILLS + 5, "signing in again does not help"
                sign_ins += 1
                sign_in()
                continue
            assert code == EXIT_DONE, log.read_text()[-3000:]
            break
    finally:
        if worker.poll() is None:
            sigkill(worker.pid)()
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
    copies = copies_of_many(server, commits)
    token_faults = {
        f"{f.kind.value} {f.status or ''} {f.content_type}".strip(): n
        for f, n in plan.token_faults.items()
    }
    # the soak's figures, shown with -s (docs/performance.md quotes them)
    print(  # noqa: T201
        f"\nsoak {profile_name}: {n_commits} commits, {len(copies)} resources, {kills} SIGKILLs "
        f"({plan.rotation_kills} during token rotation), {sign_ins} new sign-ins, "
        f"{requests} requests ({plan.token_requests} token), "
        f"faults {dict((k.value, n) for k, n in injected.items())}, token faults {token_faults}, "
        f"{elapsed:.0f} s; worker exits {exits}"
    )
    # Every kill that could land did (a worker that finished all the work cannot be killed
    # mid-sync any more); at least one landed while commits were still being sent.
    assert kills >= 1
    assert kills == KILLS or worker.returncode == 0
    assert plan.rotation_kills >= 1 or KILLS < 2
    # a renewal the worker died in retired its refresh token: the next one had to sign in again
    assert sign_ins >= 1 or plan.rotation_kills == 0
    assert sum(injected.values()) >= RATE / 3 * requests  # the faults really happened
    assert set(plan.token_faults) >= set(TOKEN_MIX)  # each token endpoint fault at least once
    assert states == Counter({OutboxState.CONFIRMED: n_commits}), summary.counts
    missing = [k for k, n in copies.items() if n == 0]
    doubled = [k for k, n in copies.items() if n > 1]
    assert not missing and not doubled, (missing[:5], doubled[:5])
    assert len(copies) == sum(len(c.writes) for c in commits)


def json_of(path: Path) -> dict[str, str]:
    data: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    return data
