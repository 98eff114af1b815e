"""The catalogue: every kind of structured item and every write of the note itself, declared
once. Validation, import, the draft codec, the FHIR mapping, scopes, permissions, profile
checks, the editor and the words of the outbox iterate these tuples instead of listing types.

Adding a kind: write ``app/domain/items/<key>.py`` (its :class:`ItemKind`), add it to
``ITEM_KINDS`` below, write ``app/fhir/items/<key>.py`` (its FHIR mapping), its tests, and list
its resource type in the vendor profiles that accept it (docs/architecture.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.domain.items.kind import ItemKind, NoteRole, NoteWrite, StructuredItem
from app.domain.items.medication_reconciliation import MEDICATION_RECONCILIATION
from app.domain.items.message import MESSAGE
from app.domain.items.observation import OBSERVATION
from app.domain.items.symptom import SYMPTOM
from app.domain.items.task import TASK

NOTE = NoteWrite(
    "DocumentReference", "WRITE_NOTES", "crus", 0, "Note", "file notes", optional=False
)
COMPOSITION = NoteWrite(
    "Composition",
    "WRITE_COMPOSITIONS",
    "crs",
    20,
    "Structured note",
    "file notes as structured documents",
    optional=True,
)
PROVENANCE = NoteWrite(
    "Provenance",
    "WRITE_PROVENANCE",
    "crs",
    1000,
    "Approval record",
    "record in the chart who approved each note",
    optional=True,
)
NOTE_WRITES: tuple[NoteWrite, ...] = (NOTE, COMPOSITION, PROVENANCE)

# In the order the editor shows them (and an imported file's items are read).
ITEM_KINDS: tuple[ItemKind[Any], ...] = (
    OBSERVATION,
    SYMPTOM,
    MEDICATION_RECONCILIATION,
    TASK,
    MESSAGE,
)

_BY_KEY = {k.key: k for k in ITEM_KINDS}
_BY_TYPE: dict[type, ItemKind[Any]] = {k.item_type: k for k in ITEM_KINDS}


class UnknownItemKind(LookupError):
    """An item or key that no kind of the catalogue declares (a programming error)."""


def kind_of(item: StructuredItem | object) -> ItemKind[Any]:
    """The kind of ``item``."""
    kind = _BY_TYPE.get(type(item))
    if kind is None:
        raise UnknownItemKind(f"no item kind declares {type(item).__name__}")
    return kind


def kind_named(key: str) -> ItemKind[Any]:
    """The kind whose ``key`` is ``key`` (as stored in draft bodies)."""
    kind = _BY_KEY.get(key)
    if kind is None:
        raise UnknownItemKind(f"unknown item kind {key!r}")
    return kind


def kinds_writing(resource_type: str) -> tuple[ItemKind[Any], ...]:
    """The kinds written as ``resource_type`` (Observation: observations and symptoms)."""
    return tuple(k for k in ITEM_KINDS if k.resource_type == resource_type)


def write_rank(resource_type: str) -> int:
    """Where records of ``resource_type`` come in a commit (unknown types last)."""
    ranks = [w.write_rank for w in NOTE_WRITES if w.resource_type == resource_type]
    ranks += [k.write_rank for k in kinds_writing(resource_type)]
    return min(ranks, default=10_000)


def write_types() -> tuple[str, ...]:
    """Every resource type the app can write, in commit order."""
    types = {w.resource_type for w in NOTE_WRITES} | {k.resource_type for k in ITEM_KINDS}
    return tuple(sorted(types, key=lambda t: (write_rank(t), t)))


def ordered_types(types: Any) -> list[str]:
    """``types`` (any iterable of resource type names) once each, in commit order."""
    return sorted(set(types), key=lambda t: (write_rank(t), t))


def type_label(resource_type: str) -> str:
    """What a record of ``resource_type`` is called: "Note", "Follow-up task"; a type several
    kinds share (Observation) is called by its own name."""
    for w in NOTE_WRITES:
        if w.resource_type == resource_type:
            return w.label
    kinds = kinds_writing(resource_type)
    return kinds[0].words.label if len(kinds) == 1 else resource_type


def render_item(item: StructuredItem | object) -> str:
    """``item`` as one plain line for the note ("Heart rate: 96 /min")."""
    kind = kind_of(item)
    return kind.render(item)


def role_of(item: StructuredItem | object) -> NoteRole:
    return kind_of(item).role


@dataclass(frozen=True)
class WriteFeature:
    """Something the app writes that needs a SMART grant: the note, each item kind, the
    optional extras. ``cannot`` ends the sentence "cannot ...: the EHR did not grant ..."."""

    name: str  # "WRITE_OBSERVATIONS"
    cannot: str
    resource_type: str
    permissions: str


WRITE_FEATURES: tuple[WriteFeature, ...] = (
    WriteFeature(NOTE.feature_name, NOTE.cannot, NOTE.resource_type, NOTE.permissions),
    *(WriteFeature(k.feature_name, k.words.cannot, k.resource_type, k.permissions)
      for k in ITEM_KINDS),
    *(WriteFeature(w.feature_name, w.cannot, w.resource_type, w.permissions)
      for w in NOTE_WRITES if w.optional),
)  # fmt: skip
