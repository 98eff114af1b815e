"""The task-owner candidates of a chart over HTTP (the sandbox and the peer EHR), kept in the
store so that the picker still offers them when the EHR cannot be reached."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.domain.clinical import Reference
from app.domain.owners import OwnerSource
from app.fhir.client import FhirClient
from app.services.owners import OwnerService
from app.store.store import Store, open_store
from app.sync.store_thread import StoreThread
from tests.domain.conftest import make_context
from tests.fhir.conftest import BearerAuth, fhir, requests_log  # noqa: F401 - fixtures


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(tmp_path / "store.db")
    yield opened
    opened.close()


async def test_owners_come_from_the_ehr_and_from_the_store_when_it_is_away(
    fhir: FhirClient,  # noqa: F811
    store: Store,
) -> None:
    await fhir.create({
        "resourceType": "CareTeam", "status": "active", "name": "Offline check team",
        "subject": {"reference": "Patient/pat-1"},
        "participant": [{"member": {"reference": "Practitioner/prac-2", "display": "Dr. Robert Jones"}}],
    })  # fmt: skip
    worker = StoreThread()
    try:
        online = OwnerService(fhir, store.directory, worker)
        context = make_context()
        found = await online.for_chart(context)
        assert not online.offline
        jones = [c for c in found if c.reference.relative == "Practitioner/prac-2"]
        assert jones and jones[0].source is OwnerSource.CARE_TEAM
        assert await online.search("jones")

        async with httpx.AsyncClient(timeout=2) as http:
            away = FhirClient(http, "http://127.0.0.1:9/fhir", BearerAuth("none"))
            offline = OwnerService(away, store.directory, worker)
            kept = await offline.for_chart(context)
            assert offline.offline, "said: these were kept, not fetched"
            assert Reference("Practitioner", "prac-2") in [
                Reference(c.reference.resource_type, c.reference.id) for c in kept
            ]
            searched = await offline.search("jones")
            assert [c.reference.relative for c in searched] == ["Practitioner/prac-2"]
    finally:
        worker.close()
