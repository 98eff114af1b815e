"""Draft import: valid files become OPEN drafts with provenance; invalid ones name the problem."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app._resources import resource_path
from app.domain.draft import (
    DraftSource,
    DraftStatus,
    FlagTarget,
    MessageItem,
    ObservationItem,
    TaskItem,
)
from app.domain.draft_import import MAX_IMPORT_BYTES, import_draft
from app.domain.errors import DomainError, DraftContextMismatch, DraftImportError
from tests.domain.conftest import NOW, make_context

SAMPLE = resource_path("samples", "scribe-draft.json")


def sample() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(SAMPLE.read_text("utf-8"))
    return doc


def encode(doc: Any) -> bytes:
    return json.dumps(doc).encode("utf-8")


def refused(doc_or_bytes: Any) -> DraftImportError:
    data = doc_or_bytes if isinstance(doc_or_bytes, bytes) else encode(doc_or_bytes)
    with pytest.raises(DraftImportError) as exc:
        import_draft(data, make_context(), now=NOW)
    return exc.value


def test_sample_imports_as_open_draft_with_provenance() -> None:
    data = SAMPLE.read_bytes()
    draft = import_draft(data, make_context(), now=NOW)
    assert draft.status is DraftStatus.OPEN
    assert draft.provenance.source is DraftSource.IMPORTED
    assert draft.provenance.generator is not None
    assert draft.provenance.generator.name == "Example Scribe Service"
    assert (
        draft.provenance.generated_at is not None
        and draft.provenance.generated_at.tzinfo is not None
    )
    assert draft.provenance.import_sha256 and len(draft.provenance.import_sha256) == 64
    assert [s.key for s in draft.sections] == ["subjective", "objective", "assessment", "plan"]
    assert draft.baseline.sections == draft.sections and draft.baseline.items == draft.items
    kinds = [type(i) for i in draft.items]
    assert kinds == [ObservationItem, ObservationItem, TaskItem, MessageItem]
    weight = draft.item("obs-2")
    assert isinstance(weight, ObservationItem) and weight.value == Decimal("82.5")
    assert draft.patient.id == "pat-1" and draft.patient.display == "Maria Elena Garcia"
    assert draft.encounter.id == "enc-1"
    flags = draft.provenance.uncertainty
    assert {(f.target_kind, f.target) for f in flags} == {
        (FlagTarget.SECTION, "subjective"),
        (FlagTarget.SECTION, "plan"),
        (FlagTarget.ITEM, "obs-2"),
    }
    assert (
        draft.provenance.flags_for(FlagTarget.SECTION, "subjective")[0].quote
        == "over the last two weeks"
    )


def test_approval_fields_in_the_file_are_ignored() -> None:
    doc = sample() | {"status": "approved", "approved": True, "review": {"status": "approved"}}
    draft = import_draft(encode(doc), make_context(), now=NOW)
    assert draft.status is DraftStatus.OPEN


def test_other_patient_is_a_mismatch() -> None:
    doc = sample()
    doc["source"]["patient"] = "Patient/pat-2"
    err = refused(doc)
    assert isinstance(err, DraftContextMismatch)
    assert err.path == "$.source.patient"
    assert "Patient/pat-2" in err.user_message and "Patient/pat-1" in err.user_message


def test_other_encounter_is_a_mismatch() -> None:
    doc = sample()
    doc["source"]["encounter"] = {"reference": "http://ehr/fhir/Encounter/enc-3"}
    err = refused(doc)
    assert isinstance(err, DraftContextMismatch) and err.path == "$.source.encounter"


def mutate(path: list[Any], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(sample())
    target = doc
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value", "where", "words"),
    [
        (["schema"], "other", "$.schema", "draft-import"),
        (["schema_version"], 99, "$.schema_version", "not a supported version"),
        (["sections"], [], "$.sections", "non-empty list"),
        (["sections", 1, "text"], 42, "$.sections[1].text", "not a number"),
        (["sections", 1, "key"], "Objective!", "$.sections[1].key", "lowercase"),
        (["sections", 2, "key"], "subjective", "$.sections[2].key", "twice"),
        (["observations", 0, "loinc"], "heart", "$.observations[0].loinc", "LOINC"),
        (["observations", 0, "value"], "78", "$.observations[0].value", "number"),
        (["observations", 0, "value"], 1e300, "$.observations[0].value", "huge"),
        (["observations", 1, "id"], "obs-1", "$.observations[1].id", "used twice"),
        (["tasks", 0, "due"], "next week", "$.tasks[0].due", "date"),
        (["tasks", 0, "priority"], "whenever", "$.tasks[0].priority", "routine"),
        (["tasks", 0, "owner"], "Dr Smith", "$.tasks[0].owner", "reference"),
        (["messages", 0, "text"], "", "$.messages[0].text", "non-empty"),
        (["generated_at"], "2025-03-10T09:42:00", "$.generated_at", "time zone"),
        (["generator"], KeyError, "$.generator", "required"),
        (["source"], KeyError, "$.source", "required"),
        (["source", "patient"], "Encounter/enc-1", "$.source.patient", "must refer to a Patient"),
        (["tasks"], {"a": 1}, "$.tasks", "must be a list"),
        (["uncertainty"], [3], "$.uncertainty[0]", "reason"),
    ],
)
def test_invalid_files_name_the_problem(
    path: list[Any], value: Any, where: str, words: str
) -> None:
    err = refused(mutate(path, value))
    assert err.path == where, err.problems
    assert words in err.problem
    assert where in err.user_message


def test_all_problems_are_collected() -> None:
    doc = mutate(["tasks", 0, "due"], "soon")
    doc["messages"][0]["priority"] = "never"
    err = refused(doc)
    assert len(err.problems) == 2
    assert "1 more problem" in err.user_message


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b'{"schema": "caf\xe9"}', "line 1, column 16: the byte 0xE9 is not UTF-8"),
        (b"\xff\xfe{not utf8", "cut short"),  # a UTF-16 byte-order mark, then odd bytes
        ('{"a": 1}'.encode("utf-16-le"), "NUL character"),  # UTF-16 without its BOM
        (b'{"schema": ', "not valid JSON at line 1"),
        (b"[1, 2]", "one JSON object"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"x": ' + b"9" * 10_000 + b"}", "not acceptable JSON"),
        (b'{"x": NaN}', "not acceptable JSON"),
    ],
)
def test_unreadable_files(data: bytes, words: str) -> None:
    err = refused(data)
    assert err.path == "$" and words in err.problem


def test_size_cap() -> None:
    data = b" " * (MAX_IMPORT_BYTES + 1)
    err = refused(data)
    assert "limit is 5 MB" in err.problem


def test_bom_is_accepted() -> None:
    draft = import_draft(b"\xef\xbb\xbf" + SAMPLE.read_bytes(), make_context(), now=NOW)
    assert draft.provenance.source is DraftSource.IMPORTED


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_utf16_with_a_byte_order_mark_is_accepted(encoding: str) -> None:
    text = SAMPLE.read_text("utf-8")
    data = text.encode(encoding) if encoding == "utf-16" else b"\xfe\xff" + text.encode(encoding)
    draft = import_draft(data, make_context(), now=NOW)
    assert draft.provenance.source is DraftSource.IMPORTED


@pytest.mark.parametrize(
    ("path", "value", "where"),
    [
        (["generated_at"], "9999-12-31T23:59:59-14:00", "$.generated_at"),  # OverflowError
        (["generated_at"], "0001-01-01T00:00:00+14:00", "$.generated_at"),  # OverflowError
        (["generated_at"], "9999-12-31T00:00:00Z", "$.generated_at"),
        (["generated_at"], "1066-10-14T09:00:00Z", "$.generated_at"),
        (["observations", 0, "effective"], "9999-12-31T23:59:59-14:00", "$.observations[0].effective"),
        (["tasks", 0, "due"], "9999-12-31", "$.tasks[0].due"),
    ],
)  # fmt: skip
def test_dates_out_of_range_are_refused_with_words(path: list[Any], value: str, where: str) -> None:
    err = refused(mutate(path, value))
    assert err.path == where, err.problems
    assert "between 1900 and 2199" in err.problem and value in err.problem


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(
    key=st.sampled_from(
        [
            "schema",
            "source",
            "generator",
            "generated_at",
            "sections",
            "observations",
            "tasks",
            "messages",
            "uncertainty",
            "template",
            "title",
            "note_type",
        ]
    ),
    value=json_values
    | st.sampled_from(
        ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "9999-12-31", "0001-01-01"]
    )
    | st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
)
@settings(max_examples=300, deadline=None)
def test_fuzzed_fields_only_raise_domain_errors(key: str, value: Any) -> None:
    doc = sample()
    doc[key] = value
    try:
        draft = import_draft(encode(doc), make_context(), now=NOW)
    except DomainError:
        return
    assert draft.status is DraftStatus.OPEN
