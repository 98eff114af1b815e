"""The diff pane: what the clinician changed against the baseline, inline or side by side,
with word-level highlighting, and structured items as added/removed/changed rows.

All text is escaped before it goes into the rich-text widget: note text is never markup.
"""

from __future__ import annotations

from html import escape

from PySide6.QtWidgets import QTabWidget, QTextBrowser, QVBoxLayout, QWidget

from app.domain.diff import (
    ChangeKind,
    DiffOp,
    DraftDiff,
    ItemChange,
    RowKind,
    SideBySideRow,
    Span,
)
from app.domain.items import kind_of, render_item

CONTEXT_LINES = 2  # unchanged lines shown around each change in the side-by-side view
# Qt lays out rich-text tables slowly (about 0.7 s for 1,500 rows): the side-by-side view shows
# at most this many rows and points to the Inline tab, which renders any size quickly.
MAX_SIDE_BY_SIDE_ROWS = 250
INS = "background:#d7f5dd;color:#0b4d1c;text-decoration:none"
DEL = "background:#fbdada;color:#7a1010;text-decoration:line-through"
ROW_BG = {
    RowKind.EQUAL: "",
    RowKind.CHANGED: "#fff8e1",
    RowKind.ADDED: "#effaf1",
    RowKind.REMOVED: "#fdf0f0",
}
KIND_WORD = {
    ChangeKind.ADDED: "added",
    ChangeKind.REMOVED: "removed",
    ChangeKind.CHANGED: "changed",
    ChangeKind.UNCHANGED: "unchanged",
}


def _span_html(span: Span) -> str:
    text = escape(span.text.rstrip("\n")).replace("\n", "<br/>")
    if span.op is DiffOp.INSERT:
        return f'<span style="{INS}">{text}</span>'
    if span.op is DiffOp.DELETE:
        return f'<span style="{DEL}">{text}</span>'
    return text


def _item_summary(change: ItemChange) -> str:
    item = change.after or change.before
    return escape(kind_of(item).words.row) if item is not None else ""


def _items_html(diff: DraftDiff) -> str:
    rows = [c for c in diff.items if c.kind is not ChangeKind.UNCHANGED]
    if not rows:
        return "<p><i>No changes to structured items.</i></p>"
    out = ["<h3>Structured items</h3><table cellspacing='0' cellpadding='4' width='100%'>"]
    for change in rows:
        colour = {ChangeKind.ADDED: "#effaf1", ChangeKind.REMOVED: "#fdf0f0"}.get(
            change.kind, "#fff8e1"
        )
        detail = ""
        if change.kind is ChangeKind.CHANGED:
            detail = "; ".join(
                f"{escape(f.field)}: <span style='{DEL}'>{escape(f.before)}</span> → "
                f"<span style='{INS}'>{escape(f.after)}</span>"
                for f in change.fields
            )
        else:
            item = change.after or change.before
            detail = escape(render_item(item)) if item is not None else ""
        out.append(
            f"<tr style='background:{colour}'><td><b>{KIND_WORD[change.kind]}</b></td>"
            f"<td>{_item_summary(change)}</td><td>{detail}</td></tr>"
        )
    out.append("</table>")
    return "".join(out)


def inline_html(diff: DraftDiff) -> str:
    if not diff.has_changes:
        return "<p><i>No changes since the note was started.</i></p>"
    out = []
    for section in diff.sections:
        marker = (
            ""
            if section.kind is ChangeKind.UNCHANGED
            else f" <small>({KIND_WORD[section.kind]})</small>"
        )
        out.append(f"<h3>{escape(section.title)}{marker}</h3><p>")
        out.append("".join(_span_html(s) for s in section.text.spans))
        out.append("</p>")
    out.append(_items_html(diff))
    return "".join(out)


def side_by_side_html(diff: DraftDiff) -> str:
    if not diff.has_changes:
        return "<p><i>No changes since the note was started.</i></p>"
    out = [
        "<table cellspacing='0' cellpadding='2' width='100%'>",
        "<tr><th width='4%'></th><th width='46%' align='left'>As started</th>"
        "<th width='4%'></th><th width='46%' align='left'>Now</th></tr>",
    ]
    shown = 0
    for section in diff.sections:
        if shown >= MAX_SIDE_BY_SIDE_ROWS:
            break
        if section.kind is ChangeKind.UNCHANGED:
            out.append(
                f"<tr><td colspan='4'><b>{escape(section.title)}</b> "
                "<small><i>(unchanged)</i></small></td></tr>"
            )
            continue
        out.append(f"<tr><td colspan='4'><b>{escape(section.title)}</b></td></tr>")
        rows = section.text.rows
        near = _near_changes(rows)
        skipped = 0
        for index, row in enumerate(rows):
            if index not in near:
                skipped += 1
                continue
            shown += 1
            if shown > MAX_SIDE_BY_SIDE_ROWS:
                out.append(
                    "<tr><td colspan='4'><i>The change is too long to show side by side "
                    "here; the Inline tab shows all of it.</i></td></tr>"
                )
                break
            if skipped:
                out.append(
                    f"<tr><td></td><td colspan='3'><small><i>… {skipped} unchanged "
                    f"line{'s' * (skipped > 1)}</i></small></td></tr>"
                )
                skipped = 0
            bg = ROW_BG[row.kind]
            style = f" style='background:{bg}'" if bg else ""
            left = "".join(_span_html(s) for s in row.left)
            right = "".join(_span_html(s) for s in row.right)
            out.append(
                f"<tr{style}><td><small>{row.left_no or ''}</small></td><td>{left}</td>"
                f"<td><small>{row.right_no or ''}</small></td><td>{right}</td></tr>"
            )
    out.append("</table>")
    out.append(_items_html(diff))
    return "".join(out)


def _near_changes(rows: tuple[SideBySideRow, ...], context: int = CONTEXT_LINES) -> set[int]:
    """Indexes of rows to show: changed rows and ``context`` rows around each."""
    keep: set[int] = set()
    for index, row in enumerate(rows):
        if row.kind is not RowKind.EQUAL:
            keep.update(range(max(0, index - context), min(len(rows), index + context + 1)))
    return keep


class DiffView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.tabs = QTabWidget(self)
        self.side_by_side = QTextBrowser(self)
        self.inline = QTextBrowser(self)
        for browser in (self.side_by_side, self.inline):
            browser.setOpenLinks(False)
            browser.setOpenExternalLinks(False)
        self.tabs.addTab(self.side_by_side, "Side by side")
        self.tabs.addTab(self.inline, "Inline")
        layout.addWidget(self.tabs)
        self._diff: DraftDiff | None = None
        self._rendered: set[int] = set()
        self.tabs.currentChanged.connect(self._render)

    def show_diff(self, diff: DraftDiff) -> None:
        # Only the visible tab is rendered now; the other on switch (keeps typing smooth).
        self._diff = diff
        self._rendered = set()
        self._render(self.tabs.currentIndex())

    def _render(self, index: int) -> None:
        if index in self._rendered or self._diff is None:
            return
        self._rendered.add(index)
        if index == 0:
            self.side_by_side.setHtml(side_by_side_html(self._diff))
        else:
            self.inline.setHtml(inline_html(self._diff))
