"""A diff a clinician can trust (issue 12 item 4): no false word changes at line ends, on
trailing newlines or re-wrapped lines; white-space-only changes recognised and hideable; and,
over random edits, the diff rebuilds both texts and never shows a change that was not made."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.diff import DiffOp, TextDiff, diff_text


def ops(d: TextDiff) -> list[tuple[str, str]]:
    return [(s.op.value, s.text) for s in d.spans]


# ---------------------------------------------------------------- the reported problems


def test_appending_a_line_after_a_word_does_not_change_the_word() -> None:
    before = "Pulses: 2+ radial, arterial"
    d = diff_text(before, before + "\nFemoral pulses normal.")
    assert ops(d) == [("equal", before), ("insert", "\nFemoral pulses normal.")]
    assert d.words_removed == 0


def test_appending_after_a_line_with_its_newline() -> None:
    d = diff_text("Abdomen soft.\n", "Abdomen soft.\nNo guarding.\n")
    assert ops(d) == [("equal", "Abdomen soft.\n"), ("insert", "No guarding.\n")]


def test_removing_the_trailing_newline_is_a_whitespace_change() -> None:
    d = diff_text("Plan:\ncontinue metformin\n", "Plan:\ncontinue metformin")
    assert ops(d) == [("equal", "Plan:\ncontinue metformin"), ("delete", "\n")]
    assert d.whitespace_only
    assert not d.ignoring_whitespace().changed


def test_rewrapped_lines_are_whitespace_changes_only() -> None:
    before = "Patient reports intermittent\nheadache, worse in the\nmornings.\n"
    after = "Patient reports intermittent headache,\nworse in the mornings.\n"
    d = diff_text(before, after)
    assert d.words_added == 0 and d.words_removed == 0
    assert d.whitespace_only
    assert [h.whitespace_only for h in d.hunks] == [True, True, True]
    hidden = d.ignoring_whitespace()
    assert not hidden.changed
    assert hidden.current == after


def test_tab_replaced_by_space_is_a_whitespace_change() -> None:
    d = diff_text("HR\t96", "HR 96")
    assert ops(d) == [("equal", "HR"), ("delete", "\t"), ("insert", " "), ("equal", "96")]
    assert d.whitespace_only


def test_a_real_change_next_to_a_whitespace_change_stays_visible() -> None:
    d = diff_text("BP 142/88\tmmHg", "BP 150/90 mmHg")
    hidden = d.ignoring_whitespace()
    assert hidden.changed
    assert ("delete", "142/88") in ops(hidden) or ("delete", "142/88\t") in ops(hidden)
    assert hidden.current == "BP 150/90 mmHg"


def test_rewritten_phrase_reads_as_one_deletion_and_one_insertion() -> None:
    d = diff_text("takes aspirin daily now", "takes clopidogrel twice daily now")
    assert ops(d) == [
        ("equal", "takes "),
        ("insert", "clopidogrel twice "),
        ("equal", "aspirin daily now"),
    ] or ops(d) == [
        ("equal", "takes "),
        ("delete", "aspirin"),
        ("insert", "clopidogrel twice"),
        ("equal", " daily now"),
    ]


def test_hunks_point_into_both_texts() -> None:
    a = "one two three\nfour five\n"
    b = "one 2 three\nfour five six\n"
    d = diff_text(a, b)
    assert [(h.deleted, h.inserted) for h in d.hunks] == [("two", "2"), ("", " six")]
    for h in d.hunks:
        assert a[h.baseline_at : h.baseline_at + len(h.deleted)] == h.deleted
        assert b[h.current_at : h.current_at + len(h.inserted)] == h.inserted


# ---------------------------------------------------------------- random edits

VOCAB = [
    "patient",
    "reports",
    "chest",
    "pain",
    "denies",
    "dyspnoea",
    "BP",
    "142/88",
    "mmHg",
    "HR",
    "96",
    "/min",
    "metformin",
    "500",
    "mg",
    "plan",
    "recheck",
    "arterial",
    "radial",
    "pulses",
    "normal",
    "the",
    "a",
    "of",
    "in",
]
SEPARATORS = [" ", " ", " ", "  ", "\n", "\n\n", "\t", ", ", ". "]


@st.composite
def notes(draw: st.DrawFn, max_words: int = 40) -> str:
    words = draw(st.lists(st.sampled_from(VOCAB), min_size=0, max_size=max_words))
    out = []
    for w in words:
        out.append(w)
        out.append(draw(st.sampled_from(SEPARATORS)))
    if out and draw(st.booleans()):
        out.pop()  # sometimes no trailing separator
    return "".join(out)


@st.composite
def random_edits(draw: st.DrawFn) -> tuple[str, str]:
    """A note and the note after several random character-level edits."""
    text = draw(notes())
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 20)))
        text = text[:i] + draw(st.one_of(st.just(""), notes(max_words=3))) + text[j:]
    return draw(notes()) if draw(st.integers(0, 9)) == 0 else text, text


def assert_rebuilds(d: TextDiff, a: str, b: str) -> None:
    assert d.baseline == a
    assert d.current == b
    assert "".join(r.left_text for r in d.rows) == a
    assert "".join(r.right_text for r in d.rows) == b
    hunks = d.hunks
    for h in hunks:
        assert a[h.baseline_at : h.baseline_at + len(h.deleted)] == h.deleted
        assert b[h.current_at : h.current_at + len(h.inserted)] == h.inserted
    assert d.ignoring_whitespace().current == b


@given(pair=random_edits())
@settings(max_examples=400, deadline=None)
def test_applying_the_diff_to_the_old_text_gives_the_new_text(pair: tuple[str, str]) -> None:
    a, b = pair
    assert_rebuilds(diff_text(a, b), a, b)


def _is_boundary(text: str, at: int) -> bool:
    return at in (0, len(text)) or text[at - 1].isspace() or text[at].isspace()


@st.composite
def boundary_insertions(draw: st.DrawFn) -> tuple[str, str, str]:
    """A note, the same note with whole words inserted between two words, and the insert."""
    text = draw(notes())
    spots = [i for i in range(len(text) + 1) if _is_boundary(text, i)]
    at = draw(st.sampled_from(spots))
    words = draw(st.lists(st.sampled_from(VOCAB), min_size=1, max_size=6))
    inserted = draw(st.sampled_from(SEPARATORS)).join(words)
    space = draw(st.sampled_from([" ", "\n", "\t", "  "]))
    if at > 0 and not text[at - 1].isspace():
        inserted = space + inserted  # do not glue the new words onto the word before
    if at < len(text) and not text[at].isspace():
        inserted += space
    return text, text[:at] + inserted + text[at:], inserted


@given(case=boundary_insertions())
@settings(max_examples=400, deadline=None)
def test_inserting_words_never_shows_a_word_as_deleted(case: tuple[str, str, str]) -> None:
    a, b, inserted = case
    d = diff_text(a, b)
    assert_rebuilds(d, a, b)
    deleted = "".join(s.text for s in d.spans if s.op is DiffOp.DELETE)
    assert not deleted.strip(), f"{deleted!r} shown as deleted after inserting {inserted!r}"
    assert d.words_added == len(inserted.split())


@given(case=boundary_insertions())
@settings(max_examples=400, deadline=None)
def test_deleting_words_never_shows_a_word_as_inserted(case: tuple[str, str, str]) -> None:
    b, a, removed = case  # the same pairs read backwards: words deleted between two words
    d = diff_text(a, b)
    assert_rebuilds(d, a, b)
    inserted = "".join(s.text for s in d.spans if s.op is DiffOp.INSERT)
    assert not inserted.strip(), f"{inserted!r} shown as inserted after deleting {removed!r}"
    assert d.words_removed == len(removed.split())


@st.composite
def whitespace_edits(draw: st.DrawFn) -> tuple[str, str]:
    """A note and the same words with some separators changed (re-wrapped, tabs, blank lines)."""
    words = draw(st.lists(st.sampled_from(VOCAB), min_size=1, max_size=30))
    seps = [draw(st.sampled_from(SEPARATORS[:7])) for _ in words]
    changed = [draw(st.sampled_from(SEPARATORS[:7])) if draw(st.booleans()) else s for s in seps]
    a = "".join(w + s for w, s in zip(words, seps, strict=True))
    b = "".join(w + s for w, s in zip(words, changed, strict=True))
    return a, b


@given(pair=whitespace_edits())
@settings(max_examples=300, deadline=None)
def test_whitespace_edits_show_no_word_changes(pair: tuple[str, str]) -> None:
    a, b = pair
    d = diff_text(a, b)
    assert_rebuilds(d, a, b)
    assert d.words_added == 0 and d.words_removed == 0
    assert all(h.whitespace_only for h in d.hunks)
    assert not d.ignoring_whitespace().changed


@given(a=notes(), b=notes())
@settings(max_examples=300, deadline=None)
def test_no_word_is_shown_deleted_and_inserted_unchanged_at_a_change_edge(a: str, b: str) -> None:
    """The "~~arterial~~ arterial" shape: a change never starts or ends with the same word on
    both sides (that word did not change, so it must be shown as unchanged)."""
    for h in diff_text(a, b).hunks:
        old, new = h.deleted.split(), h.inserted.split()
        if old and new:
            assert old[0] != new[0], (h.deleted, h.inserted)
            assert old[-1] != new[-1], (h.deleted, h.inserted)
