"""The watched folder ("draft inbox") a scribe or dictation tool drops draft-import files into:
which files are ready, and what happened to each. Pure: the folder is read and changed by
``app.store.draft_inbox``, and ``app.services.draft_inbox`` runs the steps.

The conventions (docs/draft-import.md, "The watched folder"):

- Only ``*.json`` files directly in the folder are read; anything else (sub-folders, files being
  written under another name such as ``note.json.part`` or ``~note.json``, hidden files) is
  left alone. A tool that can, writes under another name and renames when done.
- A ``.json`` file is read only once its size and modification time have stayed the same for
  ``settle`` seconds (a file still being copied keeps changing).
- A file becomes a draft awaiting review for its own patient and encounter and is then moved to
  ``imported/``; a file that cannot become a draft is moved to ``rejected/`` with
  ``<name>.rejected.txt`` beside it saying why. Nothing is ever approved automatically.
- A file the app cannot decide about now (nobody signed in, the EHR unreachable) stays where it
  is and is tried again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

IMPORTED_DIR = "imported"
REJECTED_DIR = "rejected"
REJECTED_SUFFIX = ".rejected.txt"
DEFAULT_SETTLE = timedelta(seconds=2)


@dataclass(frozen=True)
class InboxEntry:
    """One file in the folder as last seen: its name, size and modification time."""

    name: str
    size: int
    modified: datetime


@dataclass(frozen=True)
class Sighting:
    """When a file was first seen with its current size and modification time."""

    size: int
    modified: datetime
    since: datetime


def is_candidate(name: str) -> bool:
    """A file the inbox reads: ``*.json``, not hidden, not a temporary or lock file."""
    return name.lower().endswith(".json") and not name.startswith((".", "~", "$"))


def ready_files(
    entries: Iterable[InboxEntry],
    seen: Mapping[str, Sighting],
    now: datetime,
    settle: timedelta = DEFAULT_SETTLE,
) -> tuple[list[InboxEntry], dict[str, Sighting]]:
    """The candidate files whose size and time have not changed for ``settle``, oldest first,
    and what was seen this time (to pass back next time)."""
    sightings: dict[str, Sighting] = {}
    ready: list[InboxEntry] = []
    for entry in entries:
        if not is_candidate(entry.name):
            continue
        before = seen.get(entry.name)
        if before is None or (before.size, before.modified) != (entry.size, entry.modified):
            sightings[entry.name] = Sighting(entry.size, entry.modified, now)
            continue
        sightings[entry.name] = before
        if now - before.since >= settle:
            ready.append(entry)
    ready.sort(key=lambda e: (e.modified, e.name))
    return ready, sightings


def growing_files(entries: Iterable[InboxEntry], seen: Mapping[str, Sighting]) -> list[str]:
    """The candidate files seen before whose size or time has changed since: still being
    written (a copy in progress). A file seen for the first time is not among them."""
    return [
        e.name
        for e in entries
        if is_candidate(e.name)
        and (before := seen.get(e.name)) is not None
        and (before.size, before.modified) != (e.size, e.modified)
    ]


class InboxOutcomeKind(Enum):
    IMPORTED = "imported"  # a draft awaiting review; the file moved to imported/
    REJECTED = "rejected"  # the file moved to rejected/ with the reason beside it
    WAITING = "waiting"  # left in place: it will be tried again (EHR unreachable, ...)


@dataclass(frozen=True)
class InboxOutcome:
    """What happened to one file, for the app's list and the clinician's notice."""

    kind: InboxOutcomeKind
    file_name: str
    at: datetime
    reason: str = ""  # REJECTED/WAITING: why, in words; IMPORTED: ""
    draft_id: str | None = None  # IMPORTED: the new draft
    patient: str | None = None  # "Patient/pat-1" (relative references only)
    encounter: str | None = None
    moved_to: str | None = None  # "rejected/visit.json" (relative to the folder)
    # IMPORTED: the patient and visit as the clinician reads them (the screen only, never a log)
    shown_as: str | None = None  # "Maria Elena Garcia (MRN-1001), visit of 2025-03-10"

    @property
    def words(self) -> str:
        if self.kind is InboxOutcomeKind.IMPORTED:
            whom = self.shown_as or f"{self.patient}, {self.encounter}"
            return (
                f"{self.file_name}: a draft for {whom} is waiting for your review (nothing was "
                "approved)."
            )
        if self.kind is InboxOutcomeKind.REJECTED:
            return f"{self.file_name} was set aside in {REJECTED_DIR}/: {self.reason}"
        return f"{self.file_name} was left in the folder for now: {self.reason}"


def rejection_text(file_name: str, reason: str, at: datetime, sha256: str | None) -> str:
    """What ``<name>.rejected.txt`` says (plain text for whoever looks in the folder)."""
    lines = [
        f"{file_name} was not imported as a draft.",
        "",
        f"Why: {reason}",
        "",
        f"When: {at.strftime('%Y-%m-%d %H:%M:%S UTC')}",
    ]
    if sha256:
        lines.append(f"SHA-256 of the file: {sha256}")
    lines += [
        "",
        "Nothing was written to the chart. To try again, correct the file and put it back in",
        "the folder (see docs/draft-import.md).",
    ]
    return "\n".join(lines) + "\n"


def aside_name(name: str, taken: Iterable[str]) -> str:
    """``name``, or ``name`` with ``-2``, ``-3``, ... before ``.json`` when it is taken
    (an earlier file of the same name was set aside already)."""
    used = {t.lower() for t in taken}
    if name.lower() not in used:
        return name
    stem, dot, ext = name.rpartition(".")
    stem, ext = (stem, f".{ext}") if dot else (name, "")
    number = 2
    while f"{stem}-{number}{ext}".lower() in used:
        number += 1
    return f"{stem}-{number}{ext}"
