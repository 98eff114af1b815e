"""The embedded sandbox on a port reserved before the window paints (app/embedded_sandbox.py):
the address is known at once, the server starts later on the very socket reserved (a request
sent in between waits and is answered), and a sandbox that cannot start says so in words."""

from __future__ import annotations

import asyncio
import http.client
import threading
import time
from pathlib import Path

import httpx
import pytest

from app.embedded_sandbox import EmbeddedSandbox, SandboxPhase, reserve_sandbox
from app.paths import AppPaths
from app.sandbox.options import SandboxOptions
from app.sandbox.server import SandboxServer
from app.smart.errors import NetworkError

# stop() with a client's connection open: well under the 5 s its old join waited in vain, with
# room for a loaded 2-core CI machine (measured: a few milliseconds)
STOP_PROMPTLY_S = 2.5


def app_paths(tmp_path: Path) -> AppPaths:
    return AppPaths(
        tmp_path / "data", tmp_path / "log", tmp_path / "cfg", tmp_path / "site"
    ).ensure()


@pytest.fixture
def sandbox(tmp_path: Path) -> EmbeddedSandbox:
    return reserve_sandbox(app_paths(tmp_path))


async def test_a_request_sent_before_the_server_starts_is_answered_on_the_reserved_port(
    sandbox: EmbeddedSandbox,
) -> None:
    assert sandbox.phase is SandboxPhase.RESERVED and not sandbox.running
    url = f"{sandbox.fhir_base}/.well-known/smart-configuration"
    try:
        async with httpx.AsyncClient(timeout=60) as http:
            early = asyncio.create_task(http.get(url))  # connects: the port listens already
            await asyncio.sleep(0.2)
            assert not early.done()  # ... and waits in its backlog
            sandbox.begin()
            await sandbox.ready()
            answer = await early
        assert answer.status_code == 200
        assert answer.json()["token_endpoint"].startswith(sandbox.base)  # the same port
        assert sandbox.running
    finally:
        await asyncio.to_thread(sandbox.close)
    assert not sandbox.running


async def test_the_sandbox_menu_stops_it_and_starts_it_again_on_the_same_port(
    sandbox: EmbeddedSandbox,
) -> None:
    url = f"{sandbox.fhir_base}/metadata"
    try:
        await sandbox.ready()  # begins it when nothing has
        sandbox.stop()
        async with httpx.AsyncClient(timeout=10) as http:
            with pytest.raises(httpx.ConnectError):
                await http.get(url)
            sandbox.start()
            assert (await http.get(url)).status_code == 200
    finally:
        await asyncio.to_thread(sandbox.close)


async def test_a_sandbox_that_cannot_start_says_so_and_frees_its_port(tmp_path: Path) -> None:
    paths = app_paths(tmp_path)
    (paths.data_dir / "sandbox").write_text("not a folder", encoding="utf-8")
    sandbox = reserve_sandbox(paths)
    with pytest.raises(NetworkError) as raised:
        await sandbox.ready()
    assert raised.value.message.startswith("The sandbox EHR could not start (File exists)")
    assert not sandbox.running
    async with httpx.AsyncClient(timeout=5) as http:
        with pytest.raises(httpx.ConnectError):  # refused at once, not left waiting
            await http.get(f"{sandbox.fhir_base}/metadata")
    await asyncio.to_thread(sandbox.close)


async def test_closed_before_it_began_it_never_starts(sandbox: EmbeddedSandbox) -> None:
    sandbox.close()
    assert sandbox.phase is SandboxPhase.CLOSED
    with pytest.raises(NetworkError):
        await sandbox.ready()
    assert sandbox.phase is SandboxPhase.CLOSED


def test_a_stopped_sandbox_leaves_no_threads_behind(tmp_path: Path) -> None:
    """Stop (the Sandbox menu), start again, close: the server's worker threads end each time
    (waitress's close left its 8 waiting: the test run once held 956 of them)."""

    def workers() -> int:
        return sum(1 for t in threading.enumerate() if t.name.startswith("waitress"))

    before = workers()
    server = SandboxServer(SandboxOptions(db_path=tmp_path / "sandbox.db"))
    server.start()
    assert workers() > before
    server.stop()
    assert workers() == before
    server.restart()
    server.close()
    assert workers() == before


def test_a_stopped_sandbox_closes_the_connections_it_accepted(tmp_path: Path) -> None:
    """A client's keep-alive connection open when the sandbox stops is closed by the server
    (the client reads the end at once), not left for the garbage collector to find (an
    'unclosed socket' warning that once failed an unrelated test in CI)."""
    server = SandboxServer(SandboxOptions(db_path=tmp_path / "sandbox.db"))
    base = httpx.URL(server.start())
    client = http.client.HTTPConnection(base.host, base.port, timeout=5)
    try:
        client.request("GET", f"{base.path}/metadata")
        answer = client.getresponse()
        assert answer.status == 200 and answer.read()  # all of it: the connection stays open
        assert client.sock is not None
        began = time.monotonic()
        server.stop()
        # at once: the server's loop closes them itself (it once polled the client's connection
        # until stop() gave up waiting for it, 5 s, then closed it from another thread)
        assert time.monotonic() - began < STOP_PROMPTLY_S
        client.sock.settimeout(2)
        assert client.sock.recv(1) == b""  # closed by the server, not left open
    finally:
        client.close()
        server.close()
