"""Characters that change how an identifier looks without being seen, made visible.

A name such as ``"Maria \\u202eaicraG"`` is displayed "Maria Garcia": the right-to-left
override (U+202E) reverses what follows. Zero-width characters make two different MRNs look
the same. Wrong-patient errors are the worst errors, so wherever a patient is identified the
app shows such characters as a visible placeholder (:data:`PLACEHOLDER`) and flags the record.

Hidden are: bidirectional controls (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C),
zero-width characters (U+200B–U+200D, U+2060, U+FEFF), and every other character of the
Unicode categories "format" (Cf), "control" (Cc), line and paragraph separators, surrogates,
plus the fillers and invisible marks that are letters by category (Hangul fillers, the
combining grapheme joiner, Khmer inherent vowels, the Mongolian vowel separator, the blank
Braille pattern). Pure: the UI only renders what this module returns.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

PLACEHOLDER = "\ufffd"  # shown by every font as a visible "unreadable character" sign
_HIDDEN_CATEGORIES = frozenset({"Cf", "Cc", "Zl", "Zp", "Cs"})
_INVISIBLE_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u034f\u17b4\u17b5\u180e\u2800")


def is_hidden(char: str) -> bool:
    return char in _INVISIBLE_LETTERS or unicodedata.category(char) in _HIDDEN_CATEGORIES


@dataclass(frozen=True)
class CheckedText:
    """``shown``: the text with every hidden character replaced by :data:`PLACEHOLDER`."""

    shown: str
    hidden: int  # how many characters were hidden

    @property
    def has_hidden(self) -> bool:
        return self.hidden > 0


def check_text(text: str) -> CheckedText:
    if text.isascii() and text.isprintable():  # the common case
        return CheckedText(text, 0)
    hidden = sum(1 for char in text if is_hidden(char))
    if not hidden:
        return CheckedText(text, 0)
    return CheckedText("".join(PLACEHOLDER if is_hidden(c) else c for c in text), hidden)


def shown(text: str) -> str:
    """``text`` as it may be displayed where it identifies someone."""
    return check_text(text).shown


def hidden_characters_warning(fields: Mapping[str, str | None]) -> str | None:
    """Words for the clinician when any of ``fields`` (label -> text, e.g. ``{"name": ...,
    "MRN": ...}``) holds hidden characters; None when none does."""
    flagged = [label for label, text in fields.items() if text and check_text(text).has_hidden]
    if not flagged:
        return None
    what = " and ".join(flagged)
    verb = "contain" if len(flagged) > 1 else "contains"
    return (
        f"This patient's {what} {verb} hidden characters (shown as {PLACEHOLDER}), which can "
        "make a record look like another patient's. Check the patient in the EHR before "
        "going on."
    )
