"""The EHR's JSON text as Python values: numbers with a fraction as ``Decimal`` (no float drift
in clinical values), integers as ``int``.

A large chart's answers are megabytes (the peer EHR sends 5.4 MB for 3,750 results, indented),
and decoding them was the client's largest cost in the context load (issue 15, fifth pass in
docs/performance.md). Two things make it cheaper:

- msgspec decodes the text (its ``float_hook`` gets each fraction's own digits, so the
  ``Decimal`` is the same as ``json.loads(text, parse_float=Decimal)`` gives); a text it
  refuses — malformed JSON, ``NaN``, an escaped lone surrogate, nesting too deep — is decoded
  by the standard library, so what is accepted and the errors raised are exactly as before.
- The cyclic garbage collector is paused while a large answer is decoded: a few hundred
  thousand new dicts and lists would otherwise set off collections, full ones over the
  whole heap among them, in the middle of the decode (in the app's heap that was half the
  decode's time or more). Nothing decoded can form a cycle; the collector runs as usual once
  the decode is done.
"""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import msgspec

from app.fhir.errors import FhirParseError


def parse_answer(
    raw: bytes, content_type: str, what: str, *, strict: bool
) -> dict[str, Any] | None:
    """The JSON object of an answer's body (None when empty). ``strict`` (a 2xx answer): what
    is not a JSON object raises FhirParseError in words for the clinician; else None."""
    if not raw.strip():
        return None
    try:
        value = decode_json(raw)
    except UnicodeDecodeError as exc:
        if not strict:
            return None
        raise FhirParseError(
            f"The EHR's answer to {what} is not valid UTF-8 text. Tell clinic IT.",
            detail=f"bad byte at {exc.start}",
        ) from None
    except RecursionError:
        if not strict:
            return None
        raise FhirParseError(
            f"The EHR's answer to {what} is nested too deeply to read. Tell clinic IT."
        ) from None
    except ValueError as exc:
        if not strict:  # an HTML error page from a proxy: the status says enough
            return None
        kind = content_type.split(";")[0].strip() or "an unknown format"
        raise FhirParseError(
            f"The EHR's answer to {what} is not FHIR JSON (it sent {kind}). "
            "Check the FHIR address in the site configuration.",
            detail=type(exc).__name__,
        ) from None
    if not isinstance(value, dict):
        if not strict:
            return None
        raise FhirParseError(f"The EHR's answer to {what} is not a FHIR resource. Tell clinic IT.")
    return value


# answers at least this large are decoded with the collector paused (a search's page of a few
# hundred records; the banner's small answers never pause it)
PAUSE_COLLECTOR_FROM_BYTES = 256 * 1024
# numbers with a fraction as Decimal: msgspec hands the hook the number's own text
_DECODER = msgspec.json.Decoder(float_hook=Decimal)


def decode_json(raw: bytes) -> Any:
    """The value of JSON text in UTF-8. Raises UnicodeDecodeError, ValueError (malformed) or
    RecursionError (nested too deeply), as ``json.loads(raw.decode("utf-8"), ...)`` does."""
    with _collector_paused(len(raw) >= PAUSE_COLLECTOR_FROM_BYTES):
        try:
            return _DECODER.decode(raw)
        except (msgspec.DecodeError, RecursionError):
            return json.loads(raw.decode("utf-8"), parse_float=Decimal)


@contextlib.contextmanager
def _collector_paused(pause: bool) -> Iterator[None]:
    """The garbage collector off for the block (when ``pause`` and it was on)."""
    if not pause or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
