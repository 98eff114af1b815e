"""Operational logs hold no PHI and no token ever reaches the disk outside the keyring.

One full flow the way the app runs its non-UI layers, with logging configured by the app at
DEBUG: a patient whose name carries a marker is created in the sandbox EHR (by the EHR's own
staff, through another client); the clinician signs in (SMART standalone launch, scripted
browser, refresh token to the keyring), searches the patient by name, opens the encounter
(context load), makes a failing read, refreshes the token, writes a draft containing the marker
in the encrypted store, approves it, and the sync runner sends it through a fault proxy that
refuses the first write (503, Retry-After: 1) until the EHR confirmed it on the retry. Then:

- the marker, the patient's id and the encounter's id are in no log file (and the marker in no
  other file the app wrote);
- the access tokens, the refresh token and the id_token are in no file under the test's folder
  except the keyring file (the test's stand-in for the OS keyring);
- the same DEBUG log lets support follow the commit by its id: approved -> queued -> sending ->
  (503) retry_wait -> sending -> (200) confirmed, with the resource types it wrote.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from keyring.backend import KeyringBackend

from app.domain.audit import AuditEvent, AuditKind
from app.domain.clinical import Reference
from app.domain.draft import NoteSection
from app.domain.prefill import prefill_draft
from app.domain.site import LogLevel, Site
from app.fhir.client import FhirClient
from app.fhir.context_loader import load_encounter_context
from app.fhir.errors import FhirNotFound
from app.fhir.patient_search import list_encounters, search_patients
from app.fhir.profiles import choose_profile
from app.logging_setup import logging_to
from app.smart.http import create_http_client
from app.smart.keyring_store import RefreshTokenStore
from app.smart.session import SmartSession
from app.store.crypto import StoreKeyring
from app.store.protected import open_protected_store
from app.store.templates import load_templates
from app.sync.approval import ApprovalContext, approve, check
from app.sync.runner import SyncRunner
from tests.support.fault_proxy import Fault, FaultKind, FaultProxy, ScriptedFaults
from tests.support.launch import discover, standalone_launch
from tests.support.servers import RunningServer, start_sandbox
from tests.support.smart_fixtures import ScriptedBrowser

MARKER = "QZVX-LOGMARK-5521"
ADMIN_SCOPE = "openid fhirUser launch/patient user/*.cruds"


def create_marked_chart(server: RunningServer) -> tuple[str, str]:
    """A Patient named with the marker and an Encounter for them, written by another client."""
    with httpx.Client(timeout=15) as http:
        cfg = discover(http, server.fhir_base)
        token = standalone_launch(http, cfg, client_id=server.client_id, scope=ADMIN_SCOPE).token
        headers = {
            "Authorization": f"Bearer {token['access_token']}",
            "Content-Type": "application/fhir+json",
            "Accept": "application/fhir+json",
        }
        patient = {
            "resourceType": "Patient",
            "name": [{"family": MARKER, "given": ["Elena"], "text": f"Elena {MARKER}"}],
            "gender": "female",
            "birthDate": "1971-05-02",
        }
        r = http.post(f"{server.fhir_base}/Patient", json=patient, headers=headers)
        r.raise_for_status()
        pid = r.json()["id"]
        encounter = {
            "resourceType": "Encounter",
            "status": "in-progress",
            "class": {
                "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                "code": "AMB",
                "display": "ambulatory",
            },
            "subject": {"reference": f"Patient/{pid}", "display": f"Elena {MARKER}"},
            "period": {"start": "2025-03-10T09:00:00Z"},
        }
        r = http.post(f"{server.fhir_base}/Encounter", json=encounter, headers=headers)
        r.raise_for_status()
        return pid, r.json()["id"]


@pytest.fixture
def app_logging(tmp_path: Path) -> Iterator[Path]:
    """The app's own logging set-up, at DEBUG, into a folder of this test; undone afterwards."""
    folder = tmp_path / "logs"
    with logging_to(folder, LogLevel.DEBUG):
        yield folder


def encodings(value: bytes) -> list[bytes]:
    """``value`` as is, and the middle part of its base64 forms at each of the three alignments
    (base64 of a longer text contains these), so an encoded copy is found too."""
    forms = [value]
    for pad in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(b"\0" * pad + value + b"\0" * 3)
            forms.append(encoded[4 : len(encoded) - 8])
    return forms


def files_with(folder: Path, needles: dict[str, bytes], *, allowed: set[Path]) -> list[str]:
    hits = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path in allowed:
            continue
        raw = path.read_bytes()
        folded = re.sub(rb"\s+", b"", raw)  # base64 is often wrapped over lines
        for name, value in needles.items():
            if any(form in data for form in encodings(value) for data in (raw, folded)):
                hits.append(f"{name} in {path.relative_to(folder)}")
    return hits


@pytest.fixture
def own_sandbox(tmp_path: Path) -> Iterator[RunningServer]:
    """A sandbox of its own: the marked patient must not leak into the shared one (its id can
    sort before pat-1 and become other tests' default patient)."""
    server = start_sandbox(tmp_path / "own-sandbox", auto_login="prac-1")
    yield server
    server.stop()


@dataclass
class Flow:
    """What the whole flow left behind, for the tests to search."""

    log_text: str
    commit_id: str
    resource_types: tuple[str, ...]
    ids: dict[str, str]  # the chart's server ids: never in the log either
    secrets: dict[str, bytes]  # tokens and the store key: only in the keyring file
    keyring_file: Path


@pytest.fixture
async def full_flow(
    own_sandbox: RunningServer,
    scripted_browser: ScriptedBrowser,
    file_keyring: KeyringBackend,
    app_logging: Path,
    tmp_path: Path,
) -> Flow:
    """Sign in, search the patient by name, open the chart, a failing read, a token refresh,
    approve a note with the marker, sync it through a proxy that answers the first write with
    503 (Retry-After: 1) so it is retried, until the EHR confirmed it — all logged at DEBUG."""
    server = own_sandbox
    pid, eid = create_marked_chart(server)
    site = Site(
        id="sandbox-phi",
        display_name="Sandbox (PHI test)",
        fhir_base=server.fhir_base,
        client_id=server.client_id,
        redirect_path=server.redirect_path,
    )
    upstream = server.fhir_base.rsplit("/fhir", 1)[0]
    writes_fail_once = ScriptedFaults(
        [Fault.http(503, "1")], match=lambda r: r.method in ("POST", "PUT")
    )
    http = create_http_client(site)
    session = SmartSession(site, http, token_store=RefreshTokenStore(site.id, backend=file_keyring))
    data = tmp_path / "data"
    secrets: dict[str, bytes] = {}
    ps: Any = None
    try:
        user = await session.sign_in()
        assert user is not None and user.fhir_user is not None
        current = session.tokens  # the test reads the secrets to look for them
        assert current is not None and current.refresh_token and current.id_token
        secrets = {
            "access token": current.access_token.encode(),
            "refresh token": current.refresh_token.encode(),
            "id_token": current.id_token.encode(),
        }
        fhir = FhirClient(http, site.fhir_base, auth=session.auth)

        found = await search_patients(fhir, name=MARKER)
        assert [p.id for p in found.items] == [pid]
        assert eid in [e.id for e in (await list_encounters(fhir, pid)).items]
        context = await load_encounter_context(fhir, pid, eid)
        assert MARKER in context.patient.name
        with pytest.raises(FhirNotFound):
            await fhir.read("Patient", f"{pid}-missing")
        await session.refresh_now()
        rotated = session.tokens
        assert rotated is not None and rotated.refresh_token
        secrets["access token (refreshed)"] = rotated.access_token.encode()
        if rotated.refresh_token != current.refresh_token:
            secrets["refresh token (rotated)"] = rotated.refresh_token.encode()

        actor = user.fhir_user.reference
        ps = open_protected_store(
            data / "store.db",
            StoreKeyring(file_keyring),
            actor=lambda: actor,
            destination=lambda: site.fhir_base,
        )
        now = datetime.now(UTC)
        ps.audit.append(AuditEvent(AuditKind.SIGN_IN, now, actor, details={"site": site.id}))
        ps.audit.append(
            AuditEvent(AuditKind.CHART_OPENED, now, actor, patient_id=pid, encounter_id=eid)
        )
        template = load_templates().default
        draft = prefill_draft(context, template, now=now)
        draft = replace(
            draft,
            sections=tuple(
                NoteSection(s.key, s.title, f"{MARKER} reports chest pain. {s.text}")
                for s in draft.sections
            ),
        )
        draft = ps.store.drafts.save(draft)
        secrets["store data key"] = ps.protector.key.secret
        secrets["store data key (base64)"] = base64.b64encode(ps.protector.key.secret)
        assert MARKER in (draft.patient.display or "")

        statement = await fhir.capability()
        profile = choose_profile(None, statement)
        granted = session.scope_report.granted if session.scope_report else None
        approver = Reference(user.fhir_user.resource_type, user.fhir_user.id, user.display_name)
        actx = ApprovalContext.build(context, approver, profile, await fhir.capabilities(), granted)
        report = check(draft, actx, template)
        assert report.can_approve, report.problems
        _decision, commit = approve(ps.store, draft, report, actx)
        async with FaultProxy(upstream, writes_fail_once) as proxy:
            proxied_site = replace(site, fhir_base=proxy.base + "/fhir")
            async with create_http_client(proxied_site) as proxied_http:
                sender = FhirClient(proxied_http, proxied_site.fhir_base, auth=session.auth)
                async with SyncRunner(
                    ps.store.outbox, sender, profile=profile, lock_path=data / "sync.lock"
                ) as runner:
                    summary = await runner.drain(timeout=60)
            assert proxy.injected[FaultKind.STATUS] == 1  # the first write was refused once
        assert summary.confirmed == 1, summary
        item = ps.store.outbox.item(commit.commit_id)
        assert item.attempts == 1 and item.last_status == 503  # one failed attempt, retried
        kinds = {r.kind for r in ps.audit.query(commit_id=str(commit.commit_id))}
        assert {AuditKind.APPROVED, AuditKind.SEND_ATTEMPT, AuditKind.CONFIRMED} <= kinds
        assert ps.audit.verify().ok
    finally:
        if ps is not None:
            ps.close()
        await session.aclose()
        await http.aclose()
        for handler in logging.getLogger().handlers:
            handler.flush()

    log_files = sorted(p for p in app_logging.rglob("*") if p.is_file())
    assert log_files, "the app wrote no log file"
    return Flow(
        log_text="\n".join(p.read_text(encoding="utf-8", errors="replace") for p in log_files),
        commit_id=str(commit.commit_id),
        resource_types=tuple(sorted({w.resource_type for w in commit.writes})),
        ids={"patient id": pid, "encounter id": eid},
        secrets=secrets,
        keyring_file=Path(str(file_keyring.file_path)),  # type: ignore[attr-defined]
    )


async def test_a_full_flow_at_debug_logs_no_phi_and_writes_no_token_to_disk(
    full_flow: Flow, tmp_path: Path
) -> None:
    text = full_flow.log_text
    assert " DEBUG " in text and "app." in text, "DEBUG logging of the app must be on"
    assert MARKER not in text
    assert MARKER.lower() not in text.lower()
    for name, value in full_flow.ids.items():
        assert value not in text, f"the {name} is in the log"
    keyring_file = full_flow.keyring_file
    assert files_with(tmp_path, {"marker": MARKER.encode()}, allowed={keyring_file}) == []
    secrets = full_flow.secrets
    assert len(secrets) >= 6 and all(secrets.values())
    assert files_with(tmp_path, secrets, allowed={keyring_file}) == []
    # the keyring file (base64 inside) holds the refresh token and the data key: the scan
    # above would have found them anywhere else
    found = files_with(tmp_path, secrets, allowed=set())
    where = keyring_file.relative_to(tmp_path)
    assert f"store data key (base64) in {where}" in found
    assert any(f.startswith("refresh token") and f.endswith(f" in {where}") for f in found)
    assert all(f.endswith(f" in {where}") for f in found), found


async def test_the_debug_log_holds_one_commits_trail_from_approval_to_confirmation(
    full_flow: Flow,
) -> None:
    """What support reads (docs/deployment.md): every line about the commit carries its id."""
    cid = full_flow.commit_id
    trail = [line.split(": ", 1)[1] for line in full_flow.log_text.splitlines() if cid in line]
    expected = [
        rf"commit {cid}: approved with \d+ writes \(",
        rf"commit {cid}: \(approved\) -> queued$",
        rf"commit {cid}: queued -> sending \[send_started\]$",
        rf"\[commit {cid}\] POST \[base\] \(transaction: [^)]+\) -> 503 in \d+ ms$",
        rf"\[commit {cid}\] failed: retryable_rejection, HTTP 503, Retry-After: 1 s$",
        rf"commit {cid}: sending -> retry_wait \[retryable_rejection\] HTTP 503, failed "
        r"attempts 1, next attempt \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(in \d+\.\d s\)$",
        rf"commit {cid}: retry_wait -> sending \[send_started\]$",
        rf"\[commit {cid}\] POST \[base\] \(transaction: [^)]+\) -> 200 in \d+ ms$",
        rf"commit {cid}: sending -> confirmed \[server_accepted\]$",
    ]
    position = 0
    for pattern in expected:
        hits = [i for i, line in enumerate(trail) if i >= position and re.search(pattern, line)]
        assert hits, f"missing after line {position}: {pattern}\n" + "\n".join(trail)
        position = hits[0] + 1
    approved = next(line for line in trail if "approved with" in line)
    sent = next(line for line in trail if "(transaction: " in line)
    for rtype in full_flow.resource_types:  # the resource types, in the approval and the send
        assert rtype in approved and f"POST {rtype}" in sent, (rtype, approved, sent)


def test_the_log_file_masks_tokens_and_query_strings_whatever_a_record_says(
    app_logging: Path,
) -> None:
    """The safety net in app.logging_setup: even a careless record or a library's traceback
    (httpx puts the full URL in its errors) cannot put a token or a searched name in the file."""
    log = logging.getLogger("app.probe")
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJwcmFjLTEifQ.c2lnbmF0dXJlLXZhbHVl"
    url = f"https://ehr.example/fhir/Patient?name={MARKER}&birthdate=1971-05-02"
    log.info("request %s with Authorization: Bearer %s", url, "tok-SECRET-123")
    log.debug("token response %s", {"access_token": "tok-SECRET-456", "id_token": jwt})
    log.debug("refresh: grant_type=refresh_token&refresh_token=tok-SECRET-789&client_id=x")
    request = httpx.Request("GET", url)
    try:
        httpx.Response(404, request=request).raise_for_status()
    except httpx.HTTPStatusError:
        log.exception("search failed")
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = (app_logging / "fhir-writeback.log").read_text(encoding="utf-8")
    assert "search failed" in text and "Traceback" in text and "HTTPStatusError" in text
    assert "https://ehr.example/fhir/Patient?[query redacted]" in text
    for secret in (MARKER, "tok-SECRET", jwt, "1971-05-02"):
        assert secret not in text
