"""The FHIR mapping of each item kind of the catalogue, found by the kind's key: the mapping
of kind ``symptom`` is ``MAPPING`` in ``app/fhir/items/symptom.py``. Nothing here lists kinds;
a test checks that every kind of :data:`app.domain.items.ITEM_KINDS` has its module.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from functools import cache
from typing import Any

from app.domain.items import ITEM_KINDS, ItemKind, StructuredItem
from app.fhir.errors import FhirMappingError
from app.fhir.items.base import ItemMapping, WriteContext

__all__ = [
    "ItemMapping",
    "WriteContext",
    "item_from_fhir",
    "kind_of_resource",
    "mapping_for",
]


@cache
def mapping_for(kind: ItemKind[Any]) -> ItemMapping[Any]:
    """The FHIR mapping of ``kind`` (``app.fhir.items.<kind.key>.MAPPING``)."""
    module = importlib.import_module(f"{__name__}.{kind.key}")
    mapping = getattr(module, "MAPPING", None)
    if not isinstance(mapping, ItemMapping) or mapping.kind_key != kind.key:
        raise LookupError(f"{module.__name__} does not define MAPPING for kind {kind.key!r}")
    return mapping


def kind_of_resource(resource: Mapping[str, Any]) -> ItemKind[Any] | None:
    """The kind a resource belongs to (a payload of a commit or a resource of the chart), or
    None for the note's own writes and anything the catalogue does not know."""
    rtype = resource.get("resourceType")
    for kind in ITEM_KINDS:
        if kind.resource_type == rtype and mapping_for(kind).claims(resource):
            return kind
    return None


def item_from_fhir(resource: Mapping[str, Any]) -> StructuredItem | None:
    """A chart resource as the domain item it would have been written from (None: no kind
    claims it). Raises FhirMappingError when a claimed resource cannot be read."""
    kind = kind_of_resource(resource)
    if kind is None:
        return None
    try:
        item: StructuredItem = mapping_for(kind).from_fhir(resource)
    except FhirMappingError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
        rid = resource.get("id") if isinstance(resource.get("id"), str) else None
        raise FhirMappingError(
            str(resource.get("resourceType")), rid, f"unexpected content ({type(exc).__name__})"
        ) from None
    return item
