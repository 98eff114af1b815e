"""Note templates: which narrative sections a note has and what the app prefills into each.

Templates are JSON files in ``resources/templates`` (read by ``app.store.templates``);
``parse_template`` turns one decoded file into a ``NoteTemplate``:

    {"id": "soap", "name": "SOAP note", "version": 1, "default": true,
     "note_type": {"system": "http://loinc.org", "code": "11506-3", "display": "Progress note"},
     "sections": [{"key": "objective", "title": "Objective", "required": true,
                   "prefill": ["vitals", "labs"], "placeholder": "Exam findings"}, ...]}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from app.domain.clinical import Coding
from app.domain.errors import TemplateError

# A blank to fill in, as in the EHRs' note writers: "Follow-up in *** weeks". A template's text, an
# imported draft or the clinician may leave one; F2 jumps to the next; a note with one left
# cannot be approved (app.domain.validation).
BLANK = "***"

_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


class PrefillSource(Enum):
    """Context data a template section can be prefilled with."""

    VITALS = "vitals"  # latest value of each vital sign
    LABS = "labs"  # latest value of each laboratory result
    PROBLEMS = "problems"  # active problems
    MEDICATIONS = "medications"  # active medication requests with dosage
    ALLERGIES = "allergies"
    ENCOUNTER = "encounter"  # encounter type, class and reason


@dataclass(frozen=True)
class TemplateSection:
    key: str
    title: str
    required: bool = False
    prefill: tuple[PrefillSource, ...] = ()
    placeholder: str = ""


@dataclass(frozen=True)
class NoteTemplate:
    id: str
    name: str
    version: int
    sections: tuple[TemplateSection, ...]
    note_type: Coding | None = None
    default: bool = False
    description: str = ""

    def section(self, key: str) -> TemplateSection | None:
        return next((s for s in self.sections if s.key == key), None)


AMENDMENT_TEMPLATE = NoteTemplate(
    id="amendment",
    name="Amendment of a chart note",
    version=1,
    sections=(TemplateSection(key="note", title="Note", required=True),),
    description="The chart note's text in one section, so the amendment keeps its wording.",
)


ADDENDUM_TEMPLATE = NoteTemplate(
    id="addendum",
    name="Addendum to an earlier note",
    version=1,
    sections=(TemplateSection(key="addendum", title="Addendum", required=True),),
    description="What is added to the earlier note, which stays as it is.",
)


def parse_template(data: Mapping[str, Any]) -> NoteTemplate:
    """A NoteTemplate from a decoded template file; TemplateError names the problem."""
    tid = data.get("id")
    if not isinstance(tid, str) or not _KEY.match(tid):
        raise TemplateError(str(tid), "'id' must be a short lowercase name such as 'soap'")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise TemplateError(tid, "'name' must be a non-empty string")
    version = data.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise TemplateError(tid, "'version' must be a positive integer")
    raw_sections = data.get("sections")
    if not isinstance(raw_sections, list) or not raw_sections:
        raise TemplateError(tid, "'sections' must be a non-empty list")
    sections = tuple(_parse_section(tid, i, s) for i, s in enumerate(raw_sections))
    keys = [s.key for s in sections]
    if len(set(keys)) != len(keys):
        raise TemplateError(tid, "section keys must be unique")
    return NoteTemplate(
        id=tid,
        name=name.strip(),
        version=version,
        sections=sections,
        note_type=_parse_coding(tid, data.get("note_type")),
        default=data.get("default") is True,
        description=str(data.get("description", "")),
    )


def _parse_section(tid: str, index: int, raw: object) -> TemplateSection:
    where = f"sections[{index}]"
    if not isinstance(raw, Mapping):
        raise TemplateError(tid, f"{where} must be an object")
    key, title = raw.get("key"), raw.get("title")
    if not isinstance(key, str) or not _KEY.match(key):
        raise TemplateError(tid, f"{where}.key must be a short lowercase name")
    if not isinstance(title, str) or not title.strip():
        raise TemplateError(tid, f"{where}.title must be a non-empty string")
    prefill_raw = raw.get("prefill", [])
    if not isinstance(prefill_raw, list):
        raise TemplateError(tid, f"{where}.prefill must be a list")
    prefill: list[PrefillSource] = []
    for value in prefill_raw:
        try:
            prefill.append(PrefillSource(value))
        except ValueError:
            allowed = ", ".join(p.value for p in PrefillSource)
            raise TemplateError(
                tid, f"{where}.prefill: {value!r} is not one of {allowed}"
            ) from None
    return TemplateSection(
        key=key,
        title=title.strip(),
        required=raw.get("required") is True,
        prefill=tuple(prefill),
        placeholder=str(raw.get("placeholder", "")),
    )


def _parse_coding(tid: str, raw: object) -> Coding | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or not isinstance(raw.get("code"), str):
        raise TemplateError(tid, "'note_type' must be an object with 'system' and 'code'")
    system = raw.get("system")
    display = raw.get("display")
    return Coding(
        str(system) if system is not None else None,
        str(raw["code"]),
        str(display) if display is not None else None,
    )


def default_template(templates: list[NoteTemplate] | tuple[NoteTemplate, ...]) -> NoteTemplate:
    """The template marked default, else one with id 'soap', else the first."""
    if not templates:
        raise TemplateError("(none)", "no note templates are installed")
    for t in templates:
        if t.default:
            return t
    return next((t for t in templates if t.id == "soap"), templates[0])
