"""``python -m app.sandbox --hl7-to HOST:PORT``: the sandbox as a clinic's integration engine.

Each committed change of an Encounter becomes an ADT message, each new laboratory Observation
an ORU^R01, sent over MLLP to HOST:PORT one at a time, in order, each waiting for its ACK:

    new Encounter (arrived, triaged, in-progress)  ADT^A04 (registered)
    status -> finished                             ADT^A03 (discharged)
    status -> cancelled                            ADT^A11 (registration cancelled)
    finished -> in-progress again                  ADT^A13 (discharge cancelled)
    any other change                               ADT^A08 (updated)
    new Observation, category laboratory           ORU^R01 (PID-3: the patient's MRN)

PV1-19 carries the Encounter's visit number (its identifier typed VN, else its first). The
messages are built with the ``hl7`` package (the sandbox imports nothing of the app). A
message the listener cannot take (no connection, AE/AR) is logged and retried a few times;
the sender never blocks the FHIR server (the observer only queues).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import hl7
from hl7.mllp import open_hl7_connection

from app.sandbox.fhir.database import ResourceDatabase, StoredResource

log = logging.getLogger(__name__)

SENDING_APPLICATION = "SANDBOX-EHR"
SENDING_FACILITY = "SANDBOX"
ACK_TIMEOUT_SECONDS = 10.0
ATTEMPTS = 5
_STOP = object()


def parse_target(text: str) -> tuple[str, int]:
    """``HOST:PORT`` -> (host, port); ValueError with words otherwise."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--hl7-to needs HOST:PORT (like 127.0.0.1:2575), not {text!r}")
    return host.strip("[]"), int(port)


def _ts(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).strftime("%Y%m%d%H%M%S")


def _hl7_time(fhir_instant: object) -> str:
    if not isinstance(fhir_instant, str):
        return ""
    try:
        return _ts(datetime.fromisoformat(fhir_instant.replace("Z", "+00:00")).astimezone(UTC))
    except ValueError:
        return ""


def _identifier_value(resource: dict[str, Any], type_code: str) -> str:
    identifiers = [
        i for i in resource.get("identifier") or [] if isinstance(i, dict) and i.get("value")
    ]
    for ident in identifiers:
        codes = [c.get("code") for c in (ident.get("type") or {}).get("coding") or []]
        if type_code in codes:
            return str(ident["value"])
    return str(identifiers[0]["value"]) if identifiers else ""


def _reference_id(reference: object) -> str:
    text = reference.get("reference") if isinstance(reference, dict) else None
    return str(text).rsplit("/", 1)[-1] if text else ""


class MessageBuilder:
    """HL7 v2.5 messages from FHIR resources, built with the hl7 package's containers."""

    def __init__(self, read: Callable[[str, str], dict[str, Any] | None]) -> None:
        self._read = read
        self._sequence = 0

    def _message(self, message_type: str, trigger: str, structure: str) -> hl7.Message:
        self._sequence += 1
        control = f"SBX{_ts()}{self._sequence:06d}"
        header = (
            f"MSH|^~\\&|{SENDING_APPLICATION}|{SENDING_FACILITY}|FHIR-WRITEBACK|CLINIC|{_ts()}||"
            f"{message_type}^{trigger}^{structure}|{control}|P|2.5"
        )
        return hl7.parse(header)

    def _segment(
        self, message: hl7.Message, name: str, fields: dict[int, str | list[str]]
    ) -> hl7.Segment:
        segment = message.create_segment([message.create_field([name])])
        for position in range(1, max(fields, default=0) + 1):
            value = fields.get(position, "")
            parts = value if isinstance(value, list) else [value]
            for component, part in enumerate(parts, start=1):
                segment.assign_field(
                    str(message.escape(part)) if part else "", position, 1, component
                )
        return segment

    def _pid(self, message: hl7.Message, patient_id: str) -> hl7.Segment:
        patient = self._read("Patient", patient_id) or {}
        names = patient.get("name") or [{}]
        name = names[0] if isinstance(names[0], dict) else {}
        given = (name.get("given") or [""])[0]
        mrn = _identifier_value(patient, "MR") or patient_id
        return self._segment(message, "PID", {
            1: "1",
            3: [mrn, "", "", SENDING_FACILITY, "MR"],
            5: [str(name.get("family") or ""), str(given)],
            7: str(patient.get("birthDate") or "").replace("-", ""),
            8: {"female": "F", "male": "M"}.get(str(patient.get("gender")), "U"),
        })  # fmt: skip

    def adt(self, trigger: str, encounter: dict[str, Any]) -> hl7.Message:
        message = self._message("ADT", trigger, "ADT_A01" if trigger != "A03" else "ADT_A03")
        period = encounter.get("period") or {}
        message.append(self._segment(message, "EVN", {1: trigger, 2: _ts()}))
        message.append(self._pid(message, _reference_id(encounter.get("subject"))))
        klass = (encounter.get("class") or {}).get("code", "")
        doctor = next(
            (_reference_id(p.get("individual")) for p in encounter.get("participant") or []), ""
        )
        message.append(self._segment(message, "PV1", {
            1: "1",
            2: "I" if klass == "IMP" else "O",
            7: doctor,
            19: _identifier_value(encounter, "VN"),
            44: _hl7_time(period.get("start")),
            45: _hl7_time(period.get("end")),
        }))  # fmt: skip
        return message

    def oru(self, observation: dict[str, Any]) -> hl7.Message | None:
        patient_id = _reference_id(observation.get("subject"))
        if not patient_id:
            return None
        message = self._message("ORU", "R01", "ORU_R01")
        message.append(self._pid(message, patient_id))
        coding = ((observation.get("code") or {}).get("coding") or [{}])[0]
        value = observation.get("valueQuantity") or {}
        message.append(
            self._segment(
                message,
                "OBR",
                {1: "1", 4: [str(coding.get("code", "")), str(coding.get("display", "")), "LN"]},
            )
        )
        message.append(self._segment(message, "OBX", {
            1: "1",
            2: "NM" if "value" in value else "ST",
            3: [str(coding.get("code", "")), str(coding.get("display", "")), "LN"],
            5: str(value.get("value", "")),
            6: str(value.get("unit", "")),
            11: "F",
        }))  # fmt: skip
        return message


def _is_lab(observation: dict[str, Any]) -> bool:
    return any(
        c.get("code") == "laboratory"
        for cat in observation.get("category") or []
        for c in (cat.get("coding") or [])
        if isinstance(c, dict)
    )


class Hl7Sender:
    """Watches the sandbox's database and sends the messages on a thread of its own."""

    def __init__(self, db: ResourceDatabase, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._db = db
        self._builder = MessageBuilder(self._read)
        self._statuses: dict[str, str] = {}
        self._queue: queue.Queue[object] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="sandbox-hl7-sender", daemon=True)
        self.sent = 0
        self.failed = 0
        self.acks: list[str] = []  # MSA-1 of each ACK, in order (tests)
        self._connection: Any = None  # (reader, writer) while connected

    def start(self) -> None:
        for rid, text in self._db.query("SELECT id, json FROM resource WHERE type = 'Encounter'"):
            self._statuses[rid] = _status_of(text)
        self._db.observe(self.observe)
        self._thread.start()
        log.info("sending HL7 v2 events to %s:%s", self.host, self.port)

    def close(self, timeout: float = 10.0) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def _read(self, resource_type: str, resource_id: str) -> dict[str, Any] | None:
        stored = self._db.get(resource_type, resource_id)
        return stored.resource if stored is not None else None

    def observe(self, stored: StoredResource) -> None:
        """A committed write (called by the database): queue its message, if it makes one."""
        resource = stored.resource
        if stored.resource_type == "Encounter":
            before = self._statuses.get(stored.id)
            now = str(resource.get("status"))
            self._statuses[stored.id] = now
            trigger = adt_trigger(before, now)
            if trigger is not None:
                self._queue.put(self._builder.adt(trigger, resource))
        elif stored.resource_type == "Observation" and stored.version == 1 and _is_lab(resource):
            message = self._builder.oru(resource)
            if message is not None:
                self._queue.put(message)

    def _run(self) -> None:
        asyncio.run(self._send_all())

    async def _send_all(self) -> None:
        while True:
            item = await asyncio.get_running_loop().run_in_executor(None, self._queue.get)
            if item is _STOP:
                break
            for attempt in range(ATTEMPTS):
                try:
                    await self._send_one(item)
                    break
                except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
                    log.warning("HL7 send failed (%s), attempt %d", type(exc).__name__, attempt + 1)
                    await self._disconnect()
                    await asyncio.sleep(min(0.2 * 2**attempt, 3.0))
            else:
                self.failed += 1
        await self._disconnect()

    async def _send_one(self, message: object) -> None:
        if self._connection is None:
            self._connection = await asyncio.wait_for(
                open_hl7_connection(self.host, self.port), ACK_TIMEOUT_SECONDS
            )
        reader, writer = self._connection
        writer.writemessage(message)
        await writer.drain()
        ack = await asyncio.wait_for(reader.readmessage(), ACK_TIMEOUT_SECONDS)
        code = str(ack.segment("MSA")(1))
        self.acks.append(code)
        self.sent += 1
        if code != "AA":
            log.warning("HL7 listener answered %s", code)

    async def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection[1].close()
            with contextlib.suppress(OSError):
                await connection[1].wait_closed()


def _status_of(text: str) -> str:
    try:
        return str(json.loads(text).get("status"))
    except ValueError:
        return ""


def adt_trigger(before: str | None, now: str) -> str | None:
    """The ADT event for an Encounter whose status went from ``before`` (None: new) to ``now``."""
    if now in ("entered-in-error",):
        return None
    if before is None:
        if now in ("arrived", "triaged", "in-progress"):
            return "A04"
        return "A03" if now == "finished" else ("A11" if now == "cancelled" else "A08")
    if now == before:
        return "A08"
    if now == "finished":
        return "A03"
    if now == "cancelled":
        return "A11"
    if before == "finished":
        return "A13"
    if before in ("planned", "cancelled") and now in ("arrived", "triaged", "in-progress"):
        return "A04"
    return "A08"
