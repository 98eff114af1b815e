"""The EHR's JSON decoded (app.fhir.json_text): the same values and errors as the standard
library's ``json.loads(text, parse_float=Decimal)``, and a large answer decoded without the
garbage collector running in the middle of it (issue 15, fifth pass)."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.fhir.client import FhirClient
from app.fhir.errors import FhirParseError
from app.fhir.json_text import PAUSE_COLLECTOR_FROM_BYTES, decode_json
from tests.fhir.fake_server import fake_server

JSON_TYPE = {"Content-Type": "application/fhir+json"}


def _bundle_text(records: int) -> bytes:
    """A searchset of Observations as the peer EHR sends it (indented), with exact decimals."""
    entry = [
        {
            "search": {"mode": "match"},
            "resource": {
                "resourceType": "Observation",
                "id": f"obs-{n}",
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4"}]},
                "effectiveDateTime": f"2026-11-{1 + n % 28:02d}T01:00:00Z",
                "valueQuantity": {"value": 8.10, "unit": "%"},
            },
        }
        for n in range(records)
    ]
    text = json.dumps({"resourceType": "Bundle", "type": "searchset", "entry": entry}, indent=2)
    return text.replace("8.1,", "8.10,").encode()


@pytest.fixture
def collections() -> Iterator[list[int]]:
    """The generations of the garbage collections that start while the test runs."""
    started: list[int] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started.append(info["generation"])

    gc.callbacks.append(seen)
    try:
        yield started
    finally:
        gc.callbacks.remove(seen)


async def test_a_large_answer_is_decoded_without_collections_in_between(
    collections: list[int],
) -> None:
    """A 2 MB search answer (4,000 records) made about forty collections while it was decoded
    (each full one a pass over the app's whole heap); now the collector waits for the decode."""
    body = _bundle_text(4_000)
    assert len(body) > 4 * PAUSE_COLLECTOR_FROM_BYTES
    with fake_server({"/Observation": (200, JSON_TYPE, body)}) as base:
        async with httpx.AsyncClient(timeout=30) as http:
            fhir = FhirClient(http, base)
            gc.collect()
            collections.clear()
            result = await fhir.search("Observation", [("_count", "5000")], limit=5_000)
    assert len(result.resources) == 4_000
    assert result.resources[0]["valueQuantity"]["value"] == Decimal("8.10")
    assert str(result.resources[0]["valueQuantity"]["value"]) == "8.10"
    assert len(collections) <= 5, f"{len(collections)} collections during the search"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the standard library accepts these, msgspec refuses them: decoded as before
        (b'{"resourceType": "Patient", "id": "p", "note": "\\ud800x"}', "\ud800x"),
        (b'{"resourceType": "Patient", "id": "p", "note": NaN}', None),
    ],
)
async def test_what_msgspec_refuses_is_read_as_before(text: bytes, expected: str | None) -> None:
    with fake_server({"/Patient/p": (200, JSON_TYPE, text)}) as base:
        async with httpx.AsyncClient(timeout=10) as http:
            patient = await FhirClient(http, base).read("Patient", "p")
    if expected is None:
        assert patient["note"] != patient["note"]  # NaN, as json.loads reads it
    else:
        assert patient["note"] == expected


@pytest.mark.parametrize(
    "text",
    [b'{"resourceType": "Patient", "id": "p",}', b"\xef\xbb\xbf{}", b'{"a": "x\ny"}', b"{} x"],
)
async def test_what_neither_reads_is_still_a_parse_error(text: bytes) -> None:
    with fake_server({"/Patient/p": (200, JSON_TYPE, text)}) as base:
        async with httpx.AsyncClient(timeout=10) as http:
            with pytest.raises(FhirParseError):
                await FhirClient(http, base).read("Patient", "p")


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=20,
)


def _text(value: Any, indent: bool) -> str:
    """``value`` as JSON text, a Decimal as the number it writes (``1.10``, ``-5E+3``)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_text(v, indent) for v in value) + "]"
    if isinstance(value, dict):
        sep = ",\n  " if indent else ","
        items = (f"{json.dumps(k)}: {_text(v, indent)}" for k, v in value.items())
        return "{" + sep.join(items) + "}"
    return json.dumps(value, ensure_ascii=indent)


@given(_values, st.booleans())
def test_the_values_are_those_json_loads_gives(value: Any, indent: bool) -> None:
    text = _text(value, indent)
    expected = json.loads(text, parse_float=Decimal)
    got = decode_json(text.encode())
    assert got == expected
    assert repr(got) == repr(expected)  # the same digits, the same types (1.10 is not 1.1)
