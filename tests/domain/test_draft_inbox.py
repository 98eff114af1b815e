"""The watched folder's rules, pure: which files are ready (stable for a while), names for
files set aside, what the ``.rejected.txt`` says."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from app.domain.draft_inbox import (
    InboxEntry,
    InboxOutcome,
    InboxOutcomeKind,
    aside_name,
    growing_files,
    is_candidate,
    ready_files,
    rejection_text,
)

T0 = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
S = timedelta(seconds=1)


def test_only_json_files_that_are_not_hidden_or_temporary() -> None:
    assert is_candidate("visit-0912.json") and is_candidate("VISIT.JSON")
    for name in (
        "visit.json.part",
        "visit.tmp",
        ".visit.json",
        "~visit.json",
        "$visit.json",
        "notes.txt",
    ):
        assert not is_candidate(name)


def test_a_file_is_ready_once_it_stopped_changing_for_the_settle_time() -> None:
    growing = InboxEntry("a.json", 100, T0)
    ready, seen = ready_files([growing, InboxEntry("b.json.part", 5, T0)], {}, T0)
    assert ready == [] and set(seen) == {"a.json"}
    grown = InboxEntry("a.json", 4096, T0 + S)  # still being copied
    ready, seen = ready_files([grown], seen, T0 + 2 * S)
    assert ready == [] and seen["a.json"].since == T0 + 2 * S
    ready, seen = ready_files([grown], seen, T0 + 3 * S)
    assert ready == []  # unchanged for 1 s only
    ready, seen = ready_files([grown], seen, T0 + 4 * S)
    assert ready == [grown]
    ready, seen = ready_files([], seen, T0 + 5 * S)
    assert seen == {}  # gone from the folder: forgotten


def test_a_file_that_changed_since_the_last_look_is_growing() -> None:
    first = InboxEntry("a.json", 100, T0)
    _, seen = ready_files([first, InboxEntry("b.json", 5, T0)], {}, T0)
    assert growing_files([first], {}) == []  # seen for the first time: not yet known
    grown = InboxEntry("a.json", 4096, T0 + S)
    entries = [grown, InboxEntry("b.json", 5, T0), InboxEntry("c.json.part", 9, T0)]
    assert growing_files(entries, seen) == ["a.json"]


def test_ready_files_oldest_first() -> None:
    old, new = InboxEntry("z.json", 1, T0), InboxEntry("a.json", 1, T0 + S)
    _, seen = ready_files([new, old], {}, T0)
    ready, _ = ready_files([new, old], seen, T0 + 10 * S)
    assert ready == [old, new]


def test_names_for_files_set_aside_never_overwrite() -> None:
    assert aside_name("visit.json", []) == "visit.json"
    assert aside_name("visit.json", ["visit.json"]) == "visit-2.json"
    assert aside_name("visit.json", ["VISIT.json", "visit-2.json"]) == "visit-3.json"
    assert aside_name("noext", ["noext"]) == "noext-2"


def test_the_rejection_note_says_why_and_what_to_do() -> None:
    text = rejection_text("visit.json", "the file is 6.0 MB; the limit is 5 MB", T0, "ab" * 32)
    assert text.splitlines()[:3] == [
        "visit.json was not imported as a draft.",
        "",
        "Why: the file is 6.0 MB; the limit is 5 MB",
    ]
    assert "2025-03-10 09:00:00 UTC" in text and "ab" * 32 in text
    assert "Nothing was written to the chart." in text


def test_outcome_words() -> None:
    imported = InboxOutcome(
        InboxOutcomeKind.IMPORTED,
        "v.json",
        T0,
        patient="Patient/pat-1",
        encounter="Encounter/enc-1",
    )
    assert imported.words == (
        "v.json: a draft for Patient/pat-1, Encounter/enc-1 is waiting for your review "
        "(nothing was approved)."
    )
    named = replace(imported, shown_as="Maria Elena Garcia (MRN-1001), visit of 2025-03-10")
    assert named.words == (
        "v.json: a draft for Maria Elena Garcia (MRN-1001), visit of 2025-03-10 is waiting for "
        "your review (nothing was approved)."
    )
    rejected = InboxOutcome(InboxOutcomeKind.REJECTED, "v.json", T0, reason="not JSON")
    assert rejected.words == "v.json was set aside in rejected/: not JSON"
