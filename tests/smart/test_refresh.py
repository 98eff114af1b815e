"""Refresh over real HTTP: proactive before expiry, reactive after a 401, single-flight under
concurrency, rotation (the old refresh token is rejected), and the sign-in-required path."""

from __future__ import annotations

import asyncio

import pytest

from app.smart.errors import SignInRequired
from app.smart.session import SessionState
from app.smart.token_endpoint import TokenEndpoint
from app.smart.tokens import TokenSet
from tests.smart.conftest import Harness, SessionFactory
from tests.support.servers import RunningServer
from tests.support.smart_fixtures import ScriptedBrowser

CONCURRENT = 20


async def signed_in(make_session: SessionFactory, server: RunningServer) -> Harness:
    h = make_session(server)
    await h.session.sign_in()
    assert h.session.state is SessionState.SIGNED_IN
    return h


async def read_practitioner(h: Harness) -> int:
    response = await h.http.get(f"{h.site.fhir_base}/Practitioner/prac-1", auth=h.session.auth)
    return response.status_code


def current(h: Harness) -> TokenSet:
    tokens = h.session.tokens
    assert tokens is not None
    return tokens


async def test_proactive_refresh_before_expiry_rotates_and_saves(
    ehr: RunningServer, make_session: SessionFactory, scripted_browser: ScriptedBrowser
) -> None:
    h = await signed_in(make_session, ehr)
    before = current(h)
    assert before.lifetime is not None
    stored_before = h.store.load()
    assert stored_before is not None

    h.clock.advance(before.lifetime.total_seconds() - 30)  # inside the 60 s margin, not expired
    assert await read_practitioner(h) == 200

    assert h.recorder.token_calls("refresh_token") == 1
    assert 401 not in h.recorder.statuses("/Practitioner/")
    after = current(h)
    assert after.access_token != before.access_token
    stored_after = h.store.load()
    assert stored_after is not None
    assert after.refresh_token == stored_after.refresh_token  # saved, the rotated one
    # both EHRs rotate refresh tokens; the old one must now be refused
    assert stored_after.refresh_token != stored_before.refresh_token
    endpoint = TokenEndpoint(h.http, h.session.configuration, h.site.client_id)  # type: ignore[arg-type]
    with pytest.raises(SignInRequired):
        await endpoint.refresh(before)


async def test_concurrent_requests_near_expiry_cause_one_refresh(
    ehr: RunningServer, make_session: SessionFactory, scripted_browser: ScriptedBrowser
) -> None:
    h = await signed_in(make_session, ehr)
    lifetime = current(h).lifetime
    assert lifetime is not None
    h.clock.advance(lifetime.total_seconds() - 5)

    statuses = await asyncio.gather(*(read_practitioner(h) for _ in range(CONCURRENT)))

    assert statuses == [200] * CONCURRENT
    assert h.recorder.token_calls("refresh_token") == 1


async def test_refresh_after_401_retries_once(
    ehr_short_ttl: RunningServer, make_session: SessionFactory, scripted_browser: ScriptedBrowser
) -> None:
    h = await signed_in(make_session, ehr_short_ttl)
    h.clock.freeze()  # the app believes the token is fresh; the server knows better
    await asyncio.sleep(2.3)
    seen = len(h.recorder.statuses("/Practitioner/"))

    assert await read_practitioner(h) == 200

    assert h.recorder.statuses("/Practitioner/")[seen:] == [401, 200]
    assert h.recorder.token_calls("refresh_token") == 1


async def test_concurrent_401s_cause_one_refresh(
    ehr_short_ttl: RunningServer, make_session: SessionFactory, scripted_browser: ScriptedBrowser
) -> None:
    h = await signed_in(make_session, ehr_short_ttl)
    h.clock.freeze()
    await asyncio.sleep(2.3)
    seen = len(h.recorder.statuses("/Practitioner/"))

    statuses = await asyncio.gather(*(read_practitioner(h) for _ in range(CONCURRENT)))

    assert statuses == [200] * CONCURRENT
    assert h.recorder.token_calls("refresh_token") == 1
    after = h.recorder.statuses("/Practitioner/")[seen:]
    assert after.count(401) == CONCURRENT and after.count(200) == CONCURRENT


async def test_a_second_401_is_returned_not_retried_again(
    ehr: RunningServer, make_session: SessionFactory, scripted_browser: ScriptedBrowser
) -> None:
    h = await signed_in(make_session, ehr)
    hits: list[str] = []

    async def always_401(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        hits.append(head.decode("latin-1").split("\r\n", 1)[0])
        writer.write(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(always_401, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        response = await h.http.get(f"http://127.0.0.1:{port}/fhir/Patient", auth=h.session.auth)
    finally:
        server.close()
    assert response.status_code == 401
    assert len(hits) == 2  # the request and exactly one retry
    assert h.recorder.token_calls("refresh_token") == 1  # one real refresh at the EHR
    assert await read_practitioner(h) == 200  # the refreshed token is good at the EHR


async def test_refresh_impossible_asks_for_sign_in_and_queued_work_waits(
    ehr: RunningServer, make_session: SessionFactory, scripted_browser: ScriptedBrowser
) -> None:
    h = await signed_in(make_session, ehr)
    tokens = current(h)
    assert tokens.refresh_token is not None and tokens.lifetime is not None
    # the EHR ends the grant behind the app's back (an administrator, a password change...)
    endpoint = TokenEndpoint(h.http, h.session.configuration, h.site.client_id)  # type: ignore[arg-type]
    assert await endpoint.revoke(tokens.refresh_token, "refresh_token")
    h.clock.advance(tokens.lifetime.total_seconds() + 1)

    with pytest.raises(SignInRequired) as info:
        await read_practitioner(h)
    assert "Sign in again" in info.value.message
    assert h.session.state is SessionState.SIGN_IN_REQUIRED
    assert h.store.load() is None

    # queued work waits instead of failing ...
    waiter = asyncio.create_task(h.session.wait_until_signed_in())
    await asyncio.sleep(0.1)
    assert not waiter.done()
    # ... and continues once the clinician has signed in again
    h.clock.offset = type(h.clock.offset)()
    await h.session.sign_in()
    await asyncio.wait_for(waiter, 5)
    assert await read_practitioner(h) == 200
