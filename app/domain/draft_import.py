"""Importing a draft produced elsewhere (for example by a scribe service) from JSON.

The schema is documented in ``docs/draft-import.md`` (schema version 1). ``import_draft`` is pure:
it takes the file's bytes and the open encounter context and returns an OPEN draft whose
provenance says it was imported, by which generator, with which uncertainty flags. It never
approves anything: approval fields in the file are ignored. Every problem is reported with the
JSON path where it was found; all problems are collected, the message names the first.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from functools import partial
from typing import Any, TypeVar

from app.domain.clinical import Coding, Reference, bounded_decimal
from app.domain.clock import utc_now
from app.domain.context import EncounterContext
from app.domain.draft import (
    Baseline,
    Draft,
    DraftProvenance,
    DraftSource,
    FlagTarget,
    Generator,
    NoteSection,
    UncertaintyFlag,
)
from app.domain.errors import DraftContextMismatch, DraftImportError, TextEncodingError
from app.domain.items import ITEM_KINDS, StructuredItem
from app.domain.text_files import decode_text

SCHEMA_ID = "fhir-writeback/draft-import"
SCHEMA_VERSIONS = (1,)
MAX_IMPORT_BYTES = 5 * 1024 * 1024
MAX_TEXT_CHARS = 1_000_000
_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_ITEM_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# Dates outside these years are refused: they are mistakes, and the far ends of datetime's range
# overflow when converted between time zones (9999-12-31T23:59:59-14:00 -> OverflowError).
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
_YEARS = f"between {EARLIEST.year} and {LATEST.year - 1}"

T = TypeVar("T")
E = TypeVar("E", bound=Enum)


def import_draft(
    data: bytes,
    context: EncounterContext,
    *,
    now: datetime | None = None,
    draft_id: uuid.UUID | None = None,
) -> Draft:
    """An OPEN draft for review from a draft-import file; DraftImportError names the problem."""
    if len(data) > MAX_IMPORT_BYTES:
        raise DraftImportError(
            "$",
            f"the file is {len(data) / 1_048_576:.1f} MB; the limit is {MAX_IMPORT_BYTES // 1_048_576} MB",
        )
    doc = _decode(data)
    reader = _Reader(context)
    draft = reader.draft(doc, context, now or utc_now(), draft_id or uuid.uuid4(), data)
    if reader.problems:
        path, problem = reader.problems[0]
        more = len(reader.problems) - 1
        error_cls = DraftContextMismatch if reader.mismatch else DraftImportError
        suffix = f" (and {more} more problem{'s' * (more > 1)})" if more else ""
        raise error_cls(path, problem + suffix, tuple(reader.problems))
    assert draft is not None
    return draft


def _decode(data: bytes) -> dict[str, Any]:
    try:
        text = decode_text(data)  # UTF-8 (BOM or not), UTF-16 with a BOM
    except TextEncodingError as exc:
        raise DraftImportError("$", f"at {exc.where}: {exc.problem}") from None
    try:
        doc = json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise DraftImportError(
            "$", f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise DraftImportError("$", "the JSON is nested too deeply") from None
    except ValueError as exc:  # e.g. integers with thousands of digits, NaN
        raise DraftImportError("$", f"not acceptable JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise DraftImportError("$", "the file must contain one JSON object")
    return doc


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


class _Reader:
    """Reads the document, collecting (path, problem) pairs instead of stopping at the first."""

    def __init__(self, context: EncounterContext) -> None:
        self.context = context  # the open chart, for kinds that refer to it (medications)
        self.problems: list[tuple[str, str]] = []
        self.mismatch = False
        self._item_ids: set[str] = set()
        self.flags: list[UncertaintyFlag] = []

    def fail(self, path: str, problem: str) -> None:
        self.problems.append((path, problem))

    # ---- top level
    def draft(
        self,
        doc: dict[str, Any],
        ctx: EncounterContext,
        now: datetime,
        draft_id: uuid.UUID,
        raw: bytes,
    ) -> Draft | None:
        self._header(doc)
        patient, encounter = self._source(doc.get("source"), ctx)
        generator = self._generator(doc.get("generator"))
        generated_at = self._instant(doc.get("generated_at"), "$.generated_at", required=True)
        sections = self._sections(doc.get("sections"))
        items: list[StructuredItem] = []
        for kind in ITEM_KINDS:  # each kind reads its own list ("observations", "tasks", ...)
            part = kind.import_part
            items += self._list(doc, part.key, partial(part.read, self))
        self._flags(doc.get("uncertainty"), "$.uncertainty", FlagTarget.DRAFT, "")
        template = self._opt_str(doc.get("template"), "$.template") or "imported"
        title = self._opt_str(doc.get("title"), "$.title") or "Imported draft"
        note_type = self._coding(doc.get("note_type"), "$.note_type")
        if self.problems or patient is None or encounter is None or generator is None:
            return None
        baseline = Baseline(sections=tuple(sections), items=tuple(items))
        return Draft(
            id=draft_id,
            patient=patient,
            encounter=encounter,
            template_id=template,
            title=title,
            note_type=note_type,
            sections=baseline.sections,
            items=baseline.items,
            baseline=baseline,
            provenance=DraftProvenance(
                source=DraftSource.IMPORTED,
                generator=generator,
                generated_at=generated_at,
                uncertainty=tuple(self.flags),
                import_sha256=hashlib.sha256(raw).hexdigest(),
            ),
            created_at=now,
            updated_at=now,
        )

    def _header(self, doc: Mapping[str, Any]) -> None:
        if doc.get("schema") != SCHEMA_ID:
            self.fail("$.schema", f"must be {SCHEMA_ID!r}; is this a draft-import file?")
        version = doc.get("schema_version")
        if version not in SCHEMA_VERSIONS or isinstance(version, bool):
            supported = ", ".join(str(v) for v in SCHEMA_VERSIONS)
            self.fail("$.schema_version", f"{version!r} is not a supported version ({supported})")

    def _source(
        self, raw: object, ctx: EncounterContext
    ) -> tuple[Reference | None, Reference | None]:
        if not isinstance(raw, Mapping):
            self.fail("$.source", "required: an object with 'patient' and 'encounter' references")
            return None, None
        patient = self._reference(raw.get("patient"), "$.source.patient", "Patient", required=True)
        encounter = self._reference(
            raw.get("encounter"), "$.source.encounter", "Encounter", required=True
        )
        if patient is not None and patient.id != ctx.patient.id:
            self.mismatch = True
            self.fail(
                "$.source.patient",
                f"the draft is for {patient.relative}, but the open patient is Patient/{ctx.patient.id}",
            )
        if encounter is not None and encounter.id != ctx.encounter.id:
            self.mismatch = True
            self.fail(
                "$.source.encounter",
                f"the draft is for {encounter.relative}, but the open encounter is Encounter/{ctx.encounter.id}",
            )
        # The draft always points at the open context's own references (with their display).
        return (
            ctx.patient.reference if patient else None,
            ctx.encounter.reference if encounter else None,
        )

    def _generator(self, raw: object) -> Generator | None:
        if not isinstance(raw, Mapping):
            self.fail("$.generator", "required: an object with 'name' and 'version'")
            return None
        name = self._str(raw.get("name"), "$.generator.name")
        version = self._str(raw.get("version"), "$.generator.version")
        return Generator(name, version) if name and version else None

    def _sections(self, raw: object) -> list[NoteSection]:
        if not isinstance(raw, list) or not raw:
            self.fail("$.sections", "required: a non-empty list of sections")
            return []
        out: list[NoteSection] = []
        keys: set[str] = set()
        for i, s in enumerate(raw):
            path = f"$.sections[{i}]"
            if not isinstance(s, Mapping):
                self.fail(path, "must be an object with 'key', 'title' and 'text'")
                continue
            key = s.get("key")
            if not isinstance(key, str) or not _KEY.match(key):
                self.fail(f"{path}.key", "must be a short lowercase name such as 'subjective'")
                continue
            if key in keys:
                self.fail(f"{path}.key", f"section {key!r} appears twice")
                continue
            keys.add(key)
            title = (
                self._opt_str(s.get("title"), f"{path}.title") or key.replace("_", " ").capitalize()
            )
            text = s.get("text")
            if not isinstance(text, str):
                self.fail(f"{path}.text", f"must be a string, not {_kind(text)}")
                continue
            if len(text) > MAX_TEXT_CHARS:
                self.fail(f"{path}.text", f"longer than {MAX_TEXT_CHARS} characters")
                continue
            self._flags(s.get("uncertainty"), f"{path}.uncertainty", FlagTarget.SECTION, key)
            out.append(NoteSection(key=key, title=title, text=text))
        return out

    def _list(
        self, doc: Mapping[str, Any], name: str, read: Callable[[Mapping[str, Any], str], T | None]
    ) -> list[T]:
        raw = doc.get(name, [])
        if not isinstance(raw, list):
            self.fail(f"$.{name}", f"must be a list, not {_kind(raw)}")
            return []
        out: list[T] = []
        for i, entry in enumerate(raw):
            path = f"$.{name}[{i}]"
            if not isinstance(entry, Mapping):
                self.fail(path, f"must be an object, not {_kind(entry)}")
                continue
            value = read(entry, path)
            if value is not None:
                out.append(value)
        return out

    # ---- items
    def _item_id(self, raw: Mapping[str, Any], path: str) -> str:
        given = raw.get("id")
        if given is None:
            return str(uuid.uuid4())
        if not isinstance(given, str) or not _ITEM_ID.match(given):
            self.fail(f"{path}.id", "must be 1-64 letters, digits or . _ : -")
            return str(uuid.uuid4())
        if given in self._item_ids:
            self.fail(f"{path}.id", f"item id {given!r} is used twice")
        self._item_ids.add(given)
        return given

    # ---- what a kind's reader uses (app.domain.items.ImportReader)
    def item_flags(self, raw: Mapping[str, Any], path: str, item_id: str) -> None:
        self._flags(raw.get("uncertainty"), f"{path}.uncertainty", FlagTarget.ITEM, item_id)

    def item_id(self, raw: Mapping[str, Any], path: str) -> str:
        return self._item_id(raw, path)

    def text(self, raw: object, path: str) -> str | None:
        return self._str(raw, path)

    def optional_text(self, raw: object, path: str) -> str | None:
        return self._opt_str(raw, path)

    def number(self, raw: object, path: str) -> Decimal | None:
        value = bounded_decimal(raw) if not isinstance(raw, str) else None
        if raw is not None and value is None:
            self.fail(path, "must be a number (not text, not huge)")
        return value

    def reference(
        self, raw: object, path: str, expected: str | None, *, required: bool
    ) -> Reference | None:
        return self._reference(raw, path, expected, required=required)

    def instant(self, raw: object, path: str, *, required: bool) -> datetime | None:
        return self._instant(raw, path, required=required)

    def day(self, raw: object, path: str) -> date | None:
        return self._date(raw, path)

    def choice(self, enum: type[E], raw: object, path: str) -> E | None:
        value: E | None = self._enum(enum, raw, path, None)
        return value

    def _flags(self, raw: object, path: str, kind: FlagTarget, target: str) -> None:
        if raw is None:
            return
        if not isinstance(raw, list):
            self.fail(path, f"must be a list, not {_kind(raw)}")
            return
        for i, entry in enumerate(raw):
            if isinstance(entry, str) and entry.strip():
                self.flags.append(UncertaintyFlag(kind, target, entry.strip()))
            elif isinstance(entry, Mapping):
                reason = self._str(entry.get("reason"), f"{path}[{i}].reason")
                quote = self._opt_str(entry.get("quote"), f"{path}[{i}].quote")
                if reason:
                    self.flags.append(UncertaintyFlag(kind, target, reason, quote))
            else:
                self.fail(f"{path}[{i}]", "must be a text or an object with 'reason'")

    # ---- scalars
    def _str(self, raw: object, path: str) -> str | None:
        if not isinstance(raw, str) or not raw.strip():
            self.fail(
                path,
                "required: a non-empty string"
                if raw is None
                else f"must be a non-empty string, not {_kind(raw)}",
            )
            return None
        return raw.strip()

    def _opt_str(self, raw: object, path: str) -> str | None:
        if raw is None:
            return None
        if not isinstance(raw, str):
            self.fail(path, f"must be a string, not {_kind(raw)}")
            return None
        return raw.strip() or None

    def _reference(
        self, raw: object, path: str, expected: str | None, *, required: bool
    ) -> Reference | None:
        if raw is None:
            if required:
                self.fail(path, "required: a reference such as 'Patient/pat-1'")
            return None
        display = None
        if isinstance(raw, Mapping):
            display = self._opt_str(raw.get("display"), f"{path}.display")
            raw = raw.get("reference")
        ref = Reference.parse(raw, display) if isinstance(raw, str) else None
        if ref is None:
            self.fail(path, "must be a reference such as 'Practitioner/prac-1'")
            return None
        if expected is not None and ref.resource_type != expected:
            self.fail(path, f"must refer to a {expected}, not a {ref.resource_type}")
            return None
        return ref

    def _instant(self, raw: object, path: str, *, required: bool) -> datetime | None:
        if raw is None:
            if required:
                self.fail(
                    path, "required: a date and time with a time zone, e.g. 2025-03-10T09:42:00Z"
                )
            return None
        if isinstance(raw, str):
            try:
                value = datetime.fromisoformat(raw)
            except ValueError:
                value = None
            if value is not None and value.tzinfo is not None:
                try:
                    instant = value.astimezone(UTC)
                except OverflowError:  # e.g. 9999-12-31T23:59:59-14:00
                    instant = None
                if instant is not None and EARLIEST <= instant < LATEST:
                    return instant
                self.fail(path, f"must be a date and time {_YEARS}, not {raw!r}")
                return None
        self.fail(path, "must be a date and time with a time zone, e.g. 2025-03-10T09:42:00Z")
        return None

    def _date(self, raw: object, path: str) -> date | None:
        if raw is None:
            return None
        if isinstance(raw, str):
            try:
                day = date.fromisoformat(raw)
            except ValueError:
                pass
            else:
                if EARLIEST.date() <= day < LATEST.date():
                    return day
                self.fail(path, f"must be a date {_YEARS}, not {raw!r}")
                return None
        self.fail(path, "must be a date such as 2025-06-10")
        return None

    def _enum(self, enum: type[Any], raw: object, path: str, default: Any) -> Any:
        if raw is None:
            return default
        try:
            return enum(raw)
        except ValueError:
            allowed = ", ".join(str(m.value) for m in enum)
            self.fail(path, f"{raw!r} is not one of {allowed}")
            return default

    def _coding(self, raw: object, path: str) -> Coding | None:
        if raw is None:
            return None
        if not isinstance(raw, Mapping):
            self.fail(path, f"must be an object with 'system' and 'code', not {_kind(raw)}")
            return None
        code = self._str(raw.get("code"), f"{path}.code")
        system = self._opt_str(raw.get("system"), f"{path}.system")
        display = self._opt_str(raw.get("display"), f"{path}.display")
        return Coding(system, code, display) if code else None


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float | Decimal):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__
