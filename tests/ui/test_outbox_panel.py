"""pytest-qt tests of the outbox panel and the status-bar sentence.

A real store (SQLite in a temp folder) holds a commit in every state, moved there through the
store's own transitions (tests/ui/outbox_states.py); the panel reads it as the app does.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest
from PySide6 import QtGui
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from app.domain.outbox import OutboxState, SyncEvent
from app.services.outbox import Connectivity, OutboxService, OutboxSummary, RunnerStatus
from app.store.store import Store, open_store
from app.sync.errors import SyncAlreadyRunning
from app.sync.store_thread import StoreThread
from app.ui.outbox_model import ROW_ROLE, Column, OutboxTableModel
from app.ui.outbox_panel import OutboxPanel
from app.ui.outbox_words import Severity, local_time, status_sentence
from app.ui.sync_status import SyncStatusButton, SyncStatusModel
from tests.sync.commits import clinical_commit
from tests.ui.outbox_states import REFUSAL, EveryState, decision_json, enqueue, fill_every_state

S, E = OutboxState, SyncEvent
WHO = "Practitioner/prac-1"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(tmp_path / "store.db")
    yield s
    s.close()


@pytest.fixture
def every(store: Store) -> EveryState:
    return fill_every_state(store.outbox)


class Calls:
    def __init__(self) -> None:
        self.sync_now = 0

    def sync(self) -> None:
        self.sync_now += 1


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def outbox(store: Store, calls: Calls) -> Iterator[OutboxService]:
    """The site's outbox as the UI sees it; "Sync now" is counted instead of sent. Its store
    thread ends before the store closes."""
    worker = StoreThread()
    service = OutboxService(store.outbox, worker, user_label=lambda: WHO)
    service.sync_now = calls.sync  # type: ignore[method-assign]
    yield service
    worker.close()


@pytest.fixture
def make_panel(qtbot: QtBot, outbox: OutboxService) -> Callable[..., OutboxPanel]:
    def make(**kw: object) -> OutboxPanel:
        panel = OutboxPanel(outbox, coalesce_ms=20, **kw)  # type: ignore[arg-type]
        qtbot.addWidget(panel)
        panel.resize(1400, 800)
        panel.show()
        return panel

    return make


def cell(panel: OutboxPanel, commit_id: UUID, column: Column) -> str:
    row = panel.model.row_of(commit_id)
    assert row is not None, f"{commit_id} is not listed"
    return str(panel.model.index(row, column).data())


def tip_of(panel: OutboxPanel, commit_id: UUID, column: Column) -> str:
    row = panel.model.row_of(commit_id)
    assert row is not None, f"{commit_id} is not listed"
    return str(panel.model.index(row, column).data(Qt.ItemDataRole.ToolTipRole))


def state_of(store: Store, commit_id: UUID) -> OutboxState:
    return store.outbox.item(commit_id).state


# ---------------------------------------------------------------------------- the list


def test_every_state_in_plain_words(
    make_panel: Callable[..., OutboxPanel], every: EveryState, store: Store
) -> None:
    panel = make_panel()
    expected = {
        "queued": "Queued",
        # stored SENDING, but no runner is sending it: it waits for its turn (the words for a
        # commit whose requests started: tests/ui/test_outbox_in_flight.py)
        "sending": "Waiting to send",
        "confirmed": "Sent ✓",
        "differs": "Sent ✓",
        "unknown": "Checking whether the EHR received it",
        "parked": "Could not check whether the EHR received it",
        "needs_attention": "Needs your attention",
        "conflict": "Conflict with the chart",
        "paused": "Waiting for sign-in",
        "waiting_for_base": "Waiting for the note it amends",
        "discarded": "Discarded",
    }
    for key, words in expected.items():
        assert cell(panel, every[key], Column.STATE) == words, key
    retry = store.outbox.item(every["retry_wait"])
    assert retry.attempts == 2 and retry.next_attempt_at is not None
    text = cell(panel, every["retry_wait"], Column.STATE)
    assert text == f"Will retry at {local_time(retry.next_attempt_at)} (attempt 3)"
    assert re.fullmatch(r"Will retry at (\d{4}-\d\d-\d\d )?\d\d:\d\d:\d\d \(attempt 3\)", text)

    assert panel.model.rowCount() == 12  # newest first
    sequences = [int(panel.model.index(r, Column.SEQUENCE).data()) for r in range(12)]
    assert sequences == sorted(sequences, reverse=True)
    for r in range(12):  # a coloured dot next to the words, never colour alone
        assert panel.model.index(r, Column.STATE).data(Qt.ItemDataRole.DecorationRole) is not None
    # the column in words; what the EHR said, with its status, in the tooltip for IT
    assert cell(panel, every["needs_attention"], Column.LAST_ERROR) == (
        "The EHR refused it. Select it to read the EHR's reason, then retry or discard it; if "
        "it happens again, tell clinic IT."
    )
    assert f"As recorded: {REFUSAL}" in tip_of(panel, every["needs_attention"], Column.LAST_ERROR)
    assert "HTTP 422" in tip_of(panel, every["needs_attention"], Column.LAST_ERROR)
    assert cell(panel, every["needs_attention"], Column.ATTEMPTS) == "1"
    # the column counts the failed attempts: "2" and "Will retry … (attempt 3)" agree
    model = panel.model
    assert model.headerData(Column.ATTEMPTS, Qt.Orientation.Horizontal) == "Failed"
    tip = model.headerData(Column.ATTEMPTS, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)
    assert "failed" in tip
    assert cell(panel, every["confirmed"], Column.LAST_ERROR) == ""
    assert cell(panel, every["confirmed"], Column.READ_BACK) == "Matches what was sent"
    assert "stored something different" in cell(panel, every["differs"], Column.READ_BACK)
    assert cell(panel, every["queued"], Column.WHAT) == (
        "5 records: Note, Observation, Follow-up task, Approval record"
    )
    assert cell(panel, every["retry_wait"], Column.NEXT_ATTEMPT) == local_time(
        retry.next_attempt_at
    )
    assert cell(panel, every["parked"], Column.NEXT_ATTEMPT) == ""  # it waits for a person
    tip = panel.model.index(panel.model.row_of(every["paused"]) or 0, Column.STATE).data(
        Qt.ItemDataRole.ToolTipRole
    )
    assert "Sign in again; nothing is lost." in tip


def test_filters_and_counts(make_panel: Callable[..., OutboxPanel], every: EveryState) -> None:
    panel = make_panel()
    labels = [panel.filter_box.itemText(i) for i in range(panel.filter_box.count())]
    assert labels == ["All (12)", "Needs action (3)", "Pending (6)", "Confirmed (2)"]
    panel.set_filter("action")
    shown = {panel.model.row_at(r).commit_id for r in range(panel.model.rowCount())}  # type: ignore[union-attr]
    assert shown == {every["needs_attention"], every["conflict"], every["paused"]}
    panel.set_filter("confirmed")
    assert panel.model.rowCount() == 2
    panel.set_filter("all")
    assert panel.model.rowCount() == 12


def test_server_text_is_shown_as_plain_text(
    make_panel: Callable[..., OutboxPanel], store: Store
) -> None:
    hostile = '<b>bold</b><img src="http://evil.example/x.png"> & <a href="x">link</a>'
    commit = enqueue(store.outbox, clinical_commit())
    store.outbox.apply(commit.commit_id, E.SEND_STARTED)
    store.outbox.apply(commit.commit_id, E.PERMANENT_REJECTION, status=400, error=hostile)
    panel = make_panel()
    assert cell(panel, commit.commit_id, Column.LAST_ERROR).startswith("The EHR refused it.")
    tip = tip_of(panel, commit.commit_id, Column.LAST_ERROR)
    assert hostile in tip and not QtGui.Qt.mightBeRichText(tip)  # plain text too
    panel.select_commit(commit.commit_id)
    label = panel.detail.error_label
    assert label.textFormat() is Qt.TextFormat.PlainText and label.text() == hostile
    for child in panel.findChildren(QLabel):
        assert child.textFormat() is Qt.TextFormat.PlainText, child.objectName()


# ---------------------------------------------------------------------------- the detail


def test_detail_shows_what_is_written_and_the_decision(
    make_panel: Callable[..., OutboxPanel], every: EveryState
) -> None:
    panel = make_panel()
    assert panel.select_commit(every["needs_attention"])
    detail = panel.detail
    assert detail.title_label.text() == "Needs your attention"
    assert "The EHR refused it. Read the reason" in detail.meaning_label.text()
    assert detail.error_label.isVisible() and detail.error_label.text() == REFUSAL
    text = detail.text.toPlainText()
    for expected in (
        "What will be written",
        "1. Note\n",
        "Heart rate:",
        "4. Follow-up task\n",
        "“Follow up in two weeks.”",
        "Approved by Dr. Alice Smith (Practitioner/prac-1) at ",
        "Patient: Maria Elena Garcia; encounter: Office visit 2025-03-10",
        "Writes: Note, Observation, Follow-up task, Approval record",
        "Risk flags:\n   - 1 value is outside the usual range",
        "Approved in fhir-writeback 0.1.0 on exam-room-3",
        "Failed attempts: 1 · last answer from the EHR: HTTP 422",
    ):
        assert expected in text, expected
    assert not detail.conflict.isVisible()

    assert panel.select_commit(every["confirmed"])
    text = panel.detail.text.toPlainText()
    assert "What was written" in text and "Risk flags: none" in text
    assert "In the EHR as DocumentReference/srv-0-1, version 1" in text
    assert "Read-back: Matches what was sent" in text
    assert not panel.detail.error_label.isVisible()

    assert panel.select_commit(every["discarded"])
    text = panel.detail.text.toPlainText()
    assert "discarded: nothing was sent" in text
    assert "Discarded by Dr. Alice Smith: Duplicate of the note" in text


def test_conflict_is_shown_side_by_side_read_only(
    make_panel: Callable[..., OutboxPanel], every: EveryState
) -> None:
    panel = make_panel()
    panel.select_commit(every["conflict"])
    view = panel.detail.conflict
    assert view.isVisible()
    assert "you amended version 1; the chart now has version 2" in view.message.text()
    assert view.base.title.text() == "What you started from (version 1)"
    assert view.chart.title.text() == "The chart now (version 2)"
    base, chart, mine = (p.text.toPlainText() for p in (view.base, view.chart, view.mine))
    assert "Plan: physiotherapy." in base and "MRI" not in base
    assert "MRI ordered by Dr. Lee." in chart
    assert "Progress note written in a sync test." in mine
    assert all(p.text.isReadOnly() for p in (view.base, view.chart, view.mine))
    # the conflict offers what the store allows: check again, or discard
    assert panel.retry_button.isEnabled() and panel.discard_button.isEnabled()


# ---------------------------------------------------------------------------- actions


async def test_retry_now_requeues_and_syncs(
    make_panel: Callable[..., OutboxPanel], every: EveryState, store: Store, calls: Calls
) -> None:
    panel = make_panel()
    panel.select_commit(every["needs_attention"])
    assert panel.retry_button.isEnabled()
    panel.retry_button.click()
    await panel.tasks.wait_idle()  # written on the store thread, not the GUI's
    assert state_of(store, every["needs_attention"]) is S.QUEUED
    assert calls.sync_now == 1
    assert cell(panel, every["needs_attention"], Column.STATE) == "Queued"
    assert panel.detail.title_label.text() == "Queued"  # the detail follows the store

    panel.select_commit(every["confirmed"])
    assert not panel.retry_button.isEnabled() and not panel.discard_button.isEnabled()
    panel.select_commit(every["unknown"])
    assert panel.retry_button.text() == "Check again now"


def test_sync_now_and_its_failure(make_panel: Callable[..., OutboxPanel], calls: Calls) -> None:
    panel = make_panel()
    panel.sync_button.click()
    assert calls.sync_now == 1 and not panel.message_label.isVisible()

    def broken() -> None:
        raise RuntimeError("internal detail, maybe a patient's name")

    panel.outbox.sync_now = broken  # type: ignore[method-assign]
    panel.sync_button.click()
    assert panel.message_label.isVisible()
    text = panel.message_label.text()
    assert text.startswith("Sync could not start: an unexpected problem")  # words, not str(exc)
    assert "internal detail" not in text

    def refused() -> None:
        raise SyncAlreadyRunning(Path("sync.lock"))

    panel.outbox.sync_now = refused  # type: ignore[method-assign]
    panel.sync_button.click()
    assert "Another copy of the app is already sending" in panel.message_label.text()


async def test_discard_needs_a_typed_reason_and_records_who_and_why(
    make_panel: Callable[..., OutboxPanel], every: EveryState, store: Store, qtbot: QtBot
) -> None:
    panel = make_panel()
    panel.select_commit(every["queued"])
    panel.discard_button.click()
    dialog = panel.dialog
    assert dialog is not None and dialog.isVisible() and dialog.isModal()
    assert not dialog.confirm_button.isEnabled()  # no reason yet
    dialog.accept()  # Enter without a reason: refused
    assert dialog.isVisible() and state_of(store, every["queued"]) is S.QUEUED
    assert dialog.reason_edit is not None
    dialog.reason_edit.setPlainText("   ")
    assert not dialog.confirm_button.isEnabled()
    dialog.reason_edit.setPlainText("Wrong patient: approved in the wrong chart.")
    assert dialog.confirm_button.isEnabled()
    dialog.confirm_button.click()
    qtbot.waitUntil(lambda: panel.dialog is None)
    await panel.tasks.wait_idle()

    entry = store.outbox.get(every["queued"])
    assert entry.item.state is S.DISCARDED
    assert entry.row.discarded_by == WHO
    assert entry.row.discard_reason == "Wrong patient: approved in the wrong chart."
    # the amendment waiting for it cannot be sent any more: it asks for a person
    assert state_of(store, every["waiting_for_base"]) is S.NEEDS_ATTENTION
    assert cell(panel, every["queued"], Column.STATE) == "Discarded"


def test_discard_without_confirmation_does_nothing(
    make_panel: Callable[..., OutboxPanel], every: EveryState, store: Store, qtbot: QtBot
) -> None:
    panel = make_panel()
    panel.select_commit(every["unknown"])
    panel.discard_button.click()
    dialog = panel.dialog
    assert dialog is not None
    assert any(  # it may already be in the EHR: the dialog says so
        "may already have received it" in label.text() for label in dialog.findChildren(QLabel)
    )
    assert dialog.reason_edit is not None
    dialog.reason_edit.setPlainText("Changed my mind")
    dialog.cancel_button.click()
    qtbot.waitUntil(lambda: panel.dialog is None)
    assert state_of(store, every["unknown"]) is S.UNKNOWN_OUTCOME
    assert store.outbox.get(every["unknown"]).row.discarded_by is None

    panel.select_commit(every["confirmed"])  # what reached the EHR cannot be discarded here
    assert not panel.discard_button.isEnabled()
    panel.ask_discard()
    assert panel.dialog is None


async def test_send_again_only_after_looking_in_the_chart(
    make_panel: Callable[..., OutboxPanel], every: EveryState, store: Store, calls: Calls
) -> None:
    panel = make_panel()
    panel.select_commit(every["unknown"])  # the app still checks this one by itself
    assert not panel.resend_button.isVisible()
    panel.select_commit(every["parked"])
    assert panel.resend_button.isVisible()
    panel.resend_button.click()
    dialog = panel.dialog
    assert dialog is not None and dialog.check is not None
    assert not dialog.confirm_button.isEnabled()
    dialog.check.setChecked(True)
    dialog.confirm_button.click()
    await panel.tasks.wait_idle()
    assert state_of(store, every["parked"]) is S.QUEUED
    assert calls.sync_now == 1


async def test_an_action_on_a_commit_that_moved_on_says_so(
    make_panel: Callable[..., OutboxPanel], every: EveryState, store: Store, qtbot: QtBot
) -> None:
    panel = make_panel()
    panel.select_commit(every["retry_wait"])
    panel.discard_button.click()
    dialog = panel.dialog
    assert dialog is not None and dialog.reason_edit is not None
    dialog.reason_edit.setPlainText("Not needed")
    # meanwhile the runner sent it
    store.outbox.apply(every["retry_wait"], E.SEND_STARTED)
    dialog.confirm_button.click()
    await panel.tasks.wait_idle()
    assert state_of(store, every["retry_wait"]) is S.SENDING
    # (marked for sending; nothing is sent here, so it waits for its turn)
    assert panel.message_label.text() == "It could not be discarded: it is now “Waiting to send”."


# ---------------------------------------------------------------------------- refreshing


def test_store_changes_are_coalesced_and_keep_the_selection(
    make_panel: Callable[..., OutboxPanel], every: EveryState, store: Store, qtbot: QtBot
) -> None:
    panel = make_panel()
    panel.select_commit(every["needs_attention"])
    before = panel.refreshes
    with store.db.write() as conn:  # 1,000 approvals: 1,000 notifications after the commit
        for _ in range(1000):
            store.outbox.enqueue_approval(
                clinical_commit(observations=0, task=False), "{}", conn=conn
            )
    qtbot.waitUntil(lambda: panel.refreshes > before)
    qtbot.wait(100)
    assert panel.refreshes == before + 1  # one re-read, not a thousand
    # the new commits join the top; nothing loaded is pushed out (the selection stays)
    assert panel.model.rowCount() == 1012
    assert panel.selected_row() is not None
    assert panel.selected_row().commit_id == every["needs_attention"]  # type: ignore[union-attr]
    assert panel.filter_box.itemText(0) == "All (1012)"

    store.outbox.retry(every["needs_attention"], by=WHO)  # a change elsewhere: the detail follows
    qtbot.waitUntil(lambda: panel.detail.title_label.text() == "Queued")


def test_model_pages_and_refreshes_without_duplicates(
    qtbot: QtBot, store: Store, outbox: OutboxService
) -> None:
    commits = [enqueue(store.outbox, clinical_commit(observations=0)) for _ in range(120)]
    model = OutboxTableModel(outbox, page_size=50)
    assert model.rowCount() == 50 and model.canFetchMore()
    assert model.row_at(0).commit_id == commits[-1].commit_id  # type: ignore[union-attr]
    newer = [enqueue(store.outbox, clinical_commit(observations=0)) for _ in range(3)]
    model.refresh()  # the loaded window stays "the newest 50"
    assert model.rowCount() == 50
    assert model.row_at(0).commit_id == newer[-1].commit_id  # type: ignore[union-attr]
    while model.canFetchMore():
        model.fetchMore()
    ids = [model.row_at(r).commit_id for r in range(model.rowCount())]  # type: ignore[union-attr]
    assert len(ids) == 123 == len(set(ids))
    store.outbox.apply(commits[0].commit_id, E.SEND_STARTED)
    model.set_states([S.SENDING])
    assert [model.index(r, 0).data(ROW_ROLE).commit_id for r in range(model.rowCount())] == [
        commits[0].commit_id
    ]
    store.outbox.apply(commits[0].commit_id, E.NOT_SENT, error="offline")
    model.refresh()  # it left the filter
    assert model.rowCount() == 0


# ---------------------------------------------------------------------------- status bar


NOW = datetime(2025, 3, 10, 14, 30, tzinfo=UTC)
ONLINE = RunnerStatus(running=True, connectivity=Connectivity.ONLINE)


def summary(**counts: int) -> OutboxSummary:
    return OutboxSummary(
        {S(k): v for k, v in counts.items()}, last_success_at=NOW - timedelta(minutes=28)
    )


def test_status_sentences() -> None:
    last = local_time(NOW - timedelta(minutes=28), NOW)
    online = status_sentence(summary(queued=2, needs_attention=1, confirmed=5), ONLINE, NOW)
    assert online.text == f"Online · 2 queued · 1 needs attention · 0 conflicts · last sync {last}"
    assert online.severity is Severity.PROBLEM
    calm = status_sentence(summary(confirmed=5), ONLINE, NOW)
    assert calm.text == f"Online · 0 queued · 0 need attention · 0 conflicts · last sync {last}"
    assert calm.severity is Severity.OK
    offline = status_sentence(
        summary(queued=2, retry_wait=1), replace(ONLINE, connectivity=Connectivity.OFFLINE), NOW
    )
    assert offline.text == (
        f"Offline — 3 notes will be sent when the EHR is reachable · last sync {last}"
    )
    assert offline.severity is Severity.WARNING
    paused = status_sentence(
        summary(queued=1, paused_for_sign_in=1), replace(ONLINE, paused_for_sign_in=True), NOW
    )
    assert paused.text.startswith("Waiting for sign-in — 2 notes queued, nothing is lost")
    no_runner = status_sentence(summary(queued=2), None, NOW)
    assert no_runner.text.startswith("Waiting for sign-in — 2 notes queued, nothing is lost")
    conflicts = status_sentence(summary(queued=1, conflict=2), ONLINE, NOW)
    assert "· 2 conflicts ·" in conflicts.text and conflicts.severity is Severity.PROBLEM
    never = status_sentence(OutboxSummary({S.QUEUED: 1}, None), ONLINE, NOW)
    assert never.text.endswith("last sync never") and never.severity is Severity.BUSY


class FakeRunner:
    def __init__(self, status: RunnerStatus) -> None:
        self.status = status
        self.listeners: list[Callable[[RunnerStatus], None]] = []

    def subscribe_status(self, listener: Callable[[RunnerStatus], None]) -> Callable[[], None]:
        self.listeners.append(listener)
        return lambda: self.listeners.remove(listener)

    def set(self, **changes: object) -> None:
        self.status = replace(self.status, **changes)  # type: ignore[arg-type]
        for listener in list(self.listeners):
            listener(self.status)


def test_status_model_follows_the_store_and_the_runner(
    qtbot: QtBot, store: Store, outbox: OutboxService, every: EveryState
) -> None:
    runner = FakeRunner(ONLINE)
    model = SyncStatusModel(outbox, runner, coalesce_ms=20)
    opened: list[bool] = []
    button = SyncStatusButton(model, on_open=lambda: opened.append(True))
    qtbot.addWidget(button)
    # 7 waiting (incl. one paused): the store says someone must sign in again
    assert model.sentence.startswith("Waiting for sign-in — 7 notes queued, nothing is lost")
    assert "1 needs attention · 1 conflict · 1 stored differently" in model.sentence
    assert model.severity is Severity.PROBLEM
    assert button.text() == model.sentence
    assert "Need your attention: 1" in button.toolTip()

    store.outbox.resume_after_sign_in()
    queries = model.queries
    with qtbot.waitSignal(model.summary_changed, timeout=2000):
        pass
    assert model.queries == queries + 1
    assert model.sentence.startswith("Online · 7 queued · 1 needs attention · 1 conflict")
    assert button.text() == model.sentence

    with qtbot.waitSignal(model.summary_changed, timeout=1000):
        runner.set(connectivity=Connectivity.OFFLINE)
    assert model.sentence.startswith(
        "Offline — 7 notes will be sent when the EHR is reachable · 1 needs attention"
    )
    assert model.severity is Severity.PROBLEM  # a person is still needed for two of them

    runner.set(paused_for_sign_in=True)
    assert model.sentence.startswith("Waiting for sign-in — 7 notes queued, nothing is lost")
    model.set_runner(None)
    assert model.sentence.startswith("Waiting for sign-in")
    assert runner.listeners == []

    button.click()
    assert opened == [True]
    model.close()


def test_status_model_coalesces_a_burst(qtbot: QtBot, store: Store, outbox: OutboxService) -> None:
    model = SyncStatusModel(outbox, FakeRunner(ONLINE), coalesce_ms=30)
    before = model.queries
    with store.db.write() as conn:
        for _ in range(1000):
            store.outbox.enqueue_approval(
                clinical_commit(observations=0, task=False), decision_json_stub(), conn=conn
            )
    qtbot.waitUntil(lambda: model.queries > before)
    qtbot.wait(100)
    assert model.queries == before + 1
    assert model.sentence.startswith("Online · 1000 queued · 0 need attention · 0 conflicts")
    assert model.severity is Severity.BUSY
    model.close()


def decision_json_stub() -> str:
    return decision_json(clinical_commit(observations=0, task=False))


def test_panel_shares_the_status_models_summary(
    qtbot: QtBot, store: Store, outbox: OutboxService, every: EveryState
) -> None:
    model = SyncStatusModel(outbox, FakeRunner(ONLINE), coalesce_ms=20)
    panel = OutboxPanel(outbox, status=model, coalesce_ms=20)
    qtbot.addWidget(panel)
    assert panel.filter_box.itemText(1) == "Needs action (3)"
    queries = model.queries
    store.outbox.retry(every["needs_attention"], by=WHO)
    qtbot.waitUntil(lambda: panel.filter_box.itemText(1) == "Needs action (2)")
    assert model.queries == queries + 1  # one summary read for the bar and the panel
    model.close()


def test_changes_made_in_the_store_thread_reach_the_panel(
    make_panel: Callable[..., OutboxPanel],
    every: EveryState,
    store: Store,
    outbox: OutboxService,
    qtbot: QtBot,
) -> None:
    """The runner writes to the store from a worker thread (app.sync.store_thread): the panel
    and the status model hear of it on the GUI thread."""
    model = SyncStatusModel(outbox, FakeRunner(ONLINE), coalesce_ms=20)
    panel = make_panel(status=model)
    panel.select_commit(every["sending"])
    worker = threading.Thread(
        target=lambda: store.outbox.apply(every["sending"], E.NOT_SENT, error="offline"),
        name="outbox-store",
    )
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: panel.detail.title_label.text().startswith("Will retry"))
    assert cell(panel, every["sending"], Column.LAST_ERROR) == (
        "The EHR could not be reached. The app tries again by itself; nothing to do."
    )
    assert "As recorded: offline" in tip_of(panel, every["sending"], Column.LAST_ERROR)
    qtbot.waitUntil(lambda: model.summary is not None and model.summary.count(S.RETRY_WAIT) == 2)
    model.close()
