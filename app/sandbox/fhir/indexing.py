"""Turns a resource into the rows of the search index tables (token, reference, date, string).

Searching then becomes indexed SQL instead of parsing every stored JSON document.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from app.sandbox.fhir.dates import DateRange, parse_range, period_range
from app.sandbox.fhir.params import ParamKind, SearchParam, indexed_params, may_target

# Type/id, optionally behind a base URL and followed by /_history/version.
_REFERENCE_RX = re.compile(
    r"(?:^|/)(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$"
)


# Latin letters that Unicode does not decompose into a base letter plus an accent.
_UNDECOMPOSABLE = str.maketrans(
    {"ł": "l", "ø": "o", "đ": "d", "ħ": "h", "ı": "i", "ŀ": "l", "æ": "ae", "œ": "oe",
     "þ": "th", "ð": "d"}
)  # fmt: skip


@dataclass
class IndexRows:
    tokens: list[tuple[str, str, str]] = field(default_factory=list)  # param, system, code
    references: list[tuple[str, str, str]] = field(default_factory=list)  # param, type, id
    dates: list[tuple[str, str, str]] = field(default_factory=list)  # param, low, high
    strings: list[tuple[str, str, str]] = field(default_factory=list)  # param, folded, raw


def normalize_text(text: str) -> str:
    """Case- and accent-insensitive form used by string search (``Ærøskøbing`` ~ ``aeroskobing``)."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return stripped.casefold().translate(_UNDECOMPOSABLE)


def parse_reference(reference: str) -> tuple[str, str] | None:
    """``("Patient", "pat-1")`` from a relative or absolute literal reference, else None."""
    if reference.startswith(("#", "urn:")) or "?" in reference:
        return None
    m = _REFERENCE_RX.search(reference)
    if not m:
        return None
    return m["type"], m["id"]


def values_at(node: Any, path: str) -> list[Any]:
    """Every value at dotted ``path`` below ``node``, with lists flattened on the way."""
    current: list[Any] = [node]
    for key in path.split("."):
        following: list[Any] = []
        for item in current:
            if isinstance(item, dict) and key in item:
                value = item[key]
                following.extend(value if isinstance(value, list) else [value])
        current = following
    return current


def tokens_of(value: Any) -> Iterator[tuple[str, str]]:
    if isinstance(value, bool):
        yield "", "true" if value else "false"
    elif isinstance(value, str):
        yield "", value
    elif isinstance(value, dict):
        if isinstance(value.get("coding"), list):
            for coding in value["coding"]:
                yield from tokens_of(coding)
        elif isinstance(value.get("code"), str):
            yield str(value.get("system") or ""), value["code"]
        elif isinstance(value.get("value"), str):  # Identifier, ContactPoint
            yield str(value.get("system") or ""), value["value"]


def strings_of(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        text = value.get("text")
        if isinstance(text, str) and " " in text.strip():  # "Dr. Bob Jones" is found by "bob"
            yield from text.split()
        for key in (
            "text",
            "family",
            "given",
            "prefix",
            "suffix",
            "line",
            "city",
            "district",
            "state",
            "postalCode",
            "country",
        ):
            for part in values_at(value, key):
                if isinstance(part, str):
                    yield part


def date_range_of(value: Any) -> DateRange | None:
    if isinstance(value, str):
        return parse_range(value)
    if isinstance(value, dict):
        return period_range(value)
    return None


def _rows_for(param: SearchParam, resource: dict[str, Any], rows: IndexRows) -> None:
    for path in param.paths:
        for value in values_at(resource, path):
            if param.kind is ParamKind.TOKEN:
                rows.tokens.extend((param.name, s, c) for s, c in tokens_of(value))
            elif param.kind is ParamKind.STRING:
                rows.strings.extend((param.name, normalize_text(s), s) for s in strings_of(value))
            elif param.kind is ParamKind.DATE:
                rng = date_range_of(value)
                if rng is not None:
                    rows.dates.append((param.name, rng.low, rng.high))
            elif isinstance(value, dict) and isinstance(value.get("reference"), str):
                target = parse_reference(value["reference"])
                if target and may_target(param, target[0]):
                    rows.references.append((param.name, *target))


def index_rows(resource: dict[str, Any]) -> IndexRows:
    rows = IndexRows()
    for param in indexed_params(str(resource.get("resourceType"))):
        _rows_for(param, resource, rows)
    rows.tokens = list(dict.fromkeys(rows.tokens))
    rows.references = list(dict.fromkeys(rows.references))
    rows.dates = list(dict.fromkeys(rows.dates))
    rows.strings = list(dict.fromkeys(rows.strings))
    return rows


def all_references(node: Any) -> Iterator[str]:
    """Every ``reference`` string anywhere in ``node`` (for compartment checks)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield value
            else:
                yield from all_references(value)
    elif isinstance(node, list):
        for item in node:
            yield from all_references(item)
