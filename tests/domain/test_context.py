from __future__ import annotations

from app.domain.context import SectionKind
from tests.domain.conftest import make_context


def test_latest_vitals_keeps_the_newest_per_code() -> None:
    latest = make_context().latest_vitals()
    assert {m.id for m in latest} == {"obs-hr-1", "obs-bp-1"}


def test_section_lookup_and_errors() -> None:
    ctx = make_context()
    assert ctx.section(SectionKind.PROBLEMS) is ctx.problems
    assert not ctx.labs.ok
    assert ctx.vitals.ok
    assert SectionKind.LABS.title == "Laboratory results"
