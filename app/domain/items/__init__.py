"""Structured items of a note, one module per kind, and the catalogue that lists them.

Start at :mod:`app.domain.items.catalogue` (what exists) and :mod:`app.domain.items.kind`
(what a kind declares). The names below are the public interface; the items themselves are
imported from their kind's module (``from app.domain.items.symptom import SymptomItem``).
"""

from app.domain.items.catalogue import (
    COMPOSITION,
    ITEM_KINDS,
    NOTE,
    NOTE_WRITES,
    PROVENANCE,
    WRITE_FEATURES,
    UnknownItemKind,
    WriteFeature,
    kind_named,
    kind_of,
    kinds_writing,
    ordered_types,
    render_item,
    role_of,
    type_label,
    write_rank,
    write_types,
)
from app.domain.items.kind import (
    CodecPart,
    Column,
    ImportField,
    ImportPart,
    ImportReader,
    ItemCheck,
    ItemKind,
    KindWords,
    NoteRole,
    NoteWrite,
    StructuredItem,
    new_item_id,
)

__all__ = [
    "COMPOSITION",
    "ITEM_KINDS",
    "NOTE",
    "NOTE_WRITES",
    "PROVENANCE",
    "WRITE_FEATURES",
    "CodecPart",
    "Column",
    "ImportField",
    "ImportPart",
    "ImportReader",
    "ItemCheck",
    "ItemKind",
    "KindWords",
    "NoteRole",
    "NoteWrite",
    "StructuredItem",
    "UnknownItemKind",
    "WriteFeature",
    "kind_named",
    "kind_of",
    "kinds_writing",
    "new_item_id",
    "ordered_types",
    "render_item",
    "role_of",
    "type_label",
    "write_rank",
    "write_types",
]
