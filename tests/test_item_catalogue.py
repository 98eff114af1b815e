"""The catalogue of item kinds is complete and is the one source: every kind declares every
facet and has its FHIR mapping, and every resource type it writes appears wherever write types
matter (scopes, permissions, diagnostics, vendor profiles, the sandbox, the docs) because those
places derive it. A new kind that forgets something fails here, with what to add."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from app.domain.context import EncounterContext
from app.domain.entry import EntryContext
from app.domain.items import (
    ITEM_KINDS,
    NOTE_WRITES,
    WRITE_FEATURES,
    ItemCheck,
    ItemKind,
    NoteRole,
    UnknownItemKind,
    kind_named,
    kind_of,
    ordered_types,
    type_label,
    write_types,
)
from app.domain.validation_problems import ValidationProblem
from app.fhir import permissions
from app.fhir.items import WriteContext, item_from_fhir, kind_of_resource, mapping_for
from app.fhir.profiles import ProfileError, available_profiles, load_profile, parse_profile
from app.sandbox.fhir.params import SUPPORTED_TYPES
from app.sandbox.fhir.validation import REQUIRED_CODES
from app.smart import diagnostics
from app.smart.discovery import DiscoverySource, SmartConfiguration
from app.smart.scopes import FEATURE_NEEDS, Feature, requested_scopes
from app.store.draft_codec import decode_body, encode_body
from tests.domain.conftest import NOW, make_context
from tests.support.drafts import CLINICIAN, ENCOUNTER, PATIENT, make_draft, one_of_each

DOCS = Path(__file__).resolve().parents[1] / "docs" / "draft-import.md"
SAMPLES = one_of_each()
KINDS = pytest.mark.parametrize("kind", ITEM_KINDS, ids=[k.key for k in ITEM_KINDS])
CTX = WriteContext(PATIENT, ENCOUNTER, {"reference": CLINICIAN.relative}, "n-1", NOW)


def test_there_is_a_sample_of_every_kind() -> None:
    assert set(SAMPLES) == {k.key for k in ITEM_KINDS}, "add a sample to one_of_each()"


def test_keys_import_lists_and_features_are_unique() -> None:
    for facet in (
        [k.key for k in ITEM_KINDS],
        [k.import_part.key for k in ITEM_KINDS],
        [k.item_type for k in ITEM_KINDS],
        [f.name for f in WRITE_FEATURES],
    ):
        assert len(facet) == len(set(facet)), facet


@KINDS
def test_every_kind_declares_every_facet(kind: ItemKind[Any]) -> None:
    item = SAMPLES[kind.key]
    assert re.fullmatch(r"[a-z][a-z_]*", kind.key)
    assert dataclasses.is_dataclass(kind.item_type)
    assert kind.item_type.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert "item_id" in {f.name for f in dataclasses.fields(kind.item_type)}
    assert kind_of(item) is kind and kind_named(kind.key) is kind
    get_fhir_model_class(kind.resource_type)  # a real R4 resource type
    assert {"c", "r", "s"} <= set(kind.permissions) <= set("cruds")
    words = kind.words
    for name in ("singular", "plural", "label", "row", "tab", "cannot", "fails"):
        assert getattr(words, name).strip(), name
    assert bool(words.add) == (kind.new_item is not None)
    assert (kind.new_item is None) == (kind.chart_rows is not None), "blank rows or chart rows"
    assert isinstance(kind.role, NoteRole)
    line = kind.render(item)
    assert line.strip() and "\n" not in line
    assert isinstance(kind.name_of(item), str)
    problems = list(kind.check(item, ItemCheck(PATIENT, NOW))) + list(kind.check_together([item]))
    assert all(isinstance(p, ValidationProblem) for p in problems)
    assert not [p for p in problems if p.blocking], "the sample must be valid"
    assert kind.keeps(item)


ENTRY = EntryContext(today=date(2025, 3, 10))


@KINDS
def test_every_kind_has_editor_columns_with_validation_slots(kind: ItemKind[Any]) -> None:
    item = SAMPLES[kind.key]
    assert kind.columns
    assert len({c.header for c in kind.columns}) == len(kind.columns)
    assert len({c.field for c in kind.columns}) == len(kind.columns)
    fields = {f.name for f in dataclasses.fields(kind.item_type)} | {"code"}
    for column in kind.columns:
        assert isinstance(column.get(item), str)
        assert column.field in fields, f"{column.header}: slot {column.field!r} names no field"
        if column.set is not None:  # setting what is shown gives the same item back
            assert column.set(item, column.get(item)) == item, column.header
        if column.editable:  # and so does entering it
            assert column.apply(item, column.get(item), ENTRY) == item, column.header
        assert all(isinstance(c, str) for c in column.choices)


@KINDS
def test_every_kind_round_trips_through_the_draft_codec(kind: ItemKind[Any]) -> None:
    draft = make_draft((SAMPLES[kind.key],))
    body = encode_body(draft)
    assert json.loads(body)["items"][0]["kind"] == kind.key
    back = decode_body(body, draft_id=str(draft.id), template_id="soap", status="open",
                       revision=1, created_at="2025-03-10T10:30:00.000000Z",
                       updated_at="2025-03-10T10:30:00.000000Z")  # fmt: skip
    assert back.items == draft.items


@KINDS
def test_every_kind_has_its_fhir_mapping_out_and_in(kind: ItemKind[Any]) -> None:
    item = SAMPLES[kind.key]
    mapping = mapping_for(kind)
    payload = mapping.to_fhir(item, CTX)
    assert payload["resourceType"] == kind.resource_type
    get_fhir_model_class(kind.resource_type).model_validate(payload)
    assert kind_of_resource(payload) is kind, "exactly this kind claims what it writes"
    back = item_from_fhir({**payload, "id": "srv-1"})
    assert back is not None and kind_of(back) is kind
    assert mapping.describe(payload).strip()


def test_every_written_type_is_derived_everywhere_it_matters() -> None:
    types = write_types()
    assert types[0] == "DocumentReference" and types[-1] == "Provenance"
    assert {k.resource_type for k in ITEM_KINDS} | {w.resource_type for w in NOTE_WRITES} == set(
        types
    )
    assert types == permissions.WRITE_TYPES
    assert types == diagnostics.WRITE_TYPES
    assert set(types) <= set(SUPPORTED_TYPES), "the sandbox must serve every written type"
    for kind in ITEM_KINDS:
        assert "status" in REQUIRED_CODES[kind.resource_type], kind.resource_type
        assert type_label(kind.resource_type) in (kind.words.label, kind.resource_type)
    assert ordered_types(reversed(types)) == list(types)


def test_every_write_is_a_smart_feature_with_its_scope() -> None:
    assert [f.name for f in Feature][1:] == [w.name for w in WRITE_FEATURES]
    config = SmartConfiguration("https://x/fhir", "https://x/a", "https://x/t",
                                DiscoverySource.WELL_KNOWN,
                                capabilities=frozenset({"permission-v2"}))  # fmt: skip
    scopes = requested_scopes(config)
    for kind in ITEM_KINDS:
        feature = Feature[kind.feature_name]
        assert feature.value == kind.words.cannot
        [need] = FEATURE_NEEDS[feature]
        assert need.resource_type == kind.resource_type
        assert need.permissions == frozenset(kind.permissions)
        assert any(s.startswith(f"user/{kind.resource_type}.") for s in scopes)


@pytest.mark.parametrize("name", available_profiles())
def test_profiles_list_only_types_the_app_writes(name: str) -> None:
    assert load_profile(name).writable_types <= set(write_types())


def test_a_profile_naming_a_type_the_app_never_writes_is_refused() -> None:
    path = Path(__file__).resolve().parents[1] / "resources" / "profiles" / "generic-r4.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["writable_types"].append("Immunization")
    with pytest.raises(ProfileError, match="Immunization, which the app never writes"):
        parse_profile(data, source="generic-r4")


def import_table(kind: ItemKind[Any]) -> str:
    part = kind.import_part
    rows = [f"| `{f.name}` | {'yes' if f.required else 'no'} | {f.meaning} |" for f in part.fields]
    return "\n".join(
        [f"### {part.title}", "", "| field | required | meaning |", "|---|---|---|", *rows]
    )


@KINDS
def test_the_import_docs_show_each_kinds_schema_part(kind: ItemKind[Any]) -> None:
    text = DOCS.read_text(encoding="utf-8")
    part = kind.import_part
    assert f"| `{part.key}` | no | list | {part.summary} |" in text
    assert import_table(kind) in text, f"put this in {DOCS.name}:\n\n{import_table(kind)}\n"
    names = {f.name for f in part.fields}
    assert {"id", "uncertainty"} <= names


def test_unknown_items_and_keys_are_programming_errors() -> None:
    with pytest.raises(UnknownItemKind):
        kind_of(object())
    with pytest.raises(UnknownItemKind):
        kind_named("prescription")


def test_rows_come_from_the_draft_or_the_chart() -> None:
    context: EncounterContext = make_context()
    items = tuple(SAMPLES.values())
    for kind in ITEM_KINDS:
        rows = kind.rows(items, context)
        if kind.chart_rows is None:
            assert list(rows) == kind.select(items)
        else:
            assert len(rows) >= len(context.active_medications)
