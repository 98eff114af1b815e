"""After sign-in: who is signed in, where, and which patient and encounter are in context."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QFormLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.smart.session import SmartSession
from app.ui.style import heading_label, hint_label


class SessionPage(QWidget):
    def __init__(self, session: SmartSession, on_sign_out: Callable[[], object]) -> None:
        super().__init__()
        layout = QVBoxLayout(self)
        layout.addWidget(heading_label("Signed in"))
        form = QFormLayout()
        user = session.user
        form.addRow("Clinician:", QLabel(user.display_name if user else "unknown"))
        form.addRow(
            "FHIR user:", QLabel(user.fhir_user.reference if user and user.fhir_user else "—")
        )
        form.addRow("EHR:", QLabel(str(session.site)))
        form.addRow("Patient in context:", QLabel(session.context.patient_id or "none"))
        form.addRow("Encounter in context:", QLabel(session.context.encounter_id or "none"))
        layout.addLayout(form)
        if session.scope_report is not None and session.scope_report.messages:
            layout.addWidget(hint_label("\n".join(session.scope_report.messages)))
        row = QHBoxLayout()
        row.addStretch(1)
        button = QPushButton("Sign out")
        button.clicked.connect(on_sign_out)
        row.addWidget(button)
        layout.addLayout(row)
        layout.addStretch(1)
