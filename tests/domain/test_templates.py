from __future__ import annotations

import json
from typing import Any

import pytest

from app._resources import resource_path
from app.domain.errors import TemplateError
from app.domain.templates import PrefillSource, default_template, parse_template


def load_bundled() -> list[Any]:
    return [
        json.loads(p.read_text("utf-8")) for p in sorted(resource_path("templates").glob("*.json"))
    ]


def test_bundled_templates_parse_and_soap_is_default() -> None:
    templates = [parse_template(raw) for raw in load_bundled()]
    assert {t.id for t in templates} >= {"soap", "progress-note", "telehealth"}
    soap = default_template(templates)
    assert soap.id == "soap"
    assert [s.key for s in soap.sections] == ["subjective", "objective", "assessment", "plan"]
    assert PrefillSource.VITALS in soap.section("objective").prefill  # type: ignore[union-attr]
    assert soap.note_type is not None and soap.note_type.code == "11506-3"


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"id": "Bad Id", "name": "x", "sections": [{"key": "a", "title": "A"}]}, "'id'"),
        ({"id": "x", "name": "", "sections": [{"key": "a", "title": "A"}]}, "'name'"),
        ({"id": "x", "name": "X", "sections": []}, "'sections'"),
        (
            {
                "id": "x",
                "name": "X",
                "sections": [{"key": "a", "title": "A", "prefill": ["vitalz"]}],
            },
            "vitalz",
        ),
        (
            {
                "id": "x",
                "name": "X",
                "sections": [{"key": "a", "title": "A"}, {"key": "a", "title": "B"}],
            },
            "unique",
        ),
        (
            {"id": "x", "name": "X", "version": 0, "sections": [{"key": "a", "title": "A"}]},
            "'version'",
        ),
    ],
)
def test_malformed_templates_name_the_problem(raw: dict[str, Any], problem: str) -> None:
    with pytest.raises(TemplateError) as exc:
        parse_template(raw)
    assert problem in str(exc.value)


def test_no_templates_is_an_error() -> None:
    with pytest.raises(TemplateError):
        default_template([])
