"""After confirming: does the EHR hold what was sent? Pure comparison, no I/O.

Every element that was sent must be in the stored copy with the same value. The server may
add (``id``, ``meta``, narrative, extra identifiers or tags) — that is not a difference; a
missing or changed element is (silent partial success, stripped content). Values are compared
as FHIR means them, not as text: numbers numerically (``78`` = ``78.0``), instants as points in
time (``...+00:00`` = ``...Z`` = ``....000Z``), references by their ``Type/id`` ending (a server
may answer with an absolute URL). Differences are reported as element paths only — never the
values, which are clinical content.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

# The server owns these: sending them is not a claim about what it stores.
_SERVER_OWNED = frozenset({"id", "meta"})


def differences(
    sent: Mapping[str, Any],
    stored: Mapping[str, Any],
    *,
    limit: int = 8,
    references: Mapping[str, str] | None = None,
) -> list[str]:
    """Paths of sent elements that are missing or different in ``stored`` (at most ``limit``).
    ``references``: what the ``urn:uuid:`` references sent stand for now (``"Type/id"``), so
    the approved payload is compared as it is, without a copy resolved first."""
    found: list[str] = []
    compare = _Comparison(found, references or {})
    for key, value in sent.items():
        if key in _SERVER_OWNED:
            continue
        compare(value, stored.get(key), key)
        if len(found) >= limit:
            break
    return found[:limit]


class _Comparison:
    def __init__(self, found: list[str], references: Mapping[str, str]) -> None:
        self.found = found
        self.references = references

    def __call__(self, sent: Any, stored: Any, path: str) -> None:
        found = self.found
        if sent == stored:  # equal as Python sees it is equal here too (numbers, lists, objects)
            return
        if stored is None and sent is not None:
            found.append(f"{path} is missing")
            return
        if isinstance(sent, Mapping):
            if not isinstance(stored, Mapping):
                found.append(f"{path} changed")
                return
            for key, value in sent.items():
                self(value, stored.get(key), f"{path}.{key}")
            return
        if isinstance(sent, list):
            if not isinstance(stored, list):
                found.append(f"{path} changed")
                return
            if len(sent) == len(stored):
                for i, (a, b) in enumerate(zip(sent, stored, strict=True)):
                    self(a, b, f"{path}[{i}]")
                return
            for i, a in enumerate(sent):  # the server added elements: each sent one must be there
                if not any(self.same(a, b) for b in stored):
                    found.append(f"{path}[{i}] is missing")
            return
        if isinstance(sent, str) and path.endswith("reference"):
            sent = self.references.get(sent, sent)
        if not _scalar_equal(sent, stored, path):
            found.append(f"{path} changed")

    def same(self, a: Any, b: Any) -> bool:
        probe = _Comparison([], self.references)
        probe(a, b, "")
        return not probe.found


def _scalar_equal(sent: Any, stored: Any, path: str) -> bool:
    if sent == stored and type(sent) is type(stored):
        return True
    if isinstance(sent, bool) or isinstance(stored, bool):
        return bool(sent == stored)
    if isinstance(sent, int | float | Decimal) and isinstance(stored, int | float | Decimal):
        return _decimal(sent) == _decimal(stored)
    if isinstance(sent, str) and isinstance(stored, str):
        if path.endswith("reference"):
            return _same_reference(sent, stored)
        return _same_instant(sent, stored)
    return False


def _decimal(value: int | float | Decimal) -> Decimal | None:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _same_reference(sent: str, stored: str) -> bool:
    if sent == stored:
        return True
    trimmed_sent = _strip_history(sent)
    trimmed_stored = _strip_history(stored)
    return trimmed_stored.endswith("/" + trimmed_sent) or trimmed_sent.endswith(
        "/" + trimmed_stored
    )


def _strip_history(ref: str) -> str:
    head, sep, _tail = ref.partition("/_history/")
    return head if sep else ref


def _same_instant(a: str, b: str) -> bool:
    if "T" not in a or "T" not in b:
        return False
    try:
        first = datetime.fromisoformat(a.replace("Z", "+00:00"))
        second = datetime.fromisoformat(b.replace("Z", "+00:00"))
    except ValueError:
        return False
    if (first.tzinfo is None) != (second.tzinfo is None):
        return False
    return first == second
