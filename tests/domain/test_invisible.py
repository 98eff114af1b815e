"""Invisible characters made visible, and white-space changes in words (the diff view)."""

from __future__ import annotations

import pytest

from app.domain.invisible import describe_whitespace, has_invisible, visible_pieces


def test_invisible_characters_are_cut_out_with_their_names() -> None:
    pieces = list(visible_pieces("HR\t96\u00a0/min\u200b."))
    assert [(text, found.name if found else None) for text, found in pieces] == [
        ("HR", None),
        ("\t", "tab"),
        ("96", None),
        ("\u00a0", "non-breaking space"),
        ("/min", None),
        ("\u200b", "zero-width space"),
        (".", None),
    ]
    assert "".join(text for text, _ in pieces) == "HR\t96\u00a0/min\u200b."
    assert has_invisible("a\ufeffb") and not has_invisible("plain text\n")


@pytest.mark.parametrize(
    ("deleted", "inserted", "words"),
    [
        ("\n", " ", "line break replaced by a space"),
        ("\t", " ", "tab replaced by a space"),
        ("", "\n", "line break added"),
        ("\n", "", "line break removed"),
        ("  ", " ", "2 spaces replaced by a space"),
        (" ", "\u00a0", "space replaced by a non-breaking space"),
        ("\n\n", "\n", "2 line breaks replaced by a line break"),
        (" \t", " ", "white space replaced by a space"),
    ],
)
def test_whitespace_changes_in_words(deleted: str, inserted: str, words: str) -> None:
    assert describe_whitespace(deleted, inserted) == words
