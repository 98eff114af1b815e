"""Reading a message and answering it (HL7 v2.5 original-mode ACK): no network here."""

from __future__ import annotations

import hl7
import pytest

from app.domain.visit_events import VisitEventKind
from app.hl7.messages import Accepted, Rejected, acknowledgement, read_message
from tests.hl7.support import adt, oru, read_ack


@pytest.mark.parametrize(
    ("trigger", "kind"),
    [
        ("A04", VisitEventKind.REGISTERED),
        ("A01", VisitEventKind.ADMITTED),
        ("A08", VisitEventKind.UPDATED),
        ("A03", VisitEventKind.DISCHARGED),
        ("A11", VisitEventKind.ADMISSION_CANCELLED),
        ("A13", VisitEventKind.DISCHARGE_CANCELLED),
    ],
)
def test_adt_events_are_read_with_their_visit_number(trigger: str, kind: VisitEventKind) -> None:
    outcome = read_message(adt(trigger, "V77", "CTRL-9", mrn="MRN-5"))
    assert isinstance(outcome, Accepted)
    assert outcome.event.kind is kind and outcome.event.visit_number == "V77"
    assert outcome.event.control_id == "CTRL-9" and outcome.event.patient_ids == ("MRN-5",)
    ack = read_ack(acknowledgement(adt(trigger), outcome, "ACK1"))
    assert (ack.code, ack.control_id, ack.error) == ("AA", "C1", "")
    msh = hl7.parse(ack.raw).segment("MSH")
    assert str(msh(9)) == f"ACK^{trigger}^ACK" and str(msh(12)) == "2.5" and str(msh(5)) == "ENGINE"


def test_results_name_the_patient() -> None:
    outcome = read_message(oru("MRN-3"))
    assert isinstance(outcome, Accepted) and outcome.event.patient_ids == ("MRN-3",)


BAD = [
    # (message, MSA-1, ERR-3, words contain)
    (b"hello, this is not HL7", "AR", "100", "not an HL7 v2 message"),
    (b"", "AR", "100", "not an HL7 v2 message"),
    (adt("A04", version="3.0"), "AR", "203", "Version 3.0"),
    (adt("A04", version="2.1"), "AR", "203", "not supported"),
    (adt("A99"), "AR", "201", "A99 is not taken"),
    (adt("A04").replace(b"ADT^A04^ADT_A01", b"SIU^S12"), "AR", "200", "SIU is not taken"),
    (adt("A04", control_id=""), "AR", "101", "MSH-10"),
    (adt("A04", visit_number=""), "AE", "101", "PV1-19"),
    (oru(mrn=""), "AE", "101", "PID-3"),
    (adt("A04").replace(b"|P|2.5", b"|X|2.5"), "AR", "202", "MSH-11"),
]


@pytest.mark.parametrize(("raw", "code", "error", "words"), BAD)
def test_bad_messages_get_a_nak_with_the_reason(
    raw: bytes, code: str, error: str, words: str
) -> None:
    outcome = read_message(raw)
    assert isinstance(outcome, Rejected)
    ack = read_ack(acknowledgement(raw, outcome, "ACK2"))
    assert (ack.code, ack.error) == (code, error)
    assert words in ack.words
    assert "Testperson" not in ack.raw and "MRN-1" not in ack.raw  # nothing of the patient


def test_a_rejected_message_with_a_control_id_is_answered_with_it() -> None:
    raw = adt("A04", control_id="XYZ", visit_number="")
    ack = read_ack(acknowledgement(raw, read_message(raw), "ACK3"))
    assert ack.control_id == "XYZ"
