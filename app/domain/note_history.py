"""The chart's notes as the clinician should see them: each note once, at its current version.

An EHR may hold one note several times: as a DocumentReference *and* a Composition (this app
writes both where the server takes both), as versions that replace each other (``relatesTo:
replaces``), with addenda (``relatesTo: appends``). :func:`note_threads` groups them into
:class:`NoteThread` s — the current version shown, its earlier versions, addenda and other forms
one click away — so nothing is listed twice and a replaced note is never shown as current.

Two records are the same note when they carry this app's identifier of the same commit
(``…/sid/commit|<commit>`` on the note, ``<commit>.<n>`` on its Composition) or one
``transforms`` the other. A note is a thread's earlier version when another replaces it; the
current version is the newest that nothing replaces. Pure: no I/O.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from app.domain.clinical import NoteSourceType, PriorNote
from app.domain.commit import IDENTIFIER_SYSTEM

_Key = tuple[str, str]  # (resource type, id)
_OLDEST = datetime.min.replace(tzinfo=UTC)


def commit_of(note: PriorNote) -> uuid.UUID | None:
    """The commit of this app that wrote ``note`` (from its identifier), or None."""
    for token in note.identifiers:
        system, _, value = token.rpartition("|")
        if system != IDENTIFIER_SYSTEM:
            continue
        try:
            return uuid.UUID(value.split(".", 1)[0])
        except ValueError:
            continue
    return None


@dataclass(frozen=True)
class NoteThread:
    """One note of the chart: ``current`` is shown; the rest is its history."""

    current: PriorNote
    earlier: tuple[PriorNote, ...] = ()  # versions it replaced, newest first
    addenda: tuple[PriorNote, ...] = ()  # notes that append to it, oldest first
    other_forms: tuple[PriorNote, ...] = ()  # the same note as a Composition (or DocumentReference)
    written_here: bool = False  # written from this workstation (its commit is in this store)

    @property
    def replaced(self) -> bool:
        return bool(self.earlier)

    @property
    def members(self) -> tuple[PriorNote, ...]:
        return (self.current, *self.earlier, *self.addenda, *self.other_forms)


def note_threads(
    notes: Sequence[PriorNote], written_here: Iterable[uuid.UUID] = ()
) -> tuple[NoteThread, ...]:
    """``notes`` grouped into threads, newest current version first (see the module
    docstring). ``written_here``: commits this store approved."""
    mine = frozenset(written_here)
    forms = _same_notes(notes)
    by_key = {_key(n): n for n in notes}
    replaced_by: dict[int, set[int]] = {}
    appends_to: dict[int, int] = {}
    for note in notes:
        me = forms[_key(note)]
        for rel in note.relates_to:
            target = by_key.get((rel.target.resource_type, rel.target.id))
            if target is None or forms[_key(target)] == me:
                continue
            if rel.code == "replaces":
                replaced_by.setdefault(forms[_key(target)], set()).add(me)
            elif rel.code == "appends":
                appends_to[me] = forms[_key(target)]
    lineage = _Lineage(len(set(forms.values())))
    for old, new in replaced_by.items():
        for n in new:
            lineage.join(old, n)
    groups: dict[int, list[PriorNote]] = {}
    for note in notes:
        groups.setdefault(forms[_key(note)], []).append(note)
    threads: dict[int, list[int]] = {}
    for doc in groups:
        if doc not in appends_to:
            threads.setdefault(lineage.find(doc), []).append(doc)
    addenda: dict[int, list[int]] = {}
    for doc, base in appends_to.items():
        root = lineage.find(base)
        if root in threads:
            addenda.setdefault(root, []).append(doc)
        else:  # an addendum to a note the chart does not show: it stands on its own
            threads.setdefault(lineage.find(doc), []).append(doc)
    out = [
        _thread(docs, addenda.get(root, []), groups, replaced_by, mine)
        for root, docs in threads.items()
    ]
    return tuple(sorted(out, key=lambda t: _date(t.current), reverse=True))


def _thread(
    docs: list[int],
    addenda: list[int],
    groups: dict[int, list[PriorNote]],
    replaced_by: dict[int, set[int]],
    mine: frozenset[uuid.UUID],
) -> NoteThread:
    live = [d for d in docs if not replaced_by.get(d)] or docs
    current_doc = max(live, key=lambda d: _date(_shown(groups[d])))
    current_forms = groups[current_doc]
    current = _shown(current_forms)
    earlier = sorted((_shown(groups[d]) for d in docs if d != current_doc), key=_date, reverse=True)
    added = sorted((_shown(groups[d]) for d in addenda), key=_date)
    others = tuple(n for n in current_forms if n is not current)
    everything = [n for d in (*docs, *addenda) for n in groups[d]]
    return NoteThread(
        current=current,
        earlier=tuple(earlier),
        addenda=tuple(added),
        other_forms=others,
        written_here=any(commit_of(n) in mine for n in everything if commit_of(n)),
    )


def _same_notes(notes: Sequence[PriorNote]) -> dict[_Key, int]:
    """Each note's record -> the index of the note it is a form of."""
    keys = [_key(n) for n in notes]
    parts = _Lineage(len(notes))
    index = {k: i for i, k in enumerate(keys)}
    by_commit: dict[uuid.UUID, int] = {}
    for i, note in enumerate(notes):
        commit = commit_of(note)
        if commit is not None:
            parts.join(by_commit.setdefault(commit, i), i)
        for rel in note.relates_to:
            j = index.get((rel.target.resource_type, rel.target.id))
            if rel.code == "transforms" and j is not None:
                parts.join(i, j)
    roots = sorted({parts.find(i) for i in range(len(notes))})
    number = {r: n for n, r in enumerate(roots)}
    return {k: number[parts.find(i)] for i, k in enumerate(keys)}


def _shown(forms: list[PriorNote]) -> PriorNote:
    """The form shown: the DocumentReference (what US Core reads notes from), else the first."""
    docs = [n for n in forms if n.source_type is NoteSourceType.DOCUMENT_REFERENCE]
    return (docs or forms)[0]


def _key(note: PriorNote) -> _Key:
    return (note.source_type.value, note.id)


def _date(note: PriorNote) -> datetime:
    return note.date or _OLDEST


class _Lineage:
    """Union-find over note indexes."""

    def __init__(self, size: int) -> None:
        self._parent = list(range(size))

    def find(self, i: int) -> int:
        while self._parent[i] != i:
            self._parent[i] = self._parent[self._parent[i]]
            i = self._parent[i]
        return i

    def join(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self._parent[max(ra, rb)] = min(ra, rb)
