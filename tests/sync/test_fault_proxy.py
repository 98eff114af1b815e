"""The fault-injecting proxy (tests/support/fault_proxy.py) against a trivial local server and
the real EHRs — and the pure sync core driven through it: a response lost after the server
committed is reconciled by identifier, never re-sent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx
import pytest

from app.domain.outbox import NetworkErrorKind, SyncEvent, classify_response
from app.domain.retry import parse_retry_after
from app.fhir.profiles import load_profile
from app.sync.planner import capabilities_from, plan_send
from app.sync.reconciliation import plan_reconcile, reconcile_event
from tests.support.fault_proxy import (
    Fault,
    FaultKind,
    FaultProxy,
    ProxyRequest,
    RandomFaults,
    ScriptedFaults,
    proxy_in_thread,
)
from tests.support.http_thread import ClosingHTTPServer, serving
from tests.support.launch import discover, standalone_launch
from tests.support.servers import RunningServer
from tests.sync.commits import clinical_commit


class Upstream:
    """A tiny HTTP server: POST /items stores the body (201 + Location), GET /items lists them."""

    def __init__(self) -> None:
        self.items: list[bytes] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(
                self, status: int, body: dict[str, Any], extra: dict[str, str] | None = None
            ) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                owner.items.append(body)
                n = len(owner.items)
                self._send(
                    201,
                    {"id": n, "self": f"{owner.base}/items/{n}"},
                    {"Location": f"{owner.base}/items/{n}"},
                )

            def do_GET(self) -> None:
                self._send(200, {"count": len(owner.items), "next": f"{owner.base}/items?page=2"})

        self.server = ClosingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.port}"
        self._serving = serving(self.server)

    def __enter__(self) -> Upstream:
        self._serving.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._serving.__exit__(None, None, None)


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    with Upstream() as server:
        yield server


def client(timeout: float = 5.0) -> httpx.Client:
    return httpx.Client(timeout=timeout, trust_env=False)


def test_pass_through_rewrites_upstream_addresses(upstream: Upstream) -> None:
    with proxy_in_thread(upstream.base) as proxy, client() as http:
        r = http.post(f"{proxy.base}/items", content=b"one")
        assert r.status_code == 201
        assert r.headers["Location"] == f"{proxy.base}/items/1"
        assert r.json()["self"] == f"{proxy.base}/items/1"
        assert http.get(f"{proxy.base}/items").json()["next"].startswith(proxy.base)
        assert (proxy.requests, proxy.forwarded) == (2, 2)
    assert upstream.items == [b"one"]


def test_drop_before_forwarding_reaches_nobody(upstream: Upstream) -> None:
    with (
        proxy_in_thread(upstream.base, ScriptedFaults([Fault.drop_before()])) as proxy,
        client() as http,
    ):
        with pytest.raises(httpx.RemoteProtocolError):
            http.post(f"{proxy.base}/items", content=b"x")
        assert proxy.forwarded == 0 and proxy.injected[FaultKind.DROP_BEFORE] == 1
    assert upstream.items == []


def test_drop_after_forwarding_loses_the_answer_of_a_committed_write(upstream: Upstream) -> None:
    with (
        proxy_in_thread(upstream.base, ScriptedFaults([Fault.drop_after()])) as proxy,
        client() as http,
    ):
        with pytest.raises(httpx.RemoteProtocolError):
            http.post(f"{proxy.base}/items", content=b"x")
        assert http.get(f"{proxy.base}/items").json()["count"] == 1  # next request passes
    assert upstream.items == [b"x"]
    assert (
        classify_response(None, NetworkErrorKind.CONNECTION_DROPPED, True)
        is SyncEvent.OUTCOME_UNKNOWN
    )


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [("7", timedelta(seconds=7)), ("Wed, 21 Oct 2015 07:28:00 GMT", timedelta(0))],
)
def test_injected_status_with_retry_after(
    upstream: Upstream, retry_after: str, expected: timedelta
) -> None:
    plan = ScriptedFaults([Fault.http(503, retry_after), Fault.http(429, "1")])
    with proxy_in_thread(upstream.base, plan) as proxy, client() as http:
        r = http.post(f"{proxy.base}/items", content=b"x")
        assert r.status_code == 503 and r.json()["resourceType"] == "OperationOutcome"
        assert parse_retry_after(r.headers["Retry-After"], datetime.now(UTC)) is not None
        assert (
            parse_retry_after(r.headers["Retry-After"], datetime(2015, 10, 21, 7, 28, tzinfo=UTC))
            == expected
        )
        assert http.post(f"{proxy.base}/items", content=b"y").status_code == 429
        assert http.post(f"{proxy.base}/items", content=b"z").status_code == 201
    assert upstream.items == [b"z"]


def test_500_after_the_server_committed(upstream: Upstream) -> None:
    with (
        proxy_in_thread(upstream.base, ScriptedFaults([Fault.http(500, forward=True)])) as proxy,
        client() as http,
    ):
        assert http.post(f"{proxy.base}/items", content=b"x").status_code == 500
    assert upstream.items == [b"x"]
    assert classify_response(500, None, True) is SyncEvent.OUTCOME_UNKNOWN


def test_slow_response_drives_a_read_timeout(upstream: Upstream) -> None:
    with (
        proxy_in_thread(upstream.base, ScriptedFaults([Fault.slow(1.0)])) as proxy,
        client(timeout=0.2) as http,
        pytest.raises(httpx.ReadTimeout),
    ):
        http.post(f"{proxy.base}/items", content=b"x")
    assert upstream.items == [b"x"]


def test_truncated_body(upstream: Upstream) -> None:
    with (
        proxy_in_thread(upstream.base, ScriptedFaults([Fault.truncated()])) as proxy,
        client() as http,
        pytest.raises(httpx.RemoteProtocolError),
    ):
        http.post(f"{proxy.base}/items", content=b"x")
    assert upstream.items == [b"x"]


def test_offline_refuses_connections_and_online_comes_back_on_the_same_port(
    upstream: Upstream,
) -> None:
    with proxy_in_thread(upstream.base) as proxy, client() as http:
        base = proxy.base
        proxy.go_offline()
        with pytest.raises(httpx.ConnectError):
            http.get(f"{base}/items")
        proxy.go_online()
        assert proxy.base == base
        assert http.get(f"{base}/items").status_code == 200


def test_chunked_request_bodies_are_forwarded(upstream: Upstream) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"hel"
        yield b"lo"

    with proxy_in_thread(upstream.base) as proxy, client() as http:
        assert http.post(f"{proxy.base}/items", content=chunks()).status_code == 201
    assert upstream.items == [b"hello"]


def _request(index: int, method: str = "POST") -> ProxyRequest:
    return ProxyRequest(index, method, "/fhir/Observation", (), b"")


def test_random_faults_are_deterministic_per_seed_and_spare_reads() -> None:
    a, b, c = (
        RandomFaults(seed=3, rate=0.5),
        RandomFaults(seed=3, rate=0.5),
        RandomFaults(seed=4, rate=0.5),
    )
    kinds = [[plan(_request(i)).kind for i in range(200)] for plan in (a, b, c)]
    assert kinds[0] == kinds[1] != kinds[2]
    faulted = sum(k is not FaultKind.PASS for k in kinds[0])
    assert 70 < faulted < 130
    assert all(
        RandomFaults(seed=1, rate=1.0)(_request(i, "GET")).kind is FaultKind.PASS for i in range(50)
    )
    assert all(
        RandomFaults(seed=1, rate=0.0)(_request(i)).kind is FaultKind.PASS for i in range(50)
    )


def test_scripted_faults_apply_to_matching_requests_only() -> None:
    plan = ScriptedFaults([Fault.drop_after()], match=lambda r: r.method == "POST")
    assert plan(_request(0, "GET")).kind is FaultKind.PASS
    assert plan(_request(1, "POST")).kind is FaultKind.DROP_AFTER
    assert plan(_request(2, "POST")).kind is FaultKind.PASS and plan.remaining == 0


async def test_async_context_manager_counts_requests(upstream: Upstream) -> None:
    async with (
        FaultProxy(upstream.base, ScriptedFaults([Fault.http(503, "1")])) as proxy,
        httpx.AsyncClient(timeout=5, trust_env=False) as http,
    ):
        statuses = [
            (await http.post(f"{proxy.base}/items", content=b"x")).status_code for _ in range(3)
        ]
    assert statuses == [503, 201, 201]
    assert (proxy.requests, proxy.forwarded, proxy.injected[FaultKind.STATUS]) == (3, 2, 1)
    assert len(upstream.items) == 2


# ---------------------------------------------------------------------- the real EHRs

SCOPE = "openid fhirUser launch/patient user/*.cruds"


def test_lost_answer_after_commit_is_reconciled_not_resent(ehr: RunningServer) -> None:
    """The planner's transaction / requests go through the proxy to the real server; the first
    write's answer is lost after the server committed it. The outcome is unknown, the
    reconciliation search finds every write exactly once, and nothing is sent again."""
    with httpx.Client(timeout=30, trust_env=False) as http:
        token = standalone_launch(
            http, discover(http, ehr.fhir_base), client_id=ehr.client_id, scope=SCOPE
        ).token
    plan_faults = ScriptedFaults([Fault.drop_after()], match=lambda r: r.method in ("POST", "PUT"))
    with (
        proxy_in_thread(ehr.fhir_base, plan_faults) as proxy,
        httpx.Client(
            base_url=proxy.base + "/",
            headers={
                "Authorization": f"Bearer {token['access_token']}",
                "Accept": "application/fhir+json",
            },
            timeout=30,
            trust_env=False,
        ) as fhir,
    ):
        caps = capabilities_from(fhir.get("metadata").json(), load_profile("generic-r4"))
        commit = clinical_commit()
        (request, *_) = plan_send(commit, caps).requests
        with pytest.raises(httpx.RemoteProtocolError):
            fhir.request(
                request.method, request.url, content=request.body, headers=dict(request.headers)
            )
        assert (
            classify_response(None, NetworkErrorKind.CONNECTION_DROPPED, True)
            is SyncEvent.OUTCOME_UNKNOWN
        )

        matches: dict[int, int] = {}
        for search in plan_reconcile(commit, caps):
            bundle = fhir.get(search.resource_type, params=dict(search.params)).json()
            matches[search.position] = sum(
                1
                for e in bundle.get("entry", [])
                if e.get("search", {}).get("mode", "match") == "match"
            )
        written = set(request.positions)
        expected = {p: (1 if p in written else 0) for p in range(len(commit.writes))}
        assert matches == expected
        event = reconcile_event(commit, matches)
        assert event is (
            SyncEvent.RECONCILED_PRESENT
            if written == set(expected)
            else SyncEvent.RECONCILED_PARTIAL
        )
        assert proxy.forwarded == 1 + len(matches) + 1  # write + searches + metadata
