"""HL7 v2 test messages and a small MLLP client over real loopback connections."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass

import hl7

VT, FS, CR = b"\x0b", b"\x1c", b"\x0d"


def adt(
    trigger: str,
    visit_number: str = "V1",
    control_id: str = "C1",
    *,
    mrn: str = "MRN-1",
    version: str = "2.5",
    sender: str = "ENGINE",
) -> bytes:
    structure = "ADT_A03" if trigger == "A03" else "ADT_A01"
    segments = [
        f"MSH|^~\\&|{sender}|CLINIC|FHIR-WRITEBACK|WS|20261207081200||ADT^{trigger}^{structure}"
        f"|{control_id}|P|{version}",
        f"EVN|{trigger}|20261207081200",
        f"PID|1||{mrn}^^^CLINIC^MR||Testperson^Pat||19700101|F",
        f"PV1|1|O|||||prac-1||||||||||||{visit_number}",
    ]
    text = "\r".join(segments)
    hl7.parse(text)  # well-formed by the library's reading
    return text.encode()


def oru(mrn: str = "MRN-1", control_id: str = "R1") -> bytes:
    text = "\r".join(
        [
            f"MSH|^~\\&|LAB|CLINIC|FHIR-WRITEBACK|WS|20261207081200||ORU^R01^ORU_R01|{control_id}|P|2.5",
            f"PID|1||{mrn}^^^CLINIC^MR||Testperson^Pat",
            "OBR|1|||2345-7^Glucose^LN",
            "OBX|1|NM|2345-7^Glucose^LN||5.4|mmol/L|||||F",
        ]
    )
    return text.encode()


def frame(message: bytes) -> bytes:
    return VT + message + FS + CR


@dataclass
class Ack:
    code: str  # MSA-1
    control_id: str  # MSA-2
    error: str  # ERR-3.1 (table 0357)
    words: str  # ERR-8
    raw: str


def read_ack(block: bytes) -> Ack:
    message = hl7.parse(block.decode())
    msa = message.segment("MSA")
    try:
        err = message.segment("ERR")
        error, words = str(err(3)(1)(1)), str(err(8))
    except KeyError:
        error, words = "", ""
    return Ack(str(msa(1)), str(msa(2)), error, words, block.decode())


class MllpClient:
    """A sender over a real TCP (or TLS) connection: write bytes as they come, read ACKs."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(
        cls, port: int, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None
    ) -> MllpClient:
        reader, writer = await asyncio.open_connection(host, port, ssl=tls, limit=2**24)
        return cls(reader, writer)

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def ack(self, timeout: float = 10) -> Ack:
        block = await asyncio.wait_for(self.reader.readuntil(FS + CR), timeout)
        assert block.startswith(VT)
        return read_ack(block[1:-2])

    async def send(self, message: bytes) -> Ack:
        await self.send_raw(frame(message))
        return await self.ack()

    async def closed(self, timeout: float = 10) -> bool:
        """True when the listener closed the connection (EOF) within ``timeout``."""
        data = await asyncio.wait_for(self.reader.read(), timeout)
        return data == b"" or data.endswith(FS + CR)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()
