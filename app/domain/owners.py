"""Who can own a follow-up task: the people and teams the clinician picks from by name.

Candidates come from three places, best first: the encounter's participants, the patient's care
team, and a directory search (Practitioner / PractitionerRole by name). The same person found
twice is listed once, under the best place. ``app.services`` gathers them (and keeps them for
offline use); this module only ranks and matches them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum

from app.domain.clinical import Participant, Reference

OWNER_TYPES = ("Practitioner", "PractitionerRole", "CareTeam", "Organization", "RelatedPerson")


class OwnerSource(Enum):
    """Where a candidate was found, in the order candidates are offered."""

    ENCOUNTER = "encounter"  # a participant of this encounter
    CARE_TEAM = "care-team"  # on the patient's care team
    DIRECTORY = "directory"  # found by name in the EHR's directory

    @property
    def words(self) -> str:
        return _SOURCE_WORDS[self]

    @property
    def rank(self) -> int:
        return list(OwnerSource).index(self)


_SOURCE_WORDS = {
    OwnerSource.ENCOUNTER: "in this visit",
    OwnerSource.CARE_TEAM: "care team",
    OwnerSource.DIRECTORY: "directory",
}


@dataclass(frozen=True)
class OwnerCandidate:
    """Someone (or a team) a task can be given to."""

    reference: Reference
    name: str  # "Dr. Sam Jones"
    role: str | None  # "Nurse", "Cardiology", "Primary care physician"
    source: OwnerSource

    @property
    def label(self) -> str:
        """ "Dr. Sam Jones — Nurse (care team)": one line in the picker."""
        role = f" — {self.role}" if self.role else ""
        return f"{self.name}{role} ({self.source.words})"

    def as_owner(self) -> Reference:
        return Reference(self.reference.resource_type, self.reference.id, self.name)


def merge_candidates(*groups: Iterable[OwnerCandidate]) -> tuple[OwnerCandidate, ...]:
    """All candidates, each target once (its best source), best source first, then by name."""
    best: dict[tuple[str, str], OwnerCandidate] = {}
    for group in groups:
        for candidate in group:
            key = (candidate.reference.resource_type, candidate.reference.id)
            kept = best.get(key)
            if kept is None or candidate.source.rank < kept.source.rank:
                best[key] = candidate
    return tuple(sorted(best.values(), key=lambda c: (c.source.rank, _folded(c.name))))


def _folded(text: str) -> str:
    """Lower case, accents and punctuation dropped: "Dr. Zoë O'Neil" -> "dr zoe oneil"."""
    plain = unicodedata.normalize("NFKD", text)
    kept = "".join(ch for ch in plain if ch.isalnum() or ch.isspace())
    return " ".join(kept.lower().split())


_TITLES = {"dr", "doctor", "prof", "mr", "mrs", "ms", "mx"}


def _words(text: str) -> list[str]:
    return [w for w in _folded(text).split() if w not in _TITLES]


def candidates_matching(text: str, candidates: Sequence[OwnerCandidate]) -> list[OwnerCandidate]:
    """Candidates whose name (or role) has a word starting with each typed word, titles
    ignored: "jones", "dr jones", "sam j" and "nurse" find Dr. Sam Jones, Nurse."""
    wanted = _words(text)
    if not wanted:
        return list(candidates) if _folded(text) else []
    found = []
    for candidate in candidates:
        words = _words(f"{candidate.name} {candidate.role or ''}")
        if all(any(w.startswith(part) for w in words) for part in wanted):
            found.append(candidate)
    return found


def find_owner(text: str, candidates: Sequence[OwnerCandidate]) -> OwnerCandidate | None:
    """The one candidate ``text`` names: its reference ("Practitioner/prac-2"), its exact label
    or name, or the only one it matches. None when it names none or several."""
    typed = text.strip()
    for candidate in candidates:
        if typed in (candidate.reference.relative, candidate.label, candidate.name):
            return candidate
    matching = candidates_matching(typed, candidates)
    exact = [c for c in matching if _folded(c.name) == _folded(typed)]
    if len(exact) == 1:
        return exact[0]
    return matching[0] if len(matching) == 1 else None


def encounter_candidates(participants: Iterable[Participant]) -> list[OwnerCandidate]:
    """The people taking part in the encounter (the clinician writing the note among them)."""
    found = []
    for participant in participants:
        ref = participant.individual
        if ref.resource_type in OWNER_TYPES:
            name = ref.display or ref.relative
            found.append(OwnerCandidate(ref, name, participant.role, OwnerSource.ENCOUNTER))
    return found
