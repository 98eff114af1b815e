"""The token endpoint failing while a commit is being sent (issue 10 items 3 and 9), over real
HTTP: the app's own auth flow (SmartAuth, TokenManager, TokenEndpoint) renews the access token
through the fault proxy, in front of the sandbox.

The token endpoint answers 503 or 429 (with ``Retry-After``, also an unreadable one), a 200 HTML
page, a 200 that is not JSON, or cannot be reached — proactively (the token is about to expire)
or reactively (after a 401). The commit leaves "Sending" in that pass, waits to retry with words
that say the session is intact, and is then sent exactly once with the same sign-in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from app.domain.outbox import OutboxState, SyncEvent
from app.domain.retry import BackoffPolicy
from app.fhir.client import FhirClient
from app.fhir.profiles import load_profile
from app.smart.tokens import TokenManager
from app.store.store import Store, open_store
from app.sync.runner import SyncRunner
from tests.support.fault_proxy import Fault, FaultProxy, ScriptedFaults
from tests.support.servers import RunningServer
from tests.sync.commits import clinical_commit
from tests.sync.runner_fixtures import offline_launch, refreshing_auth, server_copies

S, E = OutboxState, SyncEvent
FAST = BackoffPolicy(
    base=timedelta(milliseconds=50), cap=timedelta(milliseconds=200), floor=timedelta(0)
)
TOKEN_FAULTS = {
    "503+Retry-After": (Fault.http(503, "1"), "not available just now (HTTP 503)"),
    "429+Retry-After ²": (Fault.http(429, "²"), "not available just now (HTTP 429)"),
    "html 200": (Fault.html_page(), "answered with a web page"),
    "not json 200": (Fault.not_json(), "answered with something else"),
    "unreachable": (Fault.drop_before(), "cannot be reached"),
}


@dataclasses.dataclass
class Rig:
    proxy: FaultProxy
    store: Store
    fhir: FhirClient
    tokens: TokenManager
    token_path: str
    lock_path: Path

    def arm(self, fault: Fault) -> None:
        path = self.token_path
        self.proxy.plan = ScriptedFaults([fault], match=lambda r: r.path == path)

    def runner(self) -> SyncRunner:
        return SyncRunner(
            self.store.outbox, self.fhir, profile=load_profile("generic-r4"),
            lock_path=self.lock_path, idle_poll=0.2,
        )  # fmt: skip


@pytest.fixture
async def rig(sandbox_server: RunningServer, tmp_path: Path) -> AsyncIterator[Rig]:
    origin = sandbox_server.fhir_base.rsplit("/fhir", 1)[0]
    async with FaultProxy(origin) as proxy:
        token_url, refresh_token = offline_launch(sandbox_server, via=proxy.base)
        store = open_store(tmp_path / "user" / "store.db")
        store.outbox.policy = FAST
        async with httpx.AsyncClient(timeout=httpx.Timeout(10.0)) as http:
            tokens, auth = refreshing_auth(http, token_url, sandbox_server.client_id, refresh_token)
            fhir = FhirClient(http, proxy.base + "/fhir", auth)
            try:
                yield Rig(proxy, store, fhir, tokens, urlsplit(token_url).path,
                          tmp_path / "user" / "sync.lock")  # fmt: skip
            finally:
                store.close()


def expire(tokens: TokenManager, *, rejected: bool) -> None:
    """Make the next request renew the token: it is about to expire (proactive), or the EHR
    will refuse it with 401 (reactive)."""
    current = tokens.current
    assert current is not None
    if rejected:
        later = datetime.now(UTC) + timedelta(hours=1)
        tokens.set(dataclasses.replace(current, access_token="revoked", expires_at=later))
    else:
        tokens.set(dataclasses.replace(current, expires_at=datetime.now(UTC)))


def token_requests(proxy: FaultProxy, path: str) -> int:
    return sum(1 for _m, target, _k in proxy.log if target.split("?")[0] == path)


@pytest.mark.parametrize("when", ["proactive", "after 401"])
@pytest.mark.parametrize("name", list(TOKEN_FAULTS))
async def test_a_failing_token_endpoint_leaves_the_commit_retrying_not_sending(
    rig: Rig, sandbox_server: RunningServer, name: str, when: str
) -> None:
    fault, words = TOKEN_FAULTS[name]
    commit = rig.store.outbox.enqueue_approval(clinical_commit(), "{}")
    async with rig.runner() as runner:
        await runner.capabilities()  # signed in: the first renewal went through
        expire(rig.tokens, rejected=when == "after 401")
        rig.arm(fault)
        await runner.run_once()
        item = rig.store.outbox.item(commit.commit_id)
        assert item.state is S.RETRY_WAIT, item
        assert item.last_event is E.NOT_SENT
        assert words in (item.last_error or "")
        assert "Sign in again" not in (item.last_error or "")
        if name == "503+Retry-After":  # the sign-in service's Retry-After is honoured
            assert item.next_attempt_at is not None
            assert item.next_attempt_at - (item.updated_at or datetime.now(UTC)) >= timedelta(
                milliseconds=900
            )
        assert rig.tokens.current is not None  # still signed in
        summary = await runner.drain(timeout=30)
    assert summary.confirmed == 1, summary.counts
    assert rig.proxy.injected[fault.kind] == 1
    assert token_requests(rig.proxy, rig.token_path) >= 3  # sign-in, the faulted one, the retry
    assert server_copies(sandbox_server, commit) == [1] * len(commit.writes)


async def test_sync_now_after_a_failed_renewal_sends_at_once(
    rig: Rig, sandbox_server: RunningServer
) -> None:
    """ "Sync now" helps: the commit waits in RETRY_WAIT (not "Sending"), so it is made due."""
    rig.store.outbox.policy = BackoffPolicy(base=timedelta(minutes=1), floor=timedelta(minutes=1))
    commit = rig.store.outbox.enqueue_approval(clinical_commit(), "{}")
    async with rig.runner() as runner:
        await runner.capabilities()
        expire(rig.tokens, rejected=False)
        rig.arm(Fault.html_page())
        await runner.run_once()
        assert rig.store.outbox.item(commit.commit_id).state is S.RETRY_WAIT
        runner.sync_now()
        await runner.run_once()
    assert rig.store.outbox.item(commit.commit_id).state is S.CONFIRMED
    assert server_copies(sandbox_server, commit) == [1] * len(commit.writes)
