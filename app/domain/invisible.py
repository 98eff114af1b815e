"""Characters a reader cannot see, and white-space changes in words.

A diff a clinician trusts shows what changed even when it is invisible: a tab where a space was,
a non-breaking space pasted from a web page, a zero-width space that makes two equal-looking
words differ. :func:`visible_pieces` cuts a text into plain runs and such characters, each with
a symbol to draw and a name for the tooltip; :func:`describe_whitespace` says in words what a
white-space-only change did ("line break replaced by a space").
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class InvisibleChar:
    char: str
    symbol: str  # drawn in its place (the character itself is kept where it takes room)
    name: str  # for people: "tab", "non-breaking space"


INVISIBLE_CHARS: dict[str, InvisibleChar] = {
    c.char: c
    for c in (
        InvisibleChar("\t", "→", "tab"),
        InvisibleChar("\u00a0", "⍽", "non-breaking space"),
        InvisibleChar("\u202f", "⍽", "narrow non-breaking space"),
        InvisibleChar("\u2007", "⍽", "figure space"),
        InvisibleChar("\u200b", "ZWSP", "zero-width space"),
        InvisibleChar("\u200c", "ZWNJ", "zero-width non-joiner"),
        InvisibleChar("\u200d", "ZWJ", "zero-width joiner"),
        InvisibleChar("\u2060", "WJ", "word joiner"),
        InvisibleChar("\ufeff", "BOM", "zero-width no-break space (byte-order mark)"),
        InvisibleChar("\u00ad", "SHY", "soft hyphen"),
        InvisibleChar("\u2028", "LS", "line separator"),
        InvisibleChar("\u2029", "PS", "paragraph separator"),
        InvisibleChar("\r", "CR", "carriage return"),
    )
}


def visible_pieces(text: str) -> Iterator[tuple[str, InvisibleChar | None]]:
    """``text`` as (plain run, None) and (character, what it is) pieces, in order."""
    start = 0
    for index, char in enumerate(text):
        found = INVISIBLE_CHARS.get(char)
        if found is None:
            continue
        if start < index:
            yield text[start:index], None
        yield char, found
        start = index + 1
    if start < len(text):
        yield text[start:], None


def has_invisible(text: str) -> bool:
    return any(c in INVISIBLE_CHARS for c in text)


def describe_whitespace(deleted: str, inserted: str) -> str:
    """A white-space-only change in words: "line break replaced by a space", "tab added"."""
    before, after = _name(deleted), _name(inserted)
    if not deleted:
        return f"{after} added"
    if not inserted:
        return f"{before} removed"
    return f"{before} replaced by {_article(after)}"


def _name(text: str) -> str:
    breaks = text.count("\n")
    if breaks:
        return "line break" if breaks == 1 else f"{breaks} line breaks"
    kinds = set(text)
    if len(kinds) == 1:
        char = next(iter(kinds))
        name = INVISIBLE_CHARS[char].name if char in INVISIBLE_CHARS else "space"
        return name if len(text) == 1 else f"{len(text)} {name}s"
    return "white space"


def _article(name: str) -> str:
    if name[:1].isdigit() or name == "white space":
        return name
    return ("an " if name[:1] in "aeiou" else "a ") + name
