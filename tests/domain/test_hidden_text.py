"""Hidden characters in identifiers (app.domain.hidden_text): detected, made visible, flagged."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.hidden_text import (
    PLACEHOLDER,
    check_text,
    hidden_characters_warning,
    is_hidden,
    shown,
)
from tests.domain.conftest import make_context

BIDI = [*"\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"]
ZERO_WIDTH = [*"\u200b\u200c\u200d\u2060\ufeff"]
OTHER_INVISIBLE = [*"\u00ad\u180e\u3164\u115f\u034f\u2028\u2029\x00\x1b\n\t", "\U000e0041"]


@pytest.mark.parametrize("char", BIDI + ZERO_WIDTH + OTHER_INVISIBLE)
def test_every_known_trick_is_hidden(char: str) -> None:
    assert is_hidden(char)
    checked = check_text(f"Maria{char}Garcia")
    assert checked.shown == f"Maria{PLACEHOLDER}Garcia" and checked.hidden == 1


@pytest.mark.parametrize(
    "name", ["Maria Elena Garcia", "Zoë O'Brien-Łukasik", "محمد علي", "李小龍", "Renée  Dubois"]
)
def test_real_names_in_any_script_are_untouched(name: str) -> None:
    assert check_text(name).shown == name and not check_text(name).has_hidden


@given(st.text())
def test_what_is_shown_never_holds_a_hidden_character(text: str) -> None:
    checked = check_text(text)
    assert not any(is_hidden(c) for c in checked.shown)
    assert len(checked.shown) == len(text)
    assert checked.shown.count(PLACEHOLDER) - text.count(PLACEHOLDER) == checked.hidden


def test_the_patient_is_flagged_with_words() -> None:
    patient = make_context().patient
    assert patient.identity_warning is None and patient.shown_name == patient.name
    from dataclasses import replace

    spoofed = replace(patient, name="Maria \u202eaicraG")
    assert spoofed.shown_name == f"Maria {PLACEHOLDER}aicraG"
    assert spoofed.identity_warning is not None
    assert spoofed.identity_warning.startswith("This patient's name contains hidden characters")
    both = replace(spoofed, mrn="MRN\u200b-1001")
    assert both.shown_mrn == f"MRN{PLACEHOLDER}-1001"
    assert "name and MRN contain hidden characters" in (both.identity_warning or "")
    assert hidden_characters_warning({"name": None}) is None
    assert shown("plain") == "plain"
