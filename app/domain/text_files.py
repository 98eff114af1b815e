"""Text files a clinic gives the app (sites.toml, draft imports, note templates) as ``str``.

Windows editors save text in several encodings: Notepad's "UTF-8" (with or without a byte-order
mark), "Unicode" (UTF-16 LE with a BOM), "Unicode big endian" (UTF-16 BE with a BOM) and "ANSI"
(the Windows code page: é is the single byte 0xE9). :func:`decode_text` reads the first three
and refuses everything else with :class:`TextEncodingError`, naming the line and column where
the text stops being readable, so the person who saved the file can find the place. It never
guesses a code page: a wrong guess would put a wrong letter in a clinic's settings or a note.
NUL characters are refused too (UTF-16 saved without a BOM reads as UTF-8 with a NUL after
every letter).
"""

from __future__ import annotations

import codecs

from app.domain.errors import TextEncodingError

_UTF32_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)  # before UTF-16: FF FE 00 00
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
SAVE_AS_UTF8 = "save it as UTF-8 (in Notepad: File > Save As, Encoding: UTF-8)"


def decode_text(data: bytes) -> str:
    """The text of ``data``: UTF-8 (with or without BOM) or UTF-16 with a BOM, BOM removed."""
    if data.startswith(_UTF32_BOMS):
        raise TextEncodingError(
            1, 1, f"the file is saved as UTF-32, which the app does not read; {SAVE_AS_UTF8}"
        )
    encoding, start = "utf-8", 0
    for bom, name in _BOMS:
        if data.startswith(bom):
            encoding, start = name, len(bom)
            break
    body = data[start:]
    if encoding == "utf-8" and (nul := body.find(b"\x00")) >= 0:
        _refuse_nul(body[:nul].decode("utf-8", "replace"))
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError as exc:
        line, column = _position(body[: exc.start].decode(encoding))
        what = _describe(body, exc, encoding)
        raise TextEncodingError(line, column, f"{what}; {SAVE_AS_UTF8}") from None
    if (nul := text.find("\x00")) >= 0:
        _refuse_nul(text[:nul])
    return text


def _refuse_nul(before: str) -> None:
    line, column = _position(before)
    raise TextEncodingError(
        line,
        column,
        "there is a NUL character (the file may be UTF-16 saved without a byte-order mark); "
        + SAVE_AS_UTF8,
    )


def _position(before: str) -> tuple[int, int]:
    """1-based line and column (in characters) of the character that follows ``before``."""
    return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1


def _describe(body: bytes, exc: UnicodeDecodeError, encoding: str) -> str:
    if encoding != "utf-8":
        if exc.end >= len(body) and exc.reason.startswith("truncated"):
            return "the UTF-16 text ends in the middle of a character (the file is cut short)"
        return "the UTF-16 text holds a broken character (an unpaired surrogate)"
    byte = body[exc.start]
    if byte >= 0x80:
        return (
            f"the byte 0x{byte:02X} is not UTF-8 text (the file looks saved as 'ANSI', a "
            "Windows code page)"
        )
    return "the text is not UTF-8"
