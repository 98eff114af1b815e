"""Starting the peer EHR for the tests (tests/support/servers.py): it is told two ports that
were free a moment before and prints "ready" before it knows it has them. On a busy machine
another process took one in between: the peer died just after "ready" and a test met a port
that did not answer (a "cannot be reached" failure under load). It is now started again."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from tests.support import servers

pytestmark = pytest.mark.peer


def test_a_peer_whose_port_was_taken_meanwhile_is_started_again_on_other_ports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    servers.require_peer()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()  # another program's: it accepts and never answers
        port = int(taken.getsockname()[1])
        real = servers.free_ports
        picks = iter([[port, real(1)[0]]])  # the first pick: taken meanwhile
        monkeypatch.setattr(servers, "free_ports", lambda count: next(picks, None) or real(count))
        peer = servers.start_peer(tmp_path)
        try:
            assert f":{port}/" not in peer.fhir_base
            answer = httpx.get(f"{peer.fhir_base}/metadata", timeout=30)
            assert answer.status_code == 200 and peer.proc.poll() is None
        finally:
            peer.stop()
