"""The patient banner: always visible while a chart is open. Wrong-patient errors are the worst
errors, so it shows every identifier a clinician checks: name, birth date and age, sex, MRN,
and which encounter (date, class, location) the note is for. Hidden characters in the name or
MRN (bidirectional or zero-width: app.domain.hidden_text) are shown as a visible placeholder and
the banner says so."""

from __future__ import annotations

from datetime import date

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from app.domain.clinical import EncounterSummary, PatientSummary
from app.domain.hidden_text import shown
from app.domain.offline import ChartFreshness


def _plain(text: str, name: str | None = None) -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if name:
        label.setObjectName(name)
    return label


def patient_line(patient: PatientSummary, today: date) -> str:
    parts = []
    if patient.birth_date is not None:
        age = patient.age(today)
        parts.append(
            f"DOB {patient.birth_date.isoformat()}" + (f" ({age} y)" if age is not None else "")
        )
    else:
        parts.append("DOB not recorded")
    parts.append(f"Sex {patient.sex.value}")
    parts.append(f"MRN {patient.shown_mrn}" if patient.mrn else "MRN not recorded")
    if patient.deceased:
        parts.append("DECEASED")
    return "   ·   ".join(parts)


def encounter_line(encounter: EncounterSummary) -> str:
    parts = []
    if encounter.period_start is not None:
        parts.append(f"Encounter {encounter.period_start.astimezone().date().isoformat()}")
    else:
        parts.append("Encounter date not recorded")
    if encounter.class_display:
        parts.append(encounter.class_display)
    if encounter.types:
        parts.append(encounter.types[0])
    locations = [loc.display or loc.relative for loc in encounter.locations]
    if locations:
        parts.append(", ".join(locations))
    parts.append(f"status {encounter.status.value}")
    return shown("   ·   ".join(parts))  # the EHR's own texts (types, locations) too


class PatientBanner(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("patientBanner")
        self.setAutoFillBackground(True)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        left = QVBoxLayout()
        self.name_label = _plain("No patient open", "bannerName")
        self.name_label.setAccessibleName("Patient name")
        self.details_label = _plain("")
        self.warning_label = _plain("", "bannerWarning")
        self.warning_label.setWordWrap(True)
        self.warning_label.setAccessibleName("Patient identity warning")
        self.warning_label.hide()
        left.addWidget(self.name_label)
        left.addWidget(self.details_label)
        left.addWidget(self.warning_label)
        layout.addLayout(left, 3)
        self.encounter_label = _plain("")
        self.encounter_label.setAlignment(
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        )
        self.encounter_label.setWordWrap(True)
        right = QVBoxLayout()
        right.addWidget(self.encounter_label)
        # a chart from this computer's offline copy says so, with its age: never passes as live
        self.freshness_label = _plain("", "bannerFreshness")
        self.freshness_label.setAccessibleName("Chart freshness")
        self.freshness_label.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.freshness_label.hide()
        right.addWidget(self.freshness_label)
        layout.addLayout(right, 2)

    def show_freshness(self, freshness: ChartFreshness | None) -> None:
        words = freshness.banner_words() if freshness is not None else ""
        self.freshness_label.setText(words[:1].upper() + words[1:])
        self.freshness_label.setVisible(bool(words))

    def show_context(
        self, patient: PatientSummary, encounter: EncounterSummary, today: date | None = None
    ) -> None:
        self.name_label.setText(patient.shown_name)
        self.details_label.setText(patient_line(patient, today or date.today()))
        self.encounter_label.setText(encounter_line(encounter))
        warning = patient.identity_warning
        self.warning_label.setText(warning or "")
        self.warning_label.setVisible(warning is not None)

    def clear(self) -> None:
        self.name_label.setText("No patient open")
        self.details_label.setText("")
        self.encounter_label.setText("")
        self.warning_label.setText("")
        self.warning_label.hide()
        self.show_freshness(None)
