"""A waitress server on its own thread (app/sandbox/waitress_thread.py): stopping it closes the
connections it accepted at once, ends its loop and its workers, and leaves no socket for the
garbage collector (pytest's filterwarnings=error turns one into a failure of whatever test runs
when the collector finds it)."""

from __future__ import annotations

import http.client
import socket
import threading
import time

from app.sandbox.waitress_thread import WaitressThread

PROMPTLY_S = 2.5  # measured: milliseconds; the old close-and-join waited its whole 5 s


def hello(environ: object, start_response: object) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])  # type: ignore[operator]
    return [b"hello"]


def test_stop_closes_a_kept_alive_and_an_idle_connection_at_once() -> None:
    server = WaitressThread(hello, name="waitress-test", host="127.0.0.1", port=0, threads=2)
    server.start()
    kept_alive = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    idle = socket.create_connection(("127.0.0.1", server.port), timeout=5)  # sends nothing
    try:
        kept_alive.request("GET", "/")
        assert kept_alive.getresponse().read() == b"hello"
        assert kept_alive.sock is not None
        began = time.monotonic()
        server.stop()
        assert time.monotonic() - began < PROMPTLY_S
        assert kept_alive.sock.recv(1) == b""  # the server's end is closed, not left open
        assert idle.recv(1) == b""
        assert not [t for t in threading.enumerate() if t.name == "waitress-test"]
    finally:
        kept_alive.close()
        idle.close()
        server.stop()  # twice: nothing happens


def test_a_server_stopped_before_it_started_closes_its_port() -> None:
    server = WaitressThread(hello, name="waitress-test", host="127.0.0.1", port=0, threads=1)
    port = server.port
    server.stop()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # refused: nobody listens
