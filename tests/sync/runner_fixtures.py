"""Helpers and fixtures for the runner tests (imported by the test modules, not a conftest, so
they stay next to the tests that use them).

Tokens come from a real standalone launch against the server (tests/support/launch.py); the
app's SmartAuth is stood in for by :class:`TestAuth`: a bearer token that can be swapped, and
that turns a 401 into ``SignInRequired`` as SmartAuth does when its one refresh is impossible.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from app.domain.commit import ApprovedCommit
from app.fhir.client import FhirClient
from app.fhir.profiles import VendorProfile, load_profile
from app.smart.discovery import DiscoverySource, SmartConfiguration
from app.smart.errors import SignInRequired
from app.smart.token_endpoint import TokenEndpoint
from app.smart.tokens import SmartAuth, TokenManager, TokenSet
from app.store.store import Store, open_store
from app.sync.runner import SyncRunner
from tests.support.fault_proxy import FaultPlan, FaultProxy
from tests.support.launch import discover, standalone_launch
from tests.support.servers import RunningServer

# no offline_access: when the access token ends, only a new sign-in helps (the hard case)
SCOPE = "openid fhirUser launch/patient user/*.cruds"
TIMEOUT = httpx.Timeout(10.0)
PROFILES = ("generic-r4", "epic-like", "oracle-like")
_tokens: dict[tuple[str, str], str] = {}


def launch_token(server: RunningServer, *, fresh: bool = False) -> str:
    key = (server.name, server.fhir_base)
    if fresh or key not in _tokens:
        with httpx.Client(timeout=TIMEOUT) as http:
            cfg = discover(http, server.fhir_base)
            result = standalone_launch(http, cfg, client_id=server.client_id, scope=SCOPE)
        _tokens[key] = str(result.token["access_token"])
    return _tokens[key]


OFFLINE_SCOPE = "openid fhirUser launch/patient offline_access user/*.cruds"


def offline_launch(server: RunningServer, *, via: str | None = None) -> tuple[str, str]:
    """A new sign-in with a refresh token: ``(token endpoint URL, refresh token)``. ``via``: the
    origin of a proxy in front of the server, so the app's refreshes go through it."""
    with httpx.Client(timeout=TIMEOUT) as http:
        cfg = discover(http, server.fhir_base)
        result = standalone_launch(http, cfg, client_id=server.client_id, scope=OFFLINE_SCOPE)
    token_url = cfg.token
    if via is not None:
        token_url = via.rstrip("/") + httpx.URL(token_url).raw_path.decode()
    return token_url, str(result.token["refresh_token"])


def refreshing_auth(
    http: httpx.AsyncClient,
    token_url: str,
    client_id: str,
    refresh_token: str,
    *,
    on_rotated: Callable[[TokenSet], Awaitable[None]] | None = None,
) -> tuple[TokenManager, SmartAuth]:
    """The app's own auth flow (SmartAuth, the single-flight TokenManager, TokenEndpoint) from
    a kept refresh token, as ``SmartSession.restore`` leaves it: the first request renews the
    access token. ``on_rotated`` stands in for the keyring: called with each new token set
    before it is used."""
    config = SmartConfiguration("", "", token_url, DiscoverySource.WELL_KNOWN)
    endpoint = TokenEndpoint(http, config, client_id)

    async def changed(_old: TokenSet, new: TokenSet) -> None:
        if on_rotated is not None:
            await on_rotated(new)

    manager = TokenManager(endpoint, on_tokens_changed=changed)
    now = datetime.now(UTC)
    expired = TokenSet("-", "Bearer", now, now, None, refresh_token=refresh_token)
    manager.set(expired)
    return manager, SmartAuth(manager)


class TestAuth(httpx.Auth):
    """A swappable bearer token; a 401 means "sign in again" (no refresh token here)."""

    __test__ = False

    def __init__(self, token: str) -> None:
        self.token = token
        self.rejections = 0

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token}"
        response = yield request
        if response.status_code == 401:
            self.rejections += 1
            raise SignInRequired()


@dataclass
class Harness:
    """A store, a FhirClient (to ``base``, maybe a proxy) and runners over them."""

    store: Store
    fhir: FhirClient
    auth: TestAuth
    lock_path: Path
    http: httpx.AsyncClient  # the FhirClient's (tests hook its requests)

    def runner(self, profile: str | VendorProfile, *, writer: Any = None, **kw: Any) -> SyncRunner:
        """``writer``: what the runner sends through instead of ``fhir`` (a fault injector)."""
        prof = load_profile(profile) if isinstance(profile, str) else profile
        kw.setdefault("lock_path", self.lock_path)
        kw.setdefault("resume_delay", 0.05)
        return SyncRunner(self.store.outbox, writer or self.fhir, profile=prof, **kw)

    def enqueue(self, commit: ApprovedCommit) -> ApprovedCommit:
        return self.store.outbox.enqueue_approval(commit, '{"review_status": "approved"}')


async def harness(
    tmp_path: Path, base: str, token: str, *, timeout: httpx.Timeout = TIMEOUT
) -> AsyncGenerator[Harness, None]:
    store = open_store(tmp_path / "user" / "store.db")
    auth = TestAuth(token)
    async with httpx.AsyncClient(timeout=timeout) as http:
        try:
            yield Harness(
                store, FhirClient(http, base, auth), auth, tmp_path / "user" / "sync.lock", http
            )
        finally:
            store.close()


def server_copies(server: RunningServer, commit: ApprovedCommit) -> list[int]:
    """How many resources the server holds for each write of ``commit`` (asked directly, not
    through any proxy): exactly-once means ``[1, 1, ...]``."""
    counts = []
    for w in commit.writes:
        name, token = w.search_param
        body = _get(server, w.resource_type, {name: token, "_count": "50"})
        counts.append(
            sum(
                1
                for e in body.get("entry", [])
                if e.get("search", {}).get("mode", "match") == "match"
            )
        )
    return counts


def _get(server: RunningServer, url: str, params: dict[str, str] | None) -> dict[str, Any]:
    for fresh in (False, True):  # a short-lived token may have ended: launch again once
        headers = {
            "Authorization": f"Bearer {launch_token(server, fresh=fresh)}",
            "Accept": "application/fhir+json",
        }
        with httpx.Client(base_url=server.fhir_base + "/", headers=headers, timeout=30) as http:
            r = http.get(url, params=params)
        if r.status_code != 401:
            r.raise_for_status()
            body: dict[str, Any] = r.json()
            return body
    raise AssertionError(f"the server refused a fresh token for {url}")


def copies_of_many(server: RunningServer, commits: list[ApprovedCommit]) -> dict[str, int]:
    """``{identifier value: copies}`` for every write of ``commits``, with OR-searches of 40
    identifiers per request (the soak checks thousands)."""
    by_type: dict[tuple[str, str], list[str]] = {}
    expected: dict[str, int] = {}
    for c in commits:
        for w in c.writes:
            name, _ = w.search_param
            by_type.setdefault((w.resource_type, name), []).append(w.identifier.value)
            expected[w.identifier.value] = 0
    system = commits[0].writes[0].identifier.system
    for (rtype, name), values in by_type.items():
        for i in range(0, len(values), 40):
            query = ",".join(f"{system}|{v}" for v in values[i : i + 40])
            url: str | None = rtype
            params: dict[str, str] | None = {name: query, "_count": "200"}
            while url:
                body = _get(server, url, params)
                for e in body.get("entry", []):
                    if e.get("search", {}).get("mode", "match") != "match":
                        continue
                    for value in _identifier_values(e["resource"], system):
                        if value in expected:
                            expected[value] += 1
                url = next(
                    (link["url"] for link in body.get("link", []) if link["relation"] == "next"),
                    None,
                )
                params = None
    return expected


def _identifier_values(resource: dict[str, Any], system: str) -> list[str]:
    values = [
        i.get("value")
        for i in (resource.get("identifier") or [])
        if isinstance(i, dict) and i.get("system") == system
    ]
    values += [
        t.get("code")
        for t in (resource.get("meta", {}).get("tag") or [])
        if t.get("system") == system
    ]
    return [v for v in values if isinstance(v, str)]


async def wait_for(predicate: Any, timeout: float = 20.0, interval: float = 0.05) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(interval)


class RewritingProxy(FaultProxy):
    """The fault proxy that also rewrites successful answers, to emulate EHRs the test servers
    are not: ``empty_create_body`` answers a create with 201, Location and ETag but no body
    (Oracle Health); ``strip`` removes an element from every returned resource (a server that
    silently stored less than it was sent)."""

    def __init__(
        self, upstream: str, plan: FaultPlan, *, empty_create_body: bool = False, strip: str = ""
    ) -> None:
        super().__init__(upstream, plan)
        self.empty_create_body = empty_create_body
        self.strip = strip

    async def _write(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes,
        *,
        head_only: bool = False,
    ) -> None:
        if self.empty_create_body and status == 201:
            body = b""
            headers = [(k, v) for k, v in headers if k.lower() != "content-type"]
        elif self.strip and 200 <= status < 300 and body:
            body = json.dumps(_without(json.loads(body), self.strip)).encode()
        await super()._write(writer, status, headers, body, head_only=head_only)


def _without(node: Any, key: str) -> Any:
    if isinstance(node, dict):
        return {k: _without(v, key) for k, v in node.items() if k != key}
    if isinstance(node, list):
        return [_without(v, key) for v in node]
    return node
