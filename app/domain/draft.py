"""A note draft: narrative sections, structured items, the baseline it is compared against, and
where it came from.

A ``Draft`` is immutable; edits return a new draft (``with_section_text``, ``with_item``, ...).
The store stamps ``revision`` and ``updated_at`` when it saves. Approval belongs to the review
gate (app.sync.approval): nothing in this module ever sets ``DraftStatus.APPROVED``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum

from app.domain.clinical import Coding, Reference
from app.domain.errors import DraftEditError
from app.domain.items.kind import StructuredItem, new_item_id
from app.domain.items.message import MessageItem
from app.domain.items.observation import LOINC, UCUM, ObservationItem
from app.domain.items.task import Priority, TaskItem, TaskStatus


class DraftStatus(Enum):
    OPEN = "open"  # being edited (also: restored after a crash, imported, amendment)
    APPROVED = "approved"  # set only by the review gate; content is then immutable
    DISCARDED = "discarded"  # the clinician gave up their own draft (a recorded decision)
    DECLINED = "declined"  # the clinician will not approve an imported draft (recorded)


class DraftSource(Enum):
    PREFILLED = "prefilled"  # built from a template and the encounter context
    IMPORTED = "imported"  # produced elsewhere (e.g. a scribe service) and imported from a file
    AMENDMENT = "amendment"  # "Correct this note": replaces an earlier note
    ADDENDUM = "addendum"  # "Add an addendum": adds to an earlier note, which stays as it is


# The items of the three original kinds are re-exported here for existing callers; every kind
# lives in its own module under app.domain.items (the catalogue).
__all__ = [
    "LOINC",
    "UCUM",
    "AmendmentRef",
    "Baseline",
    "ChartItem",
    "CloseReason",
    "Draft",
    "DraftDecision",
    "DraftProvenance",
    "DraftSource",
    "DraftStatus",
    "FlagLook",
    "FlagTarget",
    "FollowUpKind",
    "Generator",
    "MessageItem",
    "NoteSection",
    "ObservationItem",
    "Priority",
    "StructuredItem",
    "TaskItem",
    "TaskStatus",
    "UncertaintyFlag",
    "new_item_id",
]


@dataclass(frozen=True)
class NoteSection:
    key: str  # stable id from the template ("subjective")
    title: str  # heading shown and written ("Subjective")
    text: str = ""


class FlagTarget(Enum):
    DRAFT = "draft"
    SECTION = "section"
    ITEM = "item"


@dataclass(frozen=True)
class UncertaintyFlag:
    """Something the generator of an imported draft was unsure about; shown for review."""

    target_kind: FlagTarget
    target: str  # section key, item id, or "" for the whole draft
    reason: str
    quote: str | None = None  # the uncertain passage, when the generator gave one


@dataclass(frozen=True)
class FlagLook:
    """The clinician looked at the uncertainty flag at ``index`` of the draft's flags."""

    index: int
    by: str  # the fhirUser reference ("Practitioner/prac-1")
    at: datetime  # UTC


@dataclass(frozen=True)
class Generator:
    name: str
    version: str


@dataclass(frozen=True)
class DraftProvenance:
    source: DraftSource
    generator: Generator | None = None  # imported drafts: who produced it
    generated_at: datetime | None = None
    uncertainty: tuple[UncertaintyFlag, ...] = ()
    import_sha256: str | None = None  # hash of the imported file, for the audit trail
    looked_at: tuple[FlagLook, ...] = ()  # which flags the clinician looked at, who, when

    def flags_for(self, kind: FlagTarget, target: str) -> tuple[UncertaintyFlag, ...]:
        return tuple(f for f in self.uncertainty if f.target_kind is kind and f.target == target)

    @property
    def looked_at_flags(self) -> frozenset[int]:
        """Indexes (in ``uncertainty``) of the flags the clinician has looked at."""
        return frozenset(
            look.index for look in self.looked_at if 0 <= look.index < len(self.uncertainty)
        )


@dataclass(frozen=True)
class Baseline:
    """What the clinician's text is compared with: the prefilled or imported content, or the
    chart version of the note being amended."""

    sections: tuple[NoteSection, ...]
    items: tuple[StructuredItem, ...] = ()


class FollowUpKind(Enum):
    """How a note follows up an earlier one, as the clinician chose it in plain words."""

    AMENDMENT = "amendment"  # "Correct this note": relatesTo replaces, the earlier one superseded
    ADDENDUM = "addendum"  # "Add an addendum": relatesTo appends, the earlier one stays current

    @property
    def relation(self) -> str:
        """The ``relatesTo.code`` the new note is written with."""
        return "replaces" if self is FollowUpKind.AMENDMENT else "appends"

    @property
    def choice(self) -> str:
        """The words the clinician chooses it by."""
        return "Correct this note" if self is FollowUpKind.AMENDMENT else "Add an addendum"

    @property
    def source(self) -> DraftSource:
        return DraftSource.AMENDMENT if self is FollowUpKind.AMENDMENT else DraftSource.ADDENDUM


@dataclass(frozen=True)
class ChartItem:
    """A structured item of the earlier note where it already is: a record in the chart, or a
    write of a commit still on its way there. A follow-up never writes it again: unchanged it
    is left alone, changed it is corrected in place (If-Match on ``version_id``), removed (and
    confirmed) it is marked entered in error."""

    item_id: str  # the item's id in the follow-up draft (and its baseline)
    resource_type: str
    target: str  # "Observation/12", or the "urn:uuid:..." of a write still in the outbox
    version_id: str | None  # the version the clinician saw; None: the one its commit records
    seen_json: str  # the record as the clinician saw it (canonical JSON, no id)


@dataclass(frozen=True)
class AmendmentRef:
    """The earlier note a follow-up draft corrects (an amendment: ``relatesTo: replaces``) or
    adds to (an addendum: ``relatesTo: appends``). The name stays from when only amendments of
    chart notes existed.

    ``document`` is the earlier DocumentReference; while its commit is still in the outbox
    (``pending_commit``), its id is the write id of that commit's note and the new note refers
    to it by ``urn:uuid`` until the EHR gives it an id.
    """

    document: Reference
    version_id: str | None
    kind: FollowUpKind = FollowUpKind.AMENDMENT
    note_date: datetime | None = None  # when the earlier note was written (for the words)
    pending_commit: uuid.UUID | None = None  # the earlier note's commit, not yet confirmed
    composition: str | None = None  # the same note as a Composition ("Composition/9" or urn)
    subject: Reference | None = None  # the earlier note's patient, as this app's store knows it
    chart_items: tuple[ChartItem, ...] = ()
    retract: tuple[str, ...] = ()  # chart items the clinician confirmed as entered in error

    @property
    def target(self) -> str:
        """The reference the new note's ``relatesTo`` points at."""
        if self.pending_commit is not None:
            return f"urn:uuid:{self.document.id}"
        return self.document.relative

    def chart_item(self, item_id: str) -> ChartItem | None:
        return next((c for c in self.chart_items if c.item_id == item_id), None)

    def with_retraction(self, item_id: str, confirmed: bool) -> AmendmentRef:
        kept = tuple(i for i in self.retract if i != item_id)
        return replace(self, retract=(*kept, item_id) if confirmed else kept)


class CloseReason(Enum):
    """Why a draft is declined or discarded (the clinician may add words of their own)."""

    INACCURATE = "inaccurate"
    WRONG_PATIENT = "wrong_patient"
    DUPLICATE = "duplicate"
    NOT_NEEDED = "not_needed"
    STARTED_OVER = "started_over"
    OTHER = "other"

    @property
    def words(self) -> str:
        return _CLOSE_WORDS[self]


_CLOSE_WORDS = {
    CloseReason.INACCURATE: "The content is wrong or incomplete",
    CloseReason.WRONG_PATIENT: "It is for another patient or encounter",
    CloseReason.DUPLICATE: "It repeats a note that is already written",
    CloseReason.NOT_NEEDED: "No note is needed",
    CloseReason.STARTED_OVER: "I am writing the note in another draft",
    CloseReason.OTHER: "Another reason (written below)",
}


@dataclass(frozen=True)
class UnacceptedText:
    """What the clinician typed into an item's cell and the app could not use yet ("jone
    tomorrow" as a due date): kept with the draft so a restart or a crash loses nothing, and
    approval waits until it is corrected or cleared."""

    item_id: str
    field: str  # the item kind's column field ("owner", "due")
    text: str


@dataclass(frozen=True)
class DraftDecision:
    """A recorded "not approved": who declined or discarded the draft, when, why, and the
    fingerprint of the content they decided about. Nothing is sent; the draft stays readable."""

    status: DraftStatus  # DECLINED (imported drafts) or DISCARDED (the clinician's own)
    reason: CloseReason
    note: str  # the clinician's own words ("" when none)
    by: Reference  # the signed-in fhirUser, with their name as display
    at: datetime  # UTC
    content_sha256: str  # app.domain.fingerprint of the draft as it was decided about
    import_sha256: str | None = None  # the imported file, for declined imports

    @property
    def words(self) -> str:
        """ "Declined by Dr. Smith on 2025-03-10 09:14 UTC: The content is wrong (...)"."""
        return self.words_at(self.at.strftime("%Y-%m-%d %H:%M UTC"))

    def words_at(self, when: str) -> str:
        """The same, with the time as the reader's clock says it (the window: local time)."""
        who = self.by.display or self.by.relative
        verb = "Declined" if self.status is DraftStatus.DECLINED else "Discarded"
        note = f" ({self.note})" if self.note else ""
        return f"{verb} by {who} on {when}: {self.reason.words}{note}"


@dataclass(frozen=True)
class Draft:
    id: uuid.UUID
    patient: Reference
    encounter: Reference
    template_id: str
    title: str
    sections: tuple[NoteSection, ...]
    baseline: Baseline
    provenance: DraftProvenance
    created_at: datetime
    updated_at: datetime
    items: tuple[StructuredItem, ...] = ()
    note_type: Coding | None = None
    amends: AmendmentRef | None = None
    status: DraftStatus = DraftStatus.OPEN
    revision: int = 0  # 0 = never saved; the store increments it on every save
    decision: DraftDecision | None = None  # set when declined or discarded (never approved)
    unaccepted: tuple[UnacceptedText, ...] = ()  # typed into cells, not usable yet
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    # ---- reading
    def section(self, key: str) -> NoteSection:
        for s in self.sections:
            if s.key == key:
                return s
        raise DraftEditError(f"The draft has no section {key!r}.")

    def item(self, item_id: str) -> StructuredItem:
        for i in self.items:
            if i.item_id == item_id:
                return i
        raise DraftEditError(f"The draft has no item {item_id!r}.")

    @property
    def is_modified(self) -> bool:
        """True when sections or items differ from the baseline."""
        return self.sections != self.baseline.sections or self.items != self.baseline.items

    @property
    def is_editable(self) -> bool:
        return self.status is DraftStatus.OPEN

    # ---- editing (each returns a new draft)
    def with_section_text(self, key: str, text: str) -> Draft:
        self._check_editable()
        self.section(key)  # raises for an unknown key
        sections = tuple(replace(s, text=text) if s.key == key else s for s in self.sections)
        return replace(self, sections=sections)

    def with_item(self, item: StructuredItem) -> Draft:
        """Adds ``item`` at the end, or replaces the item with the same ``item_id`` in place."""
        self._check_editable()
        if any(i.item_id == item.item_id for i in self.items):
            items = tuple(item if i.item_id == item.item_id else i for i in self.items)
        else:
            items = (*self.items, item)
        return replace(self, items=items)

    def without_item(self, item_id: str) -> Draft:
        self._check_editable()
        self.item(item_id)
        return replace(self, items=tuple(i for i in self.items if i.item_id != item_id))

    def with_flag_looked_at(self, index: int, by: str, at: datetime) -> Draft:
        """The uncertainty flag at ``index`` marked as looked at by ``by`` (once; the first
        look is kept). Provenance, not content: the content fingerprint does not change."""
        self._check_editable()
        prov = self.provenance
        if not 0 <= index < len(prov.uncertainty):
            raise DraftEditError(f"The draft has no uncertainty flag {index}.")
        if index in prov.looked_at_flags:
            return self
        look = FlagLook(index, by, at)
        return replace(self, provenance=replace(prov, looked_at=(*prov.looked_at, look)))

    def with_retraction(self, item_id: str, *, confirmed: bool = True) -> Draft:
        """Record (or withdraw) the clinician's confirmation that an item of the earlier note,
        removed from this follow-up, is to be marked entered in error in the chart."""
        self._check_editable()
        if self.amends is None or self.amends.chart_item(item_id) is None:
            raise DraftEditError(f"Item {item_id!r} is not a record of the earlier note.")
        return replace(self, amends=self.amends.with_retraction(item_id, confirmed))

    def with_title(self, title: str) -> Draft:
        self._check_editable()
        return replace(self, title=title)

    def _check_editable(self) -> None:
        if not self.is_editable:
            raise DraftEditError(
                f"This draft is {self.status.value} and can no longer be edited; "
                "to change an approved note: Correct this note, or Add an addendum."
            )
