"""The real window against the sandbox: a large chart's older items are paged in after its
first view and shown in their sections (issue 15); another chart opened meanwhile, or signing
out, stops the paging."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTreeWidgetItem
from pytestqt.qtbot import QtBot

from app.domain.chart_history import HistoryState, SectionHistory
from app.domain.context import Continuation, SectionKind
from app.domain.note_history import NoteThread
from app.services.workbench import Workbench
from app.ui.context_pane import ContextPane, MeasurementRow
from app.ui.workbench import MainWindowParts
from tests.domain.conftest import make_context
from tests.support.smart_fixtures import ScriptedBrowser
from tests.ui.test_end_to_end import signed_in_window, wait_until

TOTALS = {SectionKind.VITALS: 500, SectionKind.LABS: 1500, SectionKind.NOTES: 200}


def _rows(top: QTreeWidgetItem) -> list[object]:
    rows = [top.child(i) for i in range(top.childCount())]
    return [r.data(0, Qt.ItemDataRole.UserRole) for r in rows if r is not None]


def _shown(parts: MainWindowParts, kind: SectionKind) -> int:
    """How many of the section's items the pane shows (rows and the rows under them)."""
    data = _rows(parts.workspace.context_pane.sections[kind])
    if kind is SectionKind.NOTES:
        threads = [d for d in data if isinstance(d, NoteThread)]
        return sum(1 + len(t.earlier) + len(t.addenda) + len(t.other_forms) for t in threads)
    return sum(1 + len(d.earlier) for d in data if isinstance(d, MeasurementRow))


async def _open(parts: MainWindowParts, patient: str, encounter: str) -> None:
    tasks, workspace = parts.tasks, parts.workspace
    await wait_until(lambda: not tasks.is_running("load-context"), 30)
    parts.flow.open_chart(patient, encounter)
    await wait_until(
        lambda: workspace.context is not None and workspace.context.patient.id == patient, 30
    )
    await wait_until(lambda: not tasks.is_running("load-context"), 30)


async def test_a_large_charts_older_items_are_paged_in_and_shown(
    qtbot: QtBot, sandbox_workbench: Workbench, scripted_browser: ScriptedBrowser
) -> None:
    parts = await signed_in_window(qtbot, sandbox_workbench)
    pane = parts.workspace.context_pane
    await _open(parts, "pat-large", "enc-large")
    first_view = {k: len(parts.workspace.context.section(k).items) for k in TOTALS}  # type: ignore[union-attr]
    assert first_view == {SectionKind.VITALS: 200, SectionKind.LABS: 200, SectionKind.NOTES: 50}
    await wait_until(lambda: not parts.chart.paging, 60)
    for kind, total in TOTALS.items():
        assert parts.chart.histories[kind].state is HistoryState.COMPLETE
        assert pane.history_words(kind) == f"All {total:,} shown"
        assert _shown(parts, kind) == total, kind
        top = pane.sections[kind]
        last = top.child(top.childCount() - 1)
        assert last is not None and last.text(0) == f"All {total:,} shown"
    # the vital signs stay one row each (the latest), the older results under it
    vitals = [d for d in _rows(pane.sections[SectionKind.VITALS]) if isinstance(d, MeasurementRow)]
    assert len(vitals) == 5 and all(len(v.earlier) == 99 for v in vitals)


async def test_opening_another_chart_stops_the_paging(
    qtbot: QtBot, sandbox_workbench: Workbench, scripted_browser: ScriptedBrowser
) -> None:
    parts = await signed_in_window(qtbot, sandbox_workbench)
    chart, pane = parts.chart, parts.workspace.context_pane
    service = parts.flow.site.chart  # type: ignore[union-attr]
    service.page_pause = 0.5  # slow enough to switch in the middle
    await _open(parts, "pat-large", "enc-large")
    await wait_until(lambda: SectionKind.VITALS in chart.histories, 10)
    paging = chart._paging  # noqa: SLF001 - the task to be cancelled
    assert paging is not None and parts.tasks.is_running(paging)
    assert not chart.histories[SectionKind.VITALS].done

    await _open(parts, "pat-1", "enc-1")
    assert not parts.tasks.is_running(paging)
    await wait_until(lambda: not chart.paging, 10)
    # Nothing of pat-large's paging is left. (pat-1's chart is complete in its first view
    # unless earlier tests in this session wrote more than a page of items to it.)
    paged_in = [item for h in chart.histories.values() for item in h.items]
    assert not any(
        getattr(item, "id", "").startswith(("obs-large-", "doc-large-")) for item in paged_in
    )
    assert all(pane.history_words(k) != f"All {total:,} shown" for k, total in TOTALS.items())
    assert parts.workspace.context.patient.id == "pat-1"  # type: ignore[union-attr]


async def test_a_failed_page_leaves_the_first_view_with_words(qtbot: QtBot) -> None:
    context = make_context()
    truncated = replace(
        context,
        vitals=replace(
            context.vitals, truncated=True, more=(Continuation("vitals", "https://ehr/next"),)
        ),
    )
    pane = ContextPane()
    qtbot.addWidget(pane)
    pane.show_context(truncated)
    top = pane.sections[SectionKind.VITALS]
    first = [top.child(i).text(0) for i in range(top.childCount())]  # type: ignore[union-attr]
    assert first[-1] == f"Showing the newest {len(context.vitals.items)}; the EHR has more."

    words = "The EHR had an internal problem (HTTP 500). Try again in a few minutes."
    failed = SectionHistory(
        SectionKind.VITALS, context.vitals.items, HistoryState.FAILED, problem=words
    )
    pane.show_history(failed)
    shown = [top.child(i) for i in range(top.childCount())]
    assert [r.text(0) for r in shown[:-1]] == first[:-1]  # type: ignore[union-attr]
    last = shown[-1]
    assert last is not None and last.text(0) == failed.words
    assert last.text(0).startswith(f"Older items could not be loaded: {words} The newest")
    assert last.foreground(0).color().name() == "#8a1111"  # said as a problem


async def test_paging_stopped_under_it_is_said_on_its_sections_not_in_a_dialog(
    qtbot: QtBot, sandbox_workbench: Workbench, scripted_browser: ScriptedBrowser
) -> None:
    """The site's connections close while older items are still paged in (a test's end did
    this; CI hung on the modal error dialog it opened): the sections still loading say the
    paging stopped, and no dialog opens."""
    parts = await signed_in_window(qtbot, sandbox_workbench)
    await _open(parts, "pat-large", "enc-large")
    chart = parts.chart
    await wait_until(
        lambda: any(h.state is HistoryState.LOADING for h in chart.histories.values()), 30
    )
    await sandbox_workbench.aclose()  # the HTTP client closed under the paging
    await wait_until(lambda: not chart.paging, 30)
    states = {h.state for h in chart.histories.values()}
    assert HistoryState.FAILED in states and HistoryState.LOADING not in states
    for history in chart.histories.values():  # the request in flight, or the next one
        if history.state is HistoryState.FAILED:
            assert history.words.startswith("Older items could not be loaded: ")
    assert parts.window.told is None
