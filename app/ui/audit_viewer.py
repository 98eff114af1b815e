"""The audit log viewer: filter by patient, date and what happened; check the chain.

Reads through the site's ``AuditService`` (on the store thread); the buttons start tracked
tasks, so a long chain check never freezes the window."""

from __future__ import annotations

from datetime import UTC, datetime, time

from PySide6.QtCore import QDate
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.domain.audit import AuditKind, describe
from app.domain.hidden_text import hidden_characters_warning, shown
from app.services.audit import AuditService
from app.services.errors import ServiceError
from app.ui.style import hint_label
from app.ui.tasks import TaskTracker

COLUMNS = ("#", "When (local time)", "Who", "What", "Patient", "Encounter", "State")


class AuditViewer(QDialog):
    def __init__(
        self, audit: AuditService, tasks: TaskTracker | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.audit = audit
        self.tasks = tasks or TaskTracker()
        self.setWindowTitle("Audit log")
        self.resize(1100, 600)
        layout = QVBoxLayout(self)
        filters = QHBoxLayout()
        filters.addWidget(QLabel("Patient id:"))
        self.patient_edit = QLineEdit()
        self.patient_edit.setPlaceholderText("any")
        filters.addWidget(self.patient_edit)
        filters.addWidget(QLabel("Since:"))
        self.since_edit = QDateEdit(QDate.currentDate().addDays(-30))
        self.since_edit.setCalendarPopup(True)
        self.since_edit.setDisplayFormat("yyyy-MM-dd")
        filters.addWidget(self.since_edit)
        filters.addWidget(QLabel("What:"))
        self.kind_combo = QComboBox()
        self.kind_combo.addItem("anything", None)
        for kind in AuditKind:
            self.kind_combo.addItem(kind.value.replace("_", " "), kind)
        filters.addWidget(self.kind_combo)
        filters.addWidget(QLabel("State:"))
        self.state_edit = QLineEdit()
        self.state_edit.setPlaceholderText("any (e.g. confirmed)")
        filters.addWidget(self.state_edit)
        apply_button = QPushButton("Show")
        apply_button.clicked.connect(lambda: self.tasks.start("audit-query", self.refresh()))
        filters.addWidget(apply_button)
        layout.addLayout(filters)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        layout.addWidget(self.table, 1)
        bottom = QHBoxLayout()
        self.verify_label = hint_label("")
        bottom.addWidget(self.verify_label, 1)
        verify_button = QPushButton("Check the chain")
        verify_button.clicked.connect(lambda: self.tasks.start("audit-verify", self.verify()))
        bottom.addWidget(verify_button)
        layout.addLayout(bottom)

    def open(self) -> None:
        super().open()
        self.tasks.start("audit-query", self.refresh())

    async def refresh(self) -> None:
        since_day = self.since_edit.date().toPython()
        since = datetime.combine(since_day, time.min, tzinfo=UTC)  # type: ignore[arg-type]
        kind = self.kind_combo.currentData()
        state = self.state_edit.text().strip()
        try:
            records = await self.audit.query(
                patient_id=self.patient_edit.text().strip() or None,
                since=since,
                kinds=[kind] if kind is not None else None,
                states=[state] if state else None,
            )
        except ServiceError as exc:
            self.verify_label.setText(exc.words)
            return
        self.table.setRowCount(len(records))
        for row, record in enumerate(records):
            e = record.event
            values = [
                str(record.seq),
                e.at.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
                e.actor or "the app",
                describe(e) if record.readable else f"{e.kind.value} (details unreadable)",
                e.patient_id or "",
                e.encounter_id or "",
                e.state or "",
            ]
            warning = hidden_characters_warning({"record id": e.patient_id})
            for col, value in enumerate(values):
                item = QTableWidgetItem(shown(value))  # hidden characters made visible
                if warning:
                    item.setToolTip(warning)
                self.table.setItem(row, col, item)
        self.verify_label.setText(f"{len(records)} record(s) shown.")

    async def verify(self) -> bool:
        self.verify_label.setText("Checking the chain…")
        try:
            result = await self.audit.verify()
        except ServiceError as exc:
            self.verify_label.setText(exc.words)
            return False
        self.verify_label.setText(result.summary())
        return result.ok
