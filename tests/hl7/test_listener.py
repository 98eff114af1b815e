"""The MLLP listener over real loopback connections: ACKs, duplicates, framing across TCP
segments, bad input (the listener keeps serving), the allow-list, TLS, and a burst."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.domain.site import Hl7Listener
from app.domain.visit_events import VisitEvent, VisitEventKind
from app.hl7.listener import MllpListener
from tests.hl7.support import FS, VT, MllpClient, adt, frame, oru
from tests.smart.tls import make_pki


class Served:
    def __init__(self, listener: MllpListener, events: list[VisitEvent]) -> None:
        self.listener, self.events = listener, events

    @property
    def port(self) -> int:
        assert self.listener.port is not None
        return self.listener.port

    async def client(self) -> MllpClient:
        return await MllpClient.connect(self.port)


async def serve(settings: Hl7Listener) -> Served:
    events: list[VisitEvent] = []
    listener = MllpListener(settings, events.append)
    await listener.start()
    return Served(listener, events)


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    s = await serve(Hl7Listener(port=0, frame_timeout_seconds=0.5, max_message_kb=256))
    yield s
    await s.listener.aclose()


async def test_registration_discharge_cancellation_are_acked_and_delivered(served: Served) -> None:
    client = await served.client()
    for i, trigger in enumerate(("A04", "A08", "A03", "A13", "A11")):
        ack = await client.send(adt(trigger, "V1", f"C{i}"))
        assert (ack.code, ack.control_id) == ("AA", f"C{i}")
    assert [e.kind for e in served.events] == [
        VisitEventKind.REGISTERED,
        VisitEventKind.UPDATED,
        VisitEventKind.DISCHARGED,
        VisitEventKind.DISCHARGE_CANCELLED,
        VisitEventKind.ADMISSION_CANCELLED,
    ]
    await client.close()


async def test_a_duplicate_control_id_gets_the_same_ack_and_is_not_delivered_twice(
    served: Served,
) -> None:
    client = await served.client()
    first = await client.send(adt("A04", "V1", "DUP-1"))
    again = await client.send(adt("A04", "V1", "DUP-1"))
    other_client = await served.client()  # a new connection: still a duplicate
    third = await other_client.send(adt("A04", "V1", "DUP-1"))
    assert first.raw == again.raw == third.raw and first.code == "AA"
    assert len(served.events) == 1
    counts = served.listener.counts
    assert (counts.accepted, counts.duplicates) == (1, 2)
    await client.close()
    await other_client.close()


async def test_a_malformed_message_gets_ae_and_the_listener_keeps_serving(served: Served) -> None:
    client = await served.client()
    bad = await client.send(adt("A04", visit_number="", control_id="BAD-1"))
    assert (bad.code, bad.control_id, bad.error) == ("AE", "BAD-1", "101")
    assert "PV1-19" in bad.words
    good = await client.send(adt("A04", "V2", "GOOD-1"))
    assert good.code == "AA" and [e.visit_number for e in served.events] == ["V2"]
    await client.close()


@pytest.mark.parametrize(
    ("raw", "code", "error"),
    [
        (b"GET / HTTP/1.1 this is not HL7", "AR", "100"),
        (adt("A04", version="3.0"), "AR", "203"),
        (adt("A31"), "AR", "201"),
    ],
)
async def test_not_hl7_wrong_version_unsupported_event(
    served: Served, raw: bytes, code: str, error: str
) -> None:
    client = await served.client()
    ack = await client.send(raw)
    assert (ack.code, ack.error) == (code, error)
    assert (await client.send(adt("A04", "V3", "AFTER"))).code == "AA"  # still serving
    await client.close()


async def test_a_message_split_across_tcp_segments(served: Served) -> None:
    client = await served.client()
    data = frame(adt("A04", "V4", "SPLIT"))
    for i in range(0, len(data), 7):  # seven bytes at a time, each its own write
        await client.send_raw(data[i : i + 7])
        await asyncio.sleep(0.001)
    ack = await client.ack()
    assert (ack.code, ack.control_id) == ("AA", "SPLIT")
    await client.close()


async def test_two_messages_in_one_segment(served: Served) -> None:
    client = await served.client()
    await client.send_raw(frame(adt("A04", "V5", "TWO-1")) + frame(oru("MRN-5", "TWO-2")))
    acks = [await client.ack(), await client.ack()]
    assert [(a.code, a.control_id) for a in acks] == [("AA", "TWO-1"), ("AA", "TWO-2")]
    assert [e.kind for e in served.events] == [VisitEventKind.REGISTERED, VisitEventKind.RESULTS]
    await client.close()


async def test_half_a_frame_that_stalls_is_closed_after_the_timeout(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    client = await served.client()
    await client.send_raw(VT + adt("A04", "V6", "STALL")[:40])
    assert await client.closed(timeout=5)
    assert "begun and not finished" in caplog.text
    fresh = await served.client()
    assert (await fresh.send(adt("A04", "V7", "NEXT"))).code == "AA"
    await client.close()
    await fresh.close()


async def test_a_silent_connection_between_messages_stays_open(served: Served) -> None:
    client = await served.client()
    await asyncio.sleep(1.2)  # more than the frame timeout, nothing begun
    assert (await client.send(adt("A04", "V8", "LATER"))).code == "AA"
    await client.close()


async def test_a_10_mb_message_is_refused_and_the_connection_closed(served: Served) -> None:
    client = await served.client()
    huge = adt("A04", "V9", "HUGE") + b"\rNTE|1||" + b"x" * (10 * 1024 * 1024)
    client.writer.write(frame(huge))
    await asyncio.wait_for(client.writer.drain(), 20)
    data = await asyncio.wait_for(client.reader.read(), 10)  # the NAK, then the end
    assert b"MSA|AR" in data and b"larger than 256 KB" in data
    assert served.events == []
    fresh = await served.client()
    assert (await fresh.send(adt("A04", "V10", "SMALL"))).code == "AA"
    await client.close()
    await fresh.close()


async def test_data_without_a_start_block_is_refused() -> None:
    s = await serve(Hl7Listener(port=0, frame_timeout_seconds=0.5))
    client = await s.client()
    await client.send_raw(adt("A04") + FS + b"\r")  # no <VT>
    assert await client.closed()
    await client.close()
    await s.listener.aclose()


async def test_a_sender_outside_the_allow_list_is_refused() -> None:
    s = await serve(Hl7Listener(port=0, allow=("127.0.0.2",)))
    client = await s.client()  # from 127.0.0.1
    with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
        await client.send(adt("A04", "V1", "DENIED"))
    assert s.events == []
    await client.close()
    await s.listener.aclose()
    allowed = await serve(Hl7Listener(port=0, allow=("127.0.0.0/8",)))
    client = await allowed.client()
    assert (await client.send(adt("A04", "V1", "OK"))).code == "AA"
    await client.close()
    await allowed.listener.aclose()


async def test_mllp_over_tls_with_the_sites_ca(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    s = await serve(Hl7Listener(port=0, tls_cert=pki.cert_pem, tls_key=pki.key_pem))
    trusting = ssl.create_default_context(cafile=str(pki.ca_pem))
    client = await MllpClient.connect(s.port, tls=trusting)
    assert (await client.send(adt("A04", "V1", "TLS-1"))).code == "AA"
    await client.close()
    with pytest.raises(ssl.SSLError):  # a sender that does not trust the site's CA
        await MllpClient.connect(s.port, tls=ssl.create_default_context())
    plain = await s.client()  # plain MLLP to a TLS port: nothing is accepted
    await plain.send_raw(frame(adt("A04", "V1", "PLAIN")))
    assert await plain.closed()
    assert [e.control_id for e in s.events] == ["TLS-1"]
    await plain.close()
    await s.listener.aclose()


async def test_tls_client_certificates_required_when_the_site_names_a_ca(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    settings = Hl7Listener(
        port=0, tls_cert=pki.cert_pem, tls_key=pki.key_pem, tls_client_ca=pki.ca_pem
    )
    s = await serve(settings)
    trusting = ssl.create_default_context(cafile=str(pki.ca_pem))
    with pytest.raises((ssl.SSLError, ConnectionError, asyncio.IncompleteReadError)):
        client = await MllpClient.connect(s.port, tls=trusting)  # no client certificate
        await client.send(adt("A04", "V1", "NO-CERT"))
    assert s.events == []
    await s.listener.aclose()


async def test_a_burst_of_1000_messages_all_acked_in_order(served: Served) -> None:
    client = await served.client()
    messages = [adt("A08", f"V{i % 40}", f"B{i}") for i in range(1000)]
    await client.send_raw(b"".join(frame(m) for m in messages))
    acks = [await client.ack() for _ in messages]
    assert [a.control_id for a in acks] == [f"B{i}" for i in range(1000)]
    assert {a.code for a in acks} == {"AA"} and len(served.events) == 1000
    await client.close()


async def test_the_log_names_type_and_control_id_only(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="app.hl7")
    client = await served.client()
    await client.send(adt("A04", "V-SECRET", "LOG-1", mrn="MRN-SECRET"))
    await client.send(adt("A04", "", "LOG-2", mrn="MRN-SECRET"))
    await client.send(b"PID|1||MRN-SECRET||Testperson")
    await client.close()
    text = caplog.text
    assert "LOG-1" in text and "LOG-2" in text and "ADT^A04" in text
    for secret in ("Testperson", "MRN-SECRET", "V-SECRET", "19700101"):
        assert secret not in text


async def test_the_listener_on_its_own_thread() -> None:
    events: list[VisitEvent] = []
    listener = MllpListener(Hl7Listener(port=0), events.append)
    port = await asyncio.get_running_loop().run_in_executor(None, listener.start_in_thread)
    client = await MllpClient.connect(port)
    assert (await client.send(adt("A04", "V1", "THREAD"))).code == "AA"
    await client.close()
    await asyncio.get_running_loop().run_in_executor(None, listener.close_thread)
    assert [e.control_id for e in events] == ["THREAD"]
    with pytest.raises(OSError):  # the port is free again, but a busy one is refused
        busy = MllpListener(Hl7Listener(port=port), events.append)
        other = MllpListener(Hl7Listener(port=port), events.append)
        busy.start_in_thread()
        try:
            other.start_in_thread()
        finally:
            busy.close_thread()
