"""Search parameter parsing, the Prefer header and scope parsing (pure functions)."""

from __future__ import annotations

import pytest

from app.sandbox.fhir.errors import BadRequest
from app.sandbox.fhir.prefer import Handling, ReturnPreference, parse_prefer
from app.sandbox.fhir.query import parse_criteria, parse_search, split_escaped, split_token
from app.sandbox.fhir.scopes import parse_scope


def test_split_escaped_and_tokens() -> None:
    assert split_escaped(r"a,b\,c,d", ",") == ["a", "b,c", "d"]
    assert split_token("http://loinc.org|8867-4") == ("http://loinc.org", "8867-4")
    assert split_token("|x") == ("", "x")
    assert split_token("sys|") == ("sys", "")
    assert split_token("8867-4") == (None, "8867-4")


def test_parse_search_collects_criteria_paging_sort_and_includes() -> None:
    request = parse_search(
        "Observation",
        [("patient", "pat-1"), ("code", "a,b"), ("date", "ge2024"), ("date", "lt2025"),
         ("_count", "10"), ("_offset", "20"), ("_sort", "-date,_id"),
         ("_include", "Observation:patient"), ("_revinclude", "Provenance:target"),
         ("bogus", "1")],
    )  # fmt: skip
    assert [(c.param.name, c.values) for c in request.criteria] == [
        ("patient", ("pat-1",)), ("code", ("a", "b")), ("date", ("ge2024",)), ("date", ("lt2025",))
    ]  # fmt: skip
    assert (request.count, request.offset) == (10, 20)
    assert [(k.param.name, k.descending) for k in request.sort] == [("date", True), ("_id", False)]
    assert [i.param.name for i in request.includes] == ["patient"]
    assert [i.source_type for i in request.revincludes] == ["Provenance"]
    assert len(request.warnings) == 1 and "bogus" in request.warnings[0]
    assert ("bogus", "1") not in request.echo and ("_count", "10") not in request.echo


def test_strict_search_refuses_unknown_parameters() -> None:
    with pytest.raises(BadRequest, match="bogus"):
        parse_search("Observation", [("bogus", "1")], strict=True)


def test_empty_values_are_ignored() -> None:
    assert parse_search("Observation", [("code", "")]).criteria == []


def test_conditional_criteria_are_strict_and_not_empty() -> None:
    assert len(parse_criteria("Patient", "Patient?identifier=a|b", purpose="x")) == 1
    with pytest.raises(BadRequest, match="colour"):
        parse_criteria("Patient", "colour=red", purpose="If-None-Exist")
    with pytest.raises(BadRequest, match="no search criteria"):
        parse_criteria("Patient", "identifier=", purpose="If-None-Exist")
    with pytest.raises(BadRequest, match="does not search Patient"):
        parse_criteria("Patient", "Observation?code=x", purpose="If-None-Exist")


@pytest.mark.parametrize(
    ("header", "returns", "handling"),
    [
        (None, ReturnPreference.REPRESENTATION, Handling.LENIENT),
        ("return=minimal", ReturnPreference.MINIMAL, Handling.LENIENT),
        ("return=OperationOutcome; handling=strict", ReturnPreference.OPERATION_OUTCOME,
         Handling.STRICT),
        ('return="representation", respond-async', ReturnPreference.REPRESENTATION,
         Handling.LENIENT),
        ("return=nonsense", ReturnPreference.REPRESENTATION, Handling.LENIENT),
    ],
)  # fmt: skip
def test_prefer(header: str | None, returns: ReturnPreference, handling: Handling) -> None:
    prefer = parse_prefer(header)
    assert (prefer.returns, prefer.handling) == (returns, handling)


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("patient/Observation.read", ("patient", "Observation", "rs", "")),
        ("user/*.write", ("user", "*", "cud", "")),
        ("user/*.*", ("user", "*", "cruds", "")),
        ("patient/Observation.rs", ("patient", "Observation", "rs", "")),
        ("user/DocumentReference.cu", ("user", "DocumentReference", "cu", "")),
        ("patient/Observation.rs?category=laboratory",
         ("patient", "Observation", "rs", "?category=laboratory")),
        ("openid", None),
        ("patient/Observation.sr", None),
        ("launch/patient", None),
    ],
)  # fmt: skip
def test_parse_scope(scope: str, expected: tuple[str, str, str, str] | None) -> None:
    parsed = parse_scope(scope)
    got = (
        None
        if parsed is None
        else (parsed.context, parsed.resource_type, parsed.letters, parsed.query)
    )
    assert got == expected
