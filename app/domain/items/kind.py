"""What one kind of structured item is: the declaration every layer reads instead of listing
item kinds itself.

An :class:`ItemKind` holds, for one kind (observation, follow-up task, ...): the FHIR resource
type it becomes and the SMART permissions that needs, its words for clinicians, where its line
belongs in the note and how that line reads, its validation, its part of the draft-import
schema, its draft-body codec and its editor columns. The FHIR mapping of a kind lives in
``app/fhir/items/<key>.py`` (found by key: the domain knows nothing of FHIR JSON).

Pure and standard-library only, like the rest of ``app.domain``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from app.domain.clinical import Reference
from app.domain.context import EncounterContext
from app.domain.entry import EntryContext
from app.domain.validation_problems import ValidationProblem

T = TypeVar("T")
E = TypeVar("E", bound=Enum)


def new_item_id() -> str:
    return str(uuid.uuid4())


class StructuredItem(Protocol):
    """Any item of any kind: a frozen dataclass with a stable ``item_id``. Which kind it is,
    and everything that follows from that, comes from :func:`app.domain.items.kind_of`."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    @property
    def item_id(self) -> str: ...


class NoteRole(Enum):
    """The part of a note an item's line belongs to. Templates name their sections freely
    (SOAP's ``objective``, the progress note's ``findings``); ``section_keys`` lists the keys
    that play the role, best first."""

    SUBJECTIVE = "subjective"
    OBJECTIVE = "objective"
    PLAN = "plan"
    MEDICATIONS = "medications"

    @property
    def section_keys(self) -> tuple[str, ...]:
        return _ROLE_KEYS[self]

    def section_in(self, keys: Iterable[str]) -> str | None:
        """The first of ``keys`` (a template's or a draft's section keys) that plays this role."""
        available = set(keys)
        return next((k for k in self.section_keys if k in available), None)


_ROLE_KEYS: dict[NoteRole, tuple[str, ...]] = {
    NoteRole.SUBJECTIVE: ("subjective", "history", "interval-history", "reported"),
    NoteRole.OBJECTIVE: ("objective", "findings", "reported"),
    NoteRole.PLAN: ("plan",),
    NoteRole.MEDICATIONS: ("medications", "plan"),
}


@dataclass(frozen=True)
class KindWords:
    """How clinicians read about the kind. ``fails`` and ``fails_named`` end the sentence
    "The EHR did not grant Task write, so ...; remove it or ask IT." (``{name}`` is the item's
    name); ``cannot`` ends "cannot ..." when a SMART grant is missing."""

    singular: str  # "observation"
    plural: str  # "observations"
    label: str  # "Observation": the heading of one written record (approval dialog, outbox)
    row: str  # "Observation": names a row in the editor's problem list
    tab: str  # "Observations": the editor tab
    add: str  # "Add observation"; "" when the rows come from the chart
    cannot: str  # "record observations"
    fails: str  # "the observation cannot be recorded"
    fails_named: str = ""  # "the {name} observation cannot be recorded"


@dataclass(frozen=True)
class ItemCheck:
    """What validating one item may look at besides the item."""

    patient: Reference  # the chart that is open
    now: datetime | None  # UTC; enables "not in the future" checks


class Picker(Enum):
    """How the editor helps the clinician fill a cell (the UI maps each to its widget)."""

    TEXT = "text"  # plain text
    OBSERVATION = "observation"  # type-ahead over the bundled terminology (name or LOINC code)
    OWNER = "owner"  # type-ahead over the encounter's participants, care team and directory
    DUE_DATE = "due-date"  # "tomorrow", "+2w": the resolved date shown before it is accepted
    QUANTITY = "quantity"  # a value, with its unit if typed ("98.6 F", "142/88")


@dataclass(frozen=True)
class Column(Generic[T]):
    """One editor column. ``get`` gives the cell text; ``set`` parses an edited text into a new
    item, or ``enter`` does with the clinician's locale, today and the owner candidates at hand
    (it raises :class:`~app.domain.entry.EntryRefused` with words saying what to type; the
    editor keeps the text). Neither: the column is read-only. Problems at
    ``item:<id>:<field>`` show on this cell."""

    header: str
    field: str
    get: Callable[[T], str]
    set: Callable[[T, str], T] | None = None
    hint: str = ""
    choices: tuple[str, ...] = ()  # the cell is picked from these texts ("" = none chosen)
    enter: Callable[[T, str, EntryContext], T] | None = None
    picker: Picker = Picker.TEXT

    @property
    def editable(self) -> bool:
        return self.set is not None or self.enter is not None

    def apply(self, item: T, text: str, ctx: EntryContext) -> T:
        """The item with ``text`` entered in this column (EntryRefused: kept as typed)."""
        if self.enter is not None:
            return self.enter(item, text, ctx)
        if self.set is None:
            return item
        return self.set(item, text)


class ImportReader(Protocol):
    """What a kind's draft-import reader may use (``app.domain.draft_import`` provides it).
    Every method reports a problem at ``path`` and returns None instead of raising."""

    @property
    def context(self) -> EncounterContext: ...

    def fail(self, path: str, problem: str) -> None: ...

    def item_id(self, raw: Mapping[str, Any], path: str) -> str: ...

    def item_flags(self, raw: Mapping[str, Any], path: str, item_id: str) -> None: ...

    def text(self, raw: object, path: str) -> str | None: ...

    def optional_text(self, raw: object, path: str) -> str | None: ...

    def number(self, raw: object, path: str) -> Decimal | None: ...

    def reference(
        self, raw: object, path: str, expected: str | None, *, required: bool
    ) -> Reference | None: ...

    def instant(self, raw: object, path: str, *, required: bool) -> datetime | None: ...

    def day(self, raw: object, path: str) -> date | None: ...

    def choice(self, enum: type[E], raw: object, path: str) -> E | None: ...


@dataclass(frozen=True)
class ImportField:
    name: str
    required: bool
    meaning: str


@dataclass(frozen=True)
class ImportPart(Generic[T]):
    """The kind's list in a draft-import file (``docs/draft-import.md`` shows ``fields``)."""

    key: str  # "observations": the top-level list in the file
    title: str  # "Observation": the heading of its table in the docs
    summary: str  # "measurements to record with the note": its row in the top-level table
    fields: tuple[ImportField, ...]
    read: Callable[[ImportReader, Mapping[str, Any], str], T | None]


@dataclass(frozen=True)
class CodecPart(Generic[T]):
    """The item in a stored draft body (JSON-ready dicts; the store adds ``"kind": key``)."""

    encode: Callable[[T], dict[str, Any]]
    decode: Callable[[Mapping[str, Any]], T]


class CellChange(Enum):
    """What an edited editor cell does to the draft."""

    KEEP = "keep"  # the draft keeps the new item (added or changed)
    REMOVE = "remove"  # the kind no longer keeps the item: the draft drops it
    NONE = "none"  # nothing for the draft (a read-only column; a row the kind does not keep)


@dataclass(frozen=True)
class CellEdit(Generic[T]):
    item: T  # the row as it reads now
    change: CellChange


def _no_joint_checks(items: Sequence[Any]) -> Iterable[ValidationProblem]:
    return ()


def _always(item: Any) -> bool:
    return True


@dataclass(frozen=True)
class ItemKind(Generic[T]):
    """The declaration of one kind of structured item. See the module docstring."""

    key: str  # stable: stored in draft bodies, names app/fhir/items/<key>.py
    item_type: type[T]
    resource_type: str  # what one item is written as
    permissions: str  # SMART permissions the write needs, of "cruds" (read back + search too)
    write_rank: int  # commit order: lower first (the note is 0, Provenance last)
    words: KindWords
    role: NoteRole
    render: Callable[[T], str]  # the item as one plain line of the note: "Heart rate: 96 /min"
    name_of: Callable[[T], str]  # what the item is called: "Heart rate" ("" when unnamed)
    check: Callable[[T, ItemCheck], Iterable[ValidationProblem]]
    import_part: ImportPart[T]
    codec: CodecPart[T]
    columns: tuple[Column[T], ...]
    new_item: Callable[[], T] | None  # a blank row for "Add ..."; None: rows come from the chart
    check_together: Callable[[Sequence[T]], Iterable[ValidationProblem]] = field(
        default=_no_joint_checks
    )  # checks across all items of the kind (systolic above diastolic, one row per medicine)
    chart_rows: Callable[[EncounterContext, Sequence[T]], tuple[T, ...]] | None = None
    keeps: Callable[[T], bool] = field(default=_always)  # an edit to an unkept item removes it

    def owns(self, item: object) -> bool:
        return isinstance(item, self.item_type)

    def select(self, items: Iterable[object]) -> list[T]:
        """The items of this kind, in their order."""
        return [i for i in items if isinstance(i, self.item_type)]

    def what_fails(self, item: T) -> str:
        name = self.name_of(item)
        if name and self.words.fails_named:
            return self.words.fails_named.format(name=name)
        return self.words.fails

    @property
    def feature_name(self) -> str:
        """The SMART feature that writing this kind needs: ``WRITE_OBSERVATIONS``."""
        return "WRITE_" + self.import_part.key.upper()

    def edit_cell(self, row: T, column: int, text: str, entry: EntryContext) -> CellEdit[T]:
        """An edited cell of the editor's table: the column reads ``text`` into the row's new
        item; the draft keeps it, drops it (a medication decision cleared) or is not concerned
        (a note typed on a medication not yet decided stays on the row only). Raises
        ``EntryRefused`` (words saying what to type) for text the column cannot use."""
        declared = self.columns[column]
        if not declared.editable:
            return CellEdit(row, CellChange.NONE)
        after = declared.apply(row, text, entry)  # EntryRefused: the editor keeps the text
        if self.keeps(after):
            return CellEdit(after, CellChange.KEEP)
        return CellEdit(after, CellChange.REMOVE if self.keeps(row) else CellChange.NONE)

    def rows(self, items: Sequence[object], context: EncounterContext | None) -> tuple[T, ...]:
        """The editor's rows: the draft's items of this kind, or (``chart_rows``) one row per
        chart entry, the draft's item where there is one."""
        own = self.select(items)
        if self.chart_rows is None or context is None:
            return tuple(own)
        return self.chart_rows(context, own)


@dataclass(frozen=True)
class NoteWrite:
    """A write of the note itself rather than of an item: the note (DocumentReference), its
    structured copy (Composition), the record of who approved it (Provenance)."""

    resource_type: str
    feature_name: str  # "WRITE_NOTES"
    permissions: str
    write_rank: int
    label: str  # "Note"
    cannot: str  # "file notes"
    optional: bool  # written with every commit where permitted, never a reason to block
