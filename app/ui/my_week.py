""" "My week" (Tools menu): the clinician's last seven days on this site, as four small charts —
notes per day, median time to approve, edit rate of imported drafts, write-backs that did not
go through at the first attempt — and the week in sentences.

Drawn with pyqtgraph (docs/kpi.md says why: it runs on PySide6-Essentials, which the app
ships, where QtCharts would need PySide6-Addons). The dialog only renders what its view-model
(app.ui.my_week_model) hands it.
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtWidgets import QDialog, QLabel, QVBoxLayout, QWidget

from app.domain.kpi_report import WeekReport
from app.services.kpi import KpiService
from app.ui.my_week_model import MyWeekModel, WeekSeries, series, summary_lines
from app.ui.style import error_label, heading_label, hint_label
from app.ui.tasks import TaskTracker

BLUE, GREEN, AMBER, RED = "#1f5f8b", "#2e7d32", "#c77700", "#b3261e"
BAR_WIDTH = 0.6
CHARTS = (
    ("notes", "Notes approved per day", "notes"),
    ("approve", "Median time from opening to approving", "minutes"),
    ("edits", "Imported drafts: share of text changed", "%"),
    ("failures", "Not written at the first attempt", "notes"),
)


class MyWeekDialog(QDialog):
    def __init__(self, model: MyWeekModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.setWindowTitle("My week")
        self.resize(1000, 640)
        layout = QVBoxLayout(self)
        self.title = heading_label("My week")
        layout.addWidget(self.title)
        self.error = error_label("")
        self.error.hide()
        layout.addWidget(self.error)
        # one graphics view for the four charts: a view each would cost four times the set-up
        self.charts = pg.GraphicsLayoutWidget()
        self.charts.setBackground("w")
        self.plots: dict[str, pg.PlotItem] = {}
        for i, (name, title, unit) in enumerate(CHARTS):
            self.plots[name] = self._plot(title, unit)
            self.charts.addItem(self.plots[name], row=i // 2, col=i % 2)
        layout.addWidget(self.charts, 1)
        self.summary = QLabel("Reading your week…")
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        layout.addWidget(
            hint_label(
                "Counted on this computer for this site only: counts and durations, never "
                "names or text. Amber: written after the app tried again; red: needed a person."
            )
        )
        model.ready.connect(self.show_week)
        model.error.connect(self.show_error)

    @staticmethod
    def _plot(title: str, unit: str) -> pg.PlotItem:
        plot = pg.PlotItem()
        plot.setTitle(title, color="#222", size="10pt")
        plot.setLabel("left", unit)
        for side in ("left", "bottom"):
            plot.getAxis(side).enableAutoSIPrefix(False)
        plot.setMouseEnabled(x=False, y=False)
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.showGrid(y=True, alpha=0.2)
        return plot

    def show_week(self, report: WeekReport) -> None:
        data = series(report)
        self.title.setText(f"My week: {report.first_day:%d %b} – {report.last_day:%d %b %Y}")
        xs = list(range(len(data.labels)))
        self._bars("notes", data, [(data.notes, BLUE)], counts=True)
        self._line("approve", data.median_minutes)
        self._bars("edits", data, [(data.imported_edit_percent, GREEN)])
        stacks = [(data.after_retry, AMBER), (data.needed_person, RED)]
        self._bars("failures", data, stacks, counts=True)
        for plot in self.plots.values():
            plot.getAxis("bottom").setTicks([list(zip(xs, data.labels, strict=True))])
            plot.setXRange(-0.6, len(xs) - 0.4, padding=0)
        self.summary.setText("\n".join(summary_lines(report.week)))

    def show_error(self, words: str) -> None:
        self.error.setText(words)
        self.error.show()
        self.summary.setText("")

    def _bars(
        self,
        name: str,
        data: WeekSeries,
        stacks: list[tuple[tuple[float, ...], str]],
        *,
        counts: bool = False,
    ) -> None:
        plot = self.plots[name]
        plot.clear()
        base = [0.0] * len(data.labels)
        for values, color in stacks:
            heights = [0.0 if v != v else v for v in values]  # NaN: no bar
            plot.addItem(
                pg.BarGraphItem(
                    x=list(range(len(heights))),
                    height=heights,
                    y0=base,
                    width=BAR_WIDTH,
                    brush=color,
                    pen=None,
                )
            )
            base = [b + h for b, h in zip(base, heights, strict=True)]
        top = max([*base, 1.0])
        plot.setYRange(0, top * 1.15, padding=0)
        if counts:  # whole notes: no "1.5" on the axis
            step = max(1, math.ceil(top / 5))
            plot.getAxis("left").setTickSpacing(step, step)

    def _line(self, name: str, values: tuple[float, ...]) -> None:
        plot = self.plots[name]
        plot.clear()
        present = [v for v in values if v == v]  # NaN: no note approved that day
        if not present:
            plot.setYRange(0, 1, padding=0)
            return
        plot.plot(
            list(range(len(values))),
            list(values),
            pen=pg.mkPen(BLUE, width=2),
            symbol="o",
            symbolBrush=BLUE,
            symbolPen=None,
            connect="finite",
        )
        plot.setYRange(0, max([*present, 1.0]) * 1.15, padding=0)


def open_my_week(parent: QWidget, service: KpiService, tasks: TaskTracker) -> MyWeekDialog:
    """The dialog, shown at once; the figures arrive from the store thread."""
    model = MyWeekModel(service)
    dialog = MyWeekDialog(model, parent)
    model.setParent(dialog)
    dialog.show()
    tasks.start("my-week", model.load())
    return dialog
