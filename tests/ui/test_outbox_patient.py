"""The outbox names the patient of each commit (issue 13): name and MRN as the approval dialog
showed them, read from the commit's encrypted review decision — never stored in clear."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.bootstrap import open_site_store
from app.domain.clinical import Reference
from app.domain.review_codec import decision_from_json, decision_to_json
from app.services.outbox import OutboxService
from app.sync.store_thread import StoreThread
from app.ui.outbox_model import Column, OutboxTableModel
from tests.sync.commits import clinical_commit
from tests.ui.outbox_states import decision_json

GARCIA = Reference("Patient", "pat-1", "Maria Elena Garcia")
SPOOFED = Reference("Patient", "pat-7", "Fatima\u202eAl-Husseini")


def with_mrn(text: str, mrn: str | None) -> str:
    return decision_to_json(replace(decision_from_json(text), patient_mrn=mrn))


def test_each_commit_names_its_patient_and_the_file_does_not(qtbot: QtBot, tmp_path: Path) -> None:
    folder = tmp_path / "site"
    protected = open_site_store(folder, is_sandbox=True)
    repo = protected.store.outbox
    first, second, older = clinical_commit(), clinical_commit(), clinical_commit()
    repo.enqueue_approval(first, with_mrn(decision_json(first, patient=GARCIA), "MRN-1001"))
    repo.enqueue_approval(second, with_mrn(decision_json(second, patient=SPOOFED), "MRN-1007"))
    repo.enqueue_approval(older, decision_json(older, patient=GARCIA))  # recorded before MRNs
    worker = StoreThread()
    service = OutboxService(repo, worker, user_label=lambda: "Practitioner/prac-1")
    model = OutboxTableModel(service)
    shown = {
        model.row_at(r).commit_id: model.index(r, Column.PATIENT).data()  # type: ignore[union-attr]
        for r in range(model.rowCount())
    }
    assert shown[first.commit_id] == "Maria Elena Garcia (MRN MRN-1001)"
    assert "\u202e" not in shown[second.commit_id]  # a hidden character is made visible
    assert shown[second.commit_id].endswith("(MRN MRN-1007)")
    assert shown[older.commit_id] == "Maria Elena Garcia"
    header = model.headerData(Column.PATIENT, Qt.Orientation.Horizontal)
    assert header == "Patient"
    worker.close()
    protected.store.close()
    for path in folder.iterdir():
        if path.is_file():
            data = path.read_bytes()
            assert b"Garcia" not in data and b"MRN-1001" not in data, path.name
