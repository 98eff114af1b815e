"""Bidirectional and zero-width characters in a patient's name or MRN are shown as a visible
placeholder, and the record is flagged, wherever a patient is identified: banner, patient
picker, approval dialog (tests/ui/test_workspace.py), outbox detail, audit viewer."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from app.domain.audit import AuditEvent, AuditKind
from app.domain.clinical import PatientSummary, Reference
from app.domain.hidden_text import PLACEHOLDER
from app.services.audit import AuditService
from app.store.crypto import StoreKeyring
from app.store.protected import ProtectedStore, open_protected_store
from app.sync.store_thread import StoreThread
from app.ui.audit_viewer import AuditViewer
from app.ui.banner import PatientBanner
from app.ui.outbox_detail import _decision_text
from app.ui.patient_picker import PatientPicker
from tests.domain.conftest import make_context
from tests.store.protected_support import file_keyring
from tests.sync.commits import clinical_commit
from tests.ui.outbox_states import decision_json

RLO, ZWSP = "\u202e", "\u200b"
SPOOFED = replace(
    make_context().patient, name=f"Maria {RLO}aicraG", mrn=f"MRN-{ZWSP}1001"
)  # displayed by a plain label as "Maria Garcia", "MRN-1001"


def no_hidden_characters(text: str) -> bool:
    return RLO not in text and ZWSP not in text


def test_the_banner_shows_placeholders_and_says_why(qtbot: QtBot) -> None:
    banner = PatientBanner()
    qtbot.addWidget(banner)
    banner.show()
    banner.show_context(SPOOFED, make_context().encounter)
    assert banner.name_label.text() == f"Maria {PLACEHOLDER}aicraG"
    assert f"MRN MRN-{PLACEHOLDER}1001" in banner.details_label.text()
    assert banner.warning_label.isVisible()
    assert "name and MRN contain hidden characters" in banner.warning_label.text()
    assert all(no_hidden_characters(label.text()) for label in banner.findChildren(QLabel))

    banner.show_context(make_context().patient, make_context().encounter)
    assert banner.name_label.text() == "Maria Elena Garcia" and banner.warning_label.isHidden()


async def test_the_patient_picker_flags_the_row(qtbot: QtBot) -> None:
    async def search(name: str, birth: str, mrn: str) -> list[PatientSummary]:
        return [SPOOFED, make_context().patient]

    async def encounters(patient_id: str) -> list[object]:
        return []

    started: list[object] = []
    picker = PatientPicker(search, encounters, lambda name, coro: started.append(coro))
    qtbot.addWidget(picker)
    picker.name_edit.setText("Garcia")
    await picker.search()
    name = picker.patient_table.item(0, 0)
    assert name.text() == f"Maria {PLACEHOLDER}aicraG  ⚠ hidden characters"
    assert "hidden characters" in name.toolTip()
    assert picker.patient_table.item(0, 3).text() == f"MRN-{PLACEHOLDER}1001"
    assert picker.patient_table.item(1, 0).text() == "Maria Elena Garcia"
    assert picker.patient_table.item(1, 0).toolTip() == ""
    picker.patient_table.selectRow(0)
    assert "hidden characters" in picker.error.text()
    for coro in started:
        coro.close()  # type: ignore[attr-defined]


def test_the_outbox_detail_shows_placeholders_and_the_flag() -> None:
    spoofed = Reference("Patient", "pat-1", SPOOFED.name)
    text = _decision_text(decision_json(clinical_commit(), patient=spoofed))
    assert f"Patient: Maria {PLACEHOLDER}aicraG;" in text
    assert "⚠ This patient's name contains hidden characters" in text
    assert no_hidden_characters(text)


@pytest.fixture
def protected(tmp_path: Path) -> Iterator[ProtectedStore]:
    opened = open_protected_store(
        tmp_path / "store.db",
        StoreKeyring(file_keyring(tmp_path / "keyring")),
        actor=lambda: "Practitioner/prac-1",
        destination=lambda: "https://ehr.example/fhir",
    )
    yield opened
    opened.store.close()


@pytest.fixture
def worker(protected: ProtectedStore) -> Iterator[StoreThread]:
    """The store thread of the test's services, ended before the store closes."""
    thread = StoreThread()
    yield thread
    thread.close()


async def test_the_audit_viewer_shows_placeholders_and_the_flag(
    qtbot: QtBot, protected: ProtectedStore, worker: StoreThread
) -> None:
    protected.audit.append(
        AuditEvent(
            AuditKind.CHART_OPENED,
            datetime.now(UTC),
            actor="Practitioner/prac-1",
            patient_id=f"pat-{RLO}1",
            encounter_id="enc-1",
        )
    )
    viewer = AuditViewer(AuditService(protected.audit, worker, actor=lambda: None))
    qtbot.addWidget(viewer)
    await viewer.refresh()
    row = next(r for r in range(viewer.table.rowCount()) if viewer.table.item(r, 4).text() != "")
    assert viewer.table.item(row, 4).text() == f"pat-{PLACEHOLDER}1"
    assert "hidden characters" in viewer.table.item(row, 4).toolTip()
