"""What markup may cost before the HTML parser sees it: a linear pre-pass for app.fhir.narrative.

Ammonia's parser (html5ever) costs about *tokens x open elements*, and the open elements are not
what the tags say: ``'<div></i>' * N`` closes nothing (there is no ``<i>`` to close) and nests N
levels; ``'<b><div></b>' * N``, ``'<p><b><div>x' * N``, ``'<body><div></body>' * N`` and
``'<form><div></form>' * N`` nest too, through the HTML5 tree-building rules (adoption agency,
reconstruction of formatting elements, end tags that are ignored). One start tag with N
attributes is quadratic as well (duplicates are looked for pairwise).

Ammonia's tokenizer also re-reads the rest of the input at every ``&`` (entities and bare
ampersands alike), and reads comments slowly.

:func:`assess_markup` decides, in one pass whose cost is bounded by the input size, what may be
done with a piece of markup (:class:`MarkupVerdict`):

- ``TOO_COMPLEX``: more than :data:`MAX_MARKUP` ``<`` characters (every tag starts with one;
  counted at C speed). Even reading such markup as text costs more than the UI can wait for, so
  the caller refuses it with words. Below that, the parser's work is bounded by a constant
  whatever the estimate below says.
- ``TEXT``: too many attributes (:data:`MAX_ATTRIBUTES` in a tag, :data:`MAX_ATTRIBUTE_TOKENS`
  in all), ampersands (:data:`MAX_AMPERSAND_WORK`) or comment characters; more elements than
  :data:`MAX_ELEMENTS` once the formatting elements the parser re-opens before every text are
  counted (190 distinct ``<i class=...>`` closed by a block, then ``<div>x</div>`` repeated,
  make the parser build 760,000 elements from 8,000 tags); markup the parser may
  read in another way than this scan (SVG/MathML, ``<template>``, ``<noscript>``, ``<select>``,
  escaped script text); or an estimated depth of open elements over the caller's limit. The
  estimate follows the HTML5 tree builder closely enough to over-estimate it
  (``tests/fhir/test_markup_budget.py`` checks it against html5ever itself): end tags close only
  elements that are open and in scope, formatting elements that a block closed count again
  where the parser re-opens them, comments and raw text are skipped. The caller then shows the
  text (:func:`app.domain.markup_text.html_to_text`, linear, no tree).
- ``PARSE``: cheap for the parser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

# Budgets, each worth some tens of milliseconds at most on a loaded two-core machine (see the
# "Narrative sanitizer" section of docs/performance.md).
MAX_MARKUP = 10_000  # '<' characters, i.e. an upper bound on tags and comments
MAX_ELEMENTS = 20_000  # elements the parser makes, with the formatting elements it re-opens
MAX_ATTRIBUTES = 48  # attribute names and values in one tag
MAX_ATTRIBUTE_TOKENS = 30_000  # attribute names and values in all
MAX_COMMENT_CHARS = 500_000  # the parser reads comments slowly (about 50 ns a character)
MAX_AMPERSAND_WORK = 500_000_000  # '&' characters x input characters (the parser re-reads)
NOAHS_ARK = 3  # the parser keeps at most three identical formatting elements to re-open

_WS = "\t\n\f\r "
_ATTRIBUTE = rf"[^{_WS}/>=]++|=[{_WS}]*+(?:\"[^\"]*+\"?|'[^']*+'?|[^{_WS}>]*+)"
# Attributes as far as the end of the tag: quotes open a value only after '='.
_ATTRS = rf"(?:[^>\"'=]++|=[{_WS}]*+(?:\"[^\"]*+\"?|'[^']*+'?)|[=\"'])*+"
# One token at a '<': a comment, an end tag (name: group 1), a start tag (name: group 2,
# attributes: group 3) or a bogus comment (doctype, CDATA outside foreign content, '<?', '</ x').
# Attribute values in quotes may hold '>' (as in the HTML5 tokenizer). Possessive quantifiers
# keep every match linear, and the scan goes on after the match, so the whole scan is linear.
_TOKEN = re.compile(
    r"<!--(?:-?>|(?:[^-]++|-(?!-!?>))*+(?:--!?>)?)"
    rf"|</([A-Za-z][^{_WS}/>]*+){_ATTRS}>?"
    rf"|<([A-Za-z][^{_WS}/>]*+)({_ATTRS})>?"
    r"|<[!?/][^>]*+>?",
)
_ATTRIBUTE_TOKEN = re.compile(_ATTRIBUTE)
_TOO_MANY_ATTRIBUTES = re.compile(rf"(?:[{_WS}/]*+(?:{_ATTRIBUTE})){{{MAX_ATTRIBUTES + 1}}}")


def _names(words: str) -> frozenset[str]:
    return frozenset(words.split())


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

VOID = _names(
    "area base basefont bgsound br col embed frame hr img input keygen link meta param source "
    "track wbr",
)
RAW_TEXT = _names("style xmp iframe noembed noframes textarea title script")
FORMATTING = _names("a b big code em font i nobr s small strike strong tt u")
# HTML5 "special" elements (plus the MathML/SVG ones): an end tag for a non-special element stops
# at them, and the adoption agency keeps the depth when one is inside a formatting element.
SPECIAL = _names(
    "address applet area article aside base basefont bgsound blockquote body br button caption "
    "center col colgroup dd details dir div dl dt embed fieldset figcaption figure footer form "
    "frame frameset h1 h2 h3 h4 h5 h6 head header hgroup hr html iframe img input keygen li link "
    "listing main marquee menu meta nav noembed noframes noscript object ol p param plaintext pre "
    "script search section select source style summary table tbody td template textarea tfoot th "
    "thead title tr track ul wbr xmp mi mo mn ms mtext annotation-xml foreignobject desc svg "
    "math",
)
# Elements an end tag cannot reach past ("has an element in scope"): the widest of the variants.
SCOPE_BOUNDARY = _names(
    "applet caption html table td th marquee object template mi mo mn ms mtext annotation-xml "
    "foreignobject desc svg math select ol ul button",
)
# Closing one of these forgets the formatting elements opened inside it (a "marker").
MARKERS = _names("applet caption marquee object template td th")
TABLE_PARTS = _names("caption colgroup tbody tfoot thead tr td th")
# Start tags that close an open <p> ("close a p element"): the commonest implied end tag.
CLOSES_P = _names(
    "address article aside blockquote center details dialog dir div dl fieldset figcaption "
    "figure footer header hgroup main menu nav ol p search section summary ul h1 h2 h3 h4 h5 h6 "
    "pre listing form plaintext table hr xmp li dd dt",
)
HEADINGS = _names("h1 h2 h3 h4 h5 h6")
# Never taken as closing anything: the parser's rules for these only make the tree smaller.
NEVER_CLOSED = _names("html head body frameset form template br")
# After one of these the parser may read what follows in another way than this module does.
AMBIGUOUS = _names("svg math template noscript plaintext frameset select")
# Start tags before which the parser does not re-open formatting elements (text and all other
# start tags make it re-open them: "reconstruct the active formatting elements").
NO_REOPEN = (
    CLOSES_P
    | TABLE_PARTS
    | _names(
        "table col body html head form frameset frame iframe textarea noembed noscript script style "
        "title template base link meta basefont bgsound noframes plaintext"
    )
)
# Elements the tree builder adds without a tag: tbody and tr around a cell, tbody around a row.
IMPLIED_WEIGHT = {"td": 3, "th": 3, "tr": 2}
DOCUMENT_LEVELS = 3  # html, body and the fragment's context element
REOPENED = "~"  # prefix of a re-opened formatting element (no tag name starts with it)


@dataclass
class _OpenElements:
    """A stack of open element names whose size over-estimates the parser's, with O(1) look-ups
    (per-name index stacks, the indices of special and scope-boundary elements), plus the
    formatting elements a block closed, which the parser re-opens (per marker, Noah's ark)."""

    names: list[str] = field(default_factory=list)
    attributes: list[str] = field(default_factory=list)
    weights: list[int] = field(default_factory=list)
    depth: int = 0
    where: dict[str, list[int]] = field(default_factory=dict)
    specials: list[int] = field(default_factory=list)
    boundaries: list[int] = field(default_factory=list)
    markers: list[int] = field(default_factory=list)
    # per marker: name -> attributes -> how many the parser will re-open (at most NOAHS_ARK)
    reopen: list[dict[str, dict[str, int]]] = field(default_factory=lambda: [{}])
    reopened: int = 0
    made: int = 0  # elements made so far, re-opened ones included

    @property
    def estimate(self) -> int:
        return self.depth + self.reopened + DOCUMENT_LEVELS

    def push(self, name: str, attributes: str) -> None:
        self.made += 1
        index = len(self.names)
        weight = IMPLIED_WEIGHT.get(name, 1)
        self.names.append(name)
        self.attributes.append(attributes if name in FORMATTING or name[0] == REOPENED else "")
        self.weights.append(weight)
        self.depth += weight
        self.where.setdefault(_key(name), []).append(index)
        if name in SPECIAL:
            self.specials.append(index)
        if name in SCOPE_BOUNDARY:
            self.boundaries.append(index)
        if name in MARKERS:
            self.markers.append(index)
            self.reopen.append({})

    def reopen_formatting(self) -> None:
        """The parser re-opens the formatting elements a block closed (before text and most start
        tags). The copies are counted but cannot be found by name (this errs on the deep side)."""
        frame = self.reopen[-1]
        for name, counts in frame.items():
            for attributes, count in counts.items():
                for _ in range(count):
                    self.push(REOPENED + name, attributes)
                self.reopened -= count
        frame.clear()

    def topmost(self, name: str) -> int:
        found = self.where.get(_key(name))
        return found[-1] if found else -1

    def in_scope(self, index: int) -> bool:
        return index >= 0 and not (self.boundaries and self.boundaries[-1] > index)

    def special_above(self, index: int, *, except_for: frozenset[str] = frozenset()) -> bool:
        for special in reversed(self.specials):
            if special <= index:
                return False
            if self.names[special] not in except_for:
                return True
        return False

    def pop_to(self, index: int, closing: str) -> None:
        """Close the element at ``index`` and everything opened after it."""
        while len(self.names) > index:
            name, attributes = self.names.pop(), self.attributes.pop()
            self.depth -= self.weights.pop()
            top = len(self.names)
            self.where[_key(name)].pop()
            for indices in (self.specials, self.boundaries):
                if indices and indices[-1] == top:
                    indices.pop()
            if self.markers and self.markers[-1] == top:
                self.markers.pop()
                self.reopened -= sum(sum(c.values()) for c in self.reopen.pop().values())
            elif name in FORMATTING and name != closing:
                self._remember(name, attributes)
            elif name[0] == REOPENED:
                self._remember(name[1:], attributes)

    def _remember(self, name: str, attributes: str) -> None:
        counts = self.reopen[-1].setdefault(name, {})
        if counts.get(attributes, 0) < NOAHS_ARK:
            counts[attributes] = counts.get(attributes, 0) + 1
            self.reopened += 1

    def forget(self, name: str) -> None:
        """``</name>`` for a formatting element that is no longer open: the parser drops it."""
        frame = self.reopen[-1]
        counts = frame.get(name)
        if counts:
            attributes = next(reversed(counts))
            counts[attributes] -= 1
            self.reopened -= 1
            if not counts[attributes]:
                del counts[attributes]
            if not counts:
                del frame[name]


def _key(name: str) -> str:
    return "h*" if name in HEADINGS else name  # </h1> closes the innermost heading of any level


def _lower(name: str) -> str:
    return name.lower() if name.isascii() else name.translate(_ASCII_LOWER)


class MarkupVerdict(Enum):
    PARSE = "cheap enough for the HTML parser"
    TEXT = "show its text only"
    TOO_COMPLEX = "too many tags to read in time"


def assess_markup(html: str, max_depth: int) -> MarkupVerdict:
    """What may be done with ``html`` in time linear in its size (see the module docstring)."""
    if html.count("<") > MAX_MARKUP:
        return MarkupVerdict.TOO_COMPLEX
    if html.count("&") * len(html) > MAX_AMPERSAND_WORK:
        return MarkupVerdict.TEXT
    return MarkupVerdict.PARSE if _fits(html, max_depth) else MarkupVerdict.TEXT


def _fits(html: str, max_depth: int) -> bool:
    """Whether attributes and comments are few enough and the estimated depth stays within
    limits. Markup the parser may read in another way than this scan (foreign content, templates,
    escaped script text: :data:`AMBIGUOUS`) does not fit."""
    stack = _OpenElements()
    attribute_tokens = comment_chars = pos = 0
    while (match := _TOKEN.search(html, pos)) is not None:
        if match.start() > pos and stack.reopen[-1]:
            stack.reopen_formatting()  # text between the tags
            if _too_big(stack, max_depth):
                return False
        pos = match.end()
        if match.group(1) is not None:
            _end_tag(stack, _lower(match.group(1)))
            continue
        if match.group(2) is None:  # a comment, a doctype or a bogus comment
            comment_chars += pos - match.start()
            if comment_chars > MAX_COMMENT_CHARS:
                return False
            continue
        name, attributes = _lower(match.group(2)), match.group(3)
        if name in AMBIGUOUS:
            return False
        attribute_tokens += _attribute_tokens(attributes)
        if attribute_tokens > MAX_ATTRIBUTE_TOKENS:
            return False
        _start_tag(stack, name, attributes)
        if _too_big(stack, max_depth):
            return False
        if name == "plaintext":
            return True  # the rest is text
        if name in RAW_TEXT:
            pos, escaped = _skip_raw_text(html, pos, name)
            if escaped:
                return False
            stack.pop_to(len(stack.names) - 1, name)  # closed at its end tag
    if pos < len(html) and stack.reopen[-1]:
        stack.reopen_formatting()
    return not _too_big(stack, max_depth)


def _too_big(stack: _OpenElements, max_depth: int) -> bool:
    return stack.estimate > max_depth or stack.made > MAX_ELEMENTS


def _attribute_tokens(attributes: str) -> int:
    """The attribute tokens of one start tag (more than the budget when the cheap check already
    finds too many)."""
    if len(attributes) <= 1:
        return 0
    if len(attributes) > MAX_ATTRIBUTES and _TOO_MANY_ATTRIBUTES.match(attributes):
        return MAX_ATTRIBUTE_TOKENS + 1
    return len(_ATTRIBUTE_TOKEN.findall(attributes))


def _start_tag(stack: _OpenElements, name: str, attributes: str) -> None:
    if name in _IMPLIES_END_TAGS:
        _implied_end_tags(stack, name)
    if stack.reopen[-1] and name not in NO_REOPEN:
        stack.reopen_formatting()
    if name not in VOID:
        stack.push(name, attributes)


def _implied_end_tags(stack: _OpenElements, name: str) -> None:
    """The start tags that close an element the parser surely has open (so sloppy but common
    markup such as unclosed <p>, <li> and table cells does not look deep)."""
    if name in ("li", "dd", "dt"):
        for sibling in ("li",) if name == "li" else ("dd", "dt"):
            index = stack.topmost(sibling)
            if index >= 0 and not stack.special_above(index, except_for=_LI_MAY_SKIP):
                stack.pop_to(index, sibling)
    if name in CLOSES_P:
        index = stack.topmost("p")
        if stack.in_scope(index):
            stack.pop_to(index, "p")
    if name in HEADINGS and stack.names and stack.names[-1] in HEADINGS:
        stack.pop_to(len(stack.names) - 1, stack.names[-1])
    if name in ("td", "th", "tr"):
        table = stack.topmost("table")
        for cell in ("td", "th", "tr") if name == "tr" else ("td", "th"):
            index = stack.topmost(cell)
            if table >= 0 and index > table:
                stack.pop_to(index, cell)


_LI_MAY_SKIP = frozenset({"address", "div", "p"})
_IMPLIES_END_TAGS = CLOSES_P | HEADINGS | {"li", "dd", "dt", "td", "th", "tr"}


def _end_tag(stack: _OpenElements, name: str) -> None:
    if name in NEVER_CLOSED or name in VOID:
        return
    index = stack.topmost(name)
    if index < 0:
        if name in FORMATTING:
            stack.forget(name)
        return
    if not stack.in_scope(index):
        return
    if name in TABLE_PARTS and not 0 <= stack.topmost("table") < index:
        return  # outside a table the parser ignored the start tag and ignores the end tag
    if (name in FORMATTING or name not in SPECIAL) and stack.special_above(index):
        return  # adoption agency (formatting) or "any other end tag" stopping at a special one
    stack.pop_to(index, name)


def _skip_raw_text(html: str, pos: int, name: str) -> tuple[int, bool]:
    """Past the raw text of ``<name>`` (to its end tag, or the end), and whether it is script
    text holding ``<!--``, which may hide its end tag (HTML5 "double escaping")."""
    closer = re.compile(rf"</(?i:{name})(?![^{_WS}/>])")
    found = closer.search(html, pos)
    end = found.start() if found else len(html)
    return end, name == "script" and html.find("<!--", pos, end) >= 0
