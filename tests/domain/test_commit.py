"""The immutable approved commit: identities, canonical payloads and hashes (app.domain.commit)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.commit import (
    IDENTIFIER_SYSTEM,
    ApprovedCommit,
    CommitInvalid,
    DraftWrite,
    MatchBy,
    build_commit,
    canonical_json,
    local_references,
    resolve_references,
)

COMMIT_ID = UUID("11111111-2222-4333-8444-555555555555")


def note_commit(sequence: int = 1, **kwargs: Any) -> ApprovedCommit:
    doc_id = uuid4()
    writes = [
        DraftWrite(
            {
                "resourceType": "DocumentReference",
                "status": "current",
                "subject": {"reference": "Patient/pat-1"},
            },
            doc_id,
        ),
        DraftWrite(
            {
                "resourceType": "Observation",
                "status": "final",
                "valueQuantity": {"value": 72, "unit": "/min"},
            }
        ),
        DraftWrite(
            {
                "resourceType": "Provenance",
                "target": [{"reference": f"urn:uuid:{doc_id}"}],
                "recorded": "2026-03-01T12:00:00Z",
            }
        ),
    ]
    return build_commit(writes, sequence=sequence, commit_id=COMMIT_ID, **kwargs)


def test_identities_are_fixed_at_approval() -> None:
    commit = note_commit()
    assert commit.business_identifier.token == f"{IDENTIFIER_SYSTEM}|{COMMIT_ID}"
    doc, obs, _prov = commit.writes
    assert doc.identifier.value == f"{COMMIT_ID}.0" and obs.identifier.value == f"{COMMIT_ID}.1"
    assert doc.full_url == f"urn:uuid:{doc.write_id}" and doc.client_id == str(doc.write_id)
    assert {"system": IDENTIFIER_SYSTEM, "value": f"{COMMIT_ID}.0"} in doc.payload()["identifier"]
    assert commit.resource_types == {"DocumentReference", "Observation", "Provenance"}


def test_provenance_has_no_identifier_element_so_it_is_tagged() -> None:
    prov = note_commit().writes[2]
    payload = prov.payload()
    assert "identifier" not in payload
    assert payload["meta"]["tag"] == [{"system": IDENTIFIER_SYSTEM, "code": f"{COMMIT_ID}.2"}]
    assert prov.match_by is MatchBy.TAG
    assert prov.search_param == ("_tag", f"{IDENTIFIER_SYSTEM}|{COMMIT_ID}.2")
    assert prov.if_none_exist == f"_tag={IDENTIFIER_SYSTEM}|{COMMIT_ID}.2"
    assert note_commit().writes[0].if_none_exist == f"identifier={IDENTIFIER_SYSTEM}|{COMMIT_ID}.0"


def test_composition_identifier_is_single() -> None:
    commit = build_commit(
        [DraftWrite({"resourceType": "Composition"})], sequence=1, commit_id=COMMIT_ID
    )
    assert commit.writes[0].payload()["identifier"] == {
        "system": IDENTIFIER_SYSTEM,
        "value": f"{COMMIT_ID}.0",
    }
    with pytest.raises(CommitInvalid, match="single"):
        build_commit(
            [DraftWrite({"resourceType": "Composition", "identifier": {"value": "x"}})], sequence=1
        )


def test_internal_references_become_dependencies() -> None:
    commit = note_commit()
    assert [w.depends_on for w in commit.writes] == [(), (), (0,)]


def test_a_write_may_not_refer_to_a_later_one() -> None:
    later = uuid4()
    with pytest.raises(CommitInvalid, match="earlier"):
        build_commit(
            [
                DraftWrite(
                    {"resourceType": "Provenance", "target": [{"reference": f"urn:uuid:{later}"}]}
                ),
                DraftWrite({"resourceType": "DocumentReference"}, later),
            ],
            sequence=1,
        )


def test_hash_is_sha256_of_canonical_payload_and_verifies() -> None:
    commit = note_commit()
    for write in commit.writes:
        assert write.payload_sha256 == hashlib.sha256(write.payload_json.encode()).hexdigest()
        assert write.payload_json == canonical_json(json.loads(write.payload_json))
    assert commit.verify()
    tampered = dataclasses.replace(
        commit.writes[1], payload_json=commit.writes[1].payload_json.replace("72", "27")
    )
    assert not tampered.verify()
    assert not dataclasses.replace(
        commit, writes=(commit.writes[0], tampered, commit.writes[2])
    ).verify()


def test_same_content_gives_same_hash_regardless_of_key_order() -> None:
    a = build_commit(
        [DraftWrite({"resourceType": "Task", "status": "requested", "intent": "order"})],
        sequence=1,
        commit_id=COMMIT_ID,
    )
    b = build_commit(
        [DraftWrite({"intent": "order", "status": "requested", "resourceType": "Task"})],
        sequence=1,
        commit_id=COMMIT_ID,
    )
    assert a.writes[0].payload_sha256 == b.writes[0].payload_sha256


def test_commit_is_frozen_and_caller_dicts_are_not_shared() -> None:
    draft = {"resourceType": "Task", "status": "requested"}
    commit = build_commit([DraftWrite(draft)], sequence=1)
    draft["status"] = "cancelled"
    assert commit.writes[0].payload()["status"] == "requested"
    with pytest.raises(dataclasses.FrozenInstanceError):
        commit.sequence = 2  # type: ignore[misc]
    copy = commit.writes[0].payload()
    copy["status"] = "x"
    assert commit.writes[0].payload()["status"] == "requested"


@pytest.mark.parametrize(
    ("writes", "kwargs", "message"),
    [
        ([], {"sequence": 1}, "at least one write"),
        ([DraftWrite({"resourceType": "Task"})], {"sequence": 0}, "starts at 1"),
        ([DraftWrite({"status": "x"})], {"sequence": 1}, "resourceType"),
        ([DraftWrite({"resourceType": "Task", "x": float("nan")})], {"sequence": 1}, "plain JSON"),
        (
            [DraftWrite({"resourceType": "Task"})],
            {"sequence": 1, "depends_on": [COMMIT_ID], "commit_id": COMMIT_ID},
            "itself",
        ),
    ],
)
def test_invalid_commits_are_refused(
    writes: list[DraftWrite], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(CommitInvalid, match=message):
        build_commit(writes, **kwargs)


def test_duplicate_write_ids_are_refused() -> None:
    same = uuid4()
    with pytest.raises(CommitInvalid, match="unique"):
        build_commit(
            [
                DraftWrite({"resourceType": "Task"}, same),
                DraftWrite({"resourceType": "Task"}, same),
            ],
            sequence=1,
        )


def test_a_write_from_another_commit_is_refused() -> None:
    other = build_commit([DraftWrite({"resourceType": "Task"})], sequence=1)
    with pytest.raises(CommitInvalid, match="another commit"):
        ApprovedCommit(uuid4(), 1, other.writes)


def test_amendment_depends_on_its_base_commit() -> None:
    base = note_commit()
    amendment = build_commit(
        [
            DraftWrite(
                {
                    "resourceType": "DocumentReference",
                    "relatesTo": [
                        {"code": "replaces", "target": {"reference": base.writes[0].full_url}}
                    ],
                }
            )
        ],
        sequence=2,
        depends_on=[base.commit_id, base.commit_id],
    )
    assert amendment.depends_on == (base.commit_id,)
    # the base's fullUrl is not one of the amendment's writes: it is resolved when the base is confirmed
    assert amendment.writes[0].depends_on == ()
    assert local_references(amendment.writes[0].payload()) == {base.writes[0].full_url}
    sent = resolve_references(
        amendment.writes[0].payload_json, {base.writes[0].full_url: "DocumentReference/srv-9"}
    )
    assert json.loads(sent)["relatesTo"][0]["target"]["reference"] == "DocumentReference/srv-9"
    assert amendment.writes[
        0
    ].verify()  # resolving builds a new body; the approved payload is untouched


def test_resolve_leaves_unknown_references_alone() -> None:
    text = canonical_json(
        {
            "resourceType": "Provenance",
            "target": [{"reference": "urn:uuid:abc"}, {"reference": "Patient/p"}],
        }
    )
    assert resolve_references(text, {}) == text


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(
    extra=st.dictionaries(
        st.text(min_size=1, max_size=8).filter(
            lambda k: k not in {"resourceType", "identifier", "meta", "id"}
        ),
        json_values,
        max_size=5,
    )
)
def test_any_json_payload_round_trips_and_verifies(extra: dict[str, Any]) -> None:
    commit = build_commit([DraftWrite({"resourceType": "Observation", **extra})], sequence=1)
    payload = commit.writes[0].payload()
    for key, value in extra.items():
        assert payload[key] == value
    assert commit.verify()


_REFERENCE_VALUES = st.sampled_from(
    ["urn:uuid:0f0e0d0c-0000-4000-8000-000000000001", "Patient/pat-1", "urn:uuid", "urn:x", ""]
)
_PAYLOADS = st.recursive(
    st.dictionaries(st.sampled_from(["reference", "display", "code"]), _REFERENCE_VALUES),
    lambda inner: st.dictionaries(
        st.sampled_from(["subject", "focus", "target", "reference"]),
        inner | st.lists(inner, max_size=3),
        max_size=3,
    ),
    max_leaves=8,
)


@given(_PAYLOADS, st.booleans())
def test_a_writes_local_references_are_those_a_walk_of_its_payload_finds(
    payload: dict[str, Any], escaped: bool
) -> None:
    """Issue 15: a payload whose text cannot hold ``urn:uuid:`` is not walked; the answer is
    the walk's either way (also when the text hides characters behind ``\\u`` escapes)."""
    payload = {"resourceType": "Task", **payload}
    write = build_commit([DraftWrite(payload)], sequence=1).writes[0]
    text = write.payload_json
    if escaped:  # the same JSON with every "u" written as an escape
        text = text.replace("u", "\\u0075")
        write = dataclasses.replace(write, payload_json=text)
    assert write.local_references == local_references(json.loads(text))
