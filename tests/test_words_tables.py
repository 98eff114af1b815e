"""Every enum that speaks to people has words for each of its members — found here, not by a
KeyError in front of a clinician. The enums are found by walking the app (a new one with a
``words`` property is checked without being listed)."""

from __future__ import annotations

import enum
import importlib
import inspect
import pkgutil

import pytest

import app

# What each speaking enum calls its words (a property or a member attribute).
WORD_ATTRIBUTES = ("words", "label", "text", "meaning")
# Programs, not libraries: importing them starts something.
NOT_IMPORTED = ("app.main", "app.sandbox")


def speaking_enums() -> list[tuple[type[enum.Enum], str]]:
    found: dict[type[enum.Enum], str] = {}
    for info in pkgutil.walk_packages(app.__path__, "app."):
        if info.name.endswith("__main__") or info.name.startswith(NOT_IMPORTED):
            continue
        module = importlib.import_module(info.name)
        for obj in vars(module).values():
            if not (inspect.isclass(obj) and issubclass(obj, enum.Enum)):
                continue
            if obj.__module__ != info.name:
                continue
            for attribute in WORD_ATTRIBUTES:
                if attribute in vars(obj):
                    found[obj] = attribute
    return sorted(found.items(), key=lambda pair: f"{pair[0].__module__}.{pair[0].__name__}")


SPEAKING = speaking_enums()


def test_the_walk_finds_the_known_tables() -> None:
    names = {cls.__name__ for cls, _ in SPEAKING}
    assert {"NoteState", "VisitStatus", "ErrorClass", "OwnerSource", "MedicationDecision"} <= names


@pytest.mark.parametrize(
    ("enum_class", "attribute"), SPEAKING, ids=lambda v: getattr(v, "__name__", v)
)
def test_every_member_has_words(enum_class: type[enum.Enum], attribute: str) -> None:
    missing = []
    for member in enum_class:
        try:
            words = getattr(member, attribute)
        except KeyError:
            words = None
        if not (isinstance(words, str) and words.strip()):
            missing.append(member.name)
    assert not missing, f"{enum_class.__name__}.{attribute} has no words for {missing}"


def test_a_missing_word_is_found() -> None:
    """The check can fail: a member left out of its table."""

    class Probe(enum.Enum):
        SAID = "said"
        FORGOTTEN = "forgotten"

        @property
        def words(self) -> str:
            return {Probe.SAID: "Said"}[self]

    with pytest.raises(AssertionError, match="FORGOTTEN"):
        test_every_member_has_words(Probe, "words")
