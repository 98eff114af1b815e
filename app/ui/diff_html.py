"""The diff as rich text for ``QTextBrowser``: inline or side by side, word-level highlighting,
structured items as added/removed/changed rows (the view is ``app.ui.diff_view``).

What a clinician must be able to trust:

- invisible characters are drawn (a tab as →, a non-breaking space as ⍽, a zero-width space as
  a small "ZWSP" tag), each with its name as tooltip;
- a change of white space only is drawn as symbols (↵ line break, · space, → tab) with words
  as tooltip ("line break replaced by a space"), never as an empty highlight, and can be hidden
  ("ignore white space": ``TextDiff.ignoring_whitespace``);
- each change carries an anchor ``change-<n>`` (numbered across the note) for the
  next/previous change keys;
- unchanged sections, and long unchanged stretches inside a changed section, are collapsed
  behind a link (``show:<section key>``) that expands them.

All text is escaped before it goes into the rich-text widget: note text is never markup.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from html import escape

from app.domain.diff import (
    ChangeKind,
    DiffOp,
    DraftDiff,
    ItemChange,
    RowKind,
    SectionDiff,
    SideBySideRow,
    Span,
    TextDiff,
)
from app.domain.invisible import describe_whitespace, visible_pieces
from app.domain.items import kind_of, render_item

CONTEXT_LINES = 2  # unchanged lines shown around each change
# Qt lays out rich-text tables slowly (about 0.7 s for 1,500 rows): the side-by-side view shows
# at most this many rows and points to the Inline tab, which renders any size quickly.
MAX_SIDE_BY_SIDE_ROWS = 250
INS = "background:#d7f5dd;color:#0b4d1c;text-decoration:none"
DEL = "background:#fbdada;color:#7a1010;text-decoration:line-through"
SPACE_DEL = "background:#fbdada;color:#7a1010"
SPACE_INS = "background:#d7f5dd;color:#0b4d1c"
INVISIBLE = "color:#6a4c93;background:#efe7fb"
MUTED = "color:#666666"
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
SPACE_SYMBOLS = {"\n": "↵", " ": "·", "\t": "→", "\r": "␍"}
SHOW = "show:"  # link prefix: show a collapsed section or stretch in full


@dataclass
class DiffOptions:
    """How the diff is drawn: white space hidden or not, which sections are shown in full."""

    ignore_whitespace: bool = False
    expanded: set[str] = field(default_factory=set)  # section keys shown in full


@dataclass
class _Counter:
    """Numbers the changes across the note (anchors ``change-<n>``)."""

    next: int = 0

    def anchor(self) -> str:
        name = f"change-{self.next}"
        self.next += 1
        return f'<a name="{name}"></a>'


# ---------------------------------------------------------------- spans


def text_html(text: str) -> str:
    """Escaped text with invisible characters drawn and line breaks kept."""
    out = []
    for piece, invisible in visible_pieces(text):
        if invisible is None:
            out.append(escape(piece))
        else:
            out.append(
                f'<span style="{INVISIBLE}" title="{escape(invisible.name)}">'
                f"{escape(invisible.symbol)}</span>"
            )
    return "".join(out).replace("\n", "<br/>")


def _space_symbols(text: str) -> str:
    return "".join(SPACE_SYMBOLS.get(c, "⍽") for c in text)


def _run_html(run: list[Span], line_breaks: bool) -> str:
    """One run of changes (deleted then inserted). White space only: symbols with words."""
    deleted = "".join(s.text for s in run if s.op is DiffOp.DELETE)
    inserted = "".join(s.text for s in run if s.op is DiffOp.INSERT)
    if (deleted or inserted) and not deleted.strip() and not inserted.strip():
        title = escape(describe_whitespace(deleted, inserted))
        parts = []
        if deleted:
            parts.append(
                f'<span style="{SPACE_DEL}" title="{title}">{_space_symbols(deleted)}</span>'
            )
        if inserted:
            parts.append(
                f'<span style="{SPACE_INS}" title="{title}">{_space_symbols(inserted)}</span>'
            )
        tail = "<br/>" * inserted.count("\n") if line_breaks else ""
        return "".join(parts) + tail
    return "".join(_span_html(s, line_breaks) for s in run)


def _span_html(span: Span, line_breaks: bool = True) -> str:
    text = span.text if line_breaks else span.text.rstrip("\n")
    body = text_html(text)
    if span.op is DiffOp.INSERT:
        return f'<span style="{INS}">{body}</span>'
    if span.op is DiffOp.DELETE:
        return f'<span style="{DEL}">{body}</span>'
    return body


def _runs(spans: Iterable[Span]) -> Iterator[tuple[bool, list[Span]]]:
    """(changed, spans) for each stretch of unchanged text and each run of changes."""
    run: list[Span] = []
    changed = False
    for span in spans:
        is_change = span.op is not DiffOp.EQUAL
        if run and is_change != changed:
            yield changed, run
            run = []
        changed = is_change
        run.append(span)
    if run:
        yield changed, run


# ---------------------------------------------------------------- inline


def inline_html(diff: DraftDiff, options: DiffOptions | None = None) -> str:
    options = options or DiffOptions()
    if not diff.has_changes:
        return "<p><i>No changes since the note was started.</i></p>"
    counter = _Counter()
    out = []
    for section in diff.sections:
        out.append(_inline_section(section, options, counter))
    out.append(_items_html(diff, counter))
    return "".join(out)


def _inline_section(section: SectionDiff, options: DiffOptions, counter: _Counter) -> str:
    text = _visible(section.text, options)
    unchanged = section.kind is ChangeKind.UNCHANGED or not text.changed
    marker = " <small>(white space only)</small>" if unchanged and section.text.changed else ""
    if section.kind is not ChangeKind.UNCHANGED and not marker:
        marker = f" <small>({KIND_WORD[section.kind]})</small>"
    head = f"<h3>{escape(section.title)}{marker}</h3>"
    full = section.key in options.expanded
    if unchanged and not full:
        lines = text.current.count("\n") + (1 if text.current else 0)
        return head + _show_link(section.key, f"unchanged, {lines} line{'s' * (lines != 1)}")
    body = []
    for changed, run in _runs(text.spans):
        if changed:
            body.append(counter.anchor() + _run_html(run, line_breaks=True))
        else:
            equal = "".join(s.text for s in run)
            body.append(_collapsed_equal(equal, section.key, full))
    return head + "<p>" + "".join(body) + "</p>"


def _collapsed_equal(text: str, key: str, full: bool) -> str:
    """Unchanged text; a long stretch shows its first and last lines around a link."""
    lines = text.split("\n")
    if full or len(lines) <= 2 * CONTEXT_LINES + 2:
        return text_html(text)
    hidden = len(lines) - 2 * CONTEXT_LINES - 1
    head = "\n".join(lines[: CONTEXT_LINES + 1])
    tail = "\n".join(lines[-CONTEXT_LINES:])
    link = _show_link(key, f"… {hidden} unchanged lines")
    return f"{text_html(head)}<br/>{link}{text_html(tail)}"


def _show_link(key: str, words: str) -> str:
    return (
        f'<p style="{MUTED}"><small><a href="{SHOW}{escape(key)}">{escape(words)} '
        "(show)</a></small></p>"
    )


def _visible(text: TextDiff, options: DiffOptions) -> TextDiff:
    return text.ignoring_whitespace() if options.ignore_whitespace else text


# ---------------------------------------------------------------- side by side


def side_by_side_html(diff: DraftDiff, options: DiffOptions | None = None) -> str:
    options = options or DiffOptions()
    if not diff.has_changes:
        return "<p><i>No changes since the note was started.</i></p>"
    out = [
        "<table cellspacing='0' cellpadding='2' width='100%'>",
        "<tr><th width='4%'></th><th width='46%' align='left'>As started</th>"
        "<th width='4%'></th><th width='46%' align='left'>Now</th></tr>",
    ]
    counter = _Counter()
    shown = 0
    for section in diff.sections:
        if shown >= MAX_SIDE_BY_SIDE_ROWS:
            break
        text = _visible(section.text, options)
        if section.kind is ChangeKind.UNCHANGED or not text.changed:
            note = "white space only" if section.text.changed else "unchanged"
            out.append(
                f"<tr><td colspan='4'><b>{escape(section.title)}</b> "
                f"<small><i>({note})</i></small></td></tr>"
            )
            continue
        out.append(f"<tr><td colspan='4'><b>{escape(section.title)}</b></td></tr>")
        rows, shown = _section_rows(text.rows, section.key, options, counter, shown)
        out.extend(rows)
    out.append("</table>")
    out.append(_items_html(diff, counter))
    return "".join(out)


def _section_rows(
    rows: tuple[SideBySideRow, ...],
    key: str,
    options: DiffOptions,
    counter: _Counter,
    shown: int,
) -> tuple[list[str], int]:
    out: list[str] = []
    near = set(range(len(rows))) if key in options.expanded else _near_changes(rows)
    skipped = 0
    previous_changed = False
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
            link = f'<a href="{SHOW}{escape(key)}">… {skipped} unchanged line{"s" * (skipped > 1)} (show)</a>'
            out.append(f"<tr><td></td><td colspan='3'><small><i>{link}</i></small></td></tr>")
            skipped = 0
        changed = row.kind is not RowKind.EQUAL
        anchor = counter.anchor() if changed and not previous_changed else ""
        previous_changed = changed
        bg = ROW_BG[row.kind]
        style = f" style='background:{bg}'" if bg else ""
        left = "".join(_row_cell(row.left))
        right = "".join(_row_cell(row.right))
        out.append(
            f"<tr{style}><td><small>{anchor}{row.left_no or ''}</small></td><td>{left}</td>"
            f"<td><small>{row.right_no or ''}</small></td><td>{right}</td></tr>"
        )
    if skipped:
        link = f'<a href="{SHOW}{escape(key)}">… {skipped} unchanged line{"s" * (skipped > 1)} (show)</a>'
        out.append(f"<tr><td></td><td colspan='3'><small><i>{link}</i></small></td></tr>")
    return out, shown


def _row_cell(spans: tuple[Span, ...]) -> Iterator[str]:
    for changed, run in _runs(spans):
        if changed:
            yield _run_html(run, line_breaks=False)
        else:
            yield "".join(_span_html(s, line_breaks=False) for s in run)


def _near_changes(rows: tuple[SideBySideRow, ...], context: int = CONTEXT_LINES) -> set[int]:
    """Indexes of rows to show: changed rows and ``context`` rows around each."""
    keep: set[int] = set()
    for index, row in enumerate(rows):
        if row.kind is not RowKind.EQUAL:
            keep.update(range(max(0, index - context), min(len(rows), index + context + 1)))
    return keep


# ---------------------------------------------------------------- structured items


def _item_summary(change: ItemChange) -> str:
    item = change.after or change.before
    return escape(kind_of(item).words.row) if item is not None else ""


def _items_html(diff: DraftDiff, counter: _Counter) -> str:
    rows = [c for c in diff.items if c.kind is not ChangeKind.UNCHANGED]
    if not rows:
        return "<p><i>No changes to structured items.</i></p>"
    out = ["<h3>Structured items</h3><table cellspacing='0' cellpadding='4' width='100%'>"]
    for change in rows:
        colour = {ChangeKind.ADDED: "#effaf1", ChangeKind.REMOVED: "#fdf0f0"}.get(
            change.kind, "#fff8e1"
        )
        if change.kind is ChangeKind.CHANGED:
            detail = "; ".join(
                f"{escape(f.field)}: <span style='{DEL}'>{text_html(f.before)}</span> → "
                f"<span style='{INS}'>{text_html(f.after)}</span>"
                for f in change.fields
            )
        else:
            item = change.after or change.before
            detail = text_html(render_item(item)) if item is not None else ""
        out.append(
            f"<tr style='background:{colour}'><td>{counter.anchor()}"
            f"<b>{KIND_WORD[change.kind]}</b></td>"
            f"<td>{_item_summary(change)}</td><td>{detail}</td></tr>"
        )
    out.append("</table>")
    return "".join(out)
