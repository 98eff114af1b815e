"""What an HL7 v2 trigger says about a visit, once read: the event, its control id, and the few
keys that find the visit or the patient on the worklist (no message text is kept).

    ADT^A04 / ADT^A01   the visit was registered / admitted      -> add or refresh the row
    ADT^A08             the visit's details changed              -> refresh the row
    ADT^A03             the visit ended (discharged)             -> the row is finished
    ADT^A11 / ADT^A13   registration / discharge cancelled       -> undo A04/A01 / A03
    ORU^R01             new results for the patient              -> "new results" on the row

``app.hl7.messages`` reads a message into a :class:`VisitEvent`; the worklist applies it
(:func:`app.domain.worklist.apply_events`). Pure: standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum


class VisitEventKind(Enum):
    """The triggers the listener accepts, by their HL7 v2 message type and event."""

    REGISTERED = "ADT^A04"
    ADMITTED = "ADT^A01"
    UPDATED = "ADT^A08"
    DISCHARGED = "ADT^A03"
    ADMISSION_CANCELLED = "ADT^A11"
    DISCHARGE_CANCELLED = "ADT^A13"
    RESULTS = "ORU^R01"

    @property
    def message_type(self) -> str:
        return self.value.split("^")[0]

    @property
    def trigger(self) -> str:
        return self.value.split("^")[1]

    @property
    def needs_visit_number(self) -> bool:
        """ADT events name the visit (PV1-19); results name the patient (PID-3)."""
        return self.message_type == "ADT"

    @property
    def adds_visit(self) -> bool:
        """Events whose visit is fetched from the EHR when it is not on the list yet."""
        return self in (VisitEventKind.REGISTERED, VisitEventKind.ADMITTED, VisitEventKind.UPDATED)

    @classmethod
    def of(cls, message_type: str, trigger: str) -> VisitEventKind | None:
        wanted = f"{message_type.upper()}^{trigger.upper()}"
        return next((kind for kind in cls if kind.value == wanted), None)


SUPPORTED_MESSAGE_TYPES = frozenset(kind.message_type for kind in VisitEventKind)


@dataclass(frozen=True)
class VisitEvent:
    """One accepted trigger. ``visit_number`` is PV1-19 (the FHIR Encounter identifier's
    value); ``patient_ids`` are the values of PID-3 (an MRN among them)."""

    kind: VisitEventKind
    control_id: str  # MSH-10
    visit_number: str | None = None
    patient_ids: tuple[str, ...] = ()
    occurred_at: datetime | None = None  # EVN-2 / MSH-7, when given


@dataclass(frozen=True)
class ListenerCounts:
    """What the listener did since it started (for the worklist's footer and the docs)."""

    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    unknown_patients: int = 0  # accepted, but about no one on the list
