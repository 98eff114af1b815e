"""Corrections in place (issue 12): a follow-up note's update of an Observation already in the
chart, against the sandbox and the peer EHR, over real HTTP (and the fault proxy).

After each test the server is read directly: the corrected Observation is one resource (never
a second copy), carries the value and status of the correction and the identifiers of both the
commit that wrote it and the one that corrected it; nothing is applied twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from app.domain.commit import ApprovedCommit, DraftWrite, WriteOperation, build_commit
from app.domain.outbox import OutboxState, SyncEvent
from app.store.outbox_records import ReadBack
from tests.support.fault_proxy import Fault, FaultProxy, ProxyRequest, ScriptedFaults
from tests.support.servers import RunningServer
from tests.sync.commits import heart_rate, note
from tests.sync.runner_fixtures import Harness, _get, harness, launch_token, server_copies
from tests.sync.test_runner_faults import origin, proxied

S, E = OutboxState, SyncEvent
PROFILES = ("generic-r4", "oracle-like")  # epic-like writes no Observation at all


@pytest.fixture
async def h(ehr: RunningServer, tmp_path: Path) -> AsyncIterator[Harness]:
    async for value in harness(tmp_path, ehr.fhir_base, launch_token(ehr)):
        yield value


def base_commit() -> ApprovedCommit:
    """An earlier note with a heart rate of 96."""
    doc = uuid4()
    return build_commit(
        [DraftWrite(note("Earlier note."), doc), DraftWrite(heart_rate(96))], sequence=1
    )


def correction(
    base: ApprovedCommit,
    seen: dict[str, Any],
    *,
    target: str,
    if_match: str | None,
    bpm: int = 92,
) -> ApprovedCommit:
    """An addendum to ``base`` that corrects its heart rate in place (as the mapping builds it:
    the record as the clinician saw it, the new value, status corrected, no id)."""
    body = {k: v for k, v in seen.items() if k not in ("id", "meta", "text")}
    body["valueQuantity"] = {**body["valueQuantity"], "value": bpm}
    body["status"] = "corrected"
    addendum = note("Addendum: heart rate corrected.")
    addendum["relatesTo"] = [
        {"code": "appends", "target": {"reference": f"urn:uuid:{base.writes[0].write_id}"}}
    ]
    return build_commit(
        [
            DraftWrite(addendum),
            DraftWrite(body, operation=WriteOperation.UPDATE, target=target, if_match=if_match),
        ],
        sequence=1,
        depends_on=[base.commit_id],
    )


def identifier_values(resource: dict[str, Any]) -> set[str]:
    return {i["value"] for i in resource.get("identifier", []) if "value" in i}


async def confirmed_base(h: Harness, profile: str) -> tuple[ApprovedCommit, str, dict[str, Any]]:
    base = h.enqueue(base_commit())
    async with h.runner(profile) as runner:
        assert (await runner.drain(timeout=30)).confirmed == 1
    ref = h.store.outbox.get(base.commit_id).writes[1].reference
    assert ref is not None
    current = await h.fhir.read_response(*ref.split("/"))
    assert current.body is not None
    return base, ref, current.body


@pytest.mark.parametrize("profile", PROFILES)
async def test_a_charted_observation_is_corrected_in_place_once(
    h: Harness, ehr: RunningServer, profile: str
) -> None:
    base, ref, seen = await confirmed_base(h, profile)
    seen_version = seen["meta"]["versionId"]
    fix = h.enqueue(correction(base, seen, target=ref, if_match=seen_version))
    assert h.store.outbox.item(fix.commit_id).state is S.QUEUED  # its base is confirmed
    async with h.runner(profile) as runner:
        summary = await runner.drain(timeout=30)
    entry = h.store.outbox.get(fix.commit_id)
    assert summary.confirmed == 2, entry.item
    assert entry.writes[1].reference == ref  # the same record, not a new one
    assert entry.writes[1].version_id not in (None, seen_version)
    assert entry.row.read_back is ReadBack.MATCHED, entry.row.read_back_note
    stored = await h.fhir.read_response(*ref.split("/"))
    assert stored.body is not None
    assert stored.body["valueQuantity"]["value"] == 92
    assert stored.body["status"] == "corrected"
    assert identifier_values(stored.body) == {
        base.writes[1].identifier.value,
        fix.writes[1].identifier.value,
    }
    assert server_copies(ehr, base) == [1, 1]  # still one heart rate
    assert server_copies(ehr, fix) == [1, 1]


async def test_a_correction_of_a_queued_note_waits_for_it_and_uses_its_version(
    h: Harness, ehr: RunningServer
) -> None:
    """Both approved while offline: the correction targets the base's write by urn:uuid and is
    sent only after the base is confirmed, with If-Match on the version the base recorded."""
    base = h.enqueue(base_commit())
    fix = h.enqueue(
        correction(base, base.writes[1].payload(), target=base.writes[1].full_url, if_match=None)
    )
    assert h.store.outbox.item(fix.commit_id).state is S.WAITING_FOR_BASE
    async with h.runner("generic-r4") as runner:
        summary = await runner.drain(timeout=30)
    assert summary.confirmed == 2
    ref = h.store.outbox.get(base.commit_id).writes[1].reference
    assert ref is not None and h.store.outbox.get(fix.commit_id).writes[1].reference == ref
    stored = await h.fhir.read_response(*ref.split("/"))
    assert stored.body is not None and stored.body["valueQuantity"]["value"] == 92
    addendum = h.store.outbox.get(fix.commit_id).writes[0].reference
    assert addendum is not None
    doc = await h.fhir.read_response(*addendum.split("/"))
    assert doc.body is not None
    base_doc = h.store.outbox.get(base.commit_id).writes[0].reference
    assert doc.body["relatesTo"][0]["target"]["reference"].endswith(str(base_doc))
    assert server_copies(ehr, base) == [1, 1]


async def test_a_record_changed_in_the_chart_is_a_conflict_and_nothing_is_written(
    h: Harness, ehr: RunningServer
) -> None:
    base, ref, seen = await confirmed_base(h, "generic-r4")
    fix = h.enqueue(correction(base, seen, target=ref, if_match=seen["meta"]["versionId"]))
    edited = dict(seen)
    edited["valueQuantity"] = {**seen["valueQuantity"], "value": 101}
    await h.fhir.update(edited, if_match=seen["meta"]["versionId"])
    chart = await h.fhir.read_response(*ref.split("/"))
    async with h.runner("generic-r4") as runner:
        summary = await runner.drain(timeout=30)
    assert summary.conflicts == 1
    entry = h.store.outbox.get(fix.commit_id)
    detail = entry.conflict
    assert detail is not None and detail.resource == ref
    assert detail.expected_version == seen["meta"]["versionId"] != detail.chart_version
    assert detail.base and detail.base["valueQuantity"]["value"] == 96
    assert detail.chart and detail.chart["valueQuantity"]["value"] == 101
    assert detail.mine and detail.mine["valueQuantity"]["value"] == 92
    after = await h.fhir.read_response(*ref.split("/"))
    assert after.version_id == chart.version_id
    assert server_copies(ehr, fix) == [0, 0]


async def test_a_412_while_sending_keeps_the_three_copies(h: Harness, ehr: RunningServer) -> None:
    """The chart moves between the check before sending and the PUT: the EHR's 412 is the
    same conflict, with base, chart and mine kept, and nothing of the commit in the chart."""
    base, ref, seen = await confirmed_base(h, "oracle-like")
    fix = h.enqueue(correction(base, seen, target=ref, if_match=seen["meta"]["versionId"]))
    runner = h.runner("oracle-like")
    original = h.fhir.read_response
    checked = False

    async def edit_after_the_check(rtype: str, rid: str) -> Any:
        nonlocal checked
        answer = await original(rtype, rid)
        if not checked and f"{rtype}/{rid}" == ref:
            checked = True
            body = dict(answer.body or {})
            body["valueQuantity"] = {**body["valueQuantity"], "value": 99}
            await h.fhir.update(body, if_match=answer.version_id)
        return answer

    h.fhir.read_response = edit_after_the_check  # type: ignore[method-assign]
    async with runner:
        summary = await runner.drain(timeout=30)
    h.fhir.read_response = original  # type: ignore[method-assign]
    entry = h.store.outbox.get(fix.commit_id)
    assert summary.conflicts == 1, entry.item
    assert entry.item.last_status == 412
    assert entry.conflict and entry.conflict.chart and entry.conflict.mine
    assert entry.conflict.chart["valueQuantity"]["value"] == 99
    assert entry.conflict.mine["valueQuantity"]["value"] == 92
    assert server_copies(ehr, fix) == [0, 0]  # the correction went first, alone


def is_correction(request: ProxyRequest) -> bool:
    """A PUT of an Observation, or a transaction that carries one (an entry with ifMatch)."""
    if request.method == "PUT":
        return "/Observation/" in request.path
    return request.method == "POST" and b'"ifMatch"' in request.body


class CountingCorrections:
    """The fault plan, counting every correction that reaches the proxy."""

    def __init__(self, faults: list[Fault]) -> None:
        self.plan = ScriptedFaults(faults, match=is_correction)
        self.corrections = 0

    def __call__(self, request: ProxyRequest) -> Fault:
        self.corrections += is_correction(request)
        return self.plan(request)


@pytest.mark.parametrize("profile", PROFILES)
async def test_a_lost_answer_to_a_correction_is_checked_by_reading_not_resent(
    ehr: RunningServer, tmp_path: Path, profile: str
) -> None:
    """The EHR applied the correction and the answer was lost: the app reads the record,
    finds its own identifier in it and confirms — the correction is never sent again."""
    plan = CountingCorrections([Fault.drop_after()])
    async with FaultProxy(origin(ehr), plan) as proxy:
        async for h in proxied(tmp_path, ehr, proxy, read_timeout=2.0):
            base, ref, seen = await confirmed_base(h, profile)
            fix = h.enqueue(correction(base, seen, target=ref, if_match=seen["meta"]["versionId"]))
            async with h.runner(profile) as runner:
                summary = await runner.drain(timeout=30)
            item = h.store.outbox.item(fix.commit_id)
            assert summary.confirmed == 2, item
            assert proxy.injected[Fault.drop_after().kind] == 1
            assert plan.corrections == 1, "the correction was sent again"
            assert h.store.outbox.get(fix.commit_id).writes[1].reference == ref
    stored = read_directly(ehr, ref)
    assert stored["valueQuantity"]["value"] == 92
    assert server_copies(ehr, fix) == [1, 1]
    assert server_copies(ehr, base) == [1, 1]


def read_directly(server: RunningServer, ref: str) -> dict[str, Any]:
    """The record as the server holds it (asked directly, not through the proxy)."""
    return _get(server, ref, None)
