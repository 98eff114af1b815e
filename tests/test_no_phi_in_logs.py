"""Operational logs hold no PHI and no token ever reaches the disk outside the keyring.

One full flow the way the app runs its non-UI layers, with logging configured by the app at
DEBUG: a patient whose name carries a marker is created in the sandbox EHR (by the EHR's own
staff, through another client); the clinician signs in (SMART standalone launch, scripted
browser, refresh token to the keyring), searches the patient by name, opens the encounter
(context load), writes a draft containing the marker in the encrypted store, approves it and
the sync runner sends it until the EHR confirmed it. A failing request is made too (errors are
logged). Then:

- the marker is in no log file (and in no other file the app wrote);
- the access token, the refresh token and the id_token are in no file under the test's folder
  except the keyring file (the test's stand-in for the OS keyring).
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Iterator
from dataclasses import replace
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
from app.domain.site import Site
from app.fhir.client import FhirClient
from app.fhir.context_loader import list_encounters, load_encounter_context, search_patients
from app.fhir.errors import FhirNotFound
from app.fhir.profiles import choose_profile
from app.logging_setup import configure_logging
from app.smart.http import create_http_client
from app.smart.keyring_store import RefreshTokenStore
from app.smart.session import SmartSession
from app.store.crypto import StoreKeyring
from app.store.protected import open_protected_store
from app.store.templates import load_templates
from app.sync.approval import ApprovalContext, approve, check
from app.sync.runner import SyncRunner
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
    root = logging.getLogger()
    level, before = root.level, list(root.handlers)
    folder = tmp_path / "logs"
    configure_logging(folder, logging.DEBUG)
    yield folder
    for handler in root.handlers[:]:
        if handler not in before:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


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


async def test_a_full_flow_logs_no_phi_and_writes_no_token_to_disk(
    own_sandbox: RunningServer,
    scripted_browser: ScriptedBrowser,
    file_keyring: KeyringBackend,
    app_logging: Path,
    tmp_path: Path,
) -> None:
    server = own_sandbox
    pid, eid = create_marked_chart(server)
    site = Site(
        id="sandbox-phi",
        display_name="Sandbox (PHI test)",
        fhir_base=server.fhir_base,
        client_id=server.client_id,
        redirect_path=server.redirect_path,
    )
    http = create_http_client(site)
    session = SmartSession(site, http, token_store=RefreshTokenStore(site.id, backend=file_keyring))
    data = tmp_path / "data"
    tokens: dict[str, bytes] = {}
    ps: Any = None
    try:
        user = await session.sign_in()
        assert user is not None and user.fhir_user is not None
        current = session._tokens.current  # the test reads the secrets to look for them
        assert current is not None and current.refresh_token and current.id_token
        tokens = {
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
        tokens["store data key"] = ps.protector.key.secret
        tokens["store data key (base64)"] = base64.b64encode(ps.protector.key.secret)
        assert MARKER in (draft.patient.display or "")

        statement = await fhir.capability()
        profile = choose_profile(None, statement)
        granted = session.scope_report.granted if session.scope_report else None
        approver = Reference(user.fhir_user.resource_type, user.fhir_user.id, user.display_name)
        actx = ApprovalContext.build(context, approver, profile, await fhir.capabilities(), granted)
        report = check(draft, actx, template)
        assert report.can_approve, report.problems
        _decision, commit = approve(ps.store, draft, report, actx)
        async with SyncRunner(
            ps.store.outbox, fhir, profile=profile, lock_path=data / "sync.lock"
        ) as runner:
            summary = await runner.drain(timeout=60)
        assert summary.confirmed == 1, summary
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
    text = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in log_files)
    assert " DEBUG " in text and "app." in text, "DEBUG logging of the app must be on"
    assert MARKER not in text
    assert MARKER.lower() not in text.lower()
    keyring_file = Path(str(file_keyring.file_path))  # type: ignore[attr-defined]
    assert files_with(tmp_path, {"marker": MARKER.encode()}, allowed={keyring_file}) == []
    assert len(tokens) == 5 and all(tokens.values())
    assert files_with(tmp_path, tokens, allowed={keyring_file}) == []
    # the keyring file (base64 inside) holds the refresh token and the data key: the scan
    # above would have found them anywhere else
    assert files_with(tmp_path, tokens, allowed=set()) == [
        f"refresh token in {keyring_file.relative_to(tmp_path)}",
        f"store data key (base64) in {keyring_file.relative_to(tmp_path)}",
    ]


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
