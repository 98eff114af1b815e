"""Text files a clinic gives the app (app.domain.text_files): the encodings Windows editors save
are read; anything else is refused with the line and column, never guessed."""

from __future__ import annotations

import codecs

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.errors import TextEncodingError
from app.domain.text_files import decode_text

TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))


@settings(max_examples=300, deadline=None)
@given(
    text=TEXT,
    bom_and_encoding=st.sampled_from(
        [
            (b"", "utf-8"),
            (codecs.BOM_UTF8, "utf-8"),
            (codecs.BOM_UTF16_LE, "utf-16-le"),
            (codecs.BOM_UTF16_BE, "utf-16-be"),
        ]
    ),
)
def test_every_text_saved_in_a_supported_encoding_reads_back(
    text: str, bom_and_encoding: tuple[bytes, str]
) -> None:
    bom, encoding = bom_and_encoding
    if not bom and text.startswith("\ufeff"):
        text = "x" + text  # a leading U+FEFF without a BOM *is* a UTF-8 BOM
    assert decode_text(bom + text.encode(encoding)) == text


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_give_text_or_a_located_refusal(data: bytes) -> None:
    try:
        text = decode_text(data)
    except TextEncodingError as exc:
        assert exc.line >= 1 and exc.column >= 1
        assert f"line {exc.line}, column {exc.column}" in exc.user_message
        assert "UTF-8" in exc.problem
    else:
        assert "\x00" not in text


@pytest.mark.parametrize(
    ("data", "line", "column", "words"),
    [
        ("a = 1\nname = 'Zoë'\n".encode("cp1252"), 2, 11, "0xEB is not UTF-8 text"),
        ("ab\r\ncd\xe9".encode("latin-1"), 2, 3, "'ANSI'"),
        ("a = 1\n".encode("utf-16-le"), 1, 2, "NUL character"),
        (codecs.BOM_UTF32_LE + "a".encode("utf-32-le"), 1, 1, "UTF-32"),
        (codecs.BOM_UTF16_BE + "ab\nc".encode("utf-16-be")[:-1], 2, 1, "cut short"),
        (codecs.BOM_UTF16_LE + b"a\x00\x00\xdc", 1, 2, "unpaired surrogate"),
        (b"abc\x00", 1, 4, "NUL"),
    ],
)
def test_refusals_name_line_column_and_what_to_do(
    data: bytes, line: int, column: int, words: str
) -> None:
    with pytest.raises(TextEncodingError) as info:
        decode_text(data)
    assert (info.value.line, info.value.column) == (line, column)
    assert words in info.value.problem and "save it as UTF-8" in info.value.problem
