"""KPIs from real flows on the sandbox EHR, over HTTP, through the services the UI uses.

One clinician's morning, on a clock the test moves (every figure is exact): sign in; open the
chart and write a note (first attempt); import a scribe's draft, change a word, approve it
while the EHR is busy once (written after a retry); a note the EHR refuses until the clinician
presses "Retry now" (needed a person); a note whose answer is lost after the EHR stored it
(reconciliation finds it there: a duplicate prevented); a correction of the first note (an
amendment); a draft discarded. Then the figures per note, "My week", the workstation's export
and a merge of it; and no marker of the note text, no name and no id in the KPI tables, the
store's files (database and WAL), the export or the HTML report.
"""

from __future__ import annotations

import io
import json
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest

from app.bootstrap import open_site_store
from app.cli import main
from app.domain.audit import AuditKind
from app.domain.clinical import Reference
from app.domain.draft import Draft, DraftStatus, FollowUpKind
from app.domain.kpi import Delivery, NoteFigures, NoteOutcome, NoteSource, PartEdit
from app.domain.kpi_export import parse_export
from app.domain.outbox import OutboxState
from app.domain.prefill import prefill_draft
from app.domain.retry import BackoffPolicy
from app.fhir.client import FhirClient
from app.fhir.profiles import load_profile
from app.services.audit import AuditService
from app.services.chart import ChartService, OpenChart
from app.services.drafts import DraftService
from app.services.followups import FollowUpService
from app.services.kpi import KpiService
from app.services.outbox import OutboxService
from app.services.review import ReviewService
from app.services.session import SessionService
from app.store.protected import ProtectedStore
from app.store.templates import load_templates
from app.sync.runner import SyncRunner
from app.sync.store_thread import StoreThread
from app.ui.editing_time import EditingTime
from tests.store.protected_support import files_containing
from tests.support.fault_proxy import Fault, FaultProxy, ScriptedFaults
from tests.support.servers import RunningServer
from tests.support.smart_fixtures import keep_test_keyring
from tests.sync.runner_fixtures import SCOPE, TestAuth, launch_token

MARKER = "QKPI-NOTE-MARKER-4417"
T0 = (datetime.now(UTC) - timedelta(days=1)).replace(hour=8, minute=0, second=0, microsecond=0)
DAY = T0.date()
MINUTE = 60_000
S = OutboxState


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def at(self, minutes: float) -> None:
        self.now = T0 + timedelta(minutes=minutes)


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Clinic:
    clock: Clock
    ps: ProtectedStore
    proxy: FaultProxy
    audit: AuditService
    chart: ChartService
    drafts: DraftService
    review: ReviewService
    outbox: OutboxService
    followups: FollowUpService
    kpi: KpiService
    runner: SyncRunner
    data_dir: Path

    async def open_chart(self, minutes: float) -> OpenChart:
        self.clock.at(minutes)
        return await self.chart.open("pat-1", "enc-1")

    async def approve(self, draft: Draft, chart: OpenChart, minutes: float) -> Any:
        self.clock.at(minutes)
        saved = await self.drafts.save(draft)
        report = self.review.check(saved, chart, load_templates().get(saved.template_id))
        assert report.can_approve, report.problems
        return await self.review.queue(self.review.propose(saved, report, chart))

    async def send(self, minutes: float, *faults: Fault) -> None:
        self.clock.at(minutes)
        self.proxy.plan = ScriptedFaults(list(faults), match=lambda r: r.method in ("POST", "PUT"))
        await self.runner.run_once()


@pytest.fixture
async def clinic(sandbox_server: RunningServer, tmp_path: Path) -> AsyncIterator[Clinic]:
    clock = Clock()
    data_dir = tmp_path / "data"
    folder = data_dir / "sites" / "clinic"
    ps = open_site_store(folder, is_sandbox=False, actor=lambda: "Practitioner/prac-1")
    ps.close()  # opened again with the test's clock, as the app opens it
    from app.bootstrap import site_keyring
    from app.store.protected import open_protected_store

    ps = open_protected_store(
        folder / "store.db",
        site_keyring(folder, is_sandbox=False),
        actor=lambda: "Practitioner/prac-1",
        clock=clock,
        day_of=lambda at: at.date(),
    )
    ps.store.outbox.policy = BackoffPolicy(
        base=timedelta(seconds=5), cap=timedelta(seconds=20), floor=timedelta(seconds=1)
    )
    origin = sandbox_server.fhir_base.rsplit("/fhir", 1)[0]
    worker = StoreThread()
    async with FaultProxy(origin) as proxy, httpx.AsyncClient(timeout=10) as http:
        fhir = FhirClient(http, proxy.base + "/fhir", TestAuth(launch_token(sandbox_server)))
        session = SimpleNamespace(
            approver=Reference("Practitioner", "prac-1", "Dr. Test"), granted_scopes=SCOPE.split()
        )
        audit = AuditService(ps.audit, worker, lambda: "Practitioner/prac-1", clock=clock)
        outbox = OutboxService(ps.store.outbox, worker, lambda: "Dr. Test")
        runner = SyncRunner(
            ps.store.outbox,
            fhir,
            profile=load_profile("generic-r4"),
            lock_path=folder / "sync.lock",
            clock=clock,
            resume_delay=0.01,
        )
        async with runner:
            yield Clinic(
                clock,
                ps,
                proxy,
                audit,
                ChartService(fhir, cast(SessionService, session), None, audit.record),
                DraftService(ps.store.drafts, worker),
                ReviewService(ps.store, worker, clock=clock),
                outbox,
                FollowUpService(fhir, ps.store, worker, clock=clock),
                KpiService(ps.store.kpi, worker, today=lambda: clock.now.date()),
                runner,
                data_dir,
            )
    worker.close()
    ps.close()


def written(chart: OpenChart, clock: Clock, text: str) -> Draft:
    template = load_templates().default
    draft = prefill_draft(chart.context, template, now=clock())
    for section in template.sections:
        if section.required:
            draft = draft.with_section_text(section.key, f"{section.title}: {text}")
    return draft


SCRIBE_FILE = {
    "schema": "fhir-writeback/draft-import",
    "schema_version": 1,
    "source": {"patient": "Patient/pat-1", "encounter": "Encounter/enc-1"},
    "generator": {"name": "Example Scribe Service", "version": "2.4.0"},
    "generated_at": T0.strftime("%Y-%m-%dT%H:%M:%SZ"),
    "template": "soap",
    "title": "Progress note",
    "sections": [
        {"key": "subjective", "title": "Subjective", "text": f"Cough for three days. {MARKER}"},
        {"key": "objective", "title": "Objective", "text": "Chest clear."},
        {"key": "assessment", "title": "Assessment", "text": "Viral bronchitis."},
        {"key": "plan", "title": "Plan", "text": "Fluids and rest."},
    ],
}


async def type_for(
    editing: EditingTime, mono: FakeMonotonic, keys: list[float], end: float
) -> None:
    """Keystrokes at the given seconds with the editor focused; focus leaves at ``end``."""
    editing.focus(True)
    for second in keys:
        mono.now = 1000.0 + second
        editing.typed()
    mono.now = 1000.0 + end
    editing.focus(False)
    await editing.report()


def by_key(c: Clinic, notes: list[NoteFigures], draft: Draft) -> NoteFigures:
    key = c.ps.store.kpi.note_key(draft.id)
    return next(n for n in notes if n.note == key)


@dataclass
class Morning:
    """The notes of the morning and their commits (A to F, in the module docstring's order)."""

    drafts: dict[str, Draft]
    commits: dict[str, Any]


async def notes_a_and_b(c: Clinic, tmp_path: Path) -> Morning:
    mono = FakeMonotonic()
    editing = EditingTime(clock=mono)
    editing.set_service(c.kpi)
    await c.audit.record(AuditKind.SIGN_IN, details={"site": "clinic"})

    # A: written from the template; 40 s of typing, then 30 s more count; first attempt
    chart = await c.open_chart(1)
    c.clock.at(2)
    a = await c.drafts.save(written(chart, c.clock, f"Seen today. {MARKER}"))
    editing.showing(a.id)
    await type_for(editing, mono, [0, 10, 20, 30, 40], end=100)
    commit_a = await c.approve(a, chart, 6)
    await c.send(6.5)
    assert c.outbox.item(commit_a.commit_id).state is S.CONFIRMED

    # B: a scribe's draft, one word changed ("three" -> "five"); the EHR busy once
    chart = await c.open_chart(10)
    scribe = tmp_path / "scribe.json"
    scribe.write_text(json.dumps(SCRIBE_FILE), encoding="utf-8")
    c.clock.at(11)
    b = await c.drafts.save(await c.drafts.import_file(scribe, chart.context, c.clock()))
    b = b.with_section_text("subjective", f"Cough for five days. {MARKER}")
    editing.showing(b.id)
    await type_for(editing, mono, [200, 210], end=215)
    commit_b = await c.approve(b, chart, 18)
    await c.send(18.5, Fault.http(503))
    assert c.outbox.item(commit_b.commit_id).state is S.RETRY_WAIT
    await c.send(19.5)
    assert c.outbox.item(commit_b.commit_id).state is S.CONFIRMED
    return Morning({"a": a, "b": b}, {"a": commit_a, "b": commit_b})


async def notes_c_to_f(c: Clinic, morning: Morning) -> None:
    # C: refused by the EHR until the clinician presses "Retry now"
    chart = await c.open_chart(20)
    c.clock.at(21)
    note_c = await c.drafts.save(written(chart, c.clock, "Knee pain."))
    commit_c = await c.approve(note_c, chart, 23)
    await c.send(23.5, Fault.http(422))
    assert c.outbox.item(commit_c.commit_id).state is S.NEEDS_ATTENTION
    c.clock.at(25)
    await c.outbox.retry(commit_c.commit_id)
    await c.send(25)
    assert c.outbox.item(commit_c.commit_id).state is S.CONFIRMED

    # D: stored by the EHR, its answer lost: found there, not written twice
    chart = await c.open_chart(30)
    c.clock.at(31)
    d = await c.drafts.save(written(chart, c.clock, "Rash on the forearm."))
    commit_d = await c.approve(d, chart, 40)
    await c.send(40.25, Fault.drop_after())
    assert c.outbox.item(commit_d.commit_id).state is S.UNKNOWN_OUTCOME
    await c.send(41)  # the next pass searches the EHR by the writes' identifiers: there
    assert c.outbox.item(commit_d.commit_id).state is S.CONFIRMED

    # E: "Correct this note" on A (an amendment after sending)
    chart = await c.open_chart(45)
    approved_a = await c.drafts.find(morning.drafts["a"].id)
    assert approved_a is not None and approved_a.status is DraftStatus.APPROVED
    c.clock.at(46)
    e = c.followups.start(await c.followups.from_draft(approved_a), FollowUpKind.AMENDMENT)
    e = await c.drafts.save(e.with_section_text(e.sections[0].key, "Seen today. Corrected."))
    commit_e = await c.approve(e, chart, 47)
    await c.send(47.5)

    # F: a draft given up
    c.clock.at(50)
    f = await c.drafts.save(written(chart, c.clock, "Started by mistake."))
    c.ps.store.drafts.set_status(f.id, DraftStatus.DISCARDED)
    morning.drafts.update(c=note_c, d=d, e=e, f=f)
    morning.commits.update(c=commit_c, d=commit_d, e=commit_e)


def check_notes(c: Clinic, morning: Morning) -> list[NoteFigures]:
    notes = c.ps.store.kpi.notes(DAY, DAY)
    assert len(notes) == 6
    fa, fb, fc, fd, fe, ff = (by_key(c, notes, morning.drafts[k]) for k in "abcdef")
    assert (fa.open_to_approve_ms, fa.approve_to_confirm_ms) == (5 * MINUTE, 30_000)
    assert fa.active_edit_ms == 70_000 and fa.delivery is Delivery.FIRST_TIME
    assert fa.source is NoteSource.PREFILLED and fa.outcome is NoteOutcome.CONFIRMED
    assert (fb.open_to_approve_ms, fb.approve_to_confirm_ms) == (8 * MINUTE, 90_000)
    assert fb.active_edit_ms == 15_000 and fb.send_attempts == 2
    assert fb.delivery is Delivery.AFTER_RETRY and fb.source is NoteSource.IMPORTED
    parts = {p.part: p for p in fb.parts}
    subjective = f"Cough for three days. {MARKER}"
    assert parts["section:subjective"] == PartEdit("section:subjective", len(subjective), 6)
    assert parts["section:plan"] == PartEdit("section:plan", len("Fluids and rest."), 0)
    assert (fc.open_to_approve_ms, fc.approve_to_confirm_ms) == (3 * MINUTE, 2 * MINUTE)
    assert fc.person_needed == 1 and fc.delivery is Delivery.NEEDED_PERSON
    assert fd.open_to_approve_ms == 10 * MINUTE and fd.duplicates_prevented == 1
    assert fd.approve_to_confirm_ms == MINUTE
    assert fd.send_attempts == 1 and fd.delivery is Delivery.FIRST_TIME
    assert fe.source is NoteSource.AMENDMENT and fe.open_to_approve_ms == 2 * MINUTE
    assert fe.delivery is Delivery.FIRST_TIME
    assert ff.outcome is NoteOutcome.DISCARDED and ff.delivery is Delivery.NOT_APPROVED
    return notes


def export_and_merge(c: Clinic, notes: list[NoteFigures], tmp_path: Path) -> list[str]:
    """The workstation's export and a merge of it (with the HTML report): their texts."""
    out, err = io.StringIO(), io.StringIO()
    argv = ["kpi", "--since", DAY.isoformat(), "--until", DAY.isoformat(), "--format", "json"]
    assert main([*argv, "--data-dir", str(c.data_dir)], out=out, err=err,
                accept_keyring=keep_test_keyring) == 0, err.getvalue()  # fmt: skip
    export_text = out.getvalue()
    exported = parse_export(export_text)
    assert sorted(r.note.note for r in exported.notes) == sorted(n.note for n in notes)
    export_file = tmp_path / "clinic.json"
    export_file.write_text(export_text)
    html = tmp_path / "report.html"
    out = io.StringIO()
    assert main(["kpi", "merge", str(export_file), "--format", "json", "--html", str(html)],
                out=out, err=io.StringIO(), accept_keyring=keep_test_keyring) == 0  # fmt: skip
    rows = {(r["site"], r["period"]): r for r in json.loads(out.getvalue())["periods"]}
    assert rows[("clinic", "total")]["open_to_approve_median_s"] == 300.0
    assert rows[("clinic", "total")]["duplicates_prevented"] == 1
    return [export_text, html.read_text()]


def check_no_phi(c: Clinic, morning: Morning, texts: list[str]) -> None:
    secrets = [MARKER, "Garcia", "Maria", "pat-1", "enc-1", "prac-1", "Dr. Test"]
    secrets += [str(x.id) for x in morning.drafts.values()]
    secrets += [str(x.commit_id) for x in morning.commits.values()]
    with sqlite3.connect(c.ps.path) as raw:
        dumped = json.dumps(
            [
                list(r)
                for t in ("kpi_notes", "kpi_note_parts", "kpi_days")
                for r in raw.execute(f"SELECT * FROM {t}")
            ]
        )
    for text in (dumped, *texts):
        assert not [s for s in secrets if s in text]
    wal = Path(str(c.ps.path) + "-wal")
    assert wal.exists()  # the store is open: what was written is (also) in its WAL
    assert files_containing(c.ps.path.parent, MARKER) == []  # database, WAL, anything there


async def test_a_morning_of_notes_gives_exact_figures(clinic: Clinic, tmp_path: Path) -> None:
    morning = await notes_a_and_b(clinic, tmp_path)
    await notes_c_to_f(clinic, morning)
    week = await clinic.kpi.my_week()  # measures the edit rates of the approved notes first
    notes = check_notes(clinic, morning)

    today = week.days[-1].figures
    assert week.last_day == DAY
    assert (today.notes_approved, today.confirmed, today.discarded) == (5, 5, 1)
    assert (today.first_time, today.after_retry, today.needed_person) == (3, 1, 1)
    assert (today.duplicates_prevented, today.amendments, today.addenda) == (1, 1, 0)
    assert (today.sign_ins, today.charts_opened) == (1, 5)
    assert today.open_to_approve.median_ms == 5 * MINUTE  # 2 3 5 8 10 minutes
    changed, total = by_key(clinic, notes, morning.drafts["b"]).chars()
    assert today.imported_edit_rate == changed / total and changed == 6

    check_no_phi(clinic, morning, export_and_merge(clinic, notes, tmp_path))
