"""The watched folder against real EHRs (sandbox and peer, over HTTP): a valid file becomes an
open draft for its own patient and encounter; bad input gets a clear outcome in the folder
(moved aside with the reason beside it, or left alone) and nothing else is touched."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from app._resources import resource_path
from app.domain.draft import DraftSource, DraftStatus
from app.domain.draft_inbox import InboxOutcomeKind
from app.fhir.client import FhirClient
from app.fhir.context_loader import load_encounter_context
from app.store.draft_inbox import InboxFolder
from app.store.errors import InboxUnavailable
from app.store.store import Store, open_store
from app.sync.draft_inbox import DraftInbox
from tests.fhir.conftest import BearerAuth, access_token
from tests.support.launch import discover, standalone_launch
from tests.support.servers import RunningServer

SAMPLE = resource_path("samples", "scribe-draft.json").read_bytes()


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2025, 3, 10, 9, 50, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(tmp_path / "user" / "store.db")
    yield s
    s.close()


@pytest.fixture
async def fhir(ehr: RunningServer) -> AsyncIterator[FhirClient]:
    async with httpx.AsyncClient(timeout=30) as http:
        yield FhirClient(http, ehr.fhir_base, BearerAuth(access_token(ehr)))


def sample(**changes: Any) -> bytes:
    doc = json.loads(SAMPLE)
    doc.update(changes)
    return json.dumps(doc).encode()


def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


async def settle(inbox: DraftInbox, clock: Clock) -> list[Any]:
    """Two scans the settle time apart: files that did not change are handled."""
    await inbox.scan()
    clock.now += timedelta(seconds=3)
    return await inbox.scan()


def make_inbox(folder: Path, store: Store, fhir: FhirClient, clock: Clock) -> DraftInbox:
    return DraftInbox(
        InboxFolder(folder),
        store.drafts,
        lambda p, e: load_encounter_context(fhir, p, e),
        clock=clock,
    )


async def test_a_valid_file_becomes_an_open_draft_and_is_filed_away(
    tmp_path: Path, store: Store, fhir: FhirClient
) -> None:
    folder, clock = tmp_path / "inbox", Clock()
    folder.mkdir()
    (folder / "visit.json").write_bytes(SAMPLE)
    inbox = make_inbox(folder, store, fhir, clock)
    assert await inbox.scan() == []  # just seen: not read before it stayed unchanged
    clock.now += timedelta(seconds=3)
    (outcome,) = await inbox.scan()
    assert outcome.kind is InboxOutcomeKind.IMPORTED
    assert (outcome.patient, outcome.encounter) == ("Patient/pat-1", "Encounter/enc-1")
    # on the screen by name, MRN and visit date (as in the banner), never by reference
    assert outcome.words.startswith(
        "visit.json: a draft for Maria Elena Garcia (MRN-1001), visit of "
    )
    assert "Patient/" not in outcome.words
    assert tree(folder) == ["imported", "imported/visit.json"]
    (draft,) = store.drafts.list_for_encounter("pat-1", "enc-1")
    assert str(draft.id) == outcome.draft_id
    assert draft.status is DraftStatus.OPEN  # awaiting review: never approved
    assert draft.provenance.source is DraftSource.IMPORTED
    assert store.outbox.list_items() == []

    (folder / "again.json").write_bytes(SAMPLE)  # the same content under another name
    (dup,) = await settle(inbox, clock)
    assert dup.kind is InboxOutcomeKind.REJECTED
    assert "the same content was already imported" in dup.reason
    assert "rejected/again.json.rejected.txt" in tree(folder)
    assert len(store.drafts.list_for_encounter("pat-1", "enc-1")) == 1  # the first is untouched


async def test_bad_input_is_set_aside_with_the_reason_and_nothing_else_is_touched(
    tmp_path: Path, store: Store, fhir: FhirClient
) -> None:
    folder, clock = tmp_path / "inbox", Clock()
    folder.mkdir()
    (folder / "notes.txt").write_text("not for the app")
    (folder / "writing.json.part").write_text("{ half")
    (folder / "sub").mkdir()
    (folder / "broken.json").write_text('{"schema": ')
    (folder / "huge.json").write_bytes(b" " * (6 * 1024 * 1024))
    (folder / "stranger.json").write_bytes(
        sample(source={"patient": "Patient/nobody-here", "encounter": "Encounter/enc-1"})
    )
    (folder / "mixed.json").write_bytes(
        sample(source={"patient": "Patient/pat-1", "encounter": "Encounter/enc-2"})
    )
    outcomes = {o.file_name: o for o in await settle(make_inbox(folder, store, fhir, clock), clock)}
    assert {name: o.kind for name, o in outcomes.items()} == {
        "broken.json": InboxOutcomeKind.REJECTED,
        "huge.json": InboxOutcomeKind.REJECTED,
        "stranger.json": InboxOutcomeKind.REJECTED,
        "mixed.json": InboxOutcomeKind.REJECTED,
    }
    assert outcomes["huge.json"].reason == (
        "the file huge.json is too large (6.0 MB; the limit is 5.0 MB)"
    )
    assert outcomes["broken.json"].reason.startswith("not valid JSON at line 1")
    assert "Patient/nobody-here / Encounter/enc-1 could not be read with your access" in (
        outcomes["stranger.json"].reason
    )
    assert outcomes["mixed.json"].reason == (
        "in the EHR, Encounter/enc-2 is not an encounter of Patient/pat-1; "
        "ask the sender for a corrected file"
    )
    assert tree(folder) == [
        "notes.txt",
        "rejected",
        "rejected/broken.json",
        "rejected/broken.json.rejected.txt",
        "rejected/huge.json",
        "rejected/huge.json.rejected.txt",
        "rejected/mixed.json",
        "rejected/mixed.json.rejected.txt",
        "rejected/stranger.json",
        "rejected/stranger.json.rejected.txt",
        "sub",
        "writing.json.part",
    ]
    note = (folder / "rejected" / "huge.json.rejected.txt").read_text()
    assert "Why: the file huge.json is too large (6.0 MB; the limit is 5.0 MB)" in note
    assert store.drafts.list_unfinished() == []


async def test_a_file_still_being_written_is_left_alone(
    tmp_path: Path, store: Store, fhir: FhirClient
) -> None:
    folder, clock = tmp_path / "inbox", Clock()
    folder.mkdir()
    growing = folder / "visit.json"
    growing.write_bytes(SAMPLE[:100])  # half-written: not JSON yet
    inbox = make_inbox(folder, store, fhir, clock)
    told = []
    for _ in range(3):
        told += await inbox.scan()
        assert tree(folder) == ["visit.json"]  # left where it is
        with growing.open("ab") as fh:  # the copy goes on
            fh.write(b" ")
        clock.now += timedelta(seconds=3)
    # said once, in words, while it kept changing (the app shows it)
    [waiting] = told
    assert waiting.kind is InboxOutcomeKind.WAITING and waiting.file_name == "visit.json"
    assert waiting.words == (
        "visit.json was left in the folder for now: it is still being written (it changed "
        "since the last look); it is read once it has not changed for 2 seconds"
    )
    growing.write_bytes(SAMPLE)  # complete
    clock.now += timedelta(seconds=1)
    (outcome,) = await settle(inbox, clock)
    assert outcome.kind is InboxOutcomeKind.IMPORTED
    assert store.drafts.list_unfinished() != []


async def test_an_unreachable_ehr_leaves_the_file_in_place(tmp_path: Path, store: Store) -> None:
    folder, clock = tmp_path / "inbox", Clock()
    folder.mkdir()
    (folder / "visit.json").write_bytes(SAMPLE)
    async with httpx.AsyncClient(timeout=2) as http:
        offline = FhirClient(http, "http://127.0.0.1:9/fhir", BearerAuth("x"))
        (outcome,) = await settle(make_inbox(folder, store, offline, clock), clock)
    assert outcome.kind is InboxOutcomeKind.WAITING
    assert "it will be tried again" in outcome.reason
    assert tree(folder) == ["visit.json"]


async def test_a_missing_folder_is_reported(tmp_path: Path, store: Store, fhir: FhirClient) -> None:
    with pytest.raises(InboxUnavailable, match="cannot be read"):
        await make_inbox(tmp_path / "gone", store, fhir, Clock()).scan()


async def test_a_patient_outside_the_clinicians_access_is_refused_by_the_ehr(
    tmp_path: Path, store: Store, sandbox_server: RunningServer
) -> None:
    """A token limited to one patient's chart (patient/ scopes): the EHR answers 403 for
    another patient, and the file is set aside saying so, with nothing of that patient."""
    with httpx.Client(timeout=15) as http:
        cfg = discover(http, sandbox_server.fhir_base)
        token = standalone_launch(
            http,
            cfg,
            client_id=sandbox_server.client_id,
            scope="openid fhirUser launch/patient patient/*.rs",
        ).token["access_token"]
    folder, clock = tmp_path / "inbox", Clock()
    folder.mkdir()
    (folder / "other.json").write_bytes(
        sample(source={"patient": "Patient/pat-2", "encounter": "Encounter/enc-2"})
    )
    async with httpx.AsyncClient(timeout=30) as http:
        limited = FhirClient(http, sandbox_server.fhir_base, BearerAuth(str(token)))
        (outcome,) = await settle(make_inbox(folder, store, limited, clock), clock)
    assert outcome.kind is InboxOutcomeKind.REJECTED
    assert outcome.reason == (
        "Patient/pat-2 / Encounter/enc-2 could not be read with your access (HTTP 403); "
        "ask the clinician responsible for this patient to import it"
    )
    assert "James" not in (folder / "rejected" / "other.json.rejected.txt").read_text()
