"""A note approved offline, on a chart kept on this computer, is checked against the EHR before
its first send: a chart that changed since is a CONFLICT (nothing written); an unchanged one is
written once; a note approved on a live chart costs no extra request. Real HTTP, the sandbox."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from app.domain.commit import ApprovedCommit
from app.domain.outbox import OutboxState
from tests.support.servers import RunningServer
from tests.sync.commits import clinical_commit, note
from tests.sync.runner_fixtures import Harness, harness, launch_token, server_copies

PROFILE = "generic-r4"


@pytest.fixture
async def h(sandbox_server: RunningServer, tmp_path: Path) -> AsyncIterator[Harness]:
    async for value in harness(tmp_path, sandbox_server.fhir_base, launch_token(sandbox_server)):
        yield value


def approve(h: Harness, commit: ApprovedCommit, source: str, as_of: datetime) -> None:
    """Queue ``commit`` with a decision recording the chart it was approved on."""
    basis = {"source": source, "as_of": as_of.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
    h.store.outbox.enqueue_approval(commit, json.dumps({"chart_basis": basis}))


@dataclass
class ChartChecks:
    """The requests that ask whether the chart changed, recorded as they go: how many, and
    each search they carry (in a batch's entries, or as the request's own URL)."""

    requests: int = 0
    searches: list[httpx.URL] = field(default_factory=list)

    async def record(self, request: httpx.Request) -> None:
        if "_lastUpdated" in request.url.params:
            self.requests += 1
            self.searches.append(request.url)
        elif request.method == "POST" and b"_lastUpdated" in request.content:
            self.requests += 1
            entries = json.loads(request.content)["entry"]
            self.searches += [httpx.URL("/" + e["request"]["url"]) for e in entries]

    @property
    def types(self) -> set[str]:
        return {u.path.rsplit("/", 1)[-1] for u in self.searches}


ALL_CHECKED = {"DocumentReference", "Observation", "Condition", "MedicationRequest"}
ALL_CHECKED |= {"AllergyIntolerance"}


def chart_checks(h: Harness) -> ChartChecks:
    checks = ChartChecks()
    h.http.event_hooks["request"].append(checks.record)
    return checks


async def a_second_passes() -> datetime:
    """Now, a second after anything an earlier test wrote (the check counts whole seconds)."""
    await asyncio.sleep(1.1)
    return datetime.now(UTC)


async def test_a_chart_changed_since_an_offline_approval_is_a_conflict_and_nothing_is_written(
    h: Harness, sandbox_server: RunningServer
) -> None:
    kept_at = await a_second_passes()
    mine = clinical_commit(text="Approved offline on the kept chart.")
    approve(h, mine, "kept", kept_at)
    await h.fhir.create(note("Another clinician's note, written while this one was offline."))
    checks = chart_checks(h)
    async with h.runner(PROFILE) as runner:
        summary = await runner.drain(timeout=30)
    assert summary.conflicts == 1
    entry = h.store.outbox.get(mine.commit_id)
    assert entry.item.state is OutboxState.CONFLICT
    assert server_copies(sandbox_server, mine) == [0] * len(mine.writes)
    detail = entry.conflict
    assert detail is not None and detail.message == entry.item.last_error
    local = kept_at.astimezone().strftime("%H:%M")
    assert f"You approved this note offline, on the chart as kept at {local}" in detail.message
    assert "1 note" in detail.message and "Nothing was written" in detail.message
    assert "send your note again" in detail.message and "discard" in detail.message
    assert detail.chart is not None and detail.chart["resourceType"] == "DocumentReference"
    assert detail.mine == mine.writes[0].payload()
    assert checks.types == ALL_CHECKED and checks.requests == 1  # one batch
    assert all(u.params["_lastUpdated"].startswith("ge") for u in checks.searches)

    # The clinician compared and chose to send it as it is: written once, not held again.
    h.store.outbox.retry(mine.commit_id)
    async with h.runner(PROFILE) as runner:
        assert (await runner.drain(timeout=30)).confirmed == 1
    assert server_copies(sandbox_server, mine) == [1] * len(mine.writes)


async def test_an_unchanged_chart_is_written_once_after_the_check(
    h: Harness, sandbox_server: RunningServer
) -> None:
    mine = clinical_commit(text="Approved offline; nobody touched the chart.")
    approve(h, mine, "kept", await a_second_passes())
    checks = chart_checks(h)
    async with h.runner(PROFILE) as runner:
        summary = await runner.drain(timeout=30)
    assert summary.confirmed == 1 and summary.conflicts == 0
    assert server_copies(sandbox_server, mine) == [1] * len(mine.writes)
    assert checks.requests == 1  # one batch of the checked types, before the first send only
    assert checks.types == ALL_CHECKED


async def test_a_live_chart_approval_makes_no_extra_request(
    h: Harness, sandbox_server: RunningServer
) -> None:
    read_at = await a_second_passes()
    mine = clinical_commit(text="Approved on the live chart.")
    approve(h, mine, "live", read_at)
    await h.fhir.create(note("A note written after the live chart was read."))
    checks = chart_checks(h)
    async with h.runner(PROFILE) as runner:
        assert (await runner.drain(timeout=30)).confirmed == 1
    assert checks.requests == 0
    assert server_copies(sandbox_server, mine) == [1] * len(mine.writes)


async def test_an_allergy_changed_since_an_offline_approval_is_a_conflict(
    h: Harness, sandbox_server: RunningServer
) -> None:
    """The patient's allergies (and problems, medications) are asked about too, in the same
    batch: an allergy someone changed while this note waited is a Conflict, nothing written."""
    patient = clinical_commit().writes[0].payload()["subject"]["reference"]
    allergies = await h.fhir.search("AllergyIntolerance", [("patient", patient)])
    assert allergies.resources, "the sandbox's patient has an allergy to change"
    kept_at = await a_second_passes()
    mine = clinical_commit(text="Approved offline; an allergy changed meanwhile.")
    approve(h, mine, "kept", kept_at)
    changed = dict(allergies.resources[0])
    changed["criticality"] = "high" if changed.get("criticality") != "high" else "low"
    await h.fhir.update(changed)
    checks = chart_checks(h)
    async with h.runner(PROFILE) as runner:
        summary = await runner.drain(timeout=30)
    assert summary.conflicts == 1 and checks.requests == 1
    entry = h.store.outbox.get(mine.commit_id)
    assert entry.item.state is OutboxState.CONFLICT
    assert server_copies(sandbox_server, mine) == [0] * len(mine.writes)
    detail = entry.conflict
    assert detail is not None
    assert "1 allergy for this patient that you did not see" in detail.message
    assert detail.chart is not None and detail.chart["resourceType"] == "AllergyIntolerance"
    h.store.outbox.discard(mine.commit_id, "test: not needed", "test", confirmed=True)
