"""Issue 14 item 5: a vendor profile's ``create_response`` drives what the app asks for and how
it learns what the EHR stored — over real HTTP to the sandbox, through the recording proxy."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from app.fhir.profiles import CreateResponse, load_profile
from app.store.outbox_records import ReadBack
from tests.support.fault_proxy import Fault, FaultProxy, ProxyRequest
from tests.support.servers import RunningServer
from tests.sync.commits import clinical_commit
from tests.sync.test_runner_faults import origin, proxied

ORACLE = load_profile("oracle-like")


@pytest.mark.parametrize("answer", list(CreateResponse))
async def test_create_response_decides_prefer_and_the_read_back(
    sandbox_server: RunningServer, tmp_path: Path, answer: CreateResponse
) -> None:
    seen: list[ProxyRequest] = []

    def record(request: ProxyRequest) -> Fault:
        seen.append(request)
        return Fault.pass_through()

    async with FaultProxy(origin(sandbox_server), record) as proxy:
        async for h in proxied(tmp_path, sandbox_server, proxy):
            commit = h.enqueue(clinical_commit(ORACLE, observations=1, task=False))
            async with h.runner(replace(ORACLE, create_response=answer)) as runner:
                summary = await runner.drain(timeout=30)
            assert summary.confirmed == 1
            assert h.store.outbox.get(commit.commit_id).row.read_back is ReadBack.MATCHED
    creates = [r for r in seen if r.method == "POST"]
    prefer = {dict((k.lower(), v) for k, v in r.headers).get("prefer") for r in creates}
    reads = [
        r for r in seen if r.method == "GET" and "?" not in r.target and "metadata" not in r.target
    ]
    if answer is CreateResponse.LOCATION_ONLY:
        # asked for what such a vendor answers; each copy read back by its id
        assert prefer == {"return=minimal"} and len(reads) == len(creates)
    else:
        assert prefer == {"return=representation"} and reads == []  # the copies came back
