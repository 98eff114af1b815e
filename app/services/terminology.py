"""Picking an observation by name: fuzzy type-ahead over the bundled terminology.

"hr", "bp", "a1c", "sats", "temp" find heart rate, blood pressure, HbA1c, oxygen saturation and
temperature first; a LOINC code (or its start) finds its observation; a typing slip ("hemoglobn")
still finds what was meant. Ranking, best first: a synonym or name typed exactly, then names
and synonyms that start with what was typed (word by word), then fuzzy matches (rapidfuzz),
each group in the terminology's own order (vital signs first, then the common labs).

Pure computation on the GUI thread: well under a millisecond per keystroke over the whole
terminology (benchmarks/bench_picker.py; docs/performance.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from rapidfuzz import fuzz, process, utils

from app.domain.terminology import Concept, Terminology, terminology

MAX_MATCHES = 12
FUZZY_CUTOFF = 72  # rapidfuzz WRatio, 0-100: below this a match is noise
_CODE = re.compile(r"^\d[\d-]*$")


class MatchKind(Enum):
    EXACT = 0  # a name or synonym typed out
    PREFIX = 1  # every typed word starts a word of a name or synonym
    CODE = 2  # the start of a LOINC code
    FUZZY = 3  # close enough (typing slips)


@dataclass(frozen=True)
class ConceptMatch:
    concept: Concept
    kind: MatchKind
    matched: str  # the name or synonym that matched ("sats")
    score: float = 100.0  # how close a fuzzy match is (0-100)

    @property
    def label(self) -> str:
        """ "Oxygen saturation (pulse oximetry) — 59408-5": one row of the picker."""
        return f"{self.concept.name} — {self.concept.code}"


class TerminologySearch:
    """An index over every name, LOINC display and synonym of the terminology."""

    def __init__(self, terms: Terminology | None = None) -> None:
        self.terms = terms or terminology()
        self._order = {code: i for i, code in enumerate(self.terms.concepts)}
        self._choices: list[str] = []
        self._owners: list[Concept] = []
        for concept in self.terms.concepts.values():
            for text in dict.fromkeys((concept.name, concept.display, *concept.synonyms)):
                self._choices.append(utils.default_process(text))
                self._owners.append(concept)
        self._words = [choice.split() for choice in self._choices]
        # fuzzy matching only against texts long enough to be misspelt ("p", "hr" are not)
        self._fuzzy = [i for i, choice in enumerate(self._choices) if len(choice) >= 4]
        self._fuzzy_texts = [self._choices[i] for i in self._fuzzy]

    def search(self, text: str, limit: int = MAX_MATCHES) -> list[ConceptMatch]:
        typed = utils.default_process(text)
        if not typed:
            return []
        if _CODE.match(text.strip()):
            return self._by_code(text.strip(), limit)
        found: dict[str, ConceptMatch] = {}
        wanted = typed.split()
        for index, choice in enumerate(self._choices):
            if choice == typed:
                self._keep(found, index, MatchKind.EXACT)
            elif _starts_words(wanted, self._words[index]):
                self._keep(found, index, MatchKind.PREFIX)
        if len(found) < limit:
            for _, score, position in process.extract(
                typed, self._fuzzy_texts, scorer=fuzz.WRatio, processor=None,
                limit=limit * 4, score_cutoff=FUZZY_CUTOFF,
            ):  # fmt: skip
                self._keep(found, self._fuzzy[position], MatchKind.FUZZY, score)
        ranked = sorted(
            found.values(),
            key=lambda m: (m.kind.value, -round(m.score), self._order[m.concept.code]),
        )
        return ranked[:limit]

    def _keep(
        self, found: dict[str, ConceptMatch], index: int, kind: MatchKind, score: float = 100.0
    ) -> None:
        concept = self._owners[index]
        kept = found.get(concept.code)
        if kept is None or (kind.value, -score) < (kept.kind.value, -kept.score):
            found[concept.code] = ConceptMatch(concept, kind, self._choices[index], score)

    def _by_code(self, typed: str, limit: int) -> list[ConceptMatch]:
        return [
            ConceptMatch(c, MatchKind.EXACT if c.code == typed else MatchKind.CODE, c.code)
            for c in self.terms.concepts.values()
            if c.code.startswith(typed)
        ][:limit]


def _starts_words(wanted: list[str], words: list[str]) -> bool:
    """Each typed word starts a different word, in order: "ox sat" -> "oxygen saturation"."""
    position = 0
    for part in wanted:
        while position < len(words) and not words[position].startswith(part):
            position += 1
        if position == len(words):
            return False
        position += 1
    return True
