"""One HL7 v2 message in, one acknowledgement out (HL7 v2.5 original-mode acknowledgement).

    read_message(raw) -> Accepted(event) | Rejected(code, error, words)
    acknowledgement(raw, outcome) -> the ACK's bytes: MSA-1 AA / AE / AR, MSA-2 the message's
                                     control id (MSH-10), and an ERR segment when rejected

AR (application reject) answers what the listener does not take at all: not HL7, a version,
message type, event or processing id it does not support. AE (application error) answers a
message it takes but cannot use: a required field missing (PV1-19 for ADT, PID-3 for ORU),
a date it cannot read. ERR-3 is the HL7 table 0357 code; ERR-8 the reason in words. Parsing
is the ``hl7`` package's; the words never quote the message (they end up in the sender's logs,
and this app's logs record only the type and the control id).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum

import hl7
from hl7.exceptions import HL7Exception

from app.domain.clock import utc_now
from app.domain.visit_events import SUPPORTED_MESSAGE_TYPES, VisitEvent, VisitEventKind

SUPPORTED_VERSIONS = ("2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8")
PROCESSING_IDS = ("P", "T", "D")
RECEIVING_APPLICATION = "FHIR-WRITEBACK"


class AckCode(Enum):
    ACCEPT = "AA"
    ERROR = "AE"
    REJECT = "AR"


class Hl7Error(Enum):
    """HL7 table 0357 (message error condition codes) — the ones this listener answers."""

    SEGMENT_SEQUENCE = ("100", "Segment sequence error")
    REQUIRED_FIELD_MISSING = ("101", "Required field missing")
    DATA_TYPE = ("102", "Data type error")
    UNSUPPORTED_MESSAGE_TYPE = ("200", "Unsupported message type")
    UNSUPPORTED_EVENT = ("201", "Unsupported event code")
    UNSUPPORTED_PROCESSING_ID = ("202", "Unsupported processing id")
    UNSUPPORTED_VERSION = ("203", "Unsupported version id")
    INTERNAL = ("207", "Application internal error")

    @property
    def code(self) -> str:
        return self.value[0]

    @property
    def text(self) -> str:
        return self.value[1]


@dataclass(frozen=True)
class Accepted:
    event: VisitEvent
    message_type: str  # "ADT^A04": what the log may say
    sender: str = ""  # MSH-3 and MSH-4: control ids are unique per sender


@dataclass(frozen=True)
class Rejected:
    code: AckCode
    error: Hl7Error
    words: str  # the reason, for ERR-8 (never quotes the message)
    location: str = ""  # ERR-2: segment^sequence^field, e.g. "PV1^1^19"
    control_id: str = ""
    message_type: str = ""


Outcome = Accepted | Rejected


def decode(raw: bytes) -> str:
    """The message's text: UTF-8, else Latin-1 (what v2 senders use without saying)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def parse(raw: bytes) -> hl7.Message | None:
    """The parsed message, or None when it is not HL7 v2 (no MSH segment first)."""
    text = decode(raw).strip("\r\n ").replace("\r\n", "\r").replace("\n", "\r")
    if not text.startswith("MSH") or len(text) < 8:
        return None
    try:
        return hl7.parse(text)
    except (HL7Exception, IndexError, ValueError):
        return None


def _field(message: hl7.Message, segment: str, field: int, component: int = 1) -> str:
    try:
        return str(message.extract_field(segment, 1, field, 1, component)).strip()
    except (KeyError, IndexError, HL7Exception):
        return ""


def _has(message: hl7.Message, segment: str) -> bool:
    try:
        message.segment(segment)
    except KeyError:
        return False
    return True


def read_message(raw: bytes | hl7.Message | None) -> Outcome:
    """What the listener makes of one framed message (raw, or as ``parse`` read it)."""
    message = parse(raw) if isinstance(raw, bytes) else raw
    if message is None:
        return Rejected(
            AckCode.REJECT,
            Hl7Error.SEGMENT_SEQUENCE,
            "This is not an HL7 v2 message: it does not begin with an MSH segment.",
            "MSH^1",
        )
    return _read_parsed(message)


def _read_parsed(message: hl7.Message) -> Outcome:
    control_id = _field(message, "MSH", 10)
    msg_type, trigger = _field(message, "MSH", 9, 1).upper(), _field(message, "MSH", 9, 2).upper()
    shown = f"{msg_type}^{trigger}"[:20]

    def reject(code: AckCode, error: Hl7Error, words: str, where: str) -> Rejected:
        return Rejected(code, error, words, where, control_id[:50], shown)

    if not control_id:
        return reject(AckCode.REJECT, Hl7Error.REQUIRED_FIELD_MISSING,
                      "MSH-10 (message control id) is empty.", "MSH^1^10")  # fmt: skip
    version = _field(message, "MSH", 12)
    if version not in SUPPORTED_VERSIONS:
        return reject(AckCode.REJECT, Hl7Error.UNSUPPORTED_VERSION,
                      f"Version {version[:10] or '(none)'} is not supported; send 2.3 to 2.8.",
                      "MSH^1^12")  # fmt: skip
    if _field(message, "MSH", 11) not in PROCESSING_IDS:
        return reject(AckCode.REJECT, Hl7Error.UNSUPPORTED_PROCESSING_ID,
                      "MSH-11 must be P, T or D.", "MSH^1^11")  # fmt: skip
    if msg_type not in SUPPORTED_MESSAGE_TYPES:
        return reject(AckCode.REJECT, Hl7Error.UNSUPPORTED_MESSAGE_TYPE,
                      f"Message type {msg_type[:10] or '(none)'} is not taken here; send ADT or ORU.",
                      "MSH^1^9^1")  # fmt: skip
    kind = VisitEventKind.of(msg_type, trigger)
    if kind is None:
        taken = ", ".join(k.trigger for k in VisitEventKind if k.message_type == msg_type)
        return reject(AckCode.REJECT, Hl7Error.UNSUPPORTED_EVENT,
                      f"Event {trigger[:10] or '(none)'} is not taken here; {msg_type} events "
                      f"taken: {taken}.", "MSH^1^9^2")  # fmt: skip
    visit_number = _field(message, "PV1", 19) if _has(message, "PV1") else ""
    if kind.needs_visit_number and not visit_number:
        return reject(AckCode.ERROR, Hl7Error.REQUIRED_FIELD_MISSING,
                      "PV1-19 (visit number) is required: it names the visit.", "PV1^1^19")  # fmt: skip
    patient_ids = _patient_ids(message)
    if not kind.needs_visit_number and not patient_ids:
        return reject(AckCode.ERROR, Hl7Error.REQUIRED_FIELD_MISSING,
                      "PID-3 (patient identifier list) is required for results.", "PID^1^3")  # fmt: skip
    event = VisitEvent(kind, control_id[:50], visit_number or None, patient_ids, _when(message))
    sender = f"{_field(message, 'MSH', 3)}|{_field(message, 'MSH', 4)}"
    return Accepted(event, kind.value, sender)


def _patient_ids(message: hl7.Message) -> tuple[str, ...]:
    if not _has(message, "PID"):
        return ()
    field = message.segment("PID")(3)
    repetitions = field if isinstance(field, hl7.Field) else [field]
    values = []
    for repetition in repetitions:
        value = str(repetition[0] if isinstance(repetition, hl7.Repetition) else repetition)
        value = value.split("^")[0].strip()
        if value:
            values.append(value)
    return tuple(dict.fromkeys(values))


def _when(message: hl7.Message) -> datetime | None:
    text = (_field(message, "EVN", 2) if _has(message, "EVN") else "") or _field(message, "MSH", 7)
    try:
        parsed = hl7.parse_datetime(text)
    except (ValueError, TypeError):
        return None
    if not isinstance(parsed, datetime):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# ----------------------------------------------------------------------------- acknowledgements

_BLANK = r"MSH|^~\&|||||||ACK^ACK||P|2.5"


def acknowledgement(raw: bytes | hl7.Message | None, outcome: Outcome, control_id: str) -> bytes:
    """The ACK for ``raw`` (its own control id ``control_id``), as bytes to frame; ``raw`` may
    be the message as ``parse`` read it (a busy listener parses each message once)."""
    source = parse(raw) if isinstance(raw, bytes) else raw
    ack = _ack_of(source, _code(outcome), control_id)
    if isinstance(outcome, Rejected):
        msh = ack.segment("MSH")
        if outcome.error is Hl7Error.UNSUPPORTED_VERSION or not _field(ack, "MSH", 12):
            msh.assign_field("2.5", 12)
        ack.segment("MSA").assign_field(outcome.control_id, 2)
        ack.append(_err_segment(ack, outcome))
    return str(ack).encode("utf-8")


def _ack_of(source: hl7.Message | None, code: AckCode, control_id: str) -> hl7.Message:
    """The library's ACK of ``source`` (a blank header when it has none that can be answered)."""
    for candidate in (source, hl7.parse(_BLANK)):
        if candidate is None:
            continue
        try:
            return candidate.create_ack(
                code.value, message_id=control_id, application=RECEIVING_APPLICATION
            )
        except (TypeError, IndexError, KeyError, HL7Exception):
            continue  # an MSH-9 without components, say: answer from the blank header
    raise AssertionError("the blank header always makes an ACK")


def _err_segment(ack: hl7.Message, outcome: Rejected) -> hl7.Segment:
    err = ack.create_segment([ack.create_field(["ERR"])])
    err.assign_field("", 1)
    for position, part in enumerate(outcome.location.split("^"), start=1):
        if part:
            err.assign_field(part, 2, 1, position)
    err.assign_field(outcome.error.code, 3, 1, 1)
    err.assign_field(outcome.error.text, 3, 1, 2)
    err.assign_field("HL70357", 3, 1, 3)
    err.assign_field("E", 4)
    err.assign_field(str(ack.escape(outcome.words)), 8)
    return err


def _code(outcome: Outcome) -> AckCode:
    return AckCode.ACCEPT if isinstance(outcome, Accepted) else outcome.code


def new_control_id(sequence: int, now: datetime | None = None) -> str:
    """The ACK's own MSH-10: the time and a counter (unique per listener run)."""
    moment = now or utc_now()
    return f"FWB{moment:%Y%m%d%H%M%S}{sequence:06d}"
