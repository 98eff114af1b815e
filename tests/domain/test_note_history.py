"""The chart's notes, each listed once at its current version (app.domain.note_history)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from app.domain.clinical import NoteRelation, NoteSourceType, PriorNote, Reference
from app.domain.commit import IDENTIFIER_SYSTEM
from app.domain.note_history import commit_of, note_threads

T0 = datetime(2025, 11, 16, 9, 12, tzinfo=UTC)
DOC, COMP = NoteSourceType.DOCUMENT_REFERENCE, NoteSourceType.COMPOSITION


def note(
    nid: str,
    minutes: int = 0,
    *,
    source: NoteSourceType = DOC,
    commit: uuid.UUID | None = None,
    position: int | None = None,
    relates: tuple[tuple[str, str], ...] = (),
) -> PriorNote:
    identifiers: tuple[str, ...] = ()
    if commit is not None:
        value = str(commit) if position is None else f"{commit}.{position}"
        identifiers = (f"{IDENTIFIER_SYSTEM}|{value}",)
    return PriorNote(
        id=nid,
        source_type=source,
        version_id="1",
        type=None,
        type_display="Progress note",
        date=T0 + timedelta(minutes=minutes),
        authors=(),
        status="current",
        doc_status="final",
        description=None,
        text="text",
        content_type="text/plain",
        relates_to=tuple(
            NoteRelation(code, Reference(target.split("/")[0], target.split("/")[1]))
            for code, target in relates
        ),
        identifiers=identifiers,
    )


def test_a_note_written_as_document_reference_and_composition_is_listed_once() -> None:
    """The issue's bug: after a restart every note the app wrote was listed twice."""
    commit = uuid.uuid4()
    doc = note("d1", commit=commit)
    comp = note("c1", source=COMP, commit=commit, position=2)
    (thread,) = note_threads([comp, doc], written_here=[commit])
    assert thread.current is doc and thread.other_forms == (comp,)
    assert thread.written_here
    assert commit_of(comp) == commit_of(doc) == commit


def test_an_amended_note_shows_its_current_version_with_history() -> None:
    first = note("d1")
    second = note("d2", 30, relates=(("replaces", "DocumentReference/d1"),))
    third = note("d3", 60, relates=(("replaces", "DocumentReference/d2"),))
    other = note("x", 10)
    threads = note_threads([first, other, third, second])
    assert [t.current.id for t in threads] == ["d3", "x"]
    assert [n.id for n in threads[0].earlier] == ["d2", "d1"]
    assert threads[0].replaced and not threads[1].replaced
    assert not threads[0].written_here


def test_addenda_belong_to_their_note_and_to_its_current_version() -> None:
    first = note("d1")
    addendum = note("a1", 20, relates=(("appends", "DocumentReference/d1"),))
    correction = note("d2", 40, relates=(("replaces", "DocumentReference/d1"),))
    (thread,) = note_threads([first, addendum, correction])
    assert thread.current.id == "d2" and [n.id for n in thread.addenda] == ["a1"]
    lonely = note("a2", relates=(("appends", "DocumentReference/not-loaded"),))
    assert [t.current.id for t in note_threads([lonely])] == ["a2"]


def test_an_amendment_of_a_note_with_a_composition_links_both_forms() -> None:
    old, new = uuid.uuid4(), uuid.uuid4()
    notes = [
        note("d1", commit=old),
        note("c1", source=COMP, commit=old, position=3),
        note("d2", 5, commit=new, relates=(("replaces", "DocumentReference/d1"),)),
        note(
            "c2", 5, source=COMP, commit=new, position=2, relates=(("replaces", "Composition/c1"),)
        ),
    ]
    (thread,) = note_threads(notes, written_here=[new])
    assert thread.current.id == "d2" and [n.id for n in thread.other_forms] == ["c2"]
    assert [n.id for n in thread.earlier] == ["d1"]
    assert thread.written_here


@given(st.lists(st.tuples(st.integers(0, 6), st.sampled_from(["replaces", "appends", "x"])),
                max_size=10))  # fmt: skip
def test_every_note_is_in_exactly_one_thread(links: list[tuple[int, str]]) -> None:
    notes = [
        note(f"d{i}", i, relates=tuple((code, f"DocumentReference/d{t}") for t, code in links[i:i + 1] if t != i))
        for i in range(7)
    ]  # fmt: skip
    threads = note_threads(notes)
    seen = [n.id for t in threads for n in t.members]
    assert sorted(seen) == sorted(n.id for n in notes)
    for t in threads:  # the current version is one that nothing replaces (unless all are:
        # a cycle of replacements, which only a broken chart can hold)
        versions = {t.current.id, *(n.id for n in t.earlier)}
        replaced = {r.target.id for n in t.members for r in n.relates_to if r.code == "replaces"}
        assert t.current.id not in replaced or versions <= replaced
