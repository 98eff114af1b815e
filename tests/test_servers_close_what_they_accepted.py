"""Every small server the tests start closes, when it stops, the connections it accepted: a
client holding an idle connection reads the end at once. A connection left open outlives its
test and is closed by the garbage collector in some later one, whose ResourceWarning then
fails that unrelated test (pytest runs with filterwarnings=error; once a CI failure).

The sandbox: tests/test_embedded_sandbox.py and tests/sandbox/test_waitress_thread.py; the
sign-in's loopback receiver: tests/smart/test_redirect.py."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from urllib.parse import urlsplit

import pytest

from app.domain.site import Hl7Listener
from app.hl7.listener import MllpListener
from tests.fhir.fake_server import fake_server, silent_server
from tests.support.fault_proxy import proxy_in_thread

PROMPTLY_S = 2.0  # measured: milliseconds


def port_of(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


@contextmanager
def a_fake_fhir_server() -> Iterator[int]:
    with fake_server({"/metadata": (200, {}, b"{}")}) as base:
        yield port_of(base)


@contextmanager
def a_silent_server() -> Iterator[int]:
    with silent_server() as base:
        yield port_of(base)


@contextmanager
def a_fault_proxy() -> Iterator[int]:
    with proxy_in_thread("http://127.0.0.1:9") as proxy:
        yield port_of(proxy.base)


@contextmanager
def an_hl7_listener() -> Iterator[int]:
    listener = MllpListener(Hl7Listener(listen="127.0.0.1", port=0), lambda event: None)
    port = listener.start_in_thread()
    try:
        yield port
    finally:
        listener.close_thread()


SERVERS: dict[str, Callable[[], AbstractContextManager[int]]] = {
    "fake FHIR server": a_fake_fhir_server,
    "silent server": a_silent_server,
    "fault proxy": a_fault_proxy,
    "HL7 listener": an_hl7_listener,
}


@pytest.mark.parametrize("settle", [0.0, 0.3], ids=["just-accepted", "idle"])
@pytest.mark.parametrize("name", SERVERS)
def test_a_client_holding_an_idle_connection_reads_the_end_when_the_server_stops(
    name: str, settle: float
) -> None:
    """Silent after connecting, as a pooled connection or a browser's spare one; stopped at
    once (the server may still be setting the connection up: asyncio does that in tasks of its
    own, which a loop closed too soon left behind) or after a pause (its handler waits)."""
    with SERVERS[name]() as port:
        client = socket.create_connection(("127.0.0.1", port), timeout=5)
        if settle:
            time.sleep(settle)
    try:
        client.settimeout(PROMPTLY_S)
        try:
            end = client.recv(1)
        except ConnectionResetError:
            end = b""  # closed with unread data: the end too
        assert end == b"", f"the {name} left the connection open"
    finally:
        client.close()
