"""Choose the patient and encounter when the EHR did not put them in context (most clinician
standalone launches): search by name, birth date or MRN, then pick one of their encounters."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from datetime import date
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeyEvent, QShowEvent
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.domain.clinical import EncounterSummary, PatientSummary
from app.domain.errors import words_for
from app.ui.banner import encounter_line
from app.ui.style import error_label, heading_label, hint_label

log = logging.getLogger(__name__)

PatientSearch = Callable[[str | None, str | None, str | None], Awaitable[list[PatientSummary]]]
EncounterList = Callable[[str], Awaitable[list[EncounterSummary]]]


SEARCH_FAILED = "The search failed. Check the connection and try again."


class PatientPicker(QWidget):
    chosen = Signal(object, object)  # PatientSummary, EncounterSummary

    def __init__(
        self,
        search: PatientSearch,
        encounters: EncounterList,
        run: Callable[[str, Coroutine[Any, Any, None]], object],
    ) -> None:
        super().__init__()
        self._search, self._encounters, self._run = search, encounters, run
        self._patients: list[PatientSummary] = []
        self._encounter_rows: list[EncounterSummary] = []
        layout = QVBoxLayout(self)
        layout.addWidget(heading_label("Open a chart"))
        layout.addWidget(
            hint_label(
                "The EHR did not choose a patient for this session. Search "
                "by name, birth date or MRN, then pick the encounter."
            )
        )
        form = QFormLayout()
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("Family or given name")
        self.birth_edit = QLineEdit()
        self.birth_edit.setPlaceholderText("YYYY-MM-DD")
        self.mrn_edit = QLineEdit()
        self.mrn_edit.setPlaceholderText("Medical record number")
        form.addRow("Name:", self.name_edit)
        form.addRow("Birth date:", self.birth_edit)
        form.addRow("MRN:", self.mrn_edit)
        layout.addLayout(form)
        row = QHBoxLayout()
        self.search_button = QPushButton("Search")
        self.search_button.setDefault(True)
        self.search_button.clicked.connect(self.start_search)
        for edit in (self.name_edit, self.birth_edit, self.mrn_edit):
            edit.returnPressed.connect(self.start_search)
        row.addWidget(self.search_button)
        row.addStretch(1)
        layout.addLayout(row)
        self.status = hint_label("")
        layout.addWidget(self.status)
        self.error = error_label("")
        self.error.hide()
        layout.addWidget(self.error)

        self.patient_table = self._table(["Name", "Birth date", "Sex", "MRN"])
        self.patient_table.itemSelectionChanged.connect(self._patient_selected)
        layout.addWidget(self.patient_table, 2)
        layout.addWidget(hint_label("Encounters of the selected patient (newest first):"))
        self.encounter_table = self._table(["Encounter"])
        self.encounter_table.itemDoubleClicked.connect(lambda _i: self._open())
        # keyboard: Enter on a patient opens their newest encounter; Enter on one opens it
        self.patient_table.installEventFilter(self)
        self._open_when_listed = False
        self.encounter_table.installEventFilter(self)
        layout.addWidget(self.encounter_table, 2)
        open_row = QHBoxLayout()
        open_row.addStretch(1)
        self.open_button = QPushButton("Open chart")
        self.open_button.setEnabled(False)
        self.open_button.clicked.connect(self._open)
        open_row.addWidget(self.open_button)
        layout.addLayout(open_row)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        ):
            if watched is self.patient_table:
                # the newest encounter (selected); Tab to choose another. Typed ahead of the
                # list: opened as soon as it arrives
                if self.encounter_table.rowCount():
                    self._open()
                else:
                    self._open_when_listed = True
                return True
            if watched is self.encounter_table:
                self._open()
                return True
        return super().eventFilter(watched, event)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.name_edit.setFocus(Qt.FocusReason.OtherFocusReason)

    @staticmethod
    def _table(headers: list[str]) -> QTableWidget:
        table = QTableWidget(0, len(headers))
        table.setHorizontalHeaderLabels(headers)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        return table

    def _show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.setVisible(bool(text))

    def start_search(self) -> None:
        self._run("patient-search", self.search())

    async def search(self) -> None:
        name = self.name_edit.text().strip() or None
        birth = self.birth_edit.text().strip() or None
        mrn = self.mrn_edit.text().strip() or None
        if birth:
            try:
                date.fromisoformat(birth)
            except ValueError:
                self._show_error("Write the birth date as YYYY-MM-DD, for example 1968-04-12.")
                return
        if not (name or birth or mrn):
            self._show_error("Enter a name, a birth date or an MRN to search.")
            return
        self._show_error("")
        self.status.setText("Searching…")
        try:
            patients = await self._search(name, birth, mrn)
        except Exception as exc:  # shown, never raised into the loop
            log.warning("patient search failed: %s", type(exc).__name__)
            self.status.setText("")
            self._show_error(words_for(exc, SEARCH_FAILED))
            return
        self._patients = patients
        self.status.setText(
            f"{len(patients)} patient(s) found." if patients else "No patient found."
        )
        self.patient_table.setRowCount(len(patients))
        for r, p in enumerate(patients):
            warning = p.identity_warning  # hidden (bidi, zero-width) characters: flagged
            values = [
                p.shown_name + ("  ⚠ hidden characters" if warning else ""),
                p.birth_date.isoformat() if p.birth_date else "",
                p.sex.value,
                p.shown_mrn or "",
            ]
            for c, v in enumerate(values):
                item = QTableWidgetItem(v)
                if warning:
                    item.setToolTip(warning)
                self.patient_table.setItem(r, c, item)
        self.encounter_table.setRowCount(0)
        self.open_button.setEnabled(False)
        if patients:  # the best match selected, ready for Enter
            self.patient_table.setFocus(Qt.FocusReason.OtherFocusReason)
            self.patient_table.selectRow(0)

    def _patient_selected(self) -> None:
        self._open_when_listed = False
        row = self.patient_table.currentRow()
        if 0 <= row < len(self._patients):
            self._show_error(self._patients[row].identity_warning or "")
            self._run("encounter-list", self.list_encounters(self._patients[row]))

    async def list_encounters(self, patient: PatientSummary) -> None:
        self.status.setText("Loading encounters…")
        try:
            encounters = await self._encounters(patient.id)
        except Exception as exc:
            log.warning("encounter list failed: %s", type(exc).__name__)
            self._show_error(words_for(exc, SEARCH_FAILED))
            return
        self._encounter_rows = encounters
        n = len(encounters)
        self.status.setText(
            f"{n} encounter{'s' if n != 1 else ''}: choose one and press Open."
            if encounters
            else "This patient has no encounters: a note needs an encounter."
        )
        self.encounter_table.setRowCount(len(encounters))
        for r, e in enumerate(encounters):
            self.encounter_table.setItem(r, 0, QTableWidgetItem(encounter_line(e)))
        if encounters:
            self.encounter_table.selectRow(0)
        self.open_button.setEnabled(bool(encounters))
        if encounters and self._open_when_listed:
            self._open_when_listed = False
            self._open()

    def _open(self) -> None:
        p_row, e_row = self.patient_table.currentRow(), self.encounter_table.currentRow()
        if 0 <= p_row < len(self._patients) and 0 <= e_row < len(self._encounter_rows):
            self.chosen.emit(self._patients[p_row], self._encounter_rows[e_row])
