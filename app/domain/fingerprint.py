"""A SHA-256 of what a draft says: the content the clinician approves, nothing else.

Two drafts with the same fingerprint write the same chart content. Bookkeeping (id, revision,
timestamps, status, baseline, provenance) is left out, so saving or approving a draft does not
change it; every field that reaches the chart (patient, encounter, title, note type, sections,
structured items, the amended note) is in. The review decision records it, and the approval
refuses a validation report made for other content.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import Enum

from app.domain.draft import Draft

FINGERPRINT_VERSION = 1  # part of the hashed text: change it when the encoding below changes


def draft_content_sha256(draft: Draft) -> str:
    content = {
        "v": FINGERPRINT_VERSION,
        "patient": _plain(draft.patient),
        "encounter": _plain(draft.encounter),
        "title": draft.title,
        "note_type": _plain(draft.note_type),
        "sections": [_plain(s) for s in draft.sections],
        "items": [{"kind": type(i).__name__, **_fields(i)} for i in draft.items],
        "amends": _plain(draft.amends),
    }
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    # surrogatepass: a lone surrogate (blocked by validation anyway) must not crash hashing
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _fields(obj: object) -> dict[str, object]:
    assert dataclasses.is_dataclass(obj) and not isinstance(obj, type)
    return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}


def _plain(value: object) -> object:
    if value is None or isinstance(value, str | int | bool):
        return value
    if isinstance(value, Decimal):
        return str(value)  # exact and compact (``1E+999999`` stays short)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, uuid.UUID):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _fields(value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    raise TypeError(f"cannot fingerprint a {type(value).__name__}")
