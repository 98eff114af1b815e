"""pytest-qt tests of the workspace: banner, context pane, editor, autosave, diff, import.

The store is real SQLite in a temp folder; the context is built from domain objects (the FHIR
loading itself is tested over real HTTP in tests/fhir and tests/ui/test_end_to_end.py).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app._resources import resource_path
from app.domain.clinical import Reference
from app.domain.context import EncounterContext
from app.domain.diff import ChangeKind
from app.domain.draft import DraftSource, ObservationItem
from app.domain.validation import WritePermissions, validate_for_approval
from app.domain.validation_problems import ProblemKind
from app.services.drafts import DraftService
from app.store.store import Store, open_store
from app.store.templates import load_templates
from app.sync.store_thread import StoreThread
from app.ui.draft_model import DraftViewModel, saved_words
from app.ui.item_table import REFUSED
from app.ui.workspace import WorkspacePage
from tests.domain.conftest import make_context
from tests.support.drafts import ENCOUNTER, PATIENT
from tests.ui.test_end_to_end import wait_until


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(tmp_path / "store.db")
    yield s
    s.close()


@pytest.fixture
def worker() -> Iterator[StoreThread]:
    """The store thread of the test's services (the app's: one per site), ended with it."""
    thread = StoreThread()
    yield thread
    thread.close()


@pytest.fixture
def drafts_of(worker: StoreThread) -> Callable[[Store], DraftService]:
    """The draft service of a store, on the test's store thread."""
    return lambda store: DraftService(store.drafts, worker)


@pytest.fixture
def page(qtbot: QtBot, store: Store, drafts_of: Callable[[Store], DraftService]) -> WorkspacePage:
    model = DraftViewModel(drafts_of(store), list(load_templates().templates))
    widget = WorkspacePage(model)
    qtbot.addWidget(widget)
    widget.resize(1366, 768)
    widget.show()
    return widget


async def _load(page: WorkspacePage, context: EncounterContext | None = None) -> EncounterContext:
    ctx = context or make_context()

    async def loader() -> EncounterContext:
        return ctx

    await page.load(loader)
    return ctx


async def test_banner_and_context_sections(page: WorkspacePage) -> None:
    ctx = await _load(page)
    assert page.banner.name_label.text() == "Maria Elena Garcia"
    details = page.banner.details_label.text()
    assert "MRN-1001" in details and ctx.patient.birth_date.isoformat() in details  # type: ignore[union-attr]
    assert "Encounter" in page.banner.encounter_label.text()
    titles = [page.context_pane.tree.topLevelItem(i).text(0) for i in range(6)]
    assert titles[0].startswith("Problems (") and titles[5].startswith("Prior notes (")
    for i in range(6):
        assert page.context_pane.tree.topLevelItem(i).childCount() >= 1, titles[i]


async def test_load_failure_is_shown_not_raised(page: WorkspacePage) -> None:
    class Boom(Exception):
        user_message = "The EHR cannot be reached. Check the network connection, then try again."

    async def loader() -> EncounterContext:
        raise Boom()

    await page.load(loader)
    assert page.error_label.isVisible()
    assert "cannot be reached" in page.error_label.text()
    assert "not loaded" in page.context_pane.tree.topLevelItem(0).text(0)


async def test_the_banner_shows_before_the_chart_is_in(page: WorkspacePage) -> None:
    """Issue 15: the patient and the encounter come a round trip before the sections."""
    ctx = make_context()
    seen_while_loading: list[str] = []

    async def loader() -> EncounterContext:
        page.show_header(ctx.patient, ctx.encounter)
        seen_while_loading.append(page.banner.name_label.text())
        return ctx

    await page.load(loader)
    assert seen_while_loading == ["Maria Elena Garcia"]


async def test_a_failed_load_leaves_no_patient_in_the_banner(page: WorkspacePage) -> None:
    ctx = make_context()

    async def loader() -> EncounterContext:
        page.show_header(ctx.patient, ctx.encounter)
        raise ConnectionError("the sections' batch never came back")

    await page.load(loader)
    assert page.banner.name_label.text() == "No patient open"


async def test_prefilled_draft_edit_autosave_and_diff(
    page: WorkspacePage, qtbot: QtBot, store: Store
) -> None:
    ctx = await _load(page)
    model = page.drafts
    draft = model.draft
    assert draft is not None and draft.provenance.source is DraftSource.PREFILLED
    assert "objective" in page.editor.section_edits
    objective = page.editor.section_edits["objective"].toPlainText()
    assert "142/88" in objective  # latest vitals prefilled into the objective section

    saves: list[str] = []
    model.saved.connect(saves.append)
    edit = page.editor.section_edits["plan"]
    edit.setPlainText("Increase lisinopril to 20 mg daily.")
    assert model.dirty
    await wait_until(lambda: bool(saves), 2.0)  # autosave within 2 s of the last keystroke
    assert not model.dirty
    stored = store.drafts.get(draft.id)
    assert stored.section("plan").text == "Increase lisinopril to 20 mg daily."

    diff = model.refresh_diff()
    assert diff is not None and diff.has_changes
    html = page.diff_view.side_by_side.toHtml()
    assert "lisinopril" in html

    model.edit_item(ObservationItem("obs-new", "8867-4", "Heart rate", None, "/min"))
    diff = model.refresh_diff()
    assert diff is not None
    assert [c.kind for c in diff.items] == [ChangeKind.ADDED]
    assert page.editor.table_for("observation").table.rowCount() == 1
    assert len(store.drafts.list_for_encounter(ctx.patient.id, ctx.encounter.id)) == 1


async def test_reopening_restores_the_draft_with_notice(
    qtbot: QtBot, store: Store, drafts_of: Callable[[Store], DraftService]
) -> None:
    templates = list(load_templates().templates)
    first = DraftViewModel(drafts_of(store), templates)
    page1 = WorkspacePage(first)
    qtbot.addWidget(page1)
    await _load(page1)
    page1.editor.section_edits["subjective"].setPlainText("Typed before the crash")
    assert await first.flush()

    second = DraftViewModel(drafts_of(store), templates)
    page2 = WorkspacePage(second)
    qtbot.addWidget(page2)
    notices: list[str] = []
    second.notice.connect(notices.append)
    ctx = make_context()

    async def loader() -> EncounterContext:
        return ctx

    await page2.load(loader, restored_notice=True)
    assert page2.editor.section_edits["subjective"].toPlainText() == "Typed before the crash"
    assert any("restored" in n for n in notices)


async def test_import_valid_and_invalid_files(page: WorkspacePage, tmp_path: Path) -> None:
    await _load(page)
    errors: list[str] = []
    page.drafts.error.connect(errors.append)
    sample = resource_path("samples", "scribe-draft.json")
    imported = await page.drafts.import_file(str(sample))
    assert imported is not None, errors
    assert imported.provenance.source is DraftSource.IMPORTED
    assert imported.is_editable  # never approved by the import
    assert page.draft_combo.count() == 2

    bad = tmp_path / "bad.json"
    doc = json.loads(sample.read_text("utf-8"))
    doc["source"]["patient"] = "Patient/someone-else"
    bad.write_text(json.dumps(doc), "utf-8")
    assert await page.drafts.import_file(str(bad)) is None
    assert errors and "patient" in errors[-1].lower()

    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(b"{not json")
    assert await page.drafts.import_file(str(garbage)) is None
    assert "json" in errors[-1].lower()
    assert page.draft_combo.count() == 2  # nothing was added by the rejected files


def _capabilities() -> object:
    from app.domain.capabilities import parse_capabilities

    types = ["DocumentReference", "Observation", "Task", "Communication", "Provenance"]
    return parse_capabilities(
        {
            "resourceType": "CapabilityStatement",
            "fhirVersion": "4.0.1",
            "rest": [
                {
                    "mode": "server",
                    "interaction": [{"code": "transaction"}],
                    "resource": [
                        {
                            "type": t,
                            "interaction": [
                                {"code": "create"},
                                {"code": "read"},
                                {"code": "search-type"},
                            ],
                            "conditionalCreate": True,
                        }
                        for t in types
                    ],
                }
            ],
        }
    )


@pytest.mark.parametrize(
    ("user", "granted", "allowed", "reason"),
    [
        (Reference("Practitioner", "prac-1", "Dr. Alice Smith"), None, True, ""),
        (Reference("Patient", "pat-1", "Maria"), None, False, "only a practitioner"),
        (
            Reference("Practitioner", "prac-1"),
            ("user/Observation.crus",),
            False,
            "did not grant DocumentReference write",
        ),
    ],
)
async def test_least_privilege_approval(
    qtbot: QtBot,
    store: Store,
    user: Reference,
    granted: tuple[str, ...] | None,
    allowed: bool,
    reason: str,
    drafts_of: Callable[[Store], DraftService],
    worker: StoreThread,
) -> None:
    """Approve is offered only to a practitioner whose grants permit the write; others can
    draft and are told why."""
    from app.fhir.profiles import load_profile
    from app.services.chart import OpenChart
    from app.services.review import ReviewService
    from app.sync.approval import ApprovalContext
    from app.ui.approval import ReviewGate

    templates = list(load_templates().templates)
    gate = ReviewGate(templates)
    gate.set_review(ReviewService(store, worker))
    page = WorkspacePage(DraftViewModel(drafts_of(store), templates), gate)
    qtbot.addWidget(page)
    ctx = await _load(page)
    approval = ApprovalContext.build(
        ctx,
        user,
        load_profile("generic-r4"),
        _capabilities(),  # type: ignore[arg-type]
        granted,
    )
    gate.set_chart(OpenChart(ctx, approval))
    page.editor.section_edits["plan"].setPlainText("Recheck in two weeks.")
    page.drafts.refresh_diff()
    assert page.approve_button.isEnabled() is allowed
    assert reason.lower() in page.approve_reason.text().lower()
    assert page.drafts.draft is not None and page.drafts.draft.is_editable  # drafting still works


def test_missing_grants_are_shown_in_plain_words(page: WorkspacePage) -> None:
    page.show_grant_warnings(["cannot create tasks: the EHR did not grant Task write"])
    assert page.grants_label.isVisible()
    assert page.grants_label.text() == "• Cannot create tasks: the EHR did not grant Task write."
    page.show_grant_warnings([])
    assert not page.grants_label.isVisible()


async def test_the_approval_dialog_shows_hidden_characters_and_flags_them(
    qtbot: QtBot, store: Store, drafts_of: Callable[[Store], DraftService], worker: StoreThread
) -> None:
    from dataclasses import replace

    from PySide6.QtWidgets import QLabel

    from app.domain.hidden_text import PLACEHOLDER
    from app.fhir.profiles import load_profile
    from app.services.chart import OpenChart
    from app.services.review import ReviewService
    from app.sync.approval import ApprovalContext
    from app.ui.approval import ReviewGate

    templates = list(load_templates().templates)
    gate = ReviewGate(templates)
    gate.set_review(ReviewService(store, worker))
    page = WorkspacePage(DraftViewModel(drafts_of(store), templates), gate)
    qtbot.addWidget(page)
    plain = make_context()
    spoofed = replace(plain.patient, name="Maria \u202eaicraG", mrn="MRN-\u200b1001")
    ctx = await _load(page, replace(plain, patient=spoofed))
    user = Reference("Practitioner", "prac-1", "Dr. Alice Smith")
    approval = ApprovalContext.build(
        ctx,
        user,
        load_profile("generic-r4"),
        _capabilities(),  # type: ignore[arg-type]
        None,
    )
    gate.set_chart(OpenChart(ctx, approval))
    page.editor.section_edits["plan"].setPlainText("Recheck in two weeks.")
    page.drafts.refresh_diff()
    page.approve_button.click()
    await wait_until(lambda: page.approval_dialog is not None, 10)
    dialog = page.approval_dialog
    assert dialog is not None
    texts = [label.text() for label in dialog.findChildren(QLabel)]
    assert f"Approve this note for Maria {PLACEHOLDER}aicraG (MRN MRN-{PLACEHOLDER}1001)?" in texts
    assert any("name and MRN contain hidden characters" in t for t in texts)
    assert not any("\u202e" in t or "\u200b" in t for t in texts)
    dialog.reject()


async def test_a_slow_reload_does_not_take_the_clinician_back(
    page: WorkspacePage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The re-read after an approval ends after the clinician moved on to another draft (a
    follow-up started at once, under load): the draft they moved to stays shown, with its
    notice."""
    import asyncio

    await _load(page)
    model = page.drafts
    first = model.draft
    assert first is not None
    service = model.service
    assert service is not None
    release = asyncio.Event()
    real_find = service.find

    async def slow_find(draft_id: object) -> object:
        await release.wait()
        return await real_find(draft_id)  # type: ignore[arg-type]

    monkeypatch.setattr(service, "find", slow_find)
    model.start("reload", model.reload())
    second = await model.new_draft()
    assert second is not None
    model.notice.emit("Started from the earlier note.")
    release.set()
    await wait_until(lambda: not model.tasks.is_running("reload"), 5)
    assert model.draft is not None and model.draft.id == second.id
    assert page.editor.notice_label.text() == "Started from the earlier note."


@pytest.mark.parametrize("saved_meanwhile", [False, True])
async def test_typing_while_the_chart_is_read_again_is_kept(
    page: WorkspacePage, monkeypatch: pytest.MonkeyPatch, saved_meanwhile: bool
) -> None:
    """The same chart opened again (the patient search, Enter on the encounter) while the
    clinician goes on typing into its draft: what they typed while the drafts were listed is
    neither replaced by the stored copy nor lost; it is saved."""
    import asyncio

    context = await _load(page)
    model = page.drafts
    service = model.service
    assert service is not None and model.draft is not None
    release = asyncio.Event()
    real_list = service.list_for_encounter

    async def slow_list(patient_id: str, encounter_id: str) -> object:
        listed = await real_list(patient_id, encounter_id)  # read now, answered late
        await release.wait()
        return listed

    monkeypatch.setattr(service, "list_for_encounter", slow_list)
    model.start("reopen", model.open_context(context))
    await asyncio.sleep(0.05)
    hr = ObservationItem("hr", "8867-4", "Heart rate", Decimal(96), "/min")
    model.edit_item(hr)  # typed on meanwhile
    if saved_meanwhile:
        assert await model.flush()  # the autosave ran before the list came back
    release.set()
    await wait_until(lambda: not model.tasks.is_running("reopen"), 5)
    assert model.draft is not None and model.draft.item("hr") == hr
    assert "- Heart rate: 96 bpm" in page.editor.section_edits["objective"].toPlainText()
    assert await model.flush()
    stored = await service.find(model.draft.id)
    assert stored is not None and stored.item("hr") == hr


async def test_the_saved_time_is_the_shown_drafts_own(
    qtbot: QtBot, tmp_path: Path, drafts_of: Callable[[Store], DraftService]
) -> None:
    """Switching drafts (another draft of the visit, a correction or addendum just made) shows
    when *that* draft was saved; before, the bar kept the time of the draft shown before."""
    times = iter(
        [datetime(2026, 3, 9, 9, 15, tzinfo=UTC), datetime(2026, 3, 10, 14, 5, tzinfo=UTC)]
    )
    store = open_store(tmp_path / "store.db", clock=lambda: next(times))
    model = DraftViewModel(drafts_of(store), list(load_templates().templates))
    page = WorkspacePage(model)
    qtbot.addWidget(page)
    await _load(page)
    first = model.draft
    assert first is not None and page.saved_label.text() == saved_words(first)
    second = store.drafts.save(replace(first, id=uuid.uuid4(), revision=0))
    await model.switch_to(second.id)
    assert page.saved_label.text() == saved_words(second) != saved_words(first)
    await model.switch_to(first.id)
    assert page.saved_label.text() == saved_words(first)
    store.close()


async def test_a_refused_cell_text_survives_a_restart_and_holds_the_approval(
    qtbot: QtBot, store: Store, drafts_of: Callable[[Store], DraftService]
) -> None:
    """What the clinician typed into a cell and the app could not use ("someday soon" as a
    due date) is saved with the draft: after a restart it is back in its cell, red, with its
    words, and approval waits for it; corrected, the draft forgets it."""
    templates = list(load_templates().templates)
    first = DraftViewModel(drafts_of(store), templates)
    page1 = WorkspacePage(first)
    qtbot.addWidget(page1)
    await _load(page1)
    page1.editor.add_row("task")
    tasks = page1.editor.table_for("task")
    due = next(c for c, column in enumerate(tasks.kind.columns) if column.field == "due")
    tasks.table.item(0, due).setText("someday soon")
    assert tasks.pending  # refused, kept in the cell
    assert await first.flush()
    saved = store.drafts.get(first.draft.id)  # type: ignore[union-attr]
    assert [(u.field, u.text) for u in saved.unaccepted] == [("due", "someday soon")]

    second = DraftViewModel(drafts_of(store), templates)  # the app started again
    page2 = WorkspacePage(second)
    qtbot.addWidget(page2)
    await _load(page2)
    assert not second.dirty  # shown again as it was kept: not an edit
    again = page2.editor.table_for("task")
    cell = again.table.item(0, due)
    assert cell.text() == "someday soon" and cell.background().color() == REFUSED
    assert cell.toolTip().startswith("“someday soon”")  # what to type instead
    [waiting] = page2.editor.pending_entries()
    assert "Due" in waiting
    report = validate_for_approval(
        second.draft, PATIENT, ENCOUNTER, template=None,  # type: ignore[arg-type]
        write_permissions=WritePermissions.allowing("DocumentReference", "Task"),
    )  # fmt: skip
    [held] = report.of_kind(ProblemKind.UNACCEPTED_TEXT)
    assert "“someday soon” was typed here" in held.message

    cell.setText("2030-06-10")  # corrected: used, and no longer kept
    assert not again.pending
    assert await second.flush()
    assert store.drafts.get(second.draft.id).unaccepted == ()  # type: ignore[union-attr]
